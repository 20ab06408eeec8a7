//! Every decoding entry point on arbitrary bytes with their checksums made right (see vc6_fuzzing::nocrc).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: vc6_fuzzing::peak::PeakAlloc = vc6_fuzzing::peak::PeakAlloc;

fuzz_target!(|data: &[u8]| vc6_fuzzing::nocrc::check(data));
