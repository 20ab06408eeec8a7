//! Encode then decode: a small picture and encoder settings drawn from the bytes.
//!
//! A lossless stream (and a lossy one at quality 100) must decode exactly; a lossy one
//! within the bound its own quantisers set; an exact alpha plane exactly. Every decoding
//! entry point then runs on the stream ([`crate::decode::outcomes`]), so LoQ, prefix and
//! region decodes must equal the parts of the full ones.

use crate::bytes::Input;
use crate::decode;
use vc6::{Backend, Encoder, EncoderSettings, Error, Frame, PixelFormat, Preset, Upsampler};
use vc6_core::plan::Plan;
use vc6_core::DecodeOptions;

/// A picture and how to code it, as drawn from the fuzzer's bytes.
#[derive(Debug, Clone)]
pub struct Case {
    /// Width in pixels, 1..=48.
    pub width: u32,
    /// Height in pixels, 1..=48.
    pub height: u32,
    /// The layout of `pixels`.
    pub format: PixelFormat,
    /// Significant bits per sample.
    pub depth: u8,
    /// The encoder's settings.
    pub settings: EncoderSettings,
    /// The frame.
    pub pixels: Vec<u8>,
}

const UPSAMPLERS: [Upsampler; 4] = [
    Upsampler::Nearest,
    Upsampler::Linear,
    Upsampler::Cubic,
    Upsampler::ModifiedCubic,
];

/// Draws a case: the first bytes choose size, format, depth and settings; the rest are
/// the samples (repeated as needed), as they are or shaped into a smooth picture, which
/// is what lossy coding mostly sees.
pub fn case(data: &[u8]) -> Case {
    let mut i = Input::new(data);
    let width = i.range(1, 48);
    let height = i.range(1, 48);
    let format = i.pick(&PixelFormat::ALL);
    let container = format.container_bits();
    let depth = if container == 16 && i.flag() {
        i.range(1, 16) as u8
    } else {
        container
    };
    let mut s = match i.range(0, 2) {
        0 => EncoderSettings::from_preset(Preset::Lossless),
        1 => EncoderSettings::from_preset(Preset::Better),
        _ => EncoderSettings::from_preset(Preset::Light),
    };
    s.threads = 1;
    s.backend = Backend::Cpu;
    s.bit_depth = (depth != container).then_some(depth);
    if i.flag() {
        s.echelons = Some(i.range(1, 7) as u8);
    }
    s.upsampler = match i.range(0, 4) {
        4 => {
            let (a, b, c) = (
                i.range(0, 6000) as i16 - 3000,
                i.range(8000, 16000) as i16,
                i.range(0, 6000) as i16,
            );
            Upsampler::Custom([a, b, c, 16384 - a - b - c])
        }
        k => UPSAMPLERS[k as usize],
    };
    s.tile_log2 = i.range(2, 8) as u8;
    s.colour_transform = [None, Some(false), Some(true)][i.range(0, 2) as usize];
    s.lanes = [None, Some(1), Some(8), Some(32)][i.range(0, 3) as usize];
    s.contexts = i.flag().then(|| i.range(1, 8) as u8);
    if s.preset != Preset::Lossless {
        s.predicted_average = i.flag();
        s.adaptive_upsampler = i.flag();
        s.lossless_alpha = i.flag();
        s.fraction_bits = i.flag().then(|| i.range(0, 7) as u8);
        if i.flag() {
            s.quality = None;
            s.target_bpp = Some(f64::from(i.range(1, 100)) / 10.0);
        } else {
            // Whole qualities mostly; a quarter of them with a fraction.
            let q = i.range(0, 400);
            s.quality = Some(if q > 100 { q as f32 / 4.0 } else { q as f32 });
        }
    }
    let smooth = i.flag();
    let pixels = frame(format, depth, width, height, smooth, i.rest());
    Case {
        width,
        height,
        format,
        depth,
        settings: s,
        pixels,
    }
}

/// A frame of `format` whose samples come from `bytes` (repeated), masked to `depth`.
fn frame(format: PixelFormat, depth: u8, w: u32, h: u32, smooth: bool, bytes: &[u8]) -> Vec<u8> {
    let len = format.frame_len(w, h).expect("small frames fit");
    let wide = format.bytes_per_sample() == 2;
    let n = if wide { len / 2 } else { len };
    let max = (1u32 << depth) - 1;
    let byte = |k: usize| u32::from(bytes.get(k % bytes.len().max(1)).copied().unwrap_or(0));
    let sample = |k: usize| -> u32 {
        if smooth {
            // A ramp along the samples with a little of the bytes as texture.
            let ramp = (k as u32 % (w * 3)) * max / (w * 3);
            (ramp + byte(k) % 8).min(max)
        } else if wide {
            (byte(2 * k) | byte(2 * k + 1) << 8) & max
        } else {
            byte(k) & max
        }
    };
    if wide {
        (0..n)
            .flat_map(|k| (sample(k) as u16).to_le_bytes())
            .collect()
    } else {
        (0..n).map(|k| sample(k) as u8).collect()
    }
}

