//! The shared backend suite: every backend that runs here (`common::test_decoders`, CPU
//! first) decodes the same streams with the same requests and must give the CPU
//! reference's bytes exactly, or fail where the CPU fails. Covers every pixel format at
//! odd sizes and depths (full, every LoQ, regions), every upsampler, generic pictures
//! whose planes differ in size, depth and echelon count, batches, caller buffers, byte
//! prefixes, damaged tile payloads, device-resident output, and the `AsyncDecoder`.
//!
//! Run with `VC6_REQUIRE_BACKENDS=opencl cargo test -p vc6 --features opencl` so that a
//! backend that cannot run fails instead of being left out.

mod common;

use common::suite::{diff, frame, picture, Outcome, Suite};
use common::surgery::{tile_payloads, Dissected};
use common::{frame_for, picture_for, plane, regions, test_decoders, Rng};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use vc6::{
    AsyncDecoder, Backend, Decoder, DecoderSettings, Encoder, EncoderSettings, Error, Frame,
    FrameRegion, Picture, PixelFormat, Preset, Upsampler,
};

/// The comparison itself catches what it should: two CPU decoders (one told apart by
/// its thread count) made to disagree in each way the suite looks for.
#[test]
fn the_suite_reports_every_kind_of_disagreement() {
    let other = Decoder::new(DecoderSettings {
        backend: Backend::Cpu,
        threads: 1,
        ..Default::default()
    })
    .unwrap();
    let mut suite = Suite {
        decoders: vec![
            (Backend::Cpu, test_decoders().remove(0).1),
            (Backend::Cpu, other),
        ],
        oks: 0,
        errs: 0,
        mismatches: Vec::new(),
    };
    let (pixels, _) = frame_for(PixelFormat::Rgb8, 40, 30, 8, 1);
    let stream = encode(
        PixelFormat::Rgb8,
        40,
        30,
        &pixels,
        EncoderSettings::default(),
    );
    let odd = |d: &Decoder| d.settings().threads == 1;
    suite.check(|| "alike".into(), |d| frame(d.decode(&stream)));
    suite.check(|| "both fail".into(), |d| frame(d.decode(&stream[..20])));
    assert_eq!((suite.oks, suite.errs, suite.mismatches.len()), (1, 1, 0));
    suite.check(
        || "one byte".into(),
        |d| {
            let mut f = d.decode(&stream)?;
            f.data[100] ^= u8::from(odd(d));
            frame(Ok(f))
        },
    );
    suite.check(
        || "shape".into(),
        |d| frame(d.decode_region(&stream, FrameRegion::full(u8::from(odd(d))))),
    );
    suite.check(
        || "ok and error".into(),
        |d| frame(d.decode(&stream[..if odd(d) { 20 } else { stream.len() }])),
    );
    suite.check(
        || "error kinds".into(),
        |d| {
            Err(match odd(d) {
                true => Error::Format("x".into()),
                false => Error::Parameter("x".into()),
            })
        },
    );
    suite.check(
        || "panic".into(),
        |d| {
            assert!(!odd(d), "a backend panics");
            frame(d.decode(&stream))
        },
    );
    let found = suite.mismatches.join("\n");
    for (what, says) in [
        (
            "one byte",
            "cpu gives other bytes: 1 of 3600 bytes differ: [100] cpu",
        ),
        (
            "shape",
            "cpu gives 20x15 rgb8 depth 8, cpu 40x30 rgb8 depth 8",
        ),
        ("ok and error", "cpu decodes, cpu fails"),
        (
            "error kinds",
            "cpu fails with (invalid parameter: x), cpu with (corrupt",
        ),
        ("panic", "cpu panicked: a backend panics"),
    ] {
        assert!(
            found.contains(&format!("{what}: {says}")),
            "{what}: {found}"
        );
    }
    assert_eq!(suite.mismatches.len(), 5, "{found}");
    let finished = catch_unwind(AssertUnwindSafe(|| suite.finish("self-test", 0, 0)));
    assert!(finished.is_err(), "finish passes despite mismatches");
}

fn region(loq: u8, (x, y, width, height): (u32, u32, u32, u32)) -> FrameRegion {
    FrameRegion {
        loq,
        x,
        y,
        width,
        height,
    }
}

fn encode(f: PixelFormat, w: u32, h: u32, frame: &[u8], settings: EncoderSettings) -> Vec<u8> {
    Encoder::new(w, h, f, settings)
        .and_then(|e| e.encode(frame))
        .unwrap_or_else(|e| panic!("{f} {w}x{h}: {e}"))
}

