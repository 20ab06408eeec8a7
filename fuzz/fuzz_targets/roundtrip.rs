//! Encode then decode of a picture and settings drawn from the bytes (see vc6_fuzzing::roundtrip).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: vc6_fuzzing::peak::PeakAlloc = vc6_fuzzing::peak::PeakAlloc;

fuzz_target!(|data: &[u8]| vc6_fuzzing::roundtrip::check(data));
