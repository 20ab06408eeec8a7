//! Lossy coding through the core API: quality 100 is exact, quality trades size for
//! error monotonically, and LoQ, prefix and region decodes of a lossy stream are exactly
//! the matching parts of its full decode.

mod common;

use common::xorshift;
use vc6_core::{
    decode, encode, DecodeOptions, EncoderConfig, Header, Picture, Plane, Region, Upsampler,
};

/// Photo-like content: gradients, an edge, texture and noise.
fn plane(w: u32, h: u32, depth: u8, seed: u32) -> Plane {
    let mut s = seed | 1;
    let max = (1u32 << depth) - 1;
    let samples = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let grad = (x * 5 + y * 2) * max / (5 * w + 2 * h).max(1) / 2;
            let edge = if x > w / 3 && y < h / 2 { max / 4 } else { 0 };
            let tex = ((x * 13 + y * 7) % 11) * max / 64;
            let noise = xorshift(&mut s) % (max / 24 + 2);
            ((grad + edge + tex + noise).min(max)) as u16
        })
        .collect();
    Plane::from_samples(w, h, depth, samples).unwrap()
}

fn rgb(w: u32, h: u32, seed: u32) -> Picture {
    Picture::new((0..3).map(|i| plane(w, h, 8, seed + i)).collect()).unwrap()
}

fn cfg(quality: u8, predicted_average: bool) -> EncoderConfig {
    EncoderConfig {
        quality: Some(f32::from(quality)),
        predicted_average,
        colour_transform: true,
        threads: 1,
        tile_log2: 4,
        ..EncoderConfig::default()
    }
}

fn mse(a: &Picture, b: &Picture) -> f64 {
    let mut sum = 0f64;
    let mut n = 0usize;
    for (pa, pb) in a.planes.iter().zip(&b.planes) {
        for (&x, &y) in pa.samples.iter().zip(&pb.samples) {
            sum += (f64::from(x) - f64::from(y)).powi(2);
            n += 1;
        }
    }
    sum / n as f64
}

#[test]
fn quality_100_is_exact_and_the_header_says_lossy() {
    for (w, h) in [(1, 1), (7, 5), (33, 17), (64, 48)] {
        let pic = rgb(w, h, w * 7 + h);
        for pa in [true, false] {
            for up in [Upsampler::Nearest, Upsampler::Cubic] {
                let stream = encode(
                    &pic,
                    &EncoderConfig {
                        upsampler: up,
                        ..cfg(100, pa)
                    },
                )
                .unwrap();
                let header = Header::parse(&stream).unwrap();
                assert!(!header.lossless);
                assert_eq!(header.predicted_average, pa);
                let out = decode(&stream, &DecodeOptions::default()).unwrap();
                assert_eq!(out, pic, "{w}x{h} pa {pa} {up}");
            }
        }
    }
}

#[test]
fn lower_quality_means_smaller_streams_and_larger_errors() {
    let pic = rgb(96, 80, 5);
    let lossless = encode(&pic, &EncoderConfig::default()).unwrap().len();
    let mut last: Option<(usize, f64)> = None;
    for q in [95u8, 85, 70, 50, 30, 10] {
        let stream = encode(&pic, &cfg(q, true)).unwrap();
        let out = decode(&stream, &DecodeOptions::default()).unwrap();
        let e = mse(&pic, &out);
        assert!(
            stream.len() < lossless,
            "quality {q}: {} bytes",
            stream.len()
        );
        if let Some((len, err)) = last {
            assert!(
                stream.len() <= len,
                "quality {q}: {} > {len} bytes",
                stream.len()
            );
            assert!(e >= err, "quality {q}: mse {e} < {err}");
        }
        last = Some((stream.len(), e));
    }
    let (_, worst) = last.unwrap();
    assert!(worst > 1.0, "quality 10 should lose something: mse {worst}");
    // Quality 90 stays close to the source: PSNR above 40 dB on 8-bit samples.
    let out = decode(
        &encode(&pic, &cfg(90, true)).unwrap(),
        &DecodeOptions::default(),
    )
    .unwrap();
    let psnr = 10.0 * (255.0f64 * 255.0 / mse(&pic, &out)).log10();
    assert!(psnr > 40.0, "quality 90: {psnr:.2} dB");
}

#[test]
fn loq_prefix_and_region_are_parts_of_the_full_lossy_decode() {
    let pic = rgb(75, 53, 9);
    for pa in [true, false] {
        let stream = encode(&pic, &cfg(60, pa)).unwrap();
        let header = Header::parse(&stream).unwrap();
        for loq in 0..header.section_count() as u8 {
            let full = decode(
                &stream,
                &DecodeOptions {
                    loq,
                    ..DecodeOptions::default()
                },
            )
            .unwrap();
            let need = header.required_size(loq).unwrap() as usize;
            let prefix = decode(
                &stream[..need],
                &DecodeOptions {
                    loq,
                    ..DecodeOptions::default()
                },
            )
            .unwrap();
            assert_eq!(prefix, full, "loq {loq} prefix");
            let (w, h) = (full.planes[0].width, full.planes[0].height);
            let region = Region {
                x: w / 3,
                y: h / 4,
                width: (w / 2).max(1),
                height: (h / 3).max(1),
            };
            let part = decode(
                &stream,
                &DecodeOptions {
                    loq,
                    region: Some(region),
                    ..DecodeOptions::default()
                },
            )
            .unwrap();
            for (p, (a, b)) in part.planes.iter().zip(&full.planes).enumerate() {
                for y in 0..region.height {
                    for x in 0..region.width {
                        let got = a.samples[(y * region.width + x) as usize];
                        let want = b.samples[((region.y + y) * w + region.x + x) as usize];
                        assert_eq!(got, want, "pa {pa} loq {loq} plane {p} at {x},{y}");
                    }
                }
            }
        }
    }
}

