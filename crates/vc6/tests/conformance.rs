//! Conformance as data: the streams in `fixtures/conformance/*.vc6` must decode to the
//! picture hashes listed in `fixtures/conformance.txt`.
//!
//! The streams are the contract. Once blessed they are only ever *decoded* here, so a
//! later encoder change cannot move the goalposts: old streams must keep decoding to the
//! same pictures. Only with `VC6_BLESS=1` (what `cargo xtask conformance --bless` sets)
//! does this test re-encode the synthetic sources, write the `.vc6` files that are new or
//! no longer decode (a stream that still decodes, to its source when lossless, is kept)
//! and rewrite the manifest; that is for deliberate bitstream changes only.

mod common;

use common::{frame_for, plane};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use vc6::{
    Decoder, DecoderSettings, Encoder, EncoderSettings, FrameRegion, Picture, PixelFormat, Preset,
    Upsampler,
};

/// Fewer entries than this means the manifest is missing or was cut short.
const MIN_ENTRIES: usize = 20;
const MAX_STREAM_BYTES: usize = 20 << 10;
const MAX_TOTAL_BYTES: usize = 100 << 10;

const MANIFEST_HEADER: &str = "\
# vc6 conformance manifest: what the streams in fixtures/conformance/ must decode to.
#
# One check per line:  <file> <loq> <region> <sha256>
#   file    a stream in fixtures/conformance/
#   loq     the level of quality to decode (0 = full size)
#   region  x,y,width,height in plane 0's pixel grid at that LoQ, or - for everything
#   sha256  hex SHA-256 of the Picture that Decoder::decode_picture returns: for each
#           plane in order, width as u32 LE, height as u32 LE, bit_depth as u8, then
#           every sample (row-major) as u16 LE
# Lines starting with # and blank lines are ignored.
#
# The .vc6 streams are the contract: crates/vc6/tests/conformance.rs only decodes them.
# Both the streams and this file are regenerated from synthetic sources, only on purpose
# (a deliberate bitstream change), with:  cargo xtask conformance --bless
# (the same as: VC6_BLESS=1 cargo test -p vc6 --test conformance).
";

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn streams_dir() -> PathBuf {
    fixtures_dir().join("conformance")
}

fn manifest_path() -> PathBuf {
    fixtures_dir().join("conformance.txt")
}

/// The hash the manifest records for a decoded picture.
fn picture_hash(pic: &Picture) -> String {
    let mut h = Sha256::new();
    for p in &pic.planes {
        h.update(p.width.to_le_bytes());
        h.update(p.height.to_le_bytes());
        h.update([p.bit_depth]);
        let mut bytes = Vec::with_capacity(p.samples.len() * 2);
        p.samples
            .iter()
            .for_each(|s| bytes.extend_from_slice(&s.to_le_bytes()));
        h.update(&bytes);
    }
    h.finalize()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// One line of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    file: String,
    loq: u8,
    /// (x, y, width, height), or `None` for the whole picture.
    region: Option<(u32, u32, u32, u32)>,
    hash: String,
}

impl Entry {
    fn frame_region(&self) -> FrameRegion {
        match self.region {
            None => FrameRegion::full(self.loq),
            Some((x, y, width, height)) => FrameRegion {
                loq: self.loq,
                x,
                y,
                width,
                height,
            },
        }
    }

    fn line(&self) -> String {
        let region = match self.region {
            None => "-".to_string(),
            Some((x, y, w, h)) => format!("{x},{y},{w},{h}"),
        };
        format!("{} {} {} {}", self.file, self.loq, region, self.hash)
    }

