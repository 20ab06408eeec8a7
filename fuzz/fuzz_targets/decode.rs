//! Decoding arbitrary bytes must never panic: whole picture, LoQ 1 and a region.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vc6::{Decoder, DecoderSettings, FrameRegion, Limits};

fuzz_target!(|data: &[u8]| {
    // A tight memory limit keeps forged headers from tripping libFuzzer's RSS limit; the
    // limit itself is what the decoder must honour.
    let limits = Limits {
        max_alloc_bytes: 256 << 20,
        ..Limits::default()
    };
    let decoder = Decoder::new(DecoderSettings {
        limits,
        ..DecoderSettings::default()
    })
    .expect("decoder settings are valid");
    let _ = decoder.decode(data);
    let _ = decoder.decode_region(
        data,
        FrameRegion {
            loq: 1,
            ..Default::default()
        },
    );
    let _ = decoder.decode_region(
        data,
        FrameRegion {
            loq: 0,
            x: 3,
            y: 5,
            width: 17,
            height: 9,
        },
    );
    let _ = vc6::probe(data);
});
