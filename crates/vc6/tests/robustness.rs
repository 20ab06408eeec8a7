//! Hostile input through the `vc6` facade: truncations, bit flips, random bytes, forged
//! headers and sections with valid checksums, and absurd declared sizes. Decoding must
//! return an error (or, where the damage cannot be seen, a valid picture) and never
//! panic or allocate without bound.
//!
//! Every decode runs under `catch_unwind` only so that a failure can name *every* input
//! that panicked; any panic still fails the test.

mod common;

use common::{frame_for, Rng};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use vc6::{
    Decoder, DecoderSettings, Encoder, EncoderSettings, Error, FrameRegion, Limits, Picture,
    PixelFormat, Preset, Upsampler,
};

/// Records the largest single allocation the process asks for, so the tests can show
/// that forged sizes do not make the decoder allocate gigabytes.
#[allow(unsafe_code)]
mod alloc_probe {
    use super::{AtomicUsize, Ordering};
    use std::alloc::{GlobalAlloc, Layout, System};

    pub static LARGEST: AtomicUsize = AtomicUsize::new(0);

    pub struct Probe;

    // SAFETY: forwards every call unchanged to the system allocator.
    unsafe impl GlobalAlloc for Probe {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
            System.alloc(layout)
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
            System.alloc_zeroed(layout)
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            LARGEST.fetch_max(new_size, Ordering::Relaxed);
            System.realloc(ptr, layout, new_size)
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            System.dealloc(ptr, layout)
        }
    }

    #[global_allocator]
    static GLOBAL: Probe = Probe;
}

/// No test here needs a single allocation anywhere near this.
const ALLOC_CEILING: usize = 64 << 20;

fn assert_no_huge_allocation() {
    let largest = alloc_probe::LARGEST.load(Ordering::Relaxed);
    assert!(
        largest < ALLOC_CEILING,
        "largest single allocation was {largest} bytes"
    );
}