    fn parse(line: &str) -> Result<Entry, String> {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [file, loq, region, hash] = f[..] else {
            return Err(format!("expected 4 fields, got {}", f.len()));
        };
        if !file.ends_with(".vc6") || file.contains('/') || file.contains('\\') {
            return Err(format!(
                "file {file:?} is not a .vc6 name in fixtures/conformance/"
            ));
        }
        let loq = loq.parse::<u8>().map_err(|e| format!("loq {loq:?}: {e}"))?;
        let region = if region == "-" {
            None
        } else {
            let v: Vec<u32> = region
                .split(',')
                .map(|n| {
                    n.parse::<u32>()
                        .map_err(|e| format!("region {region:?}: {e}"))
                })
                .collect::<Result<_, _>>()?;
            let [x, y, w, h] = v[..] else {
                return Err(format!("region {region:?} is not x,y,width,height"));
            };
            Some((x, y, w, h))
        };
        if hash.len() != 64
            || !hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(format!("hash {hash:?} is not 64 lowercase hex digits"));
        }
        Ok(Entry {
            file: file.to_string(),
            loq,
            region,
            hash: hash.to_string(),
        })
    }
}

fn decoder() -> Decoder {
    Decoder::new(DecoderSettings::default()).unwrap()
}

// ---------------------------------------------------------------------------------
// Blessing: synthetic sources -> streams -> manifest.
// ---------------------------------------------------------------------------------

/// A fixture: its file name, the encoded stream and the picture it must decode to.
struct Fixture {
    file: &'static str,
    stream: Vec<u8>,
    source: Picture,
    /// Lossless: the full decode must be the source.
    exact: bool,
}

fn packed(
    file: &'static str,
    f: PixelFormat,
    w: u32,
    h: u32,
    depth: u8,
    settings: EncoderSettings,
    seed: u64,
) -> Fixture {
    let (frame, source) = frame_for(f, w, h, depth, seed);
    let settings = EncoderSettings {
        bit_depth: Some(depth),
        threads: 1,
        ..settings
    };
    let exact = settings.quality.is_none();
    let stream = Encoder::new(w, h, f, settings)
        .unwrap()
        .encode(&frame)
        .unwrap();
    Fixture {
        file,
        stream,
        source,
        exact,
    }
}

