//! Encode/decode round trips through the core API: lossless, LoQ, prefix and region.

mod common;

use common::xorshift;
use vc6_core::colour;
use vc6_core::pyramid::{forward_level, Level};
use vc6_core::{
    decode, encode, DecodeOptions, EncoderConfig, Error, Picture, Plane, Region, Upsampler,
};

/// A smooth-ish test plane: gradients, a disc and noise.
fn plane(w: u32, h: u32, depth: u8, seed: u32) -> Plane {
    let mut s = seed | 1;
    let max = (1u32 << depth) - 1;
    let samples = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let base = (x * 7 + y * 3) * max / (7 * w + 3 * h).max(1);
            let disc = if (x as i32 - w as i32 / 2).pow(2) + (y as i32 - h as i32 / 3).pow(2)
                < (w * h / 8) as i32
            {
                max / 3
            } else {
                0
            };
            let noise = xorshift(&mut s) % (max / 16 + 2);
            ((base + disc + noise) % (max + 1)) as u16
        })
        .collect();
    Plane::from_samples(w, h, depth, samples).unwrap()
}

fn rgb(w: u32, h: u32, depth: u8, seed: u32) -> Picture {
    Picture::new((0..3).map(|i| plane(w, h, depth, seed + i)).collect()).unwrap()
}

const UPSAMPLERS: [Upsampler; 4] = [
    Upsampler::Nearest,
    Upsampler::Linear,
    Upsampler::Cubic,
    Upsampler::ModifiedCubic,
];

#[test]
fn lossless_round_trip_odd_sizes() {
    let sizes = [
        (1, 1),
        (1, 9),
        (9, 1),
        (3, 5),
        (2, 2),
        (17, 13),
        (31, 7),
        (67, 41),
        (130, 129),
    ];
    for &(w, h) in &sizes {
        for (i, &up) in UPSAMPLERS.iter().enumerate() {
            for colour_transform in [false, true] {
                let pic = rgb(w, h, 8, w * 100 + h + i as u32);
                let cfg = EncoderConfig {
                    upsampler: up,
                    colour_transform,
                    tile_log2: 3 + (i as u8 % 3),
                    ..Default::default()
                };
                let stream = encode(&pic, &cfg).unwrap();
                let back = decode(&stream, &DecodeOptions::default()).unwrap();
                assert_eq!(back, pic, "{w}x{h} {up} ct={colour_transform}");
            }
        }
    }
}

#[test]
fn lossless_round_trip_depths_and_planes() {
    for depth in [1u8, 2, 7, 10, 12, 16] {
        let pic = Picture::new(vec![
            plane(23, 19, depth, 1),
            plane(12, 10, depth, 2),
            plane(5, 40, depth, 3),
            plane(1, 1, depth, 4),
        ])
        .unwrap();
        for up in UPSAMPLERS {
            for echelons in [Some(1), Some(3), None, Some(17)] {
                let cfg = EncoderConfig {
                    upsampler: up,
                    echelons,
                    ..Default::default()
                };
                let stream = encode(&pic, &cfg).unwrap();
                assert_eq!(
                    decode(&stream, &DecodeOptions::default()).unwrap(),
                    pic,
                    "depth {depth} {up} {echelons:?}"
                );
            }
        }
        let pic = rgb(33, 17, depth, 9);
        let cfg = EncoderConfig {
            colour_transform: true,
            upsampler: Upsampler::Cubic,
            ..Default::default()
        };
        assert_eq!(
            decode(&encode(&pic, &cfg).unwrap(), &DecodeOptions::default()).unwrap(),
            pic,
            "rgb depth {depth}"
        );
    }
}