/// How many times more damaged inputs to try than the default (which keeps the suite
/// fast in debug builds): `VC6_ROBUSTNESS_SCALE=20 cargo test --release -p vc6 --test robustness`.
fn scale() -> usize {
    std::env::var("VC6_ROBUSTNESS_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// A valid stream to damage, and what it decodes to.
struct Sample {
    name: &'static str,
    stream: Vec<u8>,
    header_len: usize,
    /// Bytes needed for LoQ 1, when the stream has it.
    loq1_len: Option<usize>,
    full: Picture,
    loq1: Option<Picture>,
    region: FrameRegion,
}

fn dec() -> Decoder {
    Decoder::new(DecoderSettings {
        threads: 1,
        ..Default::default()
    })
    .unwrap()
}

fn sample(
    name: &'static str,
    f: PixelFormat,
    w: u32,
    h: u32,
    depth: u8,
    settings: EncoderSettings,
) -> Sample {
    let (frame, pic) = frame_for(f, w, h, depth, u64::from(w * 7 + h));
    let lossless = settings.quality.is_none() && settings.target_bpp.is_none();
    let settings = EncoderSettings {
        bit_depth: Some(depth),
        ..settings
    };
    let stream = Encoder::new(w, h, f, settings)
        .unwrap()
        .encode(&frame)
        .unwrap();
    let info = vc6::probe(&stream).unwrap();
    let d = dec();
    let full = d.decode_picture(&stream, FrameRegion::default()).unwrap();
    assert!(!lossless || full == pic, "{name}");
    let (loq1_len, loq1) = if info.loqs.len() > 1 {
        (
            Some(info.loqs[1].required_bytes as usize),
            Some(d.decode_picture(&stream, FrameRegion::full(1)).unwrap()),
        )
    } else {
        (None, None)
    };
    let region = FrameRegion {
        loq: 0,
        x: w / 3,
        y: h / 2,
        width: w.div_ceil(3),
        height: h.div_ceil(4),
    };
    Sample {
        name,
        header_len: info.header_bytes as usize,
        stream,
        loq1_len,
        full,
        loq1,
        region,
    }
}

fn samples() -> Vec<Sample> {
    vec![
        sample(
            "rgb8 64x48",
            PixelFormat::Rgb8,
            64,
            48,
            8,
            EncoderSettings {
                tile_log2: 4,
                ..Default::default()
            },
        ),
        sample(
            "gray16 d12 33x17",
            PixelFormat::Gray16,
            33,
            17,
            12,
            EncoderSettings {
                upsampler: Upsampler::ModifiedCubic,
                tile_log2: 3,
                ..Default::default()
            },
        ),
        sample(
            "yuv420p 50x30",
            PixelFormat::Yuv420p8,
            50,
            30,
            8,
            EncoderSettings {
                upsampler: Upsampler::Linear,
                tile_log2: 3,
                ..Default::default()
            },
        ),
        sample(
            "rgba8 1x1",
            PixelFormat::Rgba8,
            1,
            1,
            8,
            EncoderSettings::default(),
        ),
        // Lossy: quantiser parameters in the sections, a fourth layer, dequantisation.
        sample(
            "rgb8 lossy q40 45x31",
            PixelFormat::Rgb8,
            45,
            31,
            8,
            EncoderSettings {
                preset: Preset::Better,
                quality: Some(40.0),
                tile_log2: 3,
                ..Default::default()
            },
        ),
    ]
}

/// Collects inputs that made the decoder panic, to fail once with the whole list.
#[derive(Default)]
struct Panics(Vec<String>);

impl Panics {
    /// Runs `f`; a panic is recorded under `what` and comes back as `None`.
    fn run<T>(&mut self, what: impl FnOnce() -> String, f: impl FnOnce() -> T) -> Option<T> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => Some(v),
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                self.0.push(format!("{}: {msg}", what()));
                None
            }
        }
    }

    fn check(self) {
        let n = self.0.len();
        assert!(
            n == 0,
            "{n} inputs panicked the decoder; the first ones:\n{}",
            self.0[..n.min(25)].join("\n")
        );
    }
}

/// What one damaged stream decoded to, at full size, at LoQ 1 and for a region.
struct Outcome {
    full: vc6::Result<Picture>,
    packed: vc6::Result<vc6::Frame>,
    loq1: Option<vc6::Result<Picture>>,
    region: vc6::Result<Picture>,
}

/// Decodes `data` the three ways (plus the packed path); panics are recorded.
fn decode_all(
    panics: &mut Panics,
    s: &Sample,
    data: &[u8],
    what: &dyn Fn() -> String,
) -> Option<Outcome> {
    let d = dec();
    let full = panics.run(
        || format!("{} {} (full)", s.name, what()),
        || d.decode_picture(data, FrameRegion::default()),
    )?;
    let packed = panics.run(
        || format!("{} {} (packed)", s.name, what()),
        || d.decode(data),
    )?;
    let loq1 = match s.loq1 {
        Some(_) => Some(panics.run(
            || format!("{} {} (loq 1)", s.name, what()),
            || d.decode_picture(data, FrameRegion::full(1)),
        )?),
        None => None,
    };
    let region = panics.run(
        || format!("{} {} (region)", s.name, what()),
        || d.decode_picture(data, s.region),
    )?;
    // Whatever decodes must at least be a well-formed picture.
    for p in [&full, &region].into_iter().chain(loq1.as_ref()).flatten() {
        p.validate()
            .unwrap_or_else(|e| panic!("{} {}: decoded an invalid picture: {e}", s.name, what()));
    }
    Some(Outcome {
        full,
        packed,
        loq1,
        region,
    })
}