/// The requests of the format and upsampler tests on one stream: the whole picture at
/// every LoQ, every `step`-th seeded region at LoQ 0 (half as many at a middle LoQ), and
/// the planes.
fn check_stream(suite: &mut Suite, ctx: &str, stream: &[u8], seed: u64, step: usize) {
    let info = vc6::probe(stream).unwrap();
    for l in &info.loqs {
        let r = FrameRegion::full(l.loq);
        suite.check(
            || format!("{ctx} loq {}", l.loq),
            |d| frame(d.decode_region(stream, r)),
        );
    }
    let mid = &info.loqs[info.loqs.len() / 2];
    let mut loqs = vec![&info.loqs[0]];
    if mid.loq != 0 {
        loqs.push(mid);
    }
    for (i, l) in loqs.into_iter().enumerate() {
        let rects = regions(l.width, l.height, seed + u64::from(l.loq));
        for rect in rects.into_iter().skip(i).step_by(step * (1 + i)) {
            let r = region(l.loq, rect);
            suite.check(
                || format!("{ctx} {r:?}"),
                |d| frame(d.decode_region(stream, r)),
            );
        }
    }
    suite.check(
        || format!("{ctx} planes"),
        |d| picture(d.decode_picture(stream, FrameRegion::default())),
    );
}

const UPSAMPLERS: [Upsampler; 6] = [
    Upsampler::Nearest,
    Upsampler::Linear,
    Upsampler::Cubic,
    Upsampler::ModifiedCubic,
    Upsampler::Custom([-1000, 13000, 5000, -616]),
    // Large taps: kernel sums that clamp.
    Upsampler::Custom([-4096, 20480, 4096, -4096]),
];

#[test]
fn every_format_at_odd_sizes_and_depths() {
    let mut suite = Suite::new();
    let sizes = [(1, 1), (7, 5), (67, 45), (130, 129)];
    for (i, f) in PixelFormat::ALL.into_iter().enumerate() {
        for (j, &(w, h)) in sizes.iter().enumerate() {
            let k = i + j;
            let depth = match f.container_bits() {
                16 => [16, 10, 12][k % 3],
                _ if k % 4 == 3 => 5,
                _ => 8,
            };
            let settings = EncoderSettings {
                bit_depth: Some(depth),
                upsampler: UPSAMPLERS[k % 4],
                tile_log2: 3 + (k % 3) as u8,
                ..Default::default()
            };
            let (pixels, _) = frame_for(f, w, h, depth, k as u64);
            let stream = encode(f, w, h, &pixels, settings);
            let ctx = format!("{f} {w}x{h} depth {depth} {:?}", UPSAMPLERS[k % 4]);
            // The reference itself is lossless.
            let full = suite.compare(|| ctx.clone(), |d| frame(d.decode(&stream)));
            assert_eq!(full.unwrap().1, pixels, "{ctx}: cpu round trip");
            // Fewer regions of the largest size, to keep the suite quick.
            let step = if w > 100 { 3 } else { 1 };
            check_stream(&mut suite, &ctx, &stream, k as u64, step);
        }
    }
    // Subsampled formats refuse regions at odd positions: every backend alike.
    suite.finish("formats", 600, 40);
}

#[test]
fn every_upsampler_including_custom() {
    let mut suite = Suite::new();
    let cases = [
        (PixelFormat::Rgb8, 67, 45, 8, 4),
        (PixelFormat::Gray16, 130, 129, 12, 5),
    ];
    for (ci, &(f, w, h, depth, tile_log2)) in cases.iter().enumerate() {
        for (ui, up) in UPSAMPLERS.into_iter().enumerate() {
            let (pixels, _) = frame_for(f, w, h, depth, (ci * 10 + ui) as u64);
            let settings = EncoderSettings {
                bit_depth: Some(depth),
                upsampler: up,
                tile_log2,
                ..Default::default()
            };
            let stream = encode(f, w, h, &pixels, settings);
            let ctx = format!("{f} {w}x{h} depth {depth} {up:?}");
            check_stream(&mut suite, &ctx, &stream, ui as u64, 2);
        }
    }
    suite.finish("upsamplers", 150, 0);
}

/// A picture whose planes differ in size and depth.
fn mixed_picture(seed: u64) -> Picture {
    Picture::new(vec![
        plane(67, 45, 8, seed),
        plane(34, 23, 12, seed + 1),
        plane(7, 90, 1, seed + 2),
        plane(1, 1, 16, seed + 3),
        plane(130, 3, 10, seed + 4),
    ])
    .unwrap()
}