/// The expected picture at LoQ k: the averages of the pyramid, colour converted back.
fn expected_loq(pic: &Picture, k: u8, colour_transform: bool) -> Picture {
    let mut levels: Vec<Level> = pic
        .planes
        .iter()
        .map(|p| Level {
            width: p.width,
            height: p.height,
            data: p.samples.iter().map(|&v| i32::from(v)).collect(),
        })
        .collect();
    if colour_transform {
        for i in 0..levels[0].data.len() {
            let (y, co, cg) =
                colour::forward(levels[0].data[i], levels[1].data[i], levels[2].data[i]);
            (levels[0].data[i], levels[1].data[i], levels[2].data[i]) = (y, co, cg);
        }
    }
    for _ in 0..k {
        levels = levels.iter().map(|l| forward_level(l).0).collect();
    }
    if colour_transform {
        for i in 0..levels[0].data.len() {
            let (r, g, b) =
                colour::inverse(levels[0].data[i], levels[1].data[i], levels[2].data[i]);
            (levels[0].data[i], levels[1].data[i], levels[2].data[i]) = (r, g, b);
        }
    }
    Picture {
        planes: levels
            .into_iter()
            .zip(&pic.planes)
            .map(|(l, p)| Plane {
                width: l.width,
                height: l.height,
                bit_depth: p.bit_depth,
                samples: l
                    .data
                    .iter()
                    .map(|&v| v.clamp(0, (1 << p.bit_depth) - 1) as u16)
                    .collect(),
            })
            .collect(),
    }
}