/// Encodes and decodes the case drawn from `data`; panics where the codec is wrong.
pub fn check(data: &[u8]) {
    let c = case(data);
    let stream = match encode(&c) {
        Ok(s) => s,
        // Settings the encoder refuses, clearly: not a finding.
        Err(Error::Parameter(_) | Error::Unsupported(_)) => return,
        Err(e) => panic!("encoding {c:?} failed: {e}"),
    };
    let outcomes = decode::outcomes(decode::cpu(), &stream);
    let frame = match &outcomes[0].result {
        Ok(f) => f,
        Err(e) => panic!("the stream of {c:?} does not decode: {e}"),
    };
    for o in &outcomes {
        if let Err(e) = &o.result {
            // Regions may fall outside small pictures or break chroma parity.
            assert!(
                matches!(e, Error::Parameter(_)),
                "{} of a valid stream failed: {e}",
                o.what
            );
        }
    }
    assert_eq!(
        (frame.width, frame.height, frame.format, frame.bit_depth),
        (c.width, c.height, c.format, c.depth),
        "the decoded frame is not what was encoded"
    );
    let exact = c.settings.preset == Preset::Lossless
        || (c.settings.quality == Some(100.0) && c.settings.target_bpp.is_none());
    let bound = if exact { 0 } else { error_bound(&stream) };
    let worst = worst_error(&c, frame);
    assert!(
        worst <= bound,
        "a sample is {worst} off, beyond the stream's bound of {bound} ({c:?})"
    );
    if c.settings.lossless_alpha && c.format.has_alpha() {
        assert_eq!(
            alpha_error(&c, frame),
            0,
            "the exact alpha plane is not exact"
        );
    }
}

fn encode(c: &Case) -> vc6::Result<Vec<u8>> {
    Encoder::new(c.width, c.height, c.format, c.settings.clone())?.encode(&c.pixels)
}

/// The largest error a lossy stream's decode may have, in output units, from its
/// quantisers: the stream codes each echelon against the decoder's reconstruction of
/// the one below, so only the top echelon's quantisation reaches the output. Each of a
/// block's four coefficients is off by at most one step and moves its samples by at
/// most a whole, a half, a half and a quarter of it (docs/bitstream.md §7.8); the integer
/// transform and colour transform add a unit or two and at most double it; the plane's
/// fraction bits divide it.
fn error_bound(stream: &[u8]) -> u32 {
    let plan = Plan::new(stream, &DecodeOptions::default()).expect("a valid stream plans");
    let colour = plan.header.colour_transform;
    let mut bound = 0u32;
    for (p, plane) in plan.header.planes.iter().enumerate() {
        let step = plan
            .sections
            .iter()
            .flat_map(|s| s.planes.iter().filter(|pp| pp.plane == p))
            .flat_map(|pp| pp.quant.iter().map(|q| q.step))
            .max()
            .unwrap_or(16);
        let units = u64::from(step).div_ceil(16);
        let mut coded = 9 * units / 4 + 2;
        if colour && p < 3 {
            coded *= 2;
        }
        let out = (coded >> plane.fraction_bits) + 1;
        bound = bound.max(u32::try_from(out).unwrap_or(u32::MAX));
    }
    bound
}

fn samples(c: &Case, bytes: &[u8]) -> Vec<u32> {
    if c.format.bytes_per_sample() == 2 {
        bytes
            .chunks_exact(2)
            .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
            .collect()
    } else {
        bytes.iter().map(|&b| u32::from(b)).collect()
    }
}

fn worst_error(c: &Case, f: &Frame) -> u32 {
    samples(c, &c.pixels)
        .iter()
        .zip(samples(c, &f.data))
        .map(|(&a, b)| a.abs_diff(b))
        .max()
        .unwrap_or(0)
}

/// The largest error in the alpha channel (the last of each interleaved pixel).
fn alpha_error(c: &Case, f: &Frame) -> u32 {
    let n = c.format.plane_count();
    samples(c, &c.pixels)
        .iter()
        .zip(samples(c, &f.data))
        .skip(n - 1)
        .step_by(n)
        .map(|(&a, b)| a.abs_diff(b))
        .max()
        .unwrap_or(0)
}
