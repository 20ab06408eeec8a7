//! Helpers shared by the facade's integration tests: a seeded xorshift generator,
//! image-like synthetic content, and an independent packer for every pixel format
//! (written from the layouts documented in `vc6::format`, not with the library's own
//! packing code, so a round trip checks the library against the documentation).
#![allow(dead_code)]

pub mod suite;
pub mod surgery;

use vc6::{Backend, Decoder, DecoderSettings, Picture, PixelFormat, Plane};

/// xorshift64: deterministic, seedable, no `rand` crate.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from any seed (0 is mapped to a fixed non-zero state).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        (self.next_u64() >> 11) % n
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next_u64() >> 24) as u8).collect()
    }
}

/// Image-like samples for a `w x h` plane of `depth` bits: a diagonal gradient, a
/// ripple, a hard-edged rectangle, a disc, mild noise everywhere and a patch of
/// full-range noise in one corner. Every sample is below `1 << depth`. Integer
/// arithmetic only, so the content is the same on every platform.
pub fn plane_samples(w: u32, h: u32, depth: u8, seed: u64) -> Vec<u16> {
    let mut rng = Rng::new(seed);
    let max = (1i64 << depth) - 1;
    // Work in 1/4096ths of the full range.
    const ONE: i64 = 4096;
    let (wi, hi) = (i64::from(w), i64::from(h));
    let phase = (seed % 7) as i64 * 5;
    // A triangle wave of period 32 and amplitude ONE / 12.
    let tri = |t: i64| {
        let t = t.rem_euclid(32);
        (if t < 16 { t } else { 32 - t } - 8) * ONE / 96
    };
    let mut out = Vec::with_capacity(w as usize * h as usize);
    for y in 0..h {
        for x in 0..w {
            let (xi, yi) = (i64::from(x), i64::from(y));
            let grad = xi * ONE * 55 / (100 * wi) + yi * ONE * 25 / (100 * hi);
            let ripple = tri(xi * 3 + phase) + tri(yi * 2 - phase) / 2;
            let rect = if x > w / 5 && x < w / 2 && y > h / 3 && y < h * 3 / 4 {
                ONE / 5
            } else {
                0
            };
            let (dx, dy) = (10 * xi - 7 * wi, 10 * yi - 4 * hi);
            let disc = if 30 * (dx * dx + dy * dy) < 100 * wi * hi {
                -ONE * 15 / 100
            } else {
                0
            };
            let base = (grad + ripple + rect + disc).clamp(0, ONE) * max / ONE;
            let noise_amp = max / 24 + 1;
            let mut v = base + rng.below(noise_amp as u64 + 1) as i64;
            if x < w / 6 && y < h / 6 {
                v = rng.below(max as u64 + 1) as i64;
            }
            out.push(v.min(max) as u16);
        }
    }
    out
}

/// A validated plane of synthetic content.
pub fn plane(w: u32, h: u32, depth: u8, seed: u64) -> Plane {
    Plane::from_samples(w, h, depth, plane_samples(w, h, depth, seed))
        .expect("synthetic plane is valid")
}

/// Size of plane `p` of a `w x h` frame, per the documented subsampling (4:2:0 chroma
/// `ceil(w/2) x ceil(h/2)`, 4:2:2 chroma `ceil(w/2) x h`).
pub fn plane_size(f: PixelFormat, p: usize, w: u32, h: u32) -> (u32, u32) {
    let name = f.name();
    if p == 0 || !f.is_planar() || name.starts_with("yuv444") {
        (w, h)
    } else if name.starts_with("yuv420") {
        (w.div_ceil(2), h.div_ceil(2))
    } else {
        assert!(name.starts_with("yuv422"), "{name}");
        (w.div_ceil(2), h)
    }
}

/// Planes of the picture form of `f`: gray 1, rgb/bgr/yuv 3, rgba/bgra 4.
pub fn plane_count(f: PixelFormat) -> usize {
    if f.name().starts_with("gray") {
        1
    } else if f.has_alpha() {
        4
    } else {
        3
    }
}

/// A synthetic picture in the plane order of `f` (R, G, B, A or Y, U, V), each plane
/// with its own content.
pub fn picture_for(f: PixelFormat, w: u32, h: u32, depth: u8, seed: u64) -> Picture {
    let planes = (0..plane_count(f))
        .map(|p| {
            let (pw, ph) = plane_size(f, p, w, h);
            plane(
                pw,
                ph,
                depth,
                seed.wrapping_mul(31).wrapping_add(p as u64 + 1),
            )
        })
        .collect();
    Picture::new(planes).expect("synthetic picture is valid")
}