/// A single-plane stream with its own echelon count, taken apart (at one table
/// precision, so that sections of several such streams can merge).
fn single_plane(p: vc6::Plane, echelons: u8, up: Upsampler, tile_log2: u8) -> Dissected {
    let config = vc6_core::EncoderConfig {
        echelons: Some(echelons),
        upsampler: up,
        tile_log2,
        precision: Some(10),
        ..Default::default()
    };
    Dissected::of(&vc6_core::encode(&Picture::new(vec![p]).unwrap(), &config).unwrap())
}

#[test]
fn generic_pictures_with_mixed_planes() {
    let mut suite = Suite::new();
    // Planes of different sizes and depths, one echelon count for all.
    for (i, echelons) in [Some(1u8), Some(3), None].into_iter().enumerate() {
        let pic = mixed_picture(i as u64);
        let settings = EncoderSettings {
            echelons,
            upsampler: UPSAMPLERS[i + 2],
            tile_log2: 3 + i as u8,
            ..Default::default()
        };
        let enc = Encoder::new(16, 16, PixelFormat::Rgb8, settings).unwrap();
        let stream = enc.encode_picture(&pic).unwrap();
        let ctx = format!("generic planes, echelons {echelons:?}");
        let info = vc6::probe(&stream).unwrap();
        for l in &info.loqs {
            let r = FrameRegion::full(l.loq);
            let got = suite.compare(
                || format!("{ctx} loq {}", l.loq),
                |d| picture(d.decode_picture(&stream, r)),
            );
            if l.loq == 0 {
                assert_eq!(got.unwrap(), picture(Ok(pic.clone())).unwrap(), "{ctx}");
            }
            for rect in regions(l.width, l.height, u64::from(l.loq))
                .into_iter()
                .step_by(2)
            {
                let r = region(l.loq, rect);
                suite.check(
                    || format!("{ctx} {r:?}"),
                    |d| picture(d.decode_picture(&stream, r)),
                );
            }
        }
        // No pixel format: the packed API refuses it on every backend.
        suite.check(|| format!("{ctx} packed"), |d| frame(d.decode(&stream)));
    }

    // Planes with their own echelon counts (built from single-plane streams; the
    // section of LoQ k holds only the planes with more than k echelons). Small planes
    // keep every table at the least precision, large ones at the most, so sections of
    // one LoQ agree on it.
    let small = [(12, 10, 8, 3), (6, 5, 4, 1), (9, 7, 12, 2), (1, 1, 16, 1)];
    let large = [(300, 260, 8, 4), (128, 100, 10, 2), (260, 258, 16, 3)];
    for (ci, (planes, up, tile_log2)) in [
        (&small[..], Upsampler::Cubic, 2),
        (&large[..], Upsampler::ModifiedCubic, 5),
    ]
    .into_iter()
    .enumerate()
    {
        let sources: Vec<vc6::Plane> = planes
            .iter()
            .enumerate()
            .map(|(p, &(w, h, depth, _))| plane(w, h, depth, (ci * 10 + p) as u64))
            .collect();
        let parts: Vec<Dissected> = sources
            .iter()
            .zip(planes)
            .map(|(p, &(.., e))| single_plane(p.clone(), e, up, tile_log2))
            .collect();
        let stream = Dissected::merge(&parts).build();
        let info = vc6::probe(&stream).unwrap();
        let echelons: Vec<u8> = info.planes.iter().map(|p| p.echelons).collect();
        let ctx = format!("planes with echelons {echelons:?}");
        let min = *echelons.iter().min().unwrap();
        for loq in 0..min {
            let got = suite.compare(
                || format!("{ctx} loq {loq}"),
                |d| picture(d.decode_picture(&stream, FrameRegion::full(loq))),
            );
            // Each plane equals its own single-plane stream's decode (lossless at LoQ 0).
            let want: Vec<vc6::Plane> = parts
                .iter()
                .map(|d| {
                    let single = d.build();
                    let cpu = suite.cpu();
                    cpu.decode_picture(&single, FrameRegion::full(loq))
                        .unwrap()
                        .planes
                        .remove(0)
                })
                .collect();
            if loq == 0 {
                assert!(
                    want == sources,
                    "{ctx}: single-plane streams do not round trip"
                );
            }
            let want = picture(Ok(Picture { planes: want })).unwrap();
            assert!(got.unwrap() == want, "{ctx} loq {loq}: planes differ");
            let (w, h) = (
                common::halved(planes[0].0, loq),
                common::halved(planes[0].1, loq),
            );
            for rect in regions(w, h, u64::from(loq)) {
                let r = region(loq, rect);
                suite.check(
                    || format!("{ctx} {r:?}"),
                    |d| picture(d.decode_picture(&stream, r)),
                );
            }
        }
        // Below the least echelon count of any plane there is no picture.
        suite.check(
            || format!("{ctx} loq {min}"),
            |d| picture(d.decode_picture(&stream, FrameRegion::full(min))),
        );
    }
    suite.finish("generic pictures", 60, 5);
}

