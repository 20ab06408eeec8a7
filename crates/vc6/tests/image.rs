//! The `image` crate integration (feature `image`): hooks, decoder, region decoder,
//! encoder, limits and damaged input.
#![cfg(feature = "image")]

use image::error::LimitErrorKind;
use image::{
    ColorType, DynamicImage, ImageBuffer, ImageDecoder, ImageDecoderRect, ImageEncoder, ImageError,
    ImageReader, Limits, Luma, LumaA, Rgb, Rgba,
};
use std::io::Cursor;
use std::path::PathBuf;
use vc6::image::{Vc6Decoder, Vc6Encoder};
use vc6::{
    Decoder, DecoderSettings, Encoder, EncoderSettings, Picture, PixelFormat, Plane, Preset,
};

/// A pattern with every byte of its samples busy (16-bit values use the high byte too).
fn value(x: u32, y: u32, c: u32) -> u32 {
    x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503) ^ (c * 977) ^ ((x + y) << 9)
}

/// One picture of each colour type vc6 encodes, with awkward sizes.
fn pictures() -> Vec<DynamicImage> {
    let (w, h) = (67, 41);
    vec![
        DynamicImage::ImageLuma8(ImageBuffer::from_fn(w, h, |x, y| {
            Luma([value(x, y, 0) as u8])
        })),
        DynamicImage::ImageLuma16(ImageBuffer::from_fn(w, h, |x, y| {
            Luma([value(x, y, 0) as u16])
        })),
        DynamicImage::ImageRgb8(ImageBuffer::from_fn(w, h, |x, y| {
            Rgb([0, 1, 2].map(|c| value(x, y, c) as u8))
        })),
        DynamicImage::ImageRgba8(ImageBuffer::from_fn(w, h, |x, y| {
            Rgba([0, 1, 2, 3].map(|c| value(x, y, c) as u8))
        })),
        DynamicImage::ImageRgb16(ImageBuffer::from_fn(w, h, |x, y| {
            Rgb([0, 1, 2].map(|c| value(x, y, c) as u16))
        })),
        DynamicImage::ImageRgba16(ImageBuffer::from_fn(w, h, |x, y| {
            Rgba([0, 1, 2, 3].map(|c| value(x, y, c) as u16))
        })),
    ]
}

fn to_vc6(picture: &DynamicImage) -> Vec<u8> {
    let mut stream = Vec::new();
    picture
        .write_with_encoder(Vc6Encoder::new(&mut stream))
        .unwrap_or_else(|e| panic!("{:?}: {e}", picture.color()));
    stream
}

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("vc6-image-{name}"))
}

fn vc6_encode(f: PixelFormat, w: u32, h: u32, frame: &[u8]) -> Vec<u8> {
    Encoder::new(w, h, f, EncoderSettings::default())
        .unwrap()
        .encode(frame)
        .unwrap()
}

#[test]
fn open_and_load_from_memory_round_trip_every_color_type() {
    vc6::image::register();
    for picture in pictures() {
        let ctx = format!("{:?}", picture.color());
        let path = tmp(&format!("{ctx}.vc6"));
        let mut file = std::fs::File::create(&path).unwrap();
        picture
            .write_with_encoder(Vc6Encoder::new(&mut file))
            .unwrap();
        drop(file);
        let opened = image::open(&path).unwrap_or_else(|e| panic!("{ctx}: open: {e}"));
        assert_eq!(opened.color(), picture.color(), "{ctx}");
        assert_eq!(opened, picture, "{ctx}: open");

        let bytes = std::fs::read(&path).unwrap();
        assert!(vc6::probe(&bytes).unwrap().lossless, "{ctx}");
        let loaded = image::load_from_memory(&bytes).unwrap();
        assert_eq!(loaded, picture, "{ctx}: load_from_memory");
        // Detection by content, whatever the file is called.
        let renamed = tmp(&format!("{ctx}.bin"));
        std::fs::write(&renamed, &bytes).unwrap();
        let guessed = ImageReader::open(&renamed)
            .unwrap()
            .with_guessed_format()
            .unwrap()
            .decode()
            .unwrap();
        assert_eq!(guessed, picture, "{ctx}: guessed format");
    }
}

