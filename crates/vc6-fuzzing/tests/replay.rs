//! Every fuzzing finding as a named test, the kept seed corpora through their checks,
//! and the decoder's memory accounting held against what it really allocates.
//!
//! A finding is a file `fuzz/regressions/<target>/<name>`; it gets a line in
//! [`findings`] below, and `every_finding_has_a_test` fails until it has one. The seeds
//! are `fuzz/seeds/<target>/`, the minimised corpus `cargo xtask fuzz` starts from.

use std::path::{Path, PathBuf};
use vc6_fuzzing::{decode, nocrc, peak, roundtrip};

#[global_allocator]
static ALLOC: peak::PeakAlloc = peak::PeakAlloc;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .map(|e| e.expect("readable folder").path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// The check of each target, by the name of its folder.
fn check_of(target: &str) -> fn(&[u8]) {
    match target {
        "decode" => decode::check,
        "decode_nocrc" => nocrc::check,
        "roundtrip" => roundtrip::check,
        #[cfg(feature = "opencl")]
        "backend_diff" => vc6_fuzzing::backend_diff::check,
        #[cfg(not(feature = "opencl"))]
        "backend_diff" => |_: &[u8]| {},
        other => panic!("no fuzz target is called {other:?}"),
    }
}

const TARGETS: [&str; 4] = ["decode", "decode_nocrc", "roundtrip", "backend_diff"];

fn replay(target: &str, name: &str) {
    let path = fuzz_dir().join("regressions").join(target).join(name);
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("finding {}: {e}", path.display()));
    check_of(target)(&data);
}

/// Each finding: its test's name, its target, its file.
macro_rules! findings {
    ($($test:ident: $target:literal / $file:literal,)*) => {
        $(
            #[test]
            fn $test() {
                replay($target, $file);
            }
        )*
        const FINDINGS: &[(&str, &str)] = &[$(($target, $file)),*];
    };
}

findings! {
    // Reported as a 13 s timeout while the fuzzer ran niced behind compiles; 0.6 s alone
    // under ASan (target 6.8 bpp, 4x4 tiles, adaptive upsampler: several encoder passes).
    roundtrip_rate_control_with_4x4_tiles: "roundtrip" / "rate-control-4x4-tiles-slow-under-load",
    // A slow unit (14 s under load, 2 s alone under ASan): 5.6 bpp asked of 1-bit YUV 4:2:0
    // in 16-bit words with 7 fraction bits, more than the exact stream spends, so rate
    // control runs all its passes.
    roundtrip_unreachable_rate_of_a_1_bit_picture: "roundtrip" / "rate-control-unreachable-rate-1-bit-yuv",
    // Reported as a 10 s timeout under load; 1 s alone under ASan: 8.4 bpp asked of a
    // 4-bit YUV 4:4:4 picture with 32 lanes, 7 echelons and the adaptive upsampler.
    roundtrip_high_rate_of_a_4_bit_yuv_picture: "roundtrip" / "rate-control-yuv444-high-rate-slow-under-load",
    // Found when the decode check gained decode_picture: a BGRA8 stream whose alpha plane
    // has echelons of its own, so at LoQ 1 it is 20x13 beside 20x14. The planes decode,
    // but the packed decode blamed the caller ("invalid parameter"); it is now
    // "unsupported ... decode_picture gives them as planes".
    decode_bgra_planes_that_misfit_their_format_at_loq_1: "decode_nocrc" / "bgra-planes-misfit-at-loq1",
    // Found by the coverage replay with VC6_SIMD=scalar (tests/replay_scalar.rs replays
    // every finding that way): a kernel whose taps' magnitudes sum past 2^15 overflowed
    // the i32 kernel sum on 16-bit coded samples ("attempt to add with overflow" in
    // tap_pair; the AVX2 path wrapped silently). Such kernels are now refused.
    roundtrip_kernel_sum_overflow_on_the_scalar_path: "roundtrip" / "kernel-sum-overflow-on-the-scalar-path",
}

#[test]
fn every_finding_has_a_test() {
    for target in TARGETS {
        for f in files(&fuzz_dir().join("regressions").join(target)) {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            assert!(
                FINDINGS.contains(&(target, name)),
                "fuzz/regressions/{target}/{name} has no test: add it to `findings!` in {}",
                file!()
            );
        }
    }
}

/// The seed corpora pass their checks on stable too (what the fuzz smoke starts from).
#[test]
fn seed_corpora_pass_their_checks() {
    let mut ran = 0;
    for target in TARGETS {
        if target == "backend_diff" && !cfg!(feature = "opencl") {
            continue;
        }
        let check = check_of(target);
        for f in files(&fuzz_dir().join("seeds").join(target)) {
            let data = std::fs::read(&f).expect("readable seed");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "seed {} fails its check", f.display());
            ran += 1;
        }
    }
    assert!(ran > 0, "no seeds found under {}", fuzz_dir().display());
}