#[test]
fn every_truncation_is_a_truncated_error() {
    let mut panics = Panics::default();
    let mut decodes = 0;
    for s in samples() {
        let len = s.stream.len();
        let lens: Vec<usize> = if len <= 4000 {
            (0..len).collect()
        } else {
            (0..200).chain((200..len).step_by(7)).collect()
        };
        for n in lens {
            let what = || format!("truncated to {n} of {len}");
            let Some(o) = decode_all(&mut panics, &s, &s.stream[..n], &what) else {
                continue;
            };
            decodes += 4;
            assert!(
                matches!(o.full, Err(Error::Truncated { .. })),
                "{} {}: {:?}",
                s.name,
                what(),
                o.full.err()
            );
            assert!(
                matches!(o.packed, Err(Error::Truncated { .. })),
                "{} {}: {:?}",
                s.name,
                what(),
                o.packed.err()
            );
            assert!(
                matches!(o.region, Err(Error::Truncated { .. })),
                "{} {}: {:?}",
                s.name,
                what(),
                o.region.err()
            );
            if let (Some(r), Some(need)) = (o.loq1, s.loq1_len) {
                if n < need {
                    assert!(
                        matches!(r, Err(Error::Truncated { .. })),
                        "{} {} loq 1: {:?}",
                        s.name,
                        what(),
                        r.err()
                    );
                } else {
                    assert!(
                        r.as_ref().ok() == s.loq1.as_ref(),
                        "{} {}: loq 1 from a long enough prefix differs",
                        s.name,
                        what()
                    );
                }
            }
        }
    }
    panics.check();
    eprintln!("truncations: {decodes} decodes");
}

#[test]
fn every_bit_flip_is_detected() {
    let mut panics = Panics::default();
    let mut decodes = 0;
    for s in samples() {
        let len = s.stream.len();
        let mut rng = Rng::new(len as u64);
        // Every bit of small streams; for larger ones every bit of the header and of
        // each section's CRC, then a seeded sample of the section bodies.
        let bits: Vec<usize> = if len <= 300 {
            (0..len * 8).collect()
        } else {
            let header = 0..s.header_len * 8;
            let crcs = sections(&s)
                .into_iter()
                .flat_map(|(at, n)| (at + n - 4) * 8..(at + n) * 8);
            let body = (s.header_len * 8) as u64..(len * 8) as u64;
            let sampled: Vec<usize> = (0..500 * scale())
                .map(|_| (body.start + rng.below(body.end - body.start)) as usize)
                .collect();
            header.chain(crcs).chain(sampled).collect()
        };
        for bit in bits {
            let mut data = s.stream.clone();
            data[bit / 8] ^= 1 << (bit % 8);
            let byte = bit / 8;
            let what = || {
                format!(
                    "bit {} of byte {byte} flipped (header {} bytes)",
                    bit % 8,
                    s.header_len
                )
            };
            let Some(o) = decode_all(&mut panics, &s, &data, &what) else {
                continue;
            };
            decodes += 4;
            assert!(o.full.is_err(), "{} {}: decoded anyway", s.name, what());
            assert!(
                o.packed.is_err(),
                "{} {}: decoded anyway (packed)",
                s.name,
                what()
            );
            assert!(
                o.region.is_err(),
                "{} {}: decoded anyway (region)",
                s.name,
                what()
            );
            if byte >= s.header_len {
                // Section bodies and their CRCs: always a checksum (format) error.
                assert!(
                    matches!(o.full, Err(Error::Format(_))),
                    "{} {}: {:?}",
                    s.name,
                    what(),
                    o.full.err()
                );
            }
            if let (Some(r), Some(need)) = (o.loq1, s.loq1_len) {
                if byte < need {
                    assert!(r.is_err(), "{} {}: loq 1 decoded anyway", s.name, what());
                } else {
                    // A flip in a section LoQ 1 does not read changes nothing there.
                    assert!(
                        r.as_ref().ok() == s.loq1.as_ref(),
                        "{} {}: loq 1 changed: {:?}",
                        s.name,
                        what(),
                        r.err()
                    );
                }
            }
        }
    }
    panics.check();
    eprintln!("bit flips: {decodes} decodes");
}

