//! How long hostile inputs take against valid streams of the same declared size:
//! `cargo run --release -p vc6-fuzzing --bin timing -- [--fix-checksums] DIR...` (the fuzz
//! corpora; `--fix-checksums` recomputes the CRCs first, as the `decode_nocrc` target does).
//!
//! For each input whose header parses, times a whole decode under the fuzzing limits
//! (the best of three) and divides it by the time a valid stream of the same declared
//! size takes: a grey picture of that many samples, encoded here, decoded the same way.
//! Prints the inputs with the largest ratios and the largest ratio overall.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use vc6::{Decoder, Encoder, EncoderSettings, PixelFormat, StreamInfo};
use vc6_fuzzing::decode;

fn best_of_three(dec: &Decoder, data: &[u8]) -> Duration {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            let _ = std::hint::black_box(dec.decode(data));
            t.elapsed()
        })
        .min()
        .expect("three runs")
}

/// Samples the header declares (every plane at full size).
fn declared(info: &StreamInfo) -> u64 {
    info.planes
        .iter()
        .map(|p| u64::from(p.width) * u64::from(p.height))
        .sum()
}

/// A valid grey stream of about `samples` samples, as square as the limits allow.
fn valid_stream(samples: u64) -> Vec<u8> {
    let side = (samples as f64).sqrt().ceil().clamp(1.0, 4096.0) as u32;
    let height = (samples.div_ceil(u64::from(side)) as u32).clamp(1, 65535);
    let pixels: Vec<u8> = (0..u64::from(side) * u64::from(height))
        .map(|i| ((i % u64::from(side)) * 255 / u64::from(side)) as u8 ^ (i % 7) as u8)
        .collect();
    Encoder::new(side, height, PixelFormat::Gray8, EncoderSettings::default())
        .and_then(|e| e.encode(&pixels))
        .expect("a valid grey stream")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fix = args.iter().any(|a| a == "--fix-checksums");
    let dirs: Vec<PathBuf> = args
        .iter()
        .filter(|a| *a != "--fix-checksums")
        .map(PathBuf::from)
        .collect();
    if dirs.is_empty() {
        eprintln!("usage: timing [--fix-checksums] DIR...");
        std::process::exit(2);
    }
    let dec = decode::decoder(vc6::Backend::Cpu);
    let mut reference: HashMap<u64, Duration> = HashMap::new();
    let mut rows = Vec::new();
    let mut total = Duration::ZERO;
    for dir in &dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            eprintln!("timing: cannot read {}", dir.display());
            continue;
        };
        for e in entries.flatten() {
            let Ok(mut data) = std::fs::read(e.path()) else {
                continue;
            };
            if fix {
                data = vc6_fuzzing::nocrc::fix_checksums(&data);
            }
            let took = best_of_three(&dec, &data);
            total += took;
            let Ok(info) = vc6::probe(&data) else {
                continue;
            };
            // Valid streams per size class (powers of two), no larger than the fuzzing
            // limits let decode (about 7.3 bytes of working memory per sample).
            let n = declared(&info).clamp(1, decode::LIMITS.max_alloc_bytes / 8);
            let class = n
                .next_power_of_two()
                .min(decode::LIMITS.max_alloc_bytes / 8);
            let valid = *reference.entry(class).or_insert_with(|| {
                best_of_three(&dec, &valid_stream(class)).max(Duration::from_micros(1))
            });
            rows.push((
                took.as_secs_f64() / valid.as_secs_f64(),
                took,
                valid,
                n,
                e.path(),
            ));
        }
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("ratio  input time  valid time  declared samples  input");
    for (ratio, took, valid, n, path) in rows.iter().take(10) {
        println!(
            "{ratio:5.2}  {:>10.3?}  {:>10.3?}  {n:>16}  {}",
            took,
            valid,
            path.display()
        );
    }
    let worst = rows.first().map_or(0.0, |r| r.0);
    println!(
        "timing: {} inputs with a readable header; the slowest took {worst:.2}x the time of a \
         valid stream of its declared size (all inputs: {:.1?} in total)",
        rows.len(),
        total
    );
}