#[test]
fn target_bpp_is_met_within_two_percent() {
    let pic = rgb(160, 120, 21);
    let pixels = 160.0 * 120.0;
    for bpp in [0.5, 1.25, 3.0] {
        let stream = encode(
            &pic,
            &EncoderConfig {
                quality: None,
                target_bpp: Some(bpp),
                ..cfg(0, true)
            },
        )
        .unwrap();
        let got = stream.len() as f64 * 8.0 / pixels;
        assert!(
            (got - bpp).abs() <= 0.02 * bpp,
            "target {bpp} bpp, got {got:.4}"
        );
        decode(&stream, &DecodeOptions::default()).unwrap();
    }
    // Both a quality and a target is a caller error.
    let both = EncoderConfig {
        target_bpp: Some(1.0),
        ..cfg(50, true)
    };
    assert!(encode(&pic, &both).is_err());
}

#[test]
fn adaptive_upsampler_stores_its_taps_and_decodes() {
    let pic = rgb(120, 90, 33);
    for quality in [None, Some(100), Some(70)] {
        let config = EncoderConfig {
            adaptive_upsampler: true,
            quality: quality.map(|q: u8| f32::from(q)),
            ..cfg(0, true)
        };
        let stream = encode(&pic, &config).unwrap();
        let header = Header::parse(&stream).unwrap();
        assert!(
            matches!(header.upsampler, Upsampler::Custom(_)),
            "{:?}",
            header.upsampler
        );
        let out = decode(&stream, &DecodeOptions::default()).unwrap();
        if quality != Some(70) {
            assert_eq!(out, pic, "quality {quality:?}");
        }
    }
}

/// A quality means the same at every bit depth: the same picture in 8 and in 16 bits
/// (samples x 257) costs about as many bits at one quality and loses about as much,
/// relative to the peak.
#[test]
fn quality_is_relative_to_the_bit_depth() {
    let pic8 = rgb(96, 64, 41);
    let pic16 = Picture::new(
        pic8.planes
            .iter()
            .map(|p| {
                let wide = p.samples.iter().map(|&s| s * 257).collect();
                Plane::from_samples(p.width, p.height, 16, wide).unwrap()
            })
            .collect(),
    )
    .unwrap();
    for quality in [40, 70, 90] {
        let s8 = encode(&pic8, &cfg(quality, true)).unwrap();
        let s16 = encode(&pic16, &cfg(quality, true)).unwrap();
        let ratio = s16.len() as f64 / s8.len() as f64;
        assert!(
            (0.8..1.6).contains(&ratio),
            "quality {quality}: {} bytes in 16 bits against {} in 8",
            s16.len(),
            s8.len()
        );
        let opts = DecodeOptions::default();
        let psnr = |pic: &Picture, stream: &[u8], peak: f64| {
            10.0 * (peak * peak / mse(pic, &decode(stream, &opts).unwrap())).log10()
        };
        let (p8, p16) = (psnr(&pic8, &s8, 255.0), psnr(&pic16, &s16, 65535.0));
        assert!(
            (p8 - p16).abs() < 1.5,
            "quality {quality}: {p8:.2} dB in 8 bits, {p16:.2} dB in 16"
        );
    }
}

/// An exact plane in a lossy stream (an alpha plane, say) decodes to its source sample
/// for sample, at every quality and at a target rate, while the others are lossy; a plane
/// the picture does not have is refused.
#[test]
fn an_exact_plane_stays_exact() {
    let pic = Picture::new((0..4).map(|i| plane(80, 56, 8, 70 + i)).collect()).unwrap();
    let opts = DecodeOptions::default();
    for (quality, target_bpp) in [(Some(20), None), (Some(75), None), (None, Some(2.0))] {
        let config = EncoderConfig {
            quality: quality.map(|q: u8| f32::from(q)),
            target_bpp,
            exact_plane: Some(3),
            ..cfg(50, true)
        };
        let out = decode(&encode(&pic, &config).unwrap(), &opts).unwrap();
        assert_eq!(out.planes[3], pic.planes[3], "{quality:?} {target_bpp:?}");
        assert!(out.planes[0] != pic.planes[0], "{quality:?} {target_bpp:?}");
    }
    let config = EncoderConfig {
        exact_plane: Some(4),
        ..cfg(50, true)
    };
    assert!(encode(&pic, &config).is_err());
}