#[test]
fn sixteen_bit_samples_are_little_endian_in_the_stream() {
    // image's native-endian words must become vc6's little-endian ones.
    for picture in pictures()
        .into_iter()
        .filter(|p| p.color().bytes_per_pixel() / p.color().channel_count() == 2)
    {
        let stream = to_vc6(&picture);
        let frame = Decoder::new(DecoderSettings::default())
            .unwrap()
            .decode(&stream)
            .unwrap();
        let words: Vec<u8> = picture
            .as_bytes()
            .chunks_exact(2)
            .flat_map(|w| u16::from_ne_bytes([w[0], w[1]]).to_le_bytes())
            .collect();
        assert_eq!(frame.data, words, "{:?}", picture.color());
        assert_eq!(frame.bit_depth, 16);
    }
}

#[test]
fn decoder_reports_dimensions_and_color_types() {
    let (w, h) = (9, 5);
    let cases = [
        (PixelFormat::Gray8, ColorType::L8),
        (PixelFormat::Gray16, ColorType::L16),
        (PixelFormat::Rgb8, ColorType::Rgb8),
        (PixelFormat::Rgba8, ColorType::Rgba8),
        (PixelFormat::Bgr8, ColorType::Rgb8),
        (PixelFormat::Bgra8, ColorType::Rgba8),
        (PixelFormat::Rgb16, ColorType::Rgb16),
        (PixelFormat::Rgba16, ColorType::Rgba16),
        (PixelFormat::Yuv420p8, ColorType::Rgb8),
        (PixelFormat::Yuv422p8, ColorType::Rgb8),
        (PixelFormat::Yuv444p8, ColorType::Rgb8),
        (PixelFormat::Yuv420p16, ColorType::Rgb16),
        (PixelFormat::Yuv422p16, ColorType::Rgb16),
        (PixelFormat::Yuv444p16, ColorType::Rgb16),
    ];
    for (f, ct) in cases {
        let frame = vec![0u8; f.frame_len(w, h).unwrap()];
        let stream = vc6_encode(f, w, h, &frame);
        let dec = Vc6Decoder::new(&stream[..]).unwrap();
        assert_eq!((dec.dimensions(), dec.color_type()), ((w, h), ct), "{f}");
        assert_eq!(dec.pixel_format(), f);
    }
}

#[test]
fn bgr_streams_decode_to_rgb() {
    vc6::image::register();
    let (w, h) = (13, 7);
    let bgr: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 251) as u8).collect();
    let img = image::load_from_memory(&vc6_encode(PixelFormat::Bgr8, w, h, &bgr)).unwrap();
    let rgb = img.as_rgb8().expect("Rgb8");
    for (px, b) in rgb.pixels().zip(bgr.chunks_exact(3)) {
        assert_eq!(px.0, [b[2], b[1], b[0]]);
    }
    let bgra: Vec<u8> = (0..w * h * 4).map(|i| (i * 53 % 241) as u8).collect();
    let img = image::load_from_memory(&vc6_encode(PixelFormat::Bgra8, w, h, &bgra)).unwrap();
    let rgba = img.as_rgba8().expect("Rgba8");
    for (px, b) in rgba.pixels().zip(bgra.chunks_exact(4)) {
        assert_eq!(px.0, [b[2], b[1], b[0], b[3]]);
    }
}

/// BT.601 full range, in floating point: the reference for the decoder's fixed point.
fn bt601_reference(y: f64, cb: f64, cr: f64, max: f64) -> [f64; 3] {
    [
        y + 1.402 * cr,
        y - 0.344_136 * cb - 0.714_136 * cr,
        y + 1.772 * cb,
    ]
    .map(|v| v.round().clamp(0.0, max))
}

