//! The soak test: `cargo xtask soak --minutes N [--backend B]...` (not part of the
//! default test run).
//!
//! For N minutes, decodes a mix of streams (sizes from 1x1 to 1024x768, lossless and
//! lossy, whole and at LoQ 1, valid and damaged) through `AsyncDecoder` and
//! `Decoder::decode_batch` on every backend that runs here. Every result is checked
//! against the answer the CPU gave once at the start, so a frame mixed up between
//! requests, or a damaged stream that decodes differently from one time to the next, is
//! a failure. Reports decodes per second and resident memory at the start and end;
//! fails when memory keeps growing.

use std::sync::Arc;
use std::time::{Duration, Instant};
use vc6::{
    AsyncDecoder, Backend, Decoder, DecoderSettings, Encoder, EncoderSettings, Frame, FrameRegion,
    PixelFormat, Preset,
};

/// One request and the answer it must get.
struct Case {
    name: String,
    stream: Arc<[u8]>,
    region: FrameRegion,
    /// The frame's hash, or `None` where the decode must fail.
    want: Option<u64>,
}

fn hash(f: &Frame) -> u64 {
    // FNV-1a over size and bytes: enough to tell frames apart.
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let size = [f.width.to_le_bytes(), f.height.to_le_bytes()].concat();
    for &b in size.iter().chain(&f.data) {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

fn picture(format: PixelFormat, w: u32, h: u32, seed: u32) -> Vec<u8> {
    let n = format.frame_len(w, h).expect("frame");
    (0..n as u32)
        .map(|i| {
            let x = (i / 3) % w;
            let y = i / (3 * w);
            (((x * 3 + y * 5 + seed) / 2) ^ ((i.wrapping_mul(seed) >> 7) % 17)) as u8
        })
        .collect()
}

fn cases() -> Vec<Case> {
    let shapes = [
        (PixelFormat::Rgb8, 1, 1),
        (PixelFormat::Gray8, 33, 17),
        (PixelFormat::Rgba8, 200, 120),
        (PixelFormat::Rgb8, 640, 480),
        (PixelFormat::Yuv420p8, 321, 243),
        (PixelFormat::Rgb16, 256, 256),
        (PixelFormat::Rgb8, 1024, 768),
    ];
    let cpu = Decoder::new(DecoderSettings {
        backend: Backend::Cpu,
        ..Default::default()
    })
    .expect("CPU decoder");
    let mut out = Vec::new();
    for (i, &(format, w, h)) in shapes.iter().enumerate() {
        for lossy in [false, true] {
            let settings = if lossy {
                EncoderSettings::from_preset(Preset::Better)
            } else {
                EncoderSettings::default()
            };
            let stream = Encoder::new(w, h, format, settings)
                .and_then(|e| e.encode(&picture(format, w, h, i as u32 + 1)))
                .expect("encode");
            let mut damaged = stream.clone();
            let at = damaged.len() * 2 / 3;
            damaged[at] ^= 0x5a;
            let truncated = stream[..stream.len() * 3 / 4].to_vec();
            let kind = if lossy { "lossy" } else { "lossless" };
            for (what, bytes) in [("", stream), (" damaged", damaged), (" cut", truncated)] {
                for region in [FrameRegion::default(), FrameRegion::full(1)] {
                    let want = cpu.decode_region(&bytes, region).ok().map(|f| hash(&f));
                    out.push(Case {
                        name: format!("{format} {w}x{h} {kind}{what} LoQ {}", region.loq),
                        stream: bytes.clone().into(),
                        region,
                        want,
                    });
                }
            }
        }
    }
    out
}

/// Resident memory in KiB (Linux), else 0.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn check(case: &Case, got: &vc6::Result<Frame>, how: &str) {
    let got = got.as_ref().ok().map(hash);
    assert_eq!(
        got,
        case.want,
        "{how}: {} gave {} where the CPU gave {}",
        case.name,
        if got.is_some() { "a frame" } else { "an error" },
        if case.want.is_some() {
            "a frame"
        } else {
            "an error"
        }
    );
}

fn main() {
    let minutes: f64 = std::env::args()
        .skip_while(|a| a != "--minutes")
        .nth(1)
        .map(|m| m.parse().expect("--minutes takes a number"))
        .unwrap_or(1.0);
    let cases = cases();
    let valid = cases.iter().filter(|c| c.want.is_some()).count();
    println!(
        "soak: {} requests ({valid} valid, {} failing), {minutes} minutes",
        cases.len(),
        cases.len() - valid
    );
    // `--backend NAME` (repeatable) picks; by default every backend that runs here.
    let picked: Vec<Backend> = std::env::args()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "--backend")
        .map(|w| w[1].parse().expect("--backend takes cpu or opencl"))
        .collect();
    let backends: Vec<Backend> = Backend::available()
        .into_iter()
        .filter(|b| *b != Backend::Auto && (picked.is_empty() || picked.contains(b)))
        .collect();
    let decoders: Vec<Decoder> = backends
        .iter()
        .map(|&backend| {
            Decoder::new(DecoderSettings {
                backend,
                ..Default::default()
            })
            .expect("an available backend starts")
        })
        .collect();
    let pools: Vec<AsyncDecoder> = decoders
        .iter()
        .map(|d| AsyncDecoder::with_decoder(d.clone(), 4).expect("async decoder"))
        .collect();
    let deadline = Instant::now() + Duration::from_secs_f64(minutes * 60.0);
    let start = Instant::now();
    let mut decodes = 0u64;
    let mut round = 0u64;
    // Resident memory after each round.
    let mut rss = Vec::new();
    // At least 20 rounds, so that the first half covers the warm-up of every cache.
    while Instant::now() < deadline || round < 20 {
        for (decoder, pool) in decoders.iter().zip(&pools) {
            let name = decoder.backend_name();
            // Through AsyncDecoder: every request in flight at once, in a shifted order.
            let order: Vec<usize> = (0..cases.len())
                .map(|i| (i * 7 + round as usize) % cases.len())
                .collect();
            let pending: Vec<_> = order
                .iter()
                .map(|&i| (i, pool.submit(cases[i].stream.clone(), cases[i].region)))
                .collect();
            for (i, p) in pending {
                check(&cases[i], &p.wait(), &format!("{name} AsyncDecoder"));
            }
            // One batch of everything.
            let items: Vec<(&[u8], FrameRegion)> =
                cases.iter().map(|c| (&c.stream[..], c.region)).collect();
            for (c, got) in cases.iter().zip(decoder.decode_batch(&items)) {
                check(c, &got, &format!("{name} decode_batch"));
            }
            decodes += 2 * cases.len() as u64;
        }
        round += 1;
        rss.push(rss_kib());
        if std::env::var_os("SOAK_VERBOSE").is_some() {
            println!("soak: round {round}: {} KiB", rss[rss.len() - 1]);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let names: Vec<&str> = decoders.iter().map(|d| d.backend_name()).collect();
    println!(
        "soak: {decodes} decodes in {secs:.0} s on {} ({:.0} decodes/s), {round} rounds, \
         no result mixed up",
        names.join(" and "),
        decodes as f64 / secs
    );
    // Caches, pools and per-thread buffers fill during the first rounds; bounded means
    // the second half of the run never rises above the first half's peak (plus a margin
    // for the allocator's fragmentation).
    let half = rss.len() / 2;
    let warm = rss[..half].iter().copied().max().unwrap_or(0);
    let late = rss[half..].iter().copied().max().unwrap_or(0);
    let end = rss.last().copied().unwrap_or(0);
    println!(
        "soak: resident memory {} KiB after the first round, at most {warm} KiB in the first \
         half, at most {late} KiB in the second, {end} KiB at the end",
        rss[0]
    );
    let margin = warm / 8 + 16 * 1024;
    assert!(
        late <= warm + margin,
        "resident memory kept rising: {late} KiB in the second half of the run against at \
         most {warm} KiB in the first"
    );
}