#[test]
fn random_bytes_are_rejected() {
    let mut panics = Panics::default();
    let mut rng = Rng::new(0xDEC0DE);
    let d = dec();
    for i in 0..400 {
        let n = if i < 100 { i } else { rng.below(5000) as usize };
        let mut data = rng.bytes(n);
        // Half of them start like a stream, so the header parser gets further.
        if i % 2 == 1 && n >= 5 {
            data[..5].copy_from_slice(b"VC6R\x02");
        }
        let r = panics.run(
            || format!("random #{i} ({n} bytes)"),
            || d.decode_picture(&data, FrameRegion::default()),
        );
        if let Some(r) = r {
            assert!(r.is_err(), "random #{i} ({n} bytes) decoded");
        }
        let r = panics.run(|| format!("random #{i} probe"), || vc6::probe(&data));
        if let Some(r) = r {
            assert!(r.is_err(), "random #{i} ({n} bytes) probed");
        }
        if n < 4 || i % 2 == 0 {
            let r = d.decode_picture(&data, FrameRegion::default());
            assert!(
                matches!(r, Err(Error::Truncated { .. } | Error::NotVc6(_))),
                "random #{i}: {:?}",
                r.err()
            );
        }
    }
    panics.check();
}

#[test]
fn random_bodies_after_a_valid_header_are_rejected() {
    let mut panics = Panics::default();
    let mut rng = Rng::new(7);
    for s in samples() {
        let body = s.stream.len() - s.header_len;
        for n in [
            0,
            1,
            4,
            body / 2,
            body - 1,
            body,
            body,
            body,
            body + 1,
            body + 100,
        ] {
            let mut data = s.stream[..s.header_len].to_vec();
            data.extend(rng.bytes(n));
            let what = || format!("valid header + {n} random bytes");
            let Some(o) = decode_all(&mut panics, &s, &data, &what) else {
                continue;
            };
            assert!(
                o.full.is_err() && o.packed.is_err() && o.region.is_err(),
                "{} {}: decoded",
                s.name,
                what()
            );
        }
    }
    panics.check();
}

/// Where the parser expects the header CRC, from the (possibly edited) fixed fields:
/// 13 fixed bytes, 6 per plane, 8 for custom upsampler taps, 4 per section size.
fn header_crc_pos(data: &[u8]) -> usize {
    let planes = usize::from(data[7]);
    let custom = if data[8] == 4 { 8 } else { 0 };
    13 + 6 * planes + custom + 4 * usize::from(data[12])
}