/// Planar Y, U, V samples (U and V at `(x >> sx, y >> sy)` resolution) of a colourful
/// pattern at `depth` bits.
fn yuv_planes(w: u32, h: u32, (sx, sy): (u32, u32), depth: u8) -> [Vec<u32>; 3] {
    let max = (1u32 << depth) - 1;
    let (cw, ch) = (w.div_ceil(1 << sx), h.div_ceil(1 << sy));
    let y = (0..w * h).map(|i| value(i % w, i / w, 0) & max).collect();
    let u = (0..cw * ch)
        .map(|i| value(i % cw, i / cw, 1) & max)
        .collect();
    let v = (0..cw * ch)
        .map(|i| value(i % cw, i / cw, 2) & max)
        .collect();
    [y, u, v]
}

#[test]
fn yuv_streams_decode_to_rgb_bt601_full_range() {
    vc6::image::register();
    let (w, h) = (21, 11);
    let cases = [
        (PixelFormat::Yuv420p8, (1, 1), 8),
        (PixelFormat::Yuv422p8, (1, 0), 8),
        (PixelFormat::Yuv444p8, (0, 0), 8),
        (PixelFormat::Yuv420p16, (1, 1), 10),
        (PixelFormat::Yuv444p16, (0, 0), 16),
    ];
    for (f, (sx, sy), depth) in cases {
        let planes = yuv_planes(w, h, (sx, sy), depth);
        let sixteen = f.container_bits() == 16;
        let frame: Vec<u8> = planes
            .iter()
            .flatten()
            .flat_map(|&v| {
                if sixteen {
                    (v as u16).to_le_bytes().to_vec()
                } else {
                    vec![v as u8]
                }
            })
            .collect();
        let settings = EncoderSettings {
            bit_depth: Some(depth),
            ..EncoderSettings::default()
        };
        let stream = Encoder::new(w, h, f, settings.clone())
            .unwrap()
            .encode(&frame)
            .unwrap();
        let img = image::load_from_memory(&stream).unwrap();
        let rgb: Vec<u32> = if sixteen {
            img.as_rgb16()
                .expect("Rgb16")
                .iter()
                .map(|&v| v.into())
                .collect()
        } else {
            img.as_rgb8()
                .expect("Rgb8")
                .iter()
                .map(|&v| v.into())
                .collect()
        };
        let max = f64::from((1u32 << depth) - 1);
        let centre = f64::from(1u32 << (depth - 1));
        let cw = w.div_ceil(1 << sx);
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            let (x, y) = (i as u32 % w, i as u32 / w);
            let c = ((y >> sy) * cw + (x >> sx)) as usize;
            let want = bt601_reference(
                f64::from(planes[0][i]),
                f64::from(planes[1][c]) - centre,
                f64::from(planes[2][c]) - centre,
                max,
            );
            for (got, want) in px.iter().zip(want) {
                assert!(
                    (f64::from(*got) - want).abs() <= 1.0,
                    "{f} at ({x}, {y}): {px:?}, want {want:?}"
                );
            }
        }
        // Neutral chroma is exact gray.
        let (cw, ch) = (w.div_ceil(1 << sx), h.div_ceil(1 << sy));
        let grey: Vec<u32> = planes[0]
            .iter()
            .copied()
            .chain(std::iter::repeat_n(
                1 << (depth - 1),
                2 * (cw * ch) as usize,
            ))
            .collect();
        let frame: Vec<u8> = grey
            .iter()
            .flat_map(|&v| {
                if sixteen {
                    (v as u16).to_le_bytes().to_vec()
                } else {
                    vec![v as u8]
                }
            })
            .collect();
        let stream = Encoder::new(w, h, f, settings)
            .unwrap()
            .encode(&frame)
            .unwrap();
        let img = image::load_from_memory(&stream).unwrap().into_rgb16();
        for (px, &y) in img.pixels().zip(&planes[0]) {
            let y = if sixteen { y } else { y * 257 };
            assert_eq!(px.0, [y as u16; 3], "{f}: grey");
        }
    }
}