/// Streams of several formats and sizes, for the batch, buffer, prefix and async tests.
fn assorted_streams() -> Vec<(PixelFormat, u32, u32, Vec<u8>)> {
    [
        (PixelFormat::Rgb8, 67, 45, 8),
        (PixelFormat::Yuv420p8, 45, 31, 8),
        (PixelFormat::Gray16, 130, 129, 12),
        (PixelFormat::Bgra8, 7, 5, 8),
        (PixelFormat::Yuv422p16, 33, 20, 10),
        (PixelFormat::Rgba16, 40, 64, 16),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (f, w, h, depth))| {
        let settings = EncoderSettings {
            bit_depth: Some(depth),
            tile_log2: 3 + (i % 3) as u8,
            upsampler: UPSAMPLERS[i % UPSAMPLERS.len()],
            ..Default::default()
        };
        let (pixels, _) = frame_for(f, w, h, depth, 100 + i as u64);
        (f, w, h, encode(f, w, h, &pixels, settings))
    })
    .collect()
}

/// Requests on `assorted_streams`, good and bad: (stream, region, expected to decode).
fn assorted_requests(
    streams: &[(PixelFormat, u32, u32, Vec<u8>)],
) -> Vec<(Vec<u8>, FrameRegion, bool)> {
    let mut out = Vec::new();
    for (i, (f, w, h, stream)) in streams.iter().enumerate() {
        out.push((stream.clone(), FrameRegion::default(), true));
        let coarse = vc6::probe(stream).unwrap().loqs.len() > 1;
        out.push((stream.clone(), FrameRegion::full(1), coarse));
        let (x, y) = if f.is_planar() { (2, 2) } else { (1, 3) };
        let r = region(0, (x, y, (w - x).min(20), (h - y).min(9)));
        out.push((stream.clone(), r, true));
        // A prefix that holds LoQ 1, asked for LoQ 1 and (too short) for LoQ 0.
        if coarse {
            let need = vc6::required_size(stream, 1).unwrap() as usize;
            out.push((stream[..need].to_vec(), FrameRegion::full(1), true));
            out.push((stream[..need].to_vec(), FrameRegion::default(), false));
        }
        if i % 2 == 0 {
            out.push((Rng::new(i as u64).bytes(200), FrameRegion::default(), false));
            out.push((stream.clone(), FrameRegion::full(30), false));
        }
    }
    out
}

#[test]
fn batches_equal_single_decodes() {
    let decoders = test_decoders();
    let cpu = &decoders[0].1;
    let streams = assorted_streams();
    let requests = assorted_requests(&streams);
    let items: Vec<(&[u8], FrameRegion)> = requests.iter().map(|(s, r, _)| (&s[..], *r)).collect();
    let singles: Vec<Outcome> = items
        .iter()
        .map(|&(s, r)| frame(cpu.decode_region(s, r)))
        .collect();
    for (i, (s, (_, r, good))) in singles.iter().zip(&requests).enumerate() {
        assert_eq!(
            s.is_ok(),
            *good,
            "request {i} {r:?}: {:?}",
            s.as_ref().err()
        );
    }
    for (b, dec) in &decoders {
        assert!(dec.decode_batch(&[]).is_empty(), "{b}");
        let batch = dec.decode_batch(&items);
        assert_eq!(batch.len(), items.len(), "{b}");
        for (i, (got, want)) in batch.into_iter().map(frame).zip(&singles).enumerate() {
            match (want, &got) {
                (Ok(w), Ok(g)) => assert!(w == g, "{b} batch item {i}: {}", diff(&w.1, &g.1)),
                (Err(_), Err(_)) => {}
                _ => panic!(
                    "{b} batch item {i} {:?}: cpu {want:?}, batch {got:?}",
                    items[i].1
                ),
            }
        }
        // One bad stream among good ones fails only its own entry.
        let (good, bad) = (&streams[0].3[..], &b"VC6R but not really"[..]);
        let batch = dec.decode_batch(&[
            (good, FrameRegion::default()),
            (bad, FrameRegion::default()),
            (good, FrameRegion::full(1)),
        ]);
        assert!(
            batch[0].is_ok() && batch[1].is_err() && batch[2].is_ok(),
            "{b}: {batch:?}"
        );
        assert_eq!(
            frame(batch.into_iter().next().unwrap()).unwrap(),
            singles[0].as_ref().unwrap().clone()
        );
    }
}