/// The synthetic sources and settings behind every fixture stream.
fn fixtures() -> Vec<Fixture> {
    let s = EncoderSettings::default;
    let planar_source = Picture::new(vec![
        plane(33, 21, 8, 61),
        plane(17, 11, 10, 62),
        plane(9, 40, 4, 63),
    ])
    .unwrap();
    let planar_settings = EncoderSettings {
        upsampler: Upsampler::Linear,
        tile_log2: 3,
        threads: 1,
        ..s()
    };
    let planar = Encoder::new(33, 21, PixelFormat::Gray8, planar_settings)
        .unwrap()
        .encode_picture(&planar_source)
        .unwrap();
    vec![
        packed(
            "rgb8_cubic_ycocg.vc6",
            PixelFormat::Rgb8,
            48,
            40,
            8,
            EncoderSettings {
                upsampler: Upsampler::Cubic,
                colour_transform: Some(true),
                tile_log2: 4,
                ..s()
            },
            11,
        ),
        packed(
            "rgba8_linear.vc6",
            PixelFormat::Rgba8,
            40,
            28,
            8,
            EncoderSettings {
                upsampler: Upsampler::Linear,
                tile_log2: 3,
                ..s()
            },
            12,
        ),
        packed(
            "gray8_nearest.vc6",
            PixelFormat::Gray8,
            61,
            37,
            8,
            EncoderSettings {
                upsampler: Upsampler::Nearest,
                tile_log2: 4,
                ..s()
            },
            13,
        ),
        packed(
            "gray16_d12_modcubic.vc6",
            PixelFormat::Gray16,
            45,
            30,
            12,
            EncoderSettings {
                upsampler: Upsampler::ModifiedCubic,
                tile_log2: 3,
                ..s()
            },
            14,
        ),
        packed(
            "yuv420p_37x23.vc6",
            PixelFormat::Yuv420p8,
            37,
            23,
            8,
            EncoderSettings {
                tile_log2: 3,
                ..s()
            },
            15,
        ),
        Fixture {
            file: "planar3_mixed.vc6",
            stream: planar,
            source: planar_source,
            exact: true,
        },
        packed("rgb8_1x1.vc6", PixelFormat::Rgb8, 1, 1, 8, s(), 17),
        packed(
            "rgb16_d10_echelons1.vc6",
            PixelFormat::Rgb16,
            24,
            16,
            10,
            EncoderSettings {
                echelons: Some(1),
                tile_log2: 3,
                ..s()
            },
            18,
        ),
        packed(
            "bgra8_custom_taps.vc6",
            PixelFormat::Bgra8,
            30,
            20,
            8,
            EncoderSettings {
                upsampler: Upsampler::Custom([-1024, 13312, 5120, -1024]),
                colour_transform: Some(false),
                echelons: Some(3),
                tile_log2: 2,
                ..s()
            },
            19,
        ),
        packed(
            "rgb8_lossy_q60.vc6",
            PixelFormat::Rgb8,
            52,
            36,
            8,
            EncoderSettings {
                preset: Preset::Better,
                quality: Some(60.0),
                tile_log2: 4,
                ..s()
            },
            20,
        ),
        // Wide tiles and many contexts, which the encoder keeps for bigger pictures.
        packed(
            "gray8_lanes32_ctx8.vc6",
            PixelFormat::Gray8,
            72,
            56,
            8,
            EncoderSettings {
                tile_log2: 4,
                lanes: Some(32),
                contexts: Some(8),
                ..s()
            },
            22,
        ),
        packed(
            "rgb8_lossy_lanes8_ctx3.vc6",
            PixelFormat::Rgb8,
            56,
            40,
            8,
            EncoderSettings {
                preset: Preset::Better,
                quality: Some(70.0),
                tile_log2: 4,
                lanes: Some(8),
                contexts: Some(3),
                ..s()
            },
            23,
        ),
        // 16-bit noise: values with more than 16 extra bits (two bypass steps).
        packed(
            "rgb16_lanes32_ctx4.vc6",
            PixelFormat::Rgb16,
            40,
            24,
            16,
            EncoderSettings {
                tile_log2: 3,
                lanes: Some(32),
                contexts: Some(4),
                ..s()
            },
            24,
        ),
        packed(
            "gray16_d12_lossy_q35_linear.vc6",
            PixelFormat::Gray16,
            41,
            29,
            12,
            EncoderSettings {
                preset: Preset::Better,
                quality: Some(35.0),
                predicted_average: false,
                upsampler: Upsampler::Linear,
                tile_log2: 3,
                ..s()
            },
            21,
        ),
        // Fraction bits (docs/bitstream.md 4): RGB with 4, where the output shift
        // follows the colour transform; 12-bit grey coded at 16 bits (the most); RGBA
        // with 2 in its colour planes and none in its exact alpha plane.
        packed(
            "rgb8_lossy_frac4.vc6",
            PixelFormat::Rgb8,
            50,
            38,
            8,
            EncoderSettings {
                preset: Preset::Better,
                quality: Some(75.0),
                tile_log2: 4,
                fraction_bits: Some(4),
                ..s()
            },
            25,
        ),
        packed(
            "gray16_d12_lossy_frac4.vc6",
            PixelFormat::Gray16,
            37,
            27,
            12,
            EncoderSettings {
                preset: Preset::Better,
                quality: Some(50.0),
                tile_log2: 3,
                fraction_bits: Some(4),
                ..s()
            },
            26,
        ),
        packed(
            "rgba8_lossy_frac2_alpha.vc6",
            PixelFormat::Rgba8,
            33,
            21,
            8,
            EncoderSettings {
                preset: Preset::Better,
                quality: Some(40.0),
                tile_log2: 3,
                fraction_bits: Some(2),
                lossless_alpha: true,
                upsampler: Upsampler::Linear,
                ..s()
            },
            27,
        ),
    ]
}

