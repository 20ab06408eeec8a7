//! Criterion benches on the two 500x500 corpus photographs: vc6 decode (1 thread, all
//! cores, LoQ 2), vc6 encode, png decode, qoi decode; then each backend that runs here
//! (OpenCL when compiled in and present) decoding one frame and a batch of 32 frames
//! (`decode_batch`, which returns when the device has finished). Throughput is in pixels.
//!
//! `cargo bench -p vc6-benches` (or `cargo xtask bench`). The corpus folder is
//! `../shared/corpus/rgb8` beside the workspace, or `VC6_CORPUS`; when it is missing
//! the benches are skipped with a message.

use criterion::{black_box, BenchmarkId, Criterion, Throughput};
use std::time::Duration;
use vc6::{Backend, Decoder, DecoderSettings, Encoder, EncoderSettings, FrameRegion, PixelFormat};
use vc6_benches::{
    default_corpus_dir, load_rgb8_dir_filtered, png_decode, png_encode_rgb8, CorpusImage,
};

/// Batch size of the `decode_batch` benches.
const BATCH: usize = 32;

fn benches(c: &mut Criterion, images: &[CorpusImage]) {
    let dec_1 = Decoder::new(DecoderSettings {
        threads: 1,
        ..Default::default()
    })
    .expect("vc6 decoder");
    let dec_all = Decoder::new(DecoderSettings {
        threads: 0,
        ..Default::default()
    })
    .expect("vc6 decoder");
    // Every backend that runs here, CPU first; the others are named in a note.
    let mut backends = Vec::new();
    for s in Backend::status() {
        match s.device {
            Ok(device) => {
                let dec = Decoder::new(DecoderSettings {
                    backend: s.backend,
                    ..Default::default()
                })
                .expect("an available backend opens");
                eprintln!("vc6 benches: backend {}: {device}", s.backend);
                backends.push((s.backend, dec));
            }
            Err(e) => eprintln!("vc6 benches: backend {} not measured: {e}", s.backend),
        }
    }
    let mut g = c.benchmark_group("codec");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for img in images {
        let (w, h) = (img.width, img.height);
        let id = img.name.trim_end_matches(".png");
        g.throughput(Throughput::Elements(img.pixel_count()));

        let enc =
            Encoder::new(w, h, PixelFormat::Rgb8, EncoderSettings::default()).expect("vc6 encoder");
        let stream = enc.encode(&img.pixels).expect("vc6 encode");
        assert_eq!(
            dec_1.decode(&stream).expect("vc6 decode").data,
            img.pixels,
            "vc6 not lossless on {id}"
        );
        let png_data = png_encode_rgb8(&img.pixels, w, h).expect("png encode");
        let qoi_data = qoi::encode_to_vec(&img.pixels, w, h).expect("qoi encode");

        g.bench_function(BenchmarkId::new("vc6_decode_1thread", id), |b| {
            b.iter(|| dec_1.decode(black_box(&stream)).unwrap())
        });
        g.bench_function(BenchmarkId::new("vc6_decode_all_cores", id), |b| {
            b.iter(|| dec_all.decode(black_box(&stream)).unwrap())
        });
        let loq2 = FrameRegion {
            loq: 2,
            ..Default::default()
        };
        g.bench_function(BenchmarkId::new("vc6_decode_loq2_1thread", id), |b| {
            b.iter(|| dec_1.decode_region(black_box(&stream), loq2).unwrap())
        });
        g.bench_function(BenchmarkId::new("vc6_encode", id), |b| {
            b.iter(|| enc.encode(black_box(&img.pixels)).unwrap())
        });
        g.bench_function(BenchmarkId::new("png_decode", id), |b| {
            b.iter(|| png_decode(black_box(&png_data)).unwrap())
        });
        g.bench_function(BenchmarkId::new("qoi_decode", id), |b| {
            b.iter(|| qoi::decode_to_vec(black_box(&qoi_data)).unwrap())
        });

        let batch = vec![(&stream[..], FrameRegion::default()); BATCH];
        for (backend, dec) in &backends {
            for frame in dec.decode_batch(&batch[..2]) {
                assert_eq!(
                    frame.expect("vc6 decode").data,
                    img.pixels,
                    "{backend} not lossless on {id}"
                );
            }
            if *backend != Backend::Cpu {
                g.throughput(Throughput::Elements(img.pixel_count()));
                g.bench_function(BenchmarkId::new(format!("vc6_decode_{backend}"), id), |b| {
                    b.iter(|| dec.decode(black_box(&stream)).unwrap())
                });
            }
            g.throughput(Throughput::Elements(img.pixel_count() * BATCH as u64));
            g.bench_function(
                BenchmarkId::new(format!("vc6_decode_batch{BATCH}_{backend}"), id),
                |b| {
                    b.iter(|| {
                        for f in dec.decode_batch(black_box(&batch)) {
                            f.unwrap();
                        }
                    })
                },
            );
        }
    }
    g.finish();
}

fn main() {
    let dir = default_corpus_dir();
    let images = match load_rgb8_dir_filtered(&dir, |n| n.contains("500x500")) {
        Ok(images) => images,
        Err(e) => {
            eprintln!("vc6 benches skipped: {e:#}");
            return;
        }
    };
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, &images);
    c.final_summary();
}