#[test]
fn decode_into_equals_decode_region() {
    let mut suite = Suite::new();
    let streams = assorted_streams();
    for (stream, r, _) in assorted_requests(&streams) {
        let want = frame(suite.cpu().decode_region(&stream, r));
        let len = want.as_ref().map_or(16, |w| w.1.len());
        suite.check(
            || format!("decode_into {r:?} of a {}-byte stream", stream.len()),
            |d| {
                let mut out = vec![0xA5u8; len];
                let (w, h, f) = d.decode_into(&stream, r, &mut out)?;
                Ok((format!("{w}x{h} {f}"), out))
            },
        );
        if let Ok((_, bytes)) = want {
            // Into the caller's buffer, the same bytes as a fresh frame.
            let mut out = vec![0u8; bytes.len()];
            suite.cpu().decode_into(&stream, r, &mut out).unwrap();
            assert!(out == bytes, "{r:?}");
            // A buffer of the wrong length is a parameter error everywhere.
            for (b, d) in &suite.decoders {
                let mut short = vec![0u8; bytes.len() - 1];
                let e = d.decode_into(&stream, r, &mut short).unwrap_err();
                assert!(matches!(e, Error::Parameter(_)), "{b}: {e}");
            }
        }
    }
    // Output format conversions (host-side, after each backend's planes).
    let (f, w, h, stream) = &streams[0];
    for to in [PixelFormat::Bgra8, PixelFormat::Gray8, PixelFormat::Rgb16] {
        let convert = |b: Backend| {
            Decoder::new(DecoderSettings {
                backend: b,
                format: Some(to),
                ..Default::default()
            })
            .unwrap()
        };
        let want = frame(convert(Backend::Cpu).decode(stream));
        for (b, _) in &suite.decoders {
            let dec = convert(*b);
            let mut out = vec![0u8; to.frame_len(*w, *h).unwrap()];
            let got = dec.decode_into(stream, FrameRegion::default(), &mut out);
            assert!(got.is_ok(), "{b}: {f} -> {to}: {got:?}");
            assert!(out == want.as_ref().unwrap().1, "{b}: {f} -> {to}");
        }
    }
    suite.finish("decode_into", 20, 10);
}

#[test]
fn prefixes_decode_like_whole_streams() {
    let mut suite = Suite::new();
    for (f, _, _, stream) in assorted_streams() {
        let info = vc6::probe(&stream).unwrap();
        for l in &info.loqs {
            let need = vc6::required_size(&stream[..64.min(stream.len())], l.loq).unwrap() as usize;
            assert_eq!(need as u64, l.required_bytes);
            let prefix = &stream[..need];
            let even = if f.is_planar() {
                2 * (l.width / 4)
            } else {
                l.width / 3
            };
            for r in [
                FrameRegion::full(l.loq),
                region(l.loq, (even, 0, l.width - even, l.height.div_ceil(2))),
            ] {
                let ctx = || format!("{f} prefix of {need} bytes {r:?}");
                let got = suite.compare(ctx, |d| frame(d.decode_region(prefix, r)));
                let whole = frame(suite.cpu().decode_region(&stream, r));
                assert!(got.unwrap() == whole.unwrap(), "{}", ctx());
                let short = &stream[..need - 1];
                let cut = suite.compare(ctx, |d| frame(d.decode_region(short, r)));
                assert!(
                    matches!(cut, Err(Error::Truncated { .. })),
                    "{}: {cut:?}",
                    ctx()
                );
            }
        }
    }
    suite.finish("prefixes", 30, 30);
}