/// The checks recorded for one stream: LoQ 0, the coarsest LoQ, a middle LoQ, and
/// regions at LoQ 0 and at the middle LoQ (duplicates dropped).
fn entries_for(file: &str, stream: &[u8]) -> Vec<Entry> {
    let info = vc6::probe(stream).unwrap();
    let max = info.loqs.len() as u8 - 1;
    let mid = max.div_ceil(2);
    let region_at = |loq: u8| {
        let l = info.loqs[usize::from(loq)];
        let (w, h) = (l.width, l.height);
        (w / 4, h / 3, (w / 2).max(1), (h / 3).max(1))
    };
    let mut wanted = vec![
        (0, None),
        (max, None),
        (mid, None),
        (0, Some(region_at(0))),
        (mid, Some(region_at(mid))),
    ];
    let mut seen = BTreeSet::new();
    wanted.retain(|w| seen.insert(*w));
    let dec = decoder();
    wanted
        .into_iter()
        .map(|(loq, region)| {
            let mut e = Entry {
                file: file.to_string(),
                loq,
                region,
                hash: String::new(),
            };
            let pic = dec.decode_picture(stream, e.frame_region()).unwrap();
            e.hash = picture_hash(&pic);
            e
        })
        .collect()
}

/// Writes to the real stderr, past the test harness's output capture, so blessing is
/// always visible.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

fn bless() {
    let dir = streams_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let fixtures = fixtures();
    let mut manifest = MANIFEST_HEADER.to_string();
    let mut total = 0;
    let dec = decoder();
    for fx in &fixtures {
        // A lossless fixture's full decode must be its source.
        let back = dec
            .decode_picture(&fx.stream, FrameRegion::default())
            .unwrap();
        assert!(
            !fx.exact || back == fx.source,
            "{}: the encoder's stream does not decode to its source",
            fx.file
        );
        assert!(
            fx.stream.len() <= MAX_STREAM_BYTES,
            "{}: {} bytes is too big for a fixture",
            fx.file,
            fx.stream.len()
        );
        // A stream already on disk stays while it still decodes (and, for a lossless
        // fixture, to its source): the streams are the contract, and an encoder change
        // alone must not replace them. Its checks are recomputed from it.
        let decodes = |stream: &[u8]| {
            dec.decode_picture(stream, FrameRegion::default())
                .is_ok_and(|pic| !fx.exact || pic == fx.source)
        };
        let stream = match std::fs::read(dir.join(fx.file)) {
            Ok(old) if decodes(&old) => {
                say!("VC6_BLESS: kept fixtures/conformance/{}", fx.file);
                old
            }
            _ => {
                std::fs::write(dir.join(fx.file), &fx.stream).unwrap();
                say!(
                    "VC6_BLESS: wrote fixtures/conformance/{} ({} bytes)",
                    fx.file,
                    fx.stream.len()
                );
                fx.stream.clone()
            }
        };
        total += stream.len();
        let entries = entries_for(fx.file, &stream);
        manifest.push('\n');
        for e in entries {
            manifest.push_str(&e.line());
            manifest.push('\n');
        }
    }
    assert!(total <= MAX_TOTAL_BYTES, "fixtures take {total} bytes");
    let names: BTreeSet<&str> = fixtures.iter().map(|f| f.file).collect();
    for stale in vc6_files(&dir)
        .into_iter()
        .filter(|f| !names.contains(f.as_str()))
    {
        std::fs::remove_file(dir.join(&stale)).unwrap();
        say!("VC6_BLESS: removed stale fixtures/conformance/{stale}");
    }
    std::fs::write(manifest_path(), manifest).unwrap();
    say!(
        "VC6_BLESS: rewrote fixtures/conformance.txt ({} streams, {total} bytes)",
        fixtures.len()
    );
}

// ---------------------------------------------------------------------------------
// Checking: manifest -> decode -> compare. Never writes.
// ---------------------------------------------------------------------------------

fn vc6_files(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".vc6"))
        .collect();
    v.sort();
    v
}

fn read_manifest() -> Vec<(usize, Result<Entry, String>)> {
    let path = manifest_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}\n(generate it with `cargo xtask conformance --bless`)",
            path.display()
        )
    });
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(n, l)| (n, Entry::parse(l)))
        .collect()
}

fn blessing() -> bool {
    std::env::var("VC6_BLESS").is_ok_and(|v| !v.is_empty() && v != "0")
}