/// The working memory the decoder counts against `Limits::max_alloc_bytes` covers what
/// it really allocates: at the smallest limit a stream decodes under, the decode's peak
/// stays within that limit (plus [`decode::slack`]).
#[test]
fn limits_cover_what_a_decode_allocates() {
    // (what, stream, output format other than the stream's own)
    let mut cases: Vec<(String, Vec<u8>, Option<vc6::PixelFormat>)> =
        files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/conformance"))
            .into_iter()
            .map(|p| {
                (
                    p.display().to_string(),
                    std::fs::read(&p).expect("fixture"),
                    None,
                )
            })
            .collect();
    assert!(cases.len() > 3, "the conformance fixtures are missing");
    // Large enough that the picture, not the fixed costs, is most of the memory.
    let (w, h) = (1000, 700);
    for (format, lossless) in [
        (vc6::PixelFormat::Rgb8, true),
        (vc6::PixelFormat::Rgba16, false),
        (vc6::PixelFormat::Yuv420p8, true),
    ] {
        let n = format.frame_len(w, h).expect("frame");
        let pixels: Vec<u8> = (0..n)
            .map(|i| ((i / 7) % 251) as u8 ^ (i % 3) as u8)
            .collect();
        let settings = if lossless {
            vc6::EncoderSettings::default()
        } else {
            vc6::EncoderSettings::from_preset(vc6::Preset::Better)
        };
        let enc = vc6::Encoder::new(w, h, format, settings).expect("encoder");
        let stream = enc.encode(&pixels).expect("encode");
        if format == vc6::PixelFormat::Rgb8 {
            let wider = Some(vc6::PixelFormat::Rgba16);
            cases.push((format!("{format} {w}x{h} as rgba16"), stream.clone(), wider));
        }
        cases.push((format!("{format} {w}x{h}"), stream, None));
    }
    let planes: Vec<vc6::Plane> = [(w, h), (w / 2, h), (w / 3, h / 5)]
        .iter()
        .map(|&(pw, ph)| {
            let data = (0..pw * ph).map(|i| ((i / 5) % 1000) as u16).collect();
            vc6::Plane::from_samples(pw, ph, 10, data).expect("plane")
        })
        .collect();
    let picture = vc6::Picture::new(planes).expect("picture");
    let enc =
        vc6::Encoder::new(w, h, vc6::PixelFormat::Gray16, Default::default()).expect("encoder");
    cases.push((
        format!("3 generic planes from {w}x{h}"),
        enc.encode_picture(&picture).expect("encode"),
        None,
    ));
    for (name, stream, format) in &cases {
        let loqs = vc6::probe(stream).expect("probe").loqs.len() as u8;
        for loq in 0..loqs.min(2) {
            let region = vc6::FrameRegion::full(loq);
            let limit = smallest_limit(stream, region, *format);
            let dec = decoder(limit, *format);
            let (got, grown) = peak::measure(|| decode_any(&dec, stream, region));
            got.unwrap_or_else(|e| panic!("{name} at LoQ {loq} under {limit} bytes: {e}"));
            let grown = grown.expect("the counting allocator is installed") as u64;
            let allowed = limit + decode::slack(stream.len()) as u64;
            assert!(
                grown <= allowed,
                "{name} at LoQ {loq}: decoding under a limit of {limit} bytes took {grown}"
            );
        }
    }
}

fn decoder(max_alloc_bytes: u64, format: Option<vc6::PixelFormat>) -> vc6::Decoder {
    vc6::Decoder::new(vc6::DecoderSettings {
        threads: 1,
        backend: vc6::Backend::Cpu,
        format,
        limits: vc6::Limits {
            max_alloc_bytes,
            ..vc6::Limits::default()
        },
        ..Default::default()
    })
    .expect("decoder")
}

/// Decodes into the stream's pixel format, or into planes when it has none.
fn decode_any(dec: &vc6::Decoder, stream: &[u8], region: vc6::FrameRegion) -> vc6::Result<()> {
    if vc6::probe(stream)?.format_tag == 0 {
        dec.decode_picture(stream, region).map(drop)
    } else {
        dec.decode_region(stream, region).map(drop)
    }
}

/// The smallest `max_alloc_bytes` under which `region` of `stream` decodes.
fn smallest_limit(
    stream: &[u8],
    region: vc6::FrameRegion,
    format: Option<vc6::PixelFormat>,
) -> u64 {
    // Each refusal names the bytes its check needs beyond the limit it was given (the
    // facade's copies first, then the core's working memory): add them up, rather than
    // bisect with a full decode at every step (slow in debug builds).
    let mut limit = 0u64;
    for _ in 0..4 {
        match decode_any(&decoder(limit, format), stream, region) {
            Ok(()) => {
                let less = decode_any(&decoder(limit.saturating_sub(1), format), stream, region);
                assert!(
                    matches!(less, Err(vc6::Error::LimitsExceeded(_))),
                    "a stream decoding under {limit} bytes also decodes under one byte less"
                );
                return limit;
            }
            Err(vc6::Error::LimitsExceeded(m)) => limit += needed_bytes(&m),
            Err(e) => panic!("a valid stream failed: {e}"),
        }
    }
    panic!("no limit found in four steps")
}

/// The bytes a limits error says its check needs ("... need(s) N bytes ...").
fn needed_bytes(message: &str) -> u64 {
    let words: Vec<&str> = message.split_whitespace().collect();
    words
        .windows(3)
        .find(|w| (w[0] == "needs" || w[0] == "need") && w[2] == "bytes")
        .and_then(|w| w[1].parse().ok())
        .unwrap_or_else(|| panic!("no byte count in the limits error {message:?}"))
}