/// `read_rect` into rows `pitch` bytes apart against the crop of the whole picture;
/// the bytes between rows stay untouched.
fn check_rect(stream: &[u8], (x, y, w, h): (u32, u32, u32, u32), extra_pitch: usize) {
    let full = {
        let dec = Vc6Decoder::new(stream).unwrap();
        let mut buf = vec![0u8; dec.total_bytes() as usize];
        let width = dec.dimensions().0 as usize;
        let bpp = usize::from(dec.color_type().bytes_per_pixel());
        dec.read_image(&mut buf).unwrap();
        (buf, width, bpp)
    };
    let (buf, width, bpp) = full;
    let row = w as usize * bpp;
    let pitch = row + extra_pitch;
    let mut rect = vec![0xEEu8; pitch * (h as usize - 1) + row];
    let mut dec = Vc6Decoder::new(stream).unwrap();
    dec.read_rect(x, y, w, h, &mut rect, pitch).unwrap();
    let f = dec.pixel_format();
    for j in 0..h as usize {
        let at = ((y as usize + j) * width + x as usize) * bpp;
        assert_eq!(
            rect[j * pitch..j * pitch + row],
            buf[at..at + row],
            "{f} rect {x},{y} {w}x{h}, row {j}"
        );
        if j + 1 < h as usize {
            assert!(
                rect[j * pitch + row..(j + 1) * pitch]
                    .iter()
                    .all(|&b| b == 0xEE),
                "{f}: padding written"
            );
        }
    }
    // A second region from the same decoder (the stream is kept).
    let mut one = vec![0u8; bpp];
    dec.read_rect(x + w - 1, y + h - 1, 1, 1, &mut one, bpp)
        .unwrap();
    let at = ((y + h - 1) as usize * width + (x + w - 1) as usize) * bpp;
    assert_eq!(one, buf[at..at + bpp], "{f}: last pixel");
}

#[test]
fn read_rect_equals_the_crop_of_the_whole_picture() {
    let (w, h) = (150, 90);
    let small_tiles = EncoderSettings {
        tile_log2: 3,
        ..EncoderSettings::default()
    };
    for f in [
        PixelFormat::Gray8,
        PixelFormat::Gray16,
        PixelFormat::Rgb8,
        PixelFormat::Rgba16,
        PixelFormat::Bgr8,
        PixelFormat::Yuv420p8,
        PixelFormat::Yuv422p16,
    ] {
        let frame: Vec<u8> = (0..f.frame_len(w, h).unwrap() as u32)
            .map(|i| value(i % 311, i / 311, 0) as u8)
            .collect();
        let stream = Encoder::new(w, h, f, small_tiles.clone())
            .unwrap()
            .encode(&frame)
            .unwrap();
        for rect in [
            (0, 0, w, h),
            (17, 9, 40, 33),
            (1, 1, 1, 1),
            (101, 60, 49, 30),
        ] {
            check_rect(&stream, rect, 0);
            check_rect(&stream, rect, 7);
        }
    }
}

#[test]
fn read_rect_refuses_bad_rectangles_and_buffers() {
    let stream = vc6_encode(PixelFormat::Rgb8, 16, 8, &[9u8; 16 * 8 * 3]);
    let mut dec = Vc6Decoder::new(&stream[..]).unwrap();
    let mut buf = vec![0u8; 16 * 8 * 3];
    let param = |r: Result<(), ImageError>| matches!(r, Err(ImageError::Parameter(_)));
    assert!(param(dec.read_rect(10, 0, 7, 1, &mut buf, 21)));
    assert!(param(dec.read_rect(0, 5, 1, 4, &mut buf, 3)));
    assert!(param(dec.read_rect(0, 0, 4, 2, &mut buf, 11)));
    assert!(param(dec.read_rect(0, 0, 4, 2, &mut buf[..23], 12)));
    assert!(param(dec.read_rect(u32::MAX, 0, 2, 1, &mut buf, 6)));
    dec.read_rect(0, 0, 4, 2, &mut buf[..24], 12).unwrap();
    assert_eq!(buf[..24], [9u8; 24]);
}

