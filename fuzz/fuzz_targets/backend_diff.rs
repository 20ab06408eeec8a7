//! The CPU and OpenCL decodes of the same bytes, compared call by call (see vc6_fuzzing::backend_diff).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: vc6_fuzzing::peak::PeakAlloc = vc6_fuzzing::peak::PeakAlloc;

fuzz_target!(|data: &[u8]| vc6_fuzzing::backend_diff::check(data));
