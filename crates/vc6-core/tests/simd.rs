//! The SIMD decoder against the scalar reference, whole decodes: every SIMD kernel
//! (entropy rounds, tiles decoded in groups, contexts, prediction, packing) must give the
//! scalar decoder's bytes, and fail where it fails, with the same error. One test in
//! its own binary, because the switch ([`vc6_core::simd::force_scalar`]) is process-wide.

mod common;

use common::xorshift;
use vc6_core::{
    decode, decode_interleaved_u8, DecodeBuffers, DecodeOptions, EncoderConfig, Picture, Plane,
    Region, Upsampler,
};

/// Image-like content with a noisy patch: every token and extra-bit length occurs.
fn plane(w: u32, h: u32, depth: u8, seed: u32) -> Plane {
    let mut s = seed | 1;
    let max = (1u32 << depth) - 1;
    let samples = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let base = (x * 5 + y * 3) * max / (5 * w + 3 * h);
            let noise = xorshift(&mut s) % (max / 12 + 2);
            let v = if x < w / 4 && y < h / 4 {
                xorshift(&mut s) % (max + 1)
            } else {
                (base + noise).min(max)
            };
            v as u16
        })
        .collect();
    Plane::from_samples(w, h, depth, samples).unwrap()
}

/// Every way of decoding one stream, as comparable text: pixels or the error.
fn outcomes(stream: &[u8], planes: usize, w: u32, h: u32) -> Vec<String> {
    let mut out = Vec::new();
    let opts = |loq: u8, region: Option<Region>| DecodeOptions {
        loq,
        region,
        threads: 1,
        verify_checksums: false,
        ..DecodeOptions::default()
    };
    let region = Region {
        x: w / 5,
        y: h / 3,
        width: w / 2,
        height: h / 3,
    };
    for o in [opts(0, None), opts(1, None), opts(0, Some(region))] {
        out.push(format!("{:?}", decode(stream, &o).map(|p| p.planes)));
        let offsets: Vec<usize> = (0..planes).collect();
        if planes <= 4 {
            let r = decode_interleaved_u8(stream, &o, &mut DecodeBuffers::default(), &offsets);
            out.push(format!("{r:?}"));
        }
    }
    out
}

#[test]
fn simd_decodes_equal_scalar_decodes() {
    if !vc6_core::simd::avx2() {
        eprintln!("no AVX2 here: nothing to compare the scalar decoder with");
        return;
    }
    let mut cases: Vec<(String, Vec<u8>, usize, u32, u32)> = Vec::new();
    let settings = [
        (8u8, None, Some(8usize), Upsampler::Cubic, 6u8),
        (8, None, Some(32), Upsampler::Linear, 5),
        (8, Some(60u8), Some(8), Upsampler::Cubic, 5),
        (8, Some(85), None, Upsampler::ModifiedCubic, 4),
        (16, None, Some(32), Upsampler::Cubic, 4),
        (12, Some(50), Some(32), Upsampler::Nearest, 5),
        (8, None, None, Upsampler::Cubic, 7),
    ];
    for (i, &(depth, quality, lanes, upsampler, tile_log2)) in settings.iter().enumerate() {
        let (w, h) = (300 + 37 * i as u32, 170 + 23 * i as u32);
        let planes = if i % 3 == 2 { 1 } else { 3 };
        let pic = Picture::new(
            (0..planes)
                .map(|p| plane(w, h, depth, 7 * i as u32 + p))
                .collect(),
        )
        .unwrap();
        let cfg = EncoderConfig {
            colour_transform: planes == 3,
            quality: quality.map(f32::from),
            lanes,
            upsampler,
            tile_log2,
            checksums: false,
            threads: 1,
            ..EncoderConfig::default()
        };
        let stream = vc6_core::encode(&pic, &cfg).unwrap();
        let what = format!("case {i} ({depth} bits, q {quality:?}, lanes {lanes:?})");
        cases.push((what.clone(), stream.clone(), planes as usize, w, h));
        // Damage inside the sections (no checksums: it reaches the tiles).
        let header = vc6_core::probe(&stream).unwrap().header_bytes as usize;
        let mut seed = 99 + i as u32;
        for k in 0..12 {
            let mut s = stream.clone();
            let at = header + xorshift(&mut seed) as usize % (s.len() - header);
            s[at] ^= 1 << (k % 8);
            cases.push((
                format!("{what}, bit flipped at {at}"),
                s,
                planes as usize,
                w,
                h,
            ));
        }
    }
    let mut compared = 0;
    for (what, stream, planes, w, h) in &cases {
        vc6_core::simd::force_scalar(true);
        let scalar = outcomes(stream, *planes, *w, *h);
        vc6_core::simd::force_scalar(false);
        let simd = outcomes(stream, *planes, *w, *h);
        assert_eq!(scalar.len(), simd.len());
        for (k, (a, b)) in scalar.iter().zip(&simd).enumerate() {
            assert!(a == b, "{what}, decode {k}: SIMD and scalar differ");
            compared += 1;
        }
    }
    assert!(vc6_core::simd::avx2());
    eprintln!("{compared} decodes equal with and without SIMD");
}