/// Streams with tile payloads damaged behind valid section heads (no checksums), so
/// the damage reaches each backend's tile decoder: any outcome will do as long as every
/// backend reaches the same one.
#[test]
fn damaged_tile_payloads_fail_alike() {
    let mut suite = Suite::new();
    let cases = [
        (PixelFormat::Rgb8, 67, 45, 8, Upsampler::Cubic, 4),
        (PixelFormat::Yuv420p8, 45, 31, 8, Upsampler::Linear, 3),
        (
            PixelFormat::Gray16,
            130,
            129,
            12,
            Upsampler::ModifiedCubic,
            5,
        ),
        (PixelFormat::Rgba16, 9, 20, 10, Upsampler::Nearest, 2),
    ];
    let mut wrong_pixels = 0;
    for (ci, &(f, w, h, depth, upsampler, tile_log2)) in cases.iter().enumerate() {
        let pic = picture_for(f, w, h, depth, ci as u64);
        let config = vc6_core::EncoderConfig {
            upsampler,
            tile_log2,
            colour_transform: f.is_rgb(),
            checksums: false,
            format_tag: f.tag(),
            ..Default::default()
        };
        let stream = vc6_core::encode(&pic, &config).unwrap();
        let pixels = common::pack(f, &pic);
        let payloads = tile_payloads(&stream);
        let parts = Dissected::of(&stream);
        assert_eq!(
            parts.build(),
            stream,
            "{f}: surgery does not rebuild the stream"
        );
        let mut rng = Rng::new(1000 + ci as u64);
        let mut damaged: Vec<(String, Vec<u8>)> = Vec::new();
        for _ in 0..24 {
            let t = &payloads[rng.below(payloads.len() as u64) as usize];
            let bit = rng.below(8 * t.len() as u64) as usize;
            let mut s = stream.clone();
            s[t.start + bit / 8] ^= 1 << (bit % 8);
            damaged.push((format!("bit {bit} of tile at {t:?} flipped"), s));
        }
        for _ in 0..6 {
            let t = &payloads[rng.below(payloads.len() as u64) as usize];
            let at = t.start + rng.below(t.len() as u64) as usize;
            let mut s = stream.clone();
            s[at] = rng.next_u64() as u8;
            damaged.push((format!("byte {at} set to {}", s[at]), s));
        }
        // Edits that change tile lengths, with the tableau and section sizes rebuilt.
        for e in 0..16 {
            let mut d = parts.clone();
            let sec = rng.below(d.sections.len() as u64) as usize;
            let tiles = &mut d.sections[sec].tiles;
            let t = rng.below(tiles.len() as u64) as usize;
            let n = tiles[t].len();
            let what = match e % 4 {
                0 => {
                    let cut = 1 + rng.below(n as u64) as usize;
                    tiles[t].truncate(n - cut);
                    format!("{cut} bytes cut from tile {t}")
                }
                1 => {
                    let n_more = 1 + rng.below(3) as usize;
                    let more = rng.bytes(n_more);
                    tiles[t].extend_from_slice(&more);
                    format!("{more:?} appended to tile {t}")
                }
                2 => {
                    let u = rng.below(tiles.len() as u64) as usize;
                    tiles.swap(t, u);
                    format!("tiles {t} and {u} swapped")
                }
                _ => {
                    let modes = rng.next_u64() as u8;
                    if n > 0 {
                        tiles[t][0] = modes;
                    }
                    format!("modes of tile {t} set to {modes:#010b}")
                }
            };
            damaged.push((format!("section {sec}: {what}"), d.build()));
        }
        for (what, s) in &damaged {
            let ctx = |r: FrameRegion| format!("{f} {w}x{h}: {what}: {r:?}");
            let r = region(0, (w / 3, h / 4, w.div_ceil(2), h.div_ceil(2)));
            let r = FrameRegion {
                x: r.x & !1,
                y: r.y & !1,
                ..r
            };
            for r in [FrameRegion::default(), FrameRegion::full(1), r] {
                let got = suite.compare(|| ctx(r), |d| frame(d.decode_region(s, r)));
                if r == FrameRegion::default() && got.is_ok_and(|g| g.1 != pixels) {
                    wrong_pixels += 1;
                }
            }
        }
    }
    // Some damage decodes without an error into other pixels (extra bits are not
    // checked): there the backends' reconstructions are compared too.
    eprintln!("damaged payloads: {wrong_pixels} decoded to other pixels");
    assert!(wrong_pixels > 0);
    suite.finish("damaged payloads", 20, 100);
}

/// A device frame as the tests see it: width, height, length and its bytes on the host.
#[cfg(any(feature = "opencl", feature = "cuda"))]
type HostCopy = vc6::Result<(u32, u32, usize, Vec<u8>)>;