/// Fraction bits: the default for lossy 8-bit streams is 5, none at quality 100 or for
/// 16-bit planes; more fraction bits give a closer decode at the same quality, every
/// LoQ and region decode stays a part of the full one, and impossible settings are
/// refused by name.
#[test]
fn fraction_bits_default_and_help() {
    let pic = rgb(96, 64, 31);
    let opts = DecodeOptions::default();
    let at = |quality: u8, fraction_bits: Option<u8>| {
        let stream = encode(
            &pic,
            &EncoderConfig {
                fraction_bits,
                ..cfg(quality, true)
            },
        )
        .unwrap();
        let header = Header::parse(&stream).unwrap();
        let out = decode(&stream, &opts).unwrap();
        (header.planes[0].fraction_bits, stream, mse(&pic, &out))
    };
    assert_eq!(at(80, None).0, vc6_core::DEFAULT_FRACTION_BITS);
    assert_eq!(at(100, None).0, 0);
    // An exact plane gets none (nor, with the colour transform, planes 0-2 beside it).
    let bits = |picture: &Picture, exact_plane: u8| -> Vec<u8> {
        let config = EncoderConfig {
            exact_plane: Some(exact_plane),
            ..cfg(80, true)
        };
        let header = Header::parse(&encode(picture, &config).unwrap()).unwrap();
        header.planes.iter().map(|p| p.fraction_bits).collect()
    };
    let mut rgba = pic.clone();
    rgba.planes.push(plane(96, 64, 8, 77));
    let f = vc6_core::DEFAULT_FRACTION_BITS;
    assert_eq!(bits(&rgba, 3), [f, f, f, 0]);
    assert_eq!(bits(&pic, 2), [0, 0, 0]);
    let (_, exact, e) = at(100, Some(3));
    assert_eq!(e, 0.0, "quality 100 with fraction bits is still exact");
    assert!(Header::parse(&exact).unwrap().planes[0].fraction_bits == 3);
    // Quality 90: 4 fraction bits against none, the bits per squared error.
    let (_, s0, e0) = at(90, Some(0));
    let (_, s4, e4) = at(90, Some(4));
    assert!(
        (s4.len() as f64) * e4 < (s0.len() as f64) * e0,
        "4 fraction bits: {} bytes, mse {e4:.3}; none: {} bytes, mse {e0:.3}",
        s4.len(),
        s0.len()
    );
    // LoQ 1 and a region of the fraction-bit stream are parts of its decodes.
    let full = decode(&s4, &opts).unwrap();
    let region = Region {
        x: 10,
        y: 7,
        width: 33,
        height: 20,
    };
    let part = decode(
        &s4,
        &DecodeOptions {
            region: Some(region),
            ..opts.clone()
        },
    )
    .unwrap();
    for (p, q) in full.planes.iter().zip(&part.planes) {
        for y in 0..20 {
            let row = &p.samples[((7 + y) * 96 + 10) as usize..][..33];
            assert_eq!(row, &q.samples[(y * 33) as usize..][..33]);
        }
    }
    // 16-bit planes have no room below; lossless streams take none.
    let deep = Picture::new(vec![plane(24, 16, 16, 3)]).unwrap();
    let grey = EncoderConfig {
        colour_transform: false,
        ..cfg(60, true)
    };
    let stream = encode(&deep, &grey).unwrap();
    assert_eq!(Header::parse(&stream).unwrap().planes[0].fraction_bits, 0);
    for (picture, config, what) in [
        (&deep, grey, "at most 0"),
        (&pic, cfg(60, true), "0 to 7"),
        (
            &pic,
            EncoderConfig {
                quality: None,
                ..cfg(60, true)
            },
            "lossy streams",
        ),
    ] {
        let f = if what == "0 to 7" { 8 } else { 1 };
        let err = encode(
            picture,
            &EncoderConfig {
                fraction_bits: Some(f),
                ..config
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(what), "{what}: {err}");
    }
}

/// With fraction bits a unit is a fraction of a sample, so the coarsest quantisers need
/// steps of thousands of units: a busy picture still reaches low target rates (with
/// steps capped at 4096 units, 5 fraction bits could not go below 2.5 bpp here; this
/// picture's fixed costs, headers and tables, are about 0.5 bpp).
#[test]
fn low_rates_stay_reachable_with_fraction_bits() {
    let (w, h) = (64u32, 48u32);
    let planes = (0..3)
        .map(|c| {
            let samples = (0..w * h).map(|i| ((3 * i + c) * 7 % 251) as u16).collect();
            Plane::from_samples(w, h, 8, samples).unwrap()
        })
        .collect();
    let pic = Picture::new(planes).unwrap();
    for target in [0.7, 1.0] {
        let stream = encode(
            &pic,
            &EncoderConfig {
                quality: None,
                target_bpp: Some(target),
                ..cfg(50, true)
            },
        )
        .unwrap();
        assert!(Header::parse(&stream).unwrap().planes[0].fraction_bits > 0);
        let bpp = stream.len() as f64 * 8.0 / f64::from(w * h);
        assert!(
            (bpp / target - 1.0).abs() < 0.03,
            "target {target}: {bpp:.3} bpp"
        );
    }
}
