//! Decoding arbitrary bytes must never panic: whole picture, LoQ 1 and a region.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vc6::{Decoder, DecoderSettings, FrameRegion};

fuzz_target!(|data: &[u8]| {
    let decoder =
        Decoder::new(DecoderSettings::default()).expect("default decoder settings are valid");
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