/// Frames left in `backend`'s device memory by `to_device` equal the CPU's decodes of
/// the same requests, and the requests it cannot serve (generic planes, conversions)
/// are refused as unsupported.
#[cfg(any(feature = "opencl", feature = "cuda"))]
fn device_output_matches_the_cpu(
    backend: Backend,
    to_device: impl Fn(&Decoder, &[u8], FrameRegion) -> HostCopy,
) {
    let decoders = test_decoders();
    if !decoders.iter().any(|(b, _)| *b == backend) {
        eprintln!("note: no {backend} device here; its device output is not tested");
        return;
    }
    let streams = assorted_streams();
    let mut compared = 0;
    for (stream, r, good) in assorted_requests(&streams) {
        let want = decoders[0].1.decode_region(&stream, r);
        for (b, dec) in &decoders {
            match (&want, to_device(dec, &stream, r)) {
                (Ok(w), Ok((width, height, len, host))) => {
                    assert_eq!((width, height), (w.width, w.height), "{b} {r:?}");
                    assert_eq!(len, w.data.len(), "{b} {r:?}");
                    assert!(host == w.data, "{b} {r:?}: {}", diff(&w.data, &host));
                    compared += 1;
                }
                (Err(_), Err(_)) => assert!(!good),
                (w, g) => panic!(
                    "{b} {r:?}: cpu {:?}, device {:?}",
                    w.as_ref().err(),
                    g.err()
                ),
            }
        }
    }
    assert!(compared >= 20, "only {compared} device frames compared");
    // Generic planes have no packed layout, and the device path does no conversion.
    let pic = mixed_picture(9);
    let generic = Encoder::new(8, 8, PixelFormat::Gray8, EncoderSettings::default())
        .unwrap()
        .encode_picture(&pic)
        .unwrap();
    let e = to_device(&decoders[0].1, &generic, FrameRegion::default()).unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e}");
    let converting = Decoder::new(DecoderSettings {
        format: Some(PixelFormat::Bgr8),
        backend: Backend::Cpu,
        ..Default::default()
    })
    .unwrap();
    let e = to_device(&converting, &streams[0].3, FrameRegion::default()).unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e}");
}

#[cfg(feature = "opencl")]
#[test]
fn decode_to_opencl_matches_the_cpu() {
    device_output_matches_the_cpu(Backend::OpenCl, |dec, stream, r| {
        let dev = dec.decode_to_opencl(stream, r)?;
        Ok((dev.width, dev.height, dev.layout.len, dev.to_host()?))
    });
}

/// Also checks what the frame says of itself, and that the address handed to a
/// consumer stream is the frame's own. Runs where `cuda` is among the backends the tests
/// use: on a GPU with `VC6_CUDA_UNTESTED=1` (never yet), and in `cargo xtask test` on the
/// stand-in driver, which runs the kernels on the CPU.
#[cfg(feature = "cuda")]
#[test]
fn decode_to_cuda_matches_the_cpu() {
    device_output_matches_the_cpu(Backend::Cuda, |dec, stream, r| {
        let dev = dec.decode_to_cuda(stream, r)?;
        assert_eq!(dev.len(), dev.layout.len);
        assert_eq!(dev.row_stride(), dev.layout.planes[0].row_stride);
        let consumer = dev.stream().context().new_stream().unwrap();
        let ptr = dev.device_ptr_on(&consumer)?;
        assert_eq!(ptr, dev.device_ptr_synchronized()?);
        assert!(dev.is_ready()?);
        Ok((dev.width, dev.height, dev.len(), dev.to_host()?))
    });
}

/// Requests with shared streams, for the async tests.
fn async_requests() -> Vec<(Arc<[u8]>, FrameRegion)> {
    let streams = assorted_streams();
    assorted_requests(&streams)
        .into_iter()
        .map(|(s, r, _)| (Arc::from(s), r))
        .collect()
}

#[test]
fn async_decoder_equals_direct_decodes() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<AsyncDecoder>();
    fn send<T: Send>() {}
    send::<vc6::Pending>();

    let decoders = test_decoders();
    let cpu = &decoders[0].1;
    let requests = async_requests();
    let want: Vec<Outcome> = requests
        .iter()
        .map(|(s, r)| frame(cpu.decode_region(s, *r)))
        .collect();
    assert!(want.iter().any(|w| w.is_err()) && want.iter().filter(|w| w.is_ok()).count() > 20);
    let same = |b: Backend, i: usize, got: vc6::Result<Frame>| match (&want[i], frame(got)) {
        (Ok(w), Ok(g)) => assert!(*w == g, "{b} request {i}: {}", diff(&w.1, &g.1)),
        (Err(_), Err(_)) => {}
        (w, g) => panic!(
            "{b} request {i} {:?}: cpu {w:?}, async {g:?}",
            requests[i].1
        ),
    };
    for (b, dec) in &decoders {
        let pool = AsyncDecoder::with_decoder(dec.clone(), 3).unwrap();
        assert_eq!(pool.decoder().backend_name(), b.name());
        let pending: Vec<_> = requests
            .iter()
            .map(|(s, r)| pool.submit(Arc::clone(s), *r))
            .collect();
        let batch = pool.submit_batch(requests.clone());
        // Collected in reverse order: completion order does not matter.
        for (i, p) in pending.into_iter().enumerate().rev() {
            same(*b, i, p.wait());
        }
        let batch = batch.wait().unwrap();
        assert_eq!(batch.len(), requests.len());
        for (i, got) in batch.into_iter().enumerate() {
            same(*b, i, got);
        }
        // Vec<u8> streams work too.
        let (s, r) = &requests[0];
        same(*b, 0, pool.submit(s.to_vec(), *r).wait());
    }
}