#[test]
fn limits_refuse_a_picture_too_large() {
    vc6::image::register();
    let (w, h) = (64, 48);
    let stream = vc6_encode(PixelFormat::Rgb8, w, h, &vec![5u8; (w * h * 3) as usize]);

    let mut limits = Limits::default();
    limits.max_image_width = Some(w - 1);
    let mut reader = ImageReader::new(Cursor::new(&stream[..]))
        .with_guessed_format()
        .unwrap();
    reader.limits(limits);
    match reader.decode() {
        Err(ImageError::Limits(e)) => assert_eq!(e.kind(), LimitErrorKind::DimensionError),
        other => panic!("width limit: {other:?}"),
    }

    let mut limits = Limits::default();
    limits.max_image_height = Some(h - 1);
    let mut dec = Vc6Decoder::new(&stream[..]).unwrap();
    assert!(matches!(dec.set_limits(limits), Err(ImageError::Limits(_))));

    // Room for the output, not for vc6's working memory (echelons at 4 bytes a sample).
    let mut limits = Limits::default();
    limits.max_alloc = Some(u64::from(w * h * 3) + 1000);
    let mut reader = ImageReader::new(Cursor::new(&stream[..]))
        .with_guessed_format()
        .unwrap();
    reader.limits(limits.clone());
    match reader.decode() {
        Err(ImageError::Limits(e)) => assert_eq!(e.kind(), LimitErrorKind::InsufficientMemory),
        other => panic!("memory limit: {other:?}"),
    }
    let mut dec = Vc6Decoder::new(&stream[..]).unwrap();
    dec.set_limits(limits).unwrap();
    assert_eq!(dec.limits().max_alloc_bytes, u64::from(w * h * 3) + 1000);
    let mut buf = vec![0u8; dec.total_bytes() as usize];
    assert!(matches!(
        dec.read_image(&mut buf),
        Err(ImageError::Limits(_))
    ));

    // The same stream within generous limits, and a later set_limits replaces the last.
    let mut dec = Vc6Decoder::new(&stream[..]).unwrap();
    let mut tight = Limits::default();
    tight.max_alloc = Some(10);
    dec.set_limits(tight).unwrap();
    let mut fits = Limits::default();
    fits.max_image_width = Some(w);
    fits.max_image_height = Some(h);
    dec.set_limits(fits).unwrap();
    let mut buf = vec![0u8; dec.total_bytes() as usize];
    dec.read_image(&mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 5));
}

#[test]
fn truncated_and_corrupt_streams_give_errors() {
    vc6::image::register();
    let picture = &pictures()[2];
    let stream = to_vc6(picture);
    assert!(image::load_from_memory(&stream).is_ok());
    let header = vc6::probe(&stream).unwrap().header_bytes as usize;
    // Every cut of the header, then cuts through the payload.
    let cuts = (0..header + 2).chain((header..stream.len()).step_by(97));
    for cut in cuts {
        let r = image::load_from_memory(&stream[..cut]);
        assert!(r.is_err(), "cut at {cut} of {} decoded", stream.len());
        if cut >= 4 {
            // Known as vc6 from the magic: a decoding error, not "unknown format".
            assert!(
                matches!(r, Err(ImageError::Decoding(_))),
                "cut at {cut}: {r:?}"
            );
        }
        // The decoder itself on the cut stream: an error, not a panic.
        if let Ok(dec) = Vc6Decoder::new(&stream[..cut]) {
            let mut buf = vec![0u8; dec.total_bytes() as usize];
            assert!(dec.read_image(&mut buf).is_err(), "cut at {cut}");
        }
    }
    // Damaged payload bytes: the section checksums catch them.
    for at in (header..stream.len()).step_by(31) {
        let mut bad = stream.clone();
        bad[at] ^= 0x5A;
        let r = image::load_from_memory(&bad);
        assert!(
            matches!(r, Err(ImageError::Decoding(_))),
            "flip at {at}: {r:?}"
        );
    }
    // Damaged header bytes: an error or (a field whose change is still valid) a picture,
    // never a panic; the magic alone is not enough.
    for at in 4..header {
        for flip in [0x01, 0x80, 0xFF] {
            let mut bad = stream.clone();
            bad[at] ^= flip;
            let _ = image::load_from_memory(&bad);
        }
    }
    let garbage: Vec<u8> = b"VC6R"
        .iter()
        .copied()
        .chain((0..200).map(|i| i as u8))
        .collect();
    assert!(image::load_from_memory(&garbage).is_err());
}