/// Packs a picture into the documented raw layout of `f`: interleaved (in the byte
/// order the name says) or planar Y, U, V; 16-bit containers as little-endian words.
pub fn pack(f: PixelFormat, pic: &Picture) -> Vec<u8> {
    let wide = f.container_bits() == 16;
    let mut out = Vec::new();
    let mut put = |v: u16| {
        if wide {
            out.extend_from_slice(&v.to_le_bytes());
        } else {
            out.push(u8::try_from(v).expect("8-bit sample"));
        }
    };
    if f.is_planar() || pic.planes.len() == 1 {
        for p in &pic.planes {
            p.samples.iter().for_each(|&v| put(v));
        }
    } else {
        let order: &[usize] = match (f.name().starts_with("bgr"), pic.planes.len()) {
            (false, 3) => &[0, 1, 2],
            (false, 4) => &[0, 1, 2, 3],
            (true, 3) => &[2, 1, 0],
            (true, 4) => &[2, 1, 0, 3],
            other => panic!("unexpected layout {other:?}"),
        };
        for i in 0..pic.planes[0].samples.len() {
            for &c in order {
                put(pic.planes[c].samples[i]);
            }
        }
    }
    out
}

/// A synthetic packed frame of `f` and the picture it stands for.
pub fn frame_for(f: PixelFormat, w: u32, h: u32, depth: u8, seed: u64) -> (Vec<u8>, Picture) {
    let pic = picture_for(f, w, h, depth, seed);
    (pack(f, &pic), pic)
}

/// The side after `k` halvings, each `(v + 1) / 2`.
pub fn halved(mut v: u32, k: u8) -> u32 {
    for _ in 0..k {
        v = v.div_ceil(2);
    }
    v
}

/// Echelons the encoder picks by itself: halve until the longer side is at most 16.
pub fn auto_echelons(w: u32, h: u32) -> u8 {
    let (mut w, mut h, mut e) = (w, h, 1u8);
    while w.max(h) > 16 && e < 17 {
        (w, h, e) = (w.div_ceil(2), h.div_ceil(2), e + 1);
    }
    e
}

/// The rectangle (x, y, w, h) of a packed interleaved frame with `bpp` bytes per pixel.
pub fn crop_packed(
    data: &[u8],
    width: u32,
    bpp: usize,
    (x, y, w, h): (u32, u32, u32, u32),
) -> Vec<u8> {
    let mut out = Vec::with_capacity(w as usize * h as usize * bpp);
    for row in y..y + h {
        let start = (row as usize * width as usize + x as usize) * bpp;
        out.extend_from_slice(&data[start..start + w as usize * bpp]);
    }
    out
}

/// A set of regions inside a `w x h` grid: whole, corners, single rows and columns,
/// a centred half and a few seeded random ones.
pub fn regions(w: u32, h: u32, seed: u64) -> Vec<(u32, u32, u32, u32)> {
    let mut v = vec![
        (0, 0, w, h),
        (0, 0, 1, 1),
        (w - 1, h - 1, 1, 1),
        (w / 3, h / 4, w.div_ceil(2), h.div_ceil(2)),
        (w / 2, 0, 1, h),
        (0, h / 2, w, 1),
        (w - w.div_ceil(3), 0, w.div_ceil(3), h.div_ceil(3)),
    ];
    let mut rng = Rng::new(seed);
    for _ in 0..4 {
        let rw = 1 + rng.below(u64::from(w)) as u32;
        let rh = 1 + rng.below(u64::from(h)) as u32;
        let x = rng.below(u64::from(w - rw + 1)) as u32;
        let y = rng.below(u64::from(h - rh + 1)) as u32;
        v.push((x, y, rw, rh));
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// Backends the shared suite must run on, from `VC6_REQUIRE_BACKENDS` (comma-separated
/// names, e.g. `opencl`; what `cargo xtask test` sets for every backend it builds).
pub fn required_backends() -> Vec<Backend> {
    std::env::var("VC6_REQUIRE_BACKENDS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .unwrap_or_else(|e| panic!("VC6_REQUIRE_BACKENDS: {e}"))
        })
        .collect()
}

/// A decoder for every backend compiled into this build that runs here, CPU first.
/// A required backend (see [`required_backends`]) that cannot run fails the test; one
/// that is merely compiled in and cannot run here is reported and left out.
pub fn test_decoders() -> Vec<(Backend, Decoder)> {
    let required = required_backends();
    let mut out = Vec::new();
    for status in Backend::status() {
        let b = status.backend;
        if !status.compiled {
            assert!(
                !required.contains(&b),
                "VC6_REQUIRE_BACKENDS names {b}, which is not compiled into this build"
            );
            continue;
        }
        match status.device {
            Ok(_) => {
                let settings = DecoderSettings {
                    backend: b,
                    ..DecoderSettings::default()
                };
                out.push((
                    b,
                    Decoder::new(settings).expect("an available backend opens"),
                ));
            }
            Err(e) => {
                assert!(
                    !required.contains(&b),
                    "backend {b} is required (VC6_REQUIRE_BACKENDS) but cannot run here: {e}"
                );
                eprintln!("note: backend {b} is compiled in but cannot run here: {e}");
            }
        }
    }
    assert_eq!(out[0].0, Backend::Cpu, "the CPU backend always runs");
    out
}