#[test]
fn async_decoder_applies_back_pressure() {
    let (f, w, h) = (PixelFormat::Rgb8, 160, 120);
    let (pixels, _) = frame_for(f, w, h, 8, 5);
    let stream: Arc<[u8]> = Arc::from(encode(f, w, h, &pixels, EncoderSettings::default()));
    for (b, dec) in test_decoders() {
        let pool = AsyncDecoder::with_decoder(dec, 2).unwrap();
        assert_eq!(pool.capacity(), 2);
        let most = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..3 {
                let (pool, stream, most, pixels) = (&pool, &stream, &most, &pixels);
                s.spawn(move || {
                    let pending: Vec<_> = (0..6)
                        .map(|_| {
                            let p = pool.submit(Arc::clone(stream), FrameRegion::default());
                            let n = pool.in_flight();
                            most.fetch_max(n, std::sync::atomic::Ordering::SeqCst);
                            p
                        })
                        .collect();
                    for p in pending {
                        assert!(p.wait().unwrap().data == *pixels, "{b} thread {t}");
                    }
                });
            }
        });
        let most = most.into_inner();
        assert!(most <= 2, "{b}: {most} decodes in flight, capacity 2");
        assert_eq!(pool.in_flight(), 0, "{b}");
    }
}

#[test]
fn async_decoder_drop_finishes_submitted_work() {
    let requests = async_requests();
    let decoders = test_decoders();
    let cpu = &decoders[0].1;
    for (b, dec) in &decoders {
        let pool = AsyncDecoder::with_decoder(dec.clone(), 2).unwrap();
        let mut kept = Vec::new();
        for (i, (s, r)) in requests.iter().enumerate() {
            let p = pool.submit(Arc::clone(s), *r);
            // Every third result is not wanted: dropping it must not stall the others.
            if i % 3 != 0 {
                kept.push((i, p));
            }
        }
        drop(pool);
        for (i, p) in kept {
            let (s, r) = &requests[i];
            let got = p
                .try_wait()
                .unwrap_or_else(|_| panic!("{b}: request {i} not finished after drop"));
            let want = cpu.decode_region(s, *r);
            match (want, got) {
                (Ok(w), Ok(g)) => assert!(w == g, "{b} request {i}"),
                (Err(_), Err(_)) => {}
                (w, g) => panic!("{b} request {i}: cpu {w:?}, async {g:?}"),
            }
        }
    }
}

#[test]
fn lossy_streams_decode_alike() {
    let mut suite = Suite::new();
    let cases = [
        (PixelFormat::Rgb8, 67, 45, 8),
        (PixelFormat::Gray16, 53, 70, 12),
        (PixelFormat::Yuv420p8, 38, 26, 8),
        (PixelFormat::Rgba8, 1, 1, 8),
    ];
    for (ci, &(f, w, h, depth)) in cases.iter().enumerate() {
        for (qi, quality) in [95u8, 60, 20].into_iter().enumerate() {
            let k = ci * 3 + qi;
            let up = UPSAMPLERS[k % 4];
            let pa = k % 2 == 0;
            let (pixels, _) = frame_for(f, w, h, depth, k as u64 + 100);
            let settings = EncoderSettings {
                bit_depth: Some(depth),
                upsampler: up,
                tile_log2: 3 + (k % 3) as u8,
                preset: Preset::Better,
                quality: Some(f32::from(quality)),
                predicted_average: pa,
                ..Default::default()
            };
            let stream = encode(f, w, h, &pixels, settings);
            assert!(!vc6::probe(&stream).unwrap().lossless);
            let ctx = format!("{f} {w}x{h} quality {quality} pa {pa} {up:?}");
            check_stream(&mut suite, &ctx, &stream, k as u64, 2);
        }
    }
    suite.finish("lossy", 60, 0);
}