#[test]
fn conformance_streams_decode_to_the_manifest() {
    if blessing() {
        bless();
    }
    let entries = read_manifest();
    let dir = streams_dir();
    // The same checks on every backend compiled into this build.
    let decoders = common::test_decoders();
    let mut streams: BTreeMap<String, Result<Vec<u8>, String>> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (line, entry) in &entries {
        let e = match entry {
            Ok(e) => e,
            Err(msg) => {
                failures.push(format!("conformance.txt:{line}: {msg}"));
                continue;
            }
        };
        let stream = streams.entry(e.file.clone()).or_insert_with(|| {
            std::fs::read(dir.join(&e.file)).map_err(|err| format!("cannot read {}: {err}", e.file))
        });
        let stream = match stream {
            Ok(s) => s,
            Err(msg) => {
                failures.push(format!("conformance.txt:{line}: {msg}"));
                continue;
            }
        };
        checked += 1;
        for (backend, dec) in &decoders {
            match dec.decode_picture(stream, e.frame_region()) {
                Ok(pic) => {
                    let got = picture_hash(&pic);
                    if got != e.hash {
                        failures.push(format!(
                            "conformance.txt:{line} [{backend}]: {} loq {} region {:?}: hash {got}, expected {}",
                            e.file, e.loq, e.region, e.hash
                        ));
                    }
                }
                Err(err) => failures.push(format!(
                    "conformance.txt:{line} [{backend}]: {} loq {} region {:?}: decode failed: {err}",
                    e.file, e.loq, e.region
                )),
            }
        }
    }
    // Every stream on disk is checked, and at full size.
    for f in vc6_files(&dir) {
        if !entries
            .iter()
            .any(|(_, e)| matches!(e, Ok(e) if e.file == f && e.loq == 0 && e.region.is_none()))
        {
            failures.push(format!(
                "fixtures/conformance/{f} has no full-size (loq 0, -) entry in the manifest"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} conformance checks failed:\n{}\n(if the bitstream changed on purpose, re-bless with `cargo xtask conformance --bless`)",
        failures.len(),
        entries.len(),
        failures.join("\n")
    );
    assert!(
        checked >= MIN_ENTRIES,
        "the manifest has only {checked} checks (at least {MIN_ENTRIES} expected): missing or cut short?"
    );
    eprintln!(
        "conformance: {checked} checks over {} streams passed on {}",
        streams.len(),
        decoders
            .iter()
            .map(|(b, _)| b.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
}

#[test]
fn manifest_lines_parse_and_print_alike() {
    let line = "a.vc6 2 3,4,5,6 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let e = Entry::parse(line).unwrap();
    assert_eq!(e.region, Some((3, 4, 5, 6)));
    assert_eq!(e.line(), line);
    let e = Entry::parse(&line.replace("3,4,5,6", "-")).unwrap();
    assert_eq!(e.frame_region(), FrameRegion::full(2));
    for bad in [
        "a.vc6 0 -",
        "a.vc6 x - 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "a.vc6 0 1,2,3 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "a.vc6 0 - 0123",
        "../a.vc6 0 - 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ] {
        assert!(Entry::parse(bad).is_err(), "{bad}");
    }
    // The hash covers sizes and depths, not just samples.
    let a = Picture::new(vec![vc6::Plane::from_samples(2, 1, 8, vec![1, 2]).unwrap()]).unwrap();
    let mut b = a.clone();
    b.planes[0].bit_depth = 9;
    let mut c = a.clone();
    (c.planes[0].width, c.planes[0].height) = (1, 2);
    assert_ne!(picture_hash(&a), picture_hash(&b));
    assert_ne!(picture_hash(&a), picture_hash(&c));
    assert_eq!(picture_hash(&a), picture_hash(&a.clone()));
}

/// The manifest's hash format, pinned: a 1x1 8-bit plane holding 0x0102 would be
/// hashed as these exact bytes.
#[test]
fn picture_hash_layout_is_pinned() {
    let pic = Picture {
        planes: vec![vc6::Plane {
            width: 1,
            height: 1,
            bit_depth: 8,
            samples: vec![0x0102],
        }],
    };
    let bytes = [1u8, 0, 0, 0, 1, 0, 0, 0, 8, 0x02, 0x01];
    let want: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(picture_hash(&pic), want);
}
