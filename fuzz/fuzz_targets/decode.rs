//! Every decoding entry point on arbitrary bytes (see vc6_fuzzing::decode).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: vc6_fuzzing::peak::PeakAlloc = vc6_fuzzing::peak::PeakAlloc;

fuzz_target!(|data: &[u8]| vc6_fuzzing::decode::check(data));