#[test]
fn generic_planar_streams_are_unsupported() {
    let plane = |w, h| Plane {
        width: w,
        height: h,
        bit_depth: 8,
        samples: vec![3; (w * h) as usize],
    };
    let picture = Picture {
        planes: vec![plane(8, 8), plane(4, 4)],
    };
    let stream = Encoder::new(8, 8, PixelFormat::Gray8, EncoderSettings::default())
        .unwrap()
        .encode_picture(&picture)
        .unwrap();
    let err = Vc6Decoder::new(&stream[..]).unwrap_err();
    assert!(matches!(err, ImageError::Unsupported(_)), "{err:?}");
    assert!(err.to_string().contains("decode_picture"), "{err}");
}

#[test]
fn register_twice_is_harmless() {
    vc6::image::register();
    assert!(!vc6::image::register());
    assert!(image::hooks::decoding_hook_registered("vc6".as_ref()));
    let stream = to_vc6(&pictures()[0]);
    assert_eq!(image::load_from_memory(&stream).unwrap(), pictures()[0]);
}

#[test]
fn encoder_refuses_what_vc6_cannot_hold() {
    let la = DynamicImage::ImageLumaA8(ImageBuffer::from_fn(4, 4, |x, _| LumaA([x as u8, 255])));
    let r = la.write_with_encoder(Vc6Encoder::new(Vec::new()));
    assert!(matches!(r, Err(ImageError::Unsupported(_))), "{r:?}");
    let r =
        Vc6Encoder::new(Vec::new()).write_image(&[0u8; 11], 2, 2, image::ExtendedColorType::Rgb8);
    assert!(matches!(r, Err(ImageError::Parameter(_))), "{r:?}");
    let r = Vc6Encoder::new(Vec::new()).write_image(&[], 0, 0, image::ExtendedColorType::L8);
    assert!(r.is_err());
    // A lossless preset with a quality is a caller mistake.
    let bad = EncoderSettings {
        quality: Some(50.0),
        ..EncoderSettings::default()
    };
    let r = Vc6Encoder::with_settings(Vec::new(), bad).write_image(
        &[0u8; 4],
        2,
        2,
        image::ExtendedColorType::L8,
    );
    assert!(matches!(r, Err(ImageError::Parameter(_))), "{r:?}");
}

#[test]
fn lossy_encoder_settings() {
    vc6::image::register();
    let picture = &pictures()[2];
    let settings = EncoderSettings {
        quality: Some(90.0),
        ..EncoderSettings::from_preset(Preset::Better)
    };
    let mut stream = Vec::new();
    picture
        .write_with_encoder(Vc6Encoder::with_settings(&mut stream, settings))
        .unwrap();
    assert!(!vc6::probe(&stream).unwrap().lossless);
    let back = image::load_from_memory(&stream).unwrap();
    assert_eq!(back.color(), ColorType::Rgb8);
    assert_eq!(
        (back.width(), back.height()),
        (picture.width(), picture.height())
    );
}

#[test]
fn twelve_bit_samples_stay_lsb_aligned() {
    vc6::image::register();
    let (w, h) = (10, 6);
    let samples: Vec<u16> = (0..w * h).map(|i| (i * 67 % 4096) as u16).collect();
    let frame: Vec<u8> = samples.iter().flat_map(|v| v.to_le_bytes()).collect();
    let settings = EncoderSettings {
        bit_depth: Some(12),
        ..EncoderSettings::default()
    };
    let stream = Encoder::new(w, h, PixelFormat::Gray16, settings)
        .unwrap()
        .encode(&frame)
        .unwrap();
    let img = image::load_from_memory(&stream).unwrap();
    assert_eq!(img.as_luma16().expect("L16").as_raw(), &samples);
}