/// Recomputes the header CRC where the parser will look for it (when it fits).
fn fix_header_crc(data: &mut [u8]) {
    let pos = header_crc_pos(data);
    if pos + 4 <= data.len() {
        let crc = crc32fast::hash(&data[..pos]);
        data[pos..pos + 4].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Byte offset of each section (start, length) after the header.
fn sections(s: &Sample) -> Vec<(usize, usize)> {
    let count = usize::from(s.stream[12]);
    let sizes_at = header_crc_pos(&s.stream) - 4 * count;
    let mut at = s.header_len;
    (0..count)
        .map(|i| {
            let b = &s.stream[sizes_at + 4 * i..sizes_at + 4 * i + 4];
            let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
            at += len;
            (at - len, len)
        })
        .collect()
}

/// Recomputes the CRC that ends the section at `(start, len)`.
fn fix_section_crc(data: &mut [u8], (start, len): (usize, usize)) {
    let crc = crc32fast::hash(&data[start..start + len - 4]);
    data[start + len - 4..start + len].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn helpers_find_the_documented_layout() {
    for s in samples() {
        eprintln!(
            "{}: {} bytes, header {}, sections {:?}",
            s.name,
            s.stream.len(),
            s.header_len,
            sections(&s)
        );
        assert_eq!(&s.stream[..5], b"VC6R\x02", "{}", s.name);
        assert_eq!(header_crc_pos(&s.stream) + 4, s.header_len, "{}", s.name);
        let mut copy = s.stream.clone();
        fix_header_crc(&mut copy);
        let secs = sections(&s);
        assert_eq!(
            secs.last().map(|&(a, l)| a + l),
            Some(s.stream.len()),
            "{}",
            s.name
        );
        for &sec in &secs {
            fix_section_crc(&mut copy, sec);
        }
        assert_eq!(
            copy, s.stream,
            "{}: the test's CRC helpers disagree with the encoder",
            s.name
        );
    }
}

/// A stream of another bitstream version (version 1 was never published; version 2
/// replaced it) is refused before anything else, with an error that says so.
#[test]
fn other_bitstream_versions_are_unsupported() {
    let d = dec();
    for s in samples() {
        for version in [0u8, 1, 3, 255] {
            let mut data = s.stream.clone();
            data[4] = version;
            fix_header_crc(&mut data);
            for r in [
                vc6::probe(&data).map(|_| ()),
                d.decode_picture(&data, FrameRegion::default()).map(|_| ()),
            ] {
                match r {
                    Err(Error::Unsupported(m)) => assert!(
                        m.contains("unsupported bitstream version")
                            && m.contains(&format!("version {version}")),
                        "{}: {m}",
                        s.name
                    ),
                    other => panic!("{}: version {version}: {other:?}", s.name),
                }
            }
        }
    }
}

/// Section bodies with bits flipped and the CRC fixed up, so the damage reaches the
/// entropy decoder, s-trees and tableau. Anything may come back but a panic.
#[test]
fn damaged_sections_with_valid_checksums_do_not_panic() {
    let mut panics = Panics::default();
    let mut decodes = 0;
    for s in samples() {
        let mut rng = Rng::new(s.stream.len() as u64 * 3);
        for (si, &(start, len)) in sections(&s).iter().enumerate() {
            let body_bits = (len - 4) * 8;
            // A seeded sample of the body bits of every section.
            let bits: Vec<usize> = (0..160 * scale())
                .map(|_| rng.below(body_bits as u64) as usize)
                .collect();
            for bit in bits {
                let mut data = s.stream.clone();
                data[start + bit / 8] ^= 1 << (bit % 8);
                fix_section_crc(&mut data, (start, len));
                let what = || format!("section {si}: body bit {bit} flipped, CRC fixed");
                if decode_all(&mut panics, &s, &data, &what).is_some() {
                    decodes += 4;
                }
            }
            // Random bodies behind a correct LoQ byte and CRC.
            for i in 0..10 * scale() {
                let mut data = s.stream.clone();
                let junk = rng.bytes(len - 5);
                data[start + 1..start + len - 4].copy_from_slice(&junk);
                fix_section_crc(&mut data, (start, len));
                let what = || format!("section {si}: random body #{i}, CRC fixed");
                if decode_all(&mut panics, &s, &data, &what).is_some() {
                    decodes += 4;
                }
            }
        }
    }
    panics.check();
    assert_no_huge_allocation();
    eprintln!("damaged sections: {decodes} decodes");
}

/// Every header byte set to edge values with the header CRC recomputed: the values
/// are checked, not trusted.
#[test]
fn forged_headers_with_valid_checksums_do_not_panic() {
    let mut panics = Panics::default();
    let mut decodes = 0;
    for s in samples() {
        let crc_pos = s.header_len - 4;
        for at in 4..crc_pos {
            let orig = s.stream[at];
            let mut values = vec![
                0u8,
                1,
                2,
                3,
                4,
                5,
                8,
                16,
                17,
                18,
                0x7f,
                0x80,
                0xfe,
                0xff,
                orig ^ 1,
                orig ^ 0x80,
                orig.wrapping_add(1),
                orig.wrapping_sub(1),
            ];
            values.sort_unstable();
            values.dedup();
            for v in values.into_iter().filter(|&v| v != orig) {
                let mut data = s.stream.clone();
                data[at] = v;
                fix_header_crc(&mut data);
                let what = || format!("header byte {at} set {orig:#04x} -> {v:#04x}, CRC fixed");
                if decode_all(&mut panics, &s, &data, &what).is_some() {
                    decodes += 4;
                }
            }
        }
    }
    panics.check();
    assert_no_huge_allocation();
    eprintln!("forged headers: {decodes} decodes");
}

/// A stream taken apart along the documented layout, to be put back together with
/// consistent lengths and checksums after an edit.
#[derive(Clone)]
struct Parts {
    /// magic, version, flags, format, planes, upsampler, tile_log2, fraction bits,
    /// a reserved byte, sections.
    fixed: [u8; 13],
    /// Per plane: width u16, height u16, depth u8, echelons u8.
    planes: Vec<[u8; 6]>,
    /// Custom upsampler taps, when the upsampler id is 4.
    taps: Option<[u8; 8]>,
    /// Section bodies without their CRCs (the first byte is the section's LoQ).
    bodies: Vec<Vec<u8>>,
}

impl Parts {
    fn of(s: &Sample) -> Parts {
        let d = &s.stream;
        let planes = usize::from(d[7]);
        assert_ne!(d[8], 4, "samples use the built-in upsamplers");
        Parts {
            fixed: d[..13].try_into().unwrap(),
            planes: (0..planes)
                .map(|p| d[13 + 6 * p..19 + 6 * p].try_into().unwrap())
                .collect(),
            taps: None,
            bodies: sections(s)
                .into_iter()
                .map(|(at, n)| d[at..at + n - 4].to_vec())
                .collect(),
        }
    }

    /// Serialises with fresh counts, section sizes, LoQ bytes and CRCs.
    fn build(&self) -> Vec<u8> {
        let mut out = self.fixed.to_vec();
        out[7] = self.planes.len() as u8;
        out[12] = self.bodies.len() as u8;
        self.planes.iter().for_each(|p| out.extend_from_slice(p));
        if let Some(t) = self.taps {
            out.extend_from_slice(&t);
        }
        for b in &self.bodies {
            out.extend_from_slice(&(b.len() as u32 + 4).to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        let n = self.bodies.len();
        for (i, b) in self.bodies.iter().enumerate() {
            let start = out.len();
            out.extend_from_slice(b);
            if !b.is_empty() {
                out[start] = (n - 1 - i) as u8;
            }
            let crc = crc32fast::hash(&out[start..]);
            out.extend_from_slice(&crc.to_le_bytes());
        }
        out
    }
}

/// Consistent forgeries: headers whose counts, lengths and checksums all agree, but
/// whose declared upsampler, tile size, echelon counts, depths, flags, format or planes
/// do not match the data. Anything may come back but a panic.
#[test]
fn consistent_forgeries_do_not_panic() {
    let mut panics = Panics::default();
    let mut forgeries = 0;
    let mut decoded = 0;
    for s in samples() {
        let orig = Parts::of(&s);
        assert_eq!(
            orig.build(),
            s.stream,
            "{}: Parts does not rebuild the stream",
            s.name
        );
        let mut variants: Vec<(String, Parts)> = Vec::new();
        for id in 0..=5u8 {
            let mut p = orig.clone();
            p.fixed[8] = id;
            variants.push((format!("upsampler id {id}"), p.clone()));
            if id == 4 {
                for taps in [
                    [0i16, 12000, 4384, 0],
                    [-3000, 20000, 0, -616],
                    [i16::MIN, i16::MAX, i16::MAX, 1],
                    [0, 0, 0, 0],
                ] {
                    let mut q = p.clone();
                    let mut t = [0u8; 8];
                    for (c, v) in t.chunks_exact_mut(2).zip(taps) {
                        c.copy_from_slice(&v.to_le_bytes());
                    }
                    q.taps = Some(t);
                    variants.push((format!("custom taps {taps:?}"), q));
                }
            }
        }
        for t in 0..=9u8 {
            let mut p = orig.clone();
            p.fixed[9] = t;
            variants.push((format!("tile_log2 {t}"), p));
        }
        for e in [1u8, 2, 3, 4, 6, 17] {
            let mut p = orig.clone();
            p.planes.iter_mut().for_each(|pl| pl[5] = e);
            let n = orig.bodies.len();
            // Reuse the real sections, finest last, repeating the coarsest as needed.
            p.bodies = (0..usize::from(e))
                .map(|i| orig.bodies[(i + n).saturating_sub(usize::from(e)).min(n - 1)].clone())
                .collect();
            variants.push((format!("{e} echelons"), p.clone()));
            // Mixed counts: plane 0 keeps e, the others one fewer.
            if p.planes.len() > 1 && e > 1 {
                p.planes[1..].iter_mut().for_each(|pl| pl[5] = e - 1);
                variants.push((format!("{e}/{} echelons", e - 1), p));
            }
        }
        for d in [1u8, 2, 7, 8, 9, 12, 15, 16] {
            let mut p = orig.clone();
            p.planes.iter_mut().for_each(|pl| pl[4] = d);
            variants.push((format!("depth {d}"), p));
        }
        for flags in 0..8u8 {
            let mut p = orig.clone();
            p.fixed[5] = flags;
            variants.push((format!("flags {flags}"), p));
        }
        for tag in [0u8, 1, 2, 3, 4, 8, 9, 14, 15] {
            let mut p = orig.clone();
            p.fixed[6] = tag;
            variants.push((format!("format tag {tag}"), p));
        }
        {
            let mut p = orig.clone();
            p.planes.pop();
            if !p.planes.is_empty() {
                variants.push(("last plane dropped".into(), p));
            }
            let mut p = orig.clone();
            p.planes.push(orig.planes[0]);
            variants.push(("plane 0 repeated".into(), p));
            let mut p = orig.clone();
            p.planes.reverse();
            variants.push(("planes reversed".into(), p));
            let mut p = orig.clone();
            p.bodies.reverse();
            variants.push(("sections reversed".into(), p));
            let mut p = orig.clone();
            p.bodies.iter_mut().for_each(|b| b.truncate(1));
            variants.push(("sections emptied".into(), p));
            let mut p = orig.clone();
            p.planes.iter_mut().for_each(|pl| {
                let (w, h) = ([pl[0], pl[1]], [pl[2], pl[3]]);
                pl[..2].copy_from_slice(&h);
                pl[2..4].copy_from_slice(&w);
            });
            variants.push(("width and height swapped".into(), p));
            for (w, h) in [(1u16, 1u16), (2, 2), (3, 1), (1, 300), (255, 3)] {
                let mut p = orig.clone();
                p.planes.iter_mut().for_each(|pl| {
                    pl[..2].copy_from_slice(&w.to_le_bytes());
                    pl[2..4].copy_from_slice(&h.to_le_bytes());
                });
                variants.push((format!("planes {w}x{h}"), p));
            }
        }
        for (name, p) in variants {
            let data = p.build();
            forgeries += 1;
            let what = || name.clone();
            if let Some(o) = decode_all(&mut panics, &s, &data, &what) {
                decoded += usize::from(o.full.is_ok());
            }
        }
    }
    panics.check();
    assert_no_huge_allocation();
    eprintln!("consistent forgeries: {forgeries} streams, {decoded} decoded without error");
}

/// Plane sizes edited to the largest the header can say, CRC recomputed.
#[test]
fn absurd_declared_sizes_hit_the_limits() {
    let small = Decoder::new(DecoderSettings {
        threads: 1,
        limits: Limits {
            max_alloc_bytes: 1 << 20,
            ..Limits::default()
        },
        ..Default::default()
    })
    .unwrap();
    let default = dec();
    let capped = Decoder::new(DecoderSettings {
        threads: 1,
        max_width: 1000,
        max_height: 1000,
        ..Default::default()
    })
    .unwrap();
    let mut panics = Panics::default();
    for s in samples() {
        let planes = usize::from(s.stream[7]);
        for (pw, ph) in [
            (65535u16, 65535u16),
            (65535, 1),
            (1, 65535),
            (16384, 16384),
            (4096, 4096),
            (20000, 300),
        ] {
            for which in [Some(0), None] {
                let mut data = s.stream.clone();
                for p in (0..planes).filter(|&p| which.is_none() || which == Some(p)) {
                    let at = 13 + 6 * p;
                    data[at..at + 2].copy_from_slice(&pw.to_le_bytes());
                    data[at + 2..at + 4].copy_from_slice(&ph.to_le_bytes());
                }
                fix_header_crc(&mut data);
                let what = format!("{}: plane {which:?} declared {pw}x{ph}", s.name);
                // Over a 1 MiB budget these are refused before decoding: on the limits, or
                // on the header itself (a colour-transformed stream with one plane
                // resized is inconsistent). Large enough consistent ones must hit the limits.
                let consistent =
                    which.is_none() || !vc6::probe(&s.stream).unwrap().colour_transform;
                let must_hit_limits = consistent && u64::from(pw) * u64::from(ph) >= 1 << 20;
                for loq in [0u8, 1] {
                    let region = FrameRegion::full(loq);
                    let r = panics.run(
                        || format!("{what} loq {loq} (1 MiB limit)"),
                        || small.decode_picture(&data, region),
                    );
                    if let Some(r) = r {
                        match r {
                            Err(Error::LimitsExceeded(_)) => {}
                            Err(Error::Format(_) | Error::Truncated { .. }) if !must_hit_limits => {
                            }
                            // LoQ 1 of a single-echelon plane does not exist.
                            Err(Error::Parameter(_)) if loq > 0 && !must_hit_limits => {}
                            other => panic!(
                                "{what} loq {loq}: expected LimitsExceeded, got {:?}",
                                other.map(|_| ())
                            ),
                        }
                    }
                }
                // With the default limits they fail on the limits or the data, cheaply.
                for d in [&default, &capped] {
                    let r = panics.run(
                        || format!("{what} (default limits)"),
                        || d.decode_picture(&data, FrameRegion::default()),
                    );
                    if let Some(r) = r {
                        assert!(
                            matches!(
                                r,
                                Err(Error::LimitsExceeded(_)
                                    | Error::Format(_)
                                    | Error::Truncated { .. })
                            ),
                            "{what}: {:?}",
                            r.map(|_| ())
                        );
                    }
                    let r = panics.run(
                        || format!("{what} (default limits, packed)"),
                        || d.decode(&data),
                    );
                    if let Some(r) = r {
                        assert!(r.is_err(), "{what}: packed decode succeeded");
                    }
                }
            }
        }
    }
    panics.check();
    assert_no_huge_allocation();
}

#[test]
fn decoder_size_caps_are_limits_errors() {
    let s = &samples()[0];
    for (mw, mh) in [(63, 0), (0, 47), (10, 10)] {
        let d = Decoder::new(DecoderSettings {
            max_width: mw,
            max_height: mh,
            ..Default::default()
        })
        .unwrap();
        assert!(
            matches!(d.decode(&s.stream), Err(Error::LimitsExceeded(_))),
            "{mw}x{mh}"
        );
    }
    let fits = Decoder::new(DecoderSettings {
        max_width: 64,
        max_height: 48,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        fits.decode_picture(&s.stream, FrameRegion::default())
            .unwrap(),
        s.full
    );
    for limits in [
        Limits {
            max_planes: 2,
            ..Limits::default()
        },
        Limits {
            max_samples: 64 * 48 * 3 - 1,
            ..Limits::default()
        },
        Limits {
            max_alloc_bytes: 1000,
            ..Limits::default()
        },
    ] {
        let d = Decoder::new(DecoderSettings {
            limits,
            ..Default::default()
        })
        .unwrap();
        assert!(
            matches!(d.decode(&s.stream), Err(Error::LimitsExceeded(_))),
            "{limits:?}"
        );
    }
}
