//! Lossless round trip: the first three bytes choose width (1..=64), height (1..=64)
//! and the pixel format (gray8, rgb8, rgba8); the rest, repeated as needed, are the
//! pixels. Encoding then decoding must give back exactly the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vc6::{Decoder, DecoderSettings, Encoder, EncoderSettings, PixelFormat};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let width = 1 + u32::from(data[0] % 64);
    let height = 1 + u32::from(data[1] % 64);
    let (format, channels) = match data[2] % 3 {
        0 => (PixelFormat::Gray8, 1),
        1 => (PixelFormat::Rgb8, 3),
        _ => (PixelFormat::Rgba8, 4),
    };
    let rest = &data[3..];
    let len = (width * height) as usize * channels;
    let pixels: Vec<u8> = rest.iter().copied().cycle().take(len).collect();

    let encoder = Encoder::new(width, height, format, EncoderSettings::default()).expect("encoder");
    let stream = encoder.encode(&pixels).expect("encode");
    let decoder = Decoder::new(DecoderSettings::default()).expect("decoder");
    let frame = decoder
        .decode(&stream)
        .expect("decode of a stream we just encoded");
    assert_eq!((frame.width, frame.height), (width, height));
    assert_eq!(frame.format, format);
    assert!(
        frame.data == pixels,
        "round trip is not lossless ({width}x{height} {format:?})"
    );
});
