//! The deterministic sample image `fixtures/sample.png`: a small synthetic picture that
//! behaves like a photograph (smooth gradients, soft discs, hard edges, fine texture and
//! a little sensor-like noise). Only IEEE-exact operations (+, *, /, sqrt) are used, so
//! every platform produces the same pixels.

use anyhow::{Context, Result};
use std::path::Path;

/// Width of the sample image.
pub const WIDTH: u32 = 192;
/// Height of the sample image.
pub const HEIGHT: u32 = 128;

/// xorshift32: a tiny seeded generator for reproducible noise.
struct XorShift32(u32);

impl XorShift32 {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

/// A disc with a soft rim: centre, radius, rim softness, colour, opacity.
struct Disc {
    cx: f32,
    cy: f32,
    r: f32,
    soft: f32,
    colour: [f32; 3],
    alpha: f32,
}

/// The RGB8 pixels of the sample image, row-major, `WIDTH * HEIGHT * 3` bytes.
pub fn generate() -> Vec<u8> {
    let (w, h) = (WIDTH as f32, HEIGHT as f32);
    let horizon = h * 0.62;
    let discs = [
        // the sun, a big glow around it, and out-of-focus "bokeh" highlights
        Disc {
            cx: 148.0,
            cy: 26.0,
            r: 30.0,
            soft: 26.0,
            colour: [255.0, 236.0, 190.0],
            alpha: 0.45,
        },
        Disc {
            cx: 148.0,
            cy: 26.0,
            r: 11.0,
            soft: 2.5,
            colour: [255.0, 246.0, 214.0],
            alpha: 1.0,
        },
        Disc {
            cx: 40.0,
            cy: 96.0,
            r: 14.0,
            soft: 6.0,
            colour: [214.0, 92.0, 70.0],
            alpha: 0.85,
        },
        Disc {
            cx: 62.0,
            cy: 104.0,
            r: 9.0,
            soft: 4.0,
            colour: [240.0, 190.0, 60.0],
            alpha: 0.8,
        },
        Disc {
            cx: 24.0,
            cy: 30.0,
            r: 17.0,
            soft: 10.0,
            colour: [250.0, 250.0, 255.0],
            alpha: 0.55,
        },
    ];
    let mut rng = XorShift32(0x5EED_C0DE);
    let mut out = Vec::with_capacity((WIDTH * HEIGHT * 3) as usize);
    for yi in 0..HEIGHT {
        for xi in 0..WIDTH {
            let (x, y) = (xi as f32 + 0.5, yi as f32 + 0.5);
            // Sky: deep blue at the top to a hazy light blue at the horizon.
            let mut c = if y < horizon {
                let t = y / horizon;
                mix([38.0, 86.0, 168.0], [176.0, 206.0, 232.0], t * t)
            } else {
                // Ground: green meadow, darker towards the viewer, tilted a little.
                let t = (y - horizon) / (h - horizon);
                let tilt = (x / w - 0.5) * 0.25;
                mix(
                    [118.0, 150.0, 70.0],
                    [44.0, 80.0, 30.0],
                    (t + tilt).clamp(0.0, 1.0),
                )
            };
            // A soft haze band just above the horizon.
            let haze = 1.0 - smoothstep(0.0, 10.0, (y - (horizon - 4.0)).abs());
            c = mix(c, [214.0, 222.0, 226.0], 0.5 * haze);
            // Hills: a smooth silhouette with a soft edge.
            let dx = (x - 70.0) / 70.0;
            let hill = horizon - 22.0 * (1.0 - dx * dx).max(0.0);
            let hill_t = smoothstep(hill - 0.8, hill + 0.8, y)
                * (1.0 - smoothstep(horizon - 1.0, horizon + 1.0, y));
            c = mix(c, [86.0, 112.0, 92.0], 0.85 * hill_t);
            for d in &discs {
                let dist = ((x - d.cx) * (x - d.cx) + (y - d.cy) * (y - d.cy)).sqrt();
                let a = d.alpha * (1.0 - smoothstep(d.r - d.soft, d.r, dist));
                c = mix(c, d.colour, a);
            }
            // A building: hard vertical and horizontal edges, lit windows (fine texture).
            if (104.0..136.0).contains(&x) && y >= 44.0 && y < horizon + 6.0 {
                let shade = 1.0 - 0.3 * ((x - 104.0) / 32.0);
                c = [70.0 * shade, 64.0 * shade, 72.0 * shade];
                let (wx, wy) = ((x - 106.0) as i32, (y - 48.0) as i32);
                if wx >= 0 && wy >= 0 && wx % 6 < 3 && wy % 7 < 4 && x < 134.0 && y < horizon {
                    c = if (wx / 6 + wy / 7) % 3 == 0 {
                        [250.0, 214.0, 120.0]
                    } else {
                        [40.0, 44.0, 60.0]
                    };
                }
            }
            // A thin diagonal pole (anti-aliased) and a hard-edged striped fence.
            let pole = (y - (4.5 * (x - 80.0) + 60.0)).abs() / 4.61;
            if y > 58.0 {
                c = mix(c, [30.0, 26.0, 24.0], 1.0 - smoothstep(0.6, 1.4, pole));
            }
            if y > h - 22.0 && y < h - 12.0 && x > 150.0 && (xi / 3) % 2 == 0 {
                c = [226.0, 220.0, 204.0];
            }
            // Sensor-like noise: triangular, at most +-2 levels.
            for ch in c.iter_mut() {
                let n = (rng.next() % 3) as f32 + (rng.next() % 3) as f32 - 2.0;
                *ch = (*ch + n).round().clamp(0.0, 255.0);
            }
            out.extend(c.iter().map(|&v| v as u8));
        }
    }
    out
}

/// Writes the sample image as an RGB8 PNG.
pub fn write_sample(path: &Path) -> Result<()> {
    write_rgb8_png(path, WIDTH, HEIGHT, &generate(), png::Compression::Best)
}

/// Writes `pixels` (RGB8, row-major, `width * height * 3` bytes) as a PNG file.
pub fn write_rgb8_png(
    path: &Path,
    width: u32,
    height: u32,
    pixels: &[u8],
    compression: png::Compression,
) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(compression);
    let mut writer = enc.write_header()?;
    writer.write_image_data(pixels)?;
    writer.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(generate(), generate());
        assert_eq!(generate().len(), (WIDTH * HEIGHT * 3) as usize);
    }

    /// The committed `fixtures/sample.png` holds exactly what the generator makes.
    #[test]
    fn committed_sample_matches_generator() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/sample.png");
        let file =
            std::fs::File::open(&path).expect("fixtures/sample.png exists (cargo xtask fixtures)");
        let mut reader = png::Decoder::new(file).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(
            &buf[..info.buffer_size()],
            &generate()[..],
            "run `cargo xtask fixtures`"
        );
    }
}