#[test]
fn loq_prefix_and_region_decodes_match() {
    for &(w, h) in &[(97u32, 61u32), (64, 64), (5, 3)] {
        for up in UPSAMPLERS {
            let pic = rgb(w, h, 8, w + h);
            let cfg = EncoderConfig {
                upsampler: up,
                colour_transform: true,
                tile_log2: 3,
                ..Default::default()
            };
            let stream = encode(&pic, &cfg).unwrap();
            let info = vc6_core::probe(&stream).unwrap();
            assert_eq!(info.total_bytes, stream.len() as u64);
            for l in &info.loqs {
                let k = l.loq;
                let want = expected_loq(&pic, k, true);
                let opts = DecodeOptions {
                    loq: k,
                    ..Default::default()
                };
                let full = decode(&stream, &opts).unwrap();
                assert_eq!(full, want, "{w}x{h} {up} loq {k}");
                assert_eq!(
                    (full.planes[0].width, full.planes[0].height),
                    (l.width, l.height)
                );
                // A prefix of exactly the required bytes decodes the same; one byte less is truncated.
                let need = vc6_core::required_size(&stream[..info.header_bytes as usize], k)
                    .unwrap() as usize;
                assert_eq!(decode(&stream[..need], &opts).unwrap(), full);
                assert!(matches!(
                    decode(&stream[..need - 1], &opts),
                    Err(Error::Truncated { .. })
                ));
                // Regions equal crops of the full decode.
                let (lw, lh) = (l.width, l.height);
                for (x, y, rw, rh) in [
                    (0, 0, lw, lh),
                    (lw / 3, lh / 4, lw.div_ceil(2), lh.div_ceil(2)),
                    (lw - 1, lh - 1, 1, 1),
                    (lw / 2, 0, 1, lh),
                ] {
                    let region = Region {
                        x,
                        y,
                        width: rw,
                        height: rh,
                    };
                    let got = decode(
                        &stream[..need],
                        &DecodeOptions {
                            region: Some(region),
                            ..opts.clone()
                        },
                    )
                    .unwrap();
                    for (gp, fp) in got.planes.iter().zip(&full.planes) {
                        assert_eq!(
                            *gp,
                            fp.crop(x, y, rw, rh).unwrap(),
                            "{w}x{h} {up} loq {k} region {region:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn threads_do_not_change_the_stream_or_pixels() {
    let pic = rgb(300, 200, 8, 5);
    let cfg = EncoderConfig {
        colour_transform: true,
        tile_log2: 4,
        ..Default::default()
    };
    let one = encode(
        &pic,
        &EncoderConfig {
            threads: 1,
            ..cfg.clone()
        },
    )
    .unwrap();
    let many = encode(&pic, &EncoderConfig { threads: 0, ..cfg }).unwrap();
    assert_eq!(one, many);
    let d1 = decode(
        &one,
        &DecodeOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let d2 = decode(
        &one,
        &DecodeOptions {
            threads: 3,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(d1, pic);
    assert_eq!(d2, pic);
}

#[test]
fn reused_buffers_give_the_same_pixels_as_fresh_ones() {
    use vc6_core::{decode_with, DecodeBuffers};
    // Buffers left over from bigger, deeper and differently ranged pictures must not leak
    // into any later decode, whole or partial.
    let streams: Vec<Vec<u8>> = [
        (rgb(97, 61, 16, 1), true, Upsampler::Cubic),
        (rgb(64, 64, 8, 2), false, Upsampler::ModifiedCubic),
        (rgb(33, 90, 10, 3), true, Upsampler::Linear),
        (rgb(5, 3, 1, 4), false, Upsampler::Nearest),
    ]
    .into_iter()
    .map(|(pic, colour_transform, upsampler)| {
        let cfg = EncoderConfig {
            colour_transform,
            upsampler,
            tile_log2: 3,
            ..Default::default()
        };
        encode(&pic, &cfg).unwrap()
    })
    .collect();
    let mut buffers = DecodeBuffers::default();
    for round in 0..2 {
        for s in &streams {
            let info = vc6_core::probe(s).unwrap();
            for l in &info.loqs {
                let regions = [
                    None,
                    Some(Region {
                        x: l.width / 3,
                        y: l.height / 4,
                        width: l.width.div_ceil(3),
                        height: 1,
                    }),
                ];
                for region in regions {
                    let opts = DecodeOptions {
                        loq: l.loq,
                        region,
                        ..Default::default()
                    };
                    let fresh = decode(s, &opts).unwrap();
                    let reused = decode_with(s, &opts, &mut buffers).unwrap();
                    assert_eq!(
                        reused, fresh,
                        "round {round} loq {} region {region:?}",
                        l.loq
                    );
                }
            }
        }
    }
}

/// Interleaved 8-bit decoding (which packs the last echelon band by band as it is
/// reconstructed) gives the bytes of the decoded picture, interleaved: for every LoQ,
/// regions, a single echelon (the last section a lowest echelon), 1, 3 and 4 planes, lossless
/// and lossy, in any byte order.
#[test]
fn interleaved_u8_matches_the_picture() {
    let gray = Picture::new(vec![plane(70, 45, 8, 3)]).unwrap();
    let rgb = rgb(131, 67, 8, 5);
    let rgba = Picture::new((0..4).map(|i| plane(66, 130, 8, 9 + i)).collect()).unwrap();
    let regions = [
        None,
        Some(Region {
            x: 0,
            y: 0,
            width: 1,
            height: 1,
        }),
        Some(Region {
            x: 13,
            y: 9,
            width: 20,
            height: 17,
        }),
        Some(Region {
            x: 1,
            y: 2,
            width: 40,
            height: 30,
        }),
    ];
    for (picture, offsets) in [
        (&gray, vec![0]),
        (&rgb, vec![0, 1, 2]),
        (&rgb, vec![2, 1, 0]),
        (&rgba, vec![3, 0, 1, 2]),
    ] {
        for (echelons, quality) in [
            (None, None),
            (Some(1), None),
            (None, Some(70.0)),
            (Some(3), Some(40.0)),
        ] {
            let cfg = EncoderConfig {
                colour_transform: picture.planes.len() >= 3,
                echelons,
                quality,
                tile_log2: 4,
                ..EncoderConfig::default()
            };
            let stream = encode(picture, &cfg).unwrap();
            let loqs = echelons.unwrap_or(3).min(3);
            for loq in 0..loqs {
                for region in regions {
                    let opts = DecodeOptions {
                        loq,
                        region,
                        ..DecodeOptions::default()
                    };
                    let Ok(want) = decode(&stream, &opts) else {
                        continue; // a region outside this LoQ's picture
                    };
                    let mut buffers = vc6_core::DecodeBuffers::default();
                    let (w, h, got) =
                        vc6_core::decode_interleaved_u8(&stream, &opts, &mut buffers, &offsets)
                            .unwrap();
                    let p0 = &want.planes[0];
                    assert_eq!((w, h), (p0.width, p0.height));
                    let n = offsets.len();
                    for (p, &o) in offsets.iter().enumerate() {
                        let plane = &want.planes[p];
                        assert!(
                            plane.samples.iter().enumerate().all(|(i, &s)| got[i * n + o] == s as u8),
                            "{n} planes, echelons {echelons:?}, quality {quality:?}, LoQ {loq}, {region:?}: plane {p}"
                        );
                    }
                }
            }
        }
    }
}
