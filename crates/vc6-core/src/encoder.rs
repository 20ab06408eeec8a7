//! The CPU encoder: picture -> echelon pyramid -> residual tiles -> sections -> stream.

use crate::bytes::ByteWriter;
use crate::colour;
use crate::echelon::{
    forward_level, med_quantize, med_residuals, predict_reconstruct, Details, Level, Prediction,
};
use crate::entropy::{table_log_for, AnsEncTable, AnsEncoder, FreqTable, VALUE_ALPHABET};
use crate::error::{Error, Result};
use crate::header::{Header, PlaneDesc, MAX_ECHELONS, TILE_LOG2_RANGE};
use crate::parallel;
use crate::picture::Picture;
use crate::plan::layer_count;
use crate::quant::{Quant, MAX_STEP, STEP_ONE};
use crate::stree::{self, KINDS};
use crate::tableau::{write_tableau, Rect, TileGrid};
use crate::upsample::{fit_kernel, Upsampler};

/// Encoder settings for the core encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderConfig {
    /// Echelons per plane, the lowest included (`None`: halve until the larger side of
    /// plane 0 is at most 16).
    pub echelons: Option<u8>,
    /// Upsampler for predicting each echelon from the one below.
    pub upsampler: Upsampler,
    /// Apply YCoCg-R to planes 0-2 (which must then share size and depth).
    pub colour_transform: bool,
    /// log2 of the tile side in coefficients (2..=8).
    pub tile_log2: u8,
    /// Append a CRC-32 to every section.
    pub checksums: bool,
    /// Pixel format tag stored in the header (0 = generic planar).
    pub format_tag: u8,
    /// Worker threads (0 = all cores).
    pub threads: usize,
    /// Lossy coding at this quality, 0..=100 (`None`: lossless), the same at every bit
    /// depth. Quality 100 quantises with a step of 1, which still reconstructs the source
    /// exactly.
    pub quality: Option<u8>,
    /// Lossy streams: predict each block's average as the sample of the echelon below
    /// (the predicted-average step), so the average residual corrects the error of the
    /// echelon below.
    pub predicted_average: bool,
    /// Fit the upsampler's four taps to the picture (least squares on the top echelon of
    /// plane 0) and send them in the header, instead of `upsampler`'s; falls back to
    /// `upsampler` on pictures too small to fit.
    pub adaptive_upsampler: bool,
    /// Lossy coding at this many bits per pixel of plane 0 (instead of a quality): the
    /// encoder searches the quantiser scale over several passes until the stream is
    /// within 1% of the target (see [`encode`]).
    pub target_bpp: Option<f64>,
    /// Lossy streams: code this plane exactly (every step 1), such as the alpha plane (3)
    /// of an RGBA picture; the others follow the quality or the target rate.
    pub exact_plane: Option<u8>,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig {
            echelons: None,
            upsampler: Upsampler::Cubic,
            colour_transform: false,
            tile_log2: 6,
            checksums: true,
            format_tag: 0,
            threads: 0,
            quality: None,
            predicted_average: true,
            adaptive_upsampler: false,
            target_bpp: None,
            exact_plane: None,
        }
    }
}

/// Dead-zone rounding of the lossy quantiser, in 1/256 of a step (a third).
const DEAD_ZONE_ROUNDING: u32 = 85;
/// Reconstruction offset signalled for steps above 1, in 1/256 of a step: the centre of a
/// bin of the dead-zone quantiser (1/6).
const RECONSTRUCTION_OFFSET: u8 = 43;

/// Quantiser scale at quality 50 (the step of the top echelon's average layer, in samples).
const QUALITY_STEP: f64 = 6.0;

/// The quantiser scale of a quality: JPEG's quality curve (`2 - q/50` from 50 up, `50/q`
/// below) times 6 (the scale at quality 50). At 100 it is 0: every step is 1 and the
/// stream exact.
pub fn quality_scale(quality: u8) -> f64 {
    let q = f64::from(quality.clamp(1, 100));
    let curve = if q >= 50.0 { 2.0 - q / 50.0 } else { 50.0 / q };
    QUALITY_STEP * curve
}

/// The quantiser of one layer of the top echelon of plane `plane` (of `bit_depth` bits)
/// at quality `quality`.
pub fn lossy_quant(
    quality: u8,
    plane: usize,
    bit_depth: u8,
    colour: bool,
    base: bool,
    layer: usize,
) -> Quant {
    let at = LayerAt {
        loq: 0,
        plane,
        bit_depth,
        colour,
        base,
        layer,
    };
    scaled_quant(quality_scale(quality), at)
}

/// Where a quantiser applies: a layer of a plane's echelon.
#[derive(Debug, Clone, Copy)]
struct LayerAt {
    loq: u8,
    plane: usize,
    bit_depth: u8,
    /// The picture is colour-transformed (planes 1 and 2 are chroma).
    colour: bool,
    /// The plane's lowest echelon (one layer of samples).
    base: bool,
    layer: usize,
}

/// Step factor per LoQ below the top: an error in echelon `k` spreads over `4^k` samples
/// (and into every echelon above), so lower echelons are quantised finer. Tuned on the
/// rgb8 corpus with `cargo xtask bench --lossy`: 0.42 against 1 was +1.4 dB mean PSNR at
/// 1.25 bpp (+7 dB on LoQ 1 and 2 thumbnails); making every step proportional to the
/// scale (it was `1 + (s - 1) w`, which left low echelons near-lossless) and 0.35 gave
/// +0.6 dB more.
const ECHELON_WEIGHT: f64 = 0.35;

/// Step factors of the layers of a residual echelon, H, V, D and A, against the lowest
/// echelon's samples. A unit of `H` or `V` moves the four samples of its block by half a
/// unit, one of `D` by a quarter and one of `A` by a whole unit, so for the same error
/// per bit `H` and `V` take twice the step of `A`, and `D` four times (measured on the
/// rgb8 corpus at 1.25 bpp: D at 4 rather than 2 is +0.27 dB).
const DETAIL_WEIGHT: [f64; 4] = [2.0, 2.0, 4.0, 1.0];

/// Step factor of the chroma planes (Co, Cg) of a colour-transformed picture. An error in
/// Y moves R, G and B alike, one in Co or Cg moves them by halves and quarters (squared
/// error gains 3, 0.5 and 0.75), so chroma takes about 2-2.5 times luma's step; 3 measured
/// best on the rgb8 corpus (+0.2 dB at 1.25 bpp against 2).
const CHROMA_WEIGHT: f64 = 3.0;

/// The quantiser of a layer at scale `s`, the step `s * weight` (steps below 1 are 1,
/// exact): finer in lower echelons ([`ECHELON_WEIGHT`]), by layer ([`DETAIL_WEIGHT`]) and
/// by plane ([`CHROMA_WEIGHT`]), and in units of an 8-bit sample, so that a quality means
/// the same at every bit depth (a 16-bit plane's steps are 256 times larger).
fn scaled_quant(s: f64, at: LayerAt) -> Quant {
    let mut weight = ECHELON_WEIGHT.powi(i32::from(at.loq));
    if !at.base {
        weight *= DETAIL_WEIGHT[at.layer];
    }
    if at.colour && (at.plane == 1 || at.plane == 2) {
        weight *= CHROMA_WEIGHT;
    }
    weight *= 2f64.powi(i32::from(at.bit_depth) - 8);
    // Steps in sixteenths of a sample.
    let step = (s * weight * f64::from(STEP_ONE))
        .round()
        .clamp(f64::from(STEP_ONE), f64::from(MAX_STEP)) as u32;
    Quant {
        step,
        offset: if step == STEP_ONE {
            0
        } else {
            RECONSTRUCTION_OFFSET
        },
    }
}

/// Echelon count chosen when the caller gives none.
pub fn auto_echelons(width: u32, height: u32) -> u8 {
    let mut e = 1;
    let (mut w, mut h) = (width, height);
    while w.max(h) > 16 && e < MAX_ECHELONS {
        w = w.div_ceil(2);
        h = h.div_ceil(2);
        e += 1;
    }
    e
}

/// One plane's pyramid: levels[0] is the source, levels[j + 1] the echelon below it.
struct Pyramid {
    levels: Vec<Level>,
    details: Vec<Details>,
    range: (i32, i32),
}

/// The symbols (with their extra bits) of one tile, before the section's tables exist.
struct TileModel {
    modes: u8,
    syms: AnsEncoder,
    /// Lossy streams: the reconstructed tile (lowest echelon) or the dequantised residual
    /// layers, as the decoder will have them.
    decoded: Vec<Vec<i32>>,
}

/// Table key: `(plane, layer, kind)` packed as `plane * 16 + layer * 4 + kind`.
fn key(plane: usize, layer: usize, kind: usize) -> u16 {
    (plane * 16 + layer * KINDS + kind) as u16
}

/// Encodes a picture into a stream: lossless, lossy at `cfg.quality`, or lossy at
/// `cfg.target_bpp` bits per pixel (of plane 0).
///
/// Rate control runs the encoder several times, adjusting the quantiser scale (usually 4
/// to 8 passes; about 20 where masses of equal residuals make the size jump, when it
/// mixes scales across sections and planes, then drops the `±1`s of a growing fraction of
/// tiles), and returns the first stream within 1% of the target, else the closest one.
/// A target below what the coarsest quantiser reaches gives that smallest stream; one
/// above what quantiser step 1 spends gives that (exact) stream.
pub fn encode(picture: &Picture, cfg: &EncoderConfig) -> Result<Vec<u8>> {
    match (cfg.quality, cfg.target_bpp) {
        (Some(_), Some(_)) => Err(Error::param(
            "give a quality or a target bits per pixel, not both",
        )),
        (Some(q), None) if q > 100 => Err(Error::param("quality must be in 0..=100")),
        (q, None) => encode_at(
            picture,
            cfg,
            q.map(|q| Rate::uniform(quality_scale(q).log2())).as_ref(),
            &mut Vec::new(),
        ),
        (None, Some(bpp)) if !(bpp.is_finite() && bpp > 0.0) => Err(Error::param(format!(
            "target bits per pixel must be positive, got {bpp}"
        ))),
        (None, Some(bpp)) => encode_to_bpp(picture, cfg, bpp),
    }
}

/// Smallest and largest quantiser scales rate control tries (log2): at the smallest every
/// step is 1, even in 16-bit planes (the largest weight is 12 x 256).
const MIN_LOG_SCALE: f64 = -12.0;
const MAX_LOG_SCALE: f64 = 12.0;
/// Most encoder passes of the scale search, and of the section mix after it.
const RATE_PASSES: usize = 10;
const MIX_PASSES: usize = 4;
/// Most passes of the bisection of the thinned fraction.
const THIN_PASSES: usize = 8;
/// Rate control stops within this fraction of the target.
const RATE_TOLERANCE: f64 = 0.01;

/// Lossy rate parameters: log2 of the quantiser scale, one for every section, except
/// where `mixed` gives `(loq, plane)` units their own, and `layers` single layers
/// `(loq, plane, layer)`; and the fraction of tiles thinned (see [`thinned`]).
#[derive(Debug, Clone)]
struct Rate {
    log_scale: f64,
    mixed: Vec<((u8, usize), f64)>,
    layers: Vec<((u8, usize, usize), f64)>,
    thin: f64,
}

impl Rate {
    fn uniform(t: f64) -> Rate {
        Rate {
            log_scale: t,
            mixed: Vec::new(),
            layers: Vec::new(),
            thin: 0.0,
        }
    }

    fn scale(&self, loq: u8, plane: usize, layer: usize) -> f64 {
        let layer_t = self
            .layers
            .iter()
            .find(|(u, _)| *u == (loq, plane, layer))
            .map(|&(_, t)| t);
        let unit_t = self
            .mixed
            .iter()
            .find(|(u, _)| *u == (loq, plane))
            .map(|&(_, t)| t);
        2f64.powf(layer_t.or(unit_t).unwrap_or(self.log_scale))
    }
}

/// Payload bytes of each `(section LoQ, plane)` of a stream.
type UnitSizes = Vec<((u8, usize), f64)>;

/// One rate-control pass: the stream and how far it is from the target.
struct Pass {
    err: f64,
    size: f64,
    stream: Vec<u8>,
}

fn encode_to_bpp(picture: &Picture, cfg: &EncoderConfig, bpp: f64) -> Result<Vec<u8>> {
    let prepared = prepare(picture, cfg, true)?;
    let p0 = &picture.planes[0];
    let target = bpp * f64::from(p0.width) * f64::from(p0.height) / 8.0;
    let run = |rate: &Rate| -> Result<(Pass, UnitSizes)> {
        let mut units = Vec::new();
        let stream = encode_prepared(&prepared, cfg, Some(rate), &mut units)?;
        let size = stream.len() as f64;
        let pass = Pass {
            err: (size - target).abs() / target,
            size,
            stream,
        };
        Ok((pass, units))
    };
    let mut best: Option<Pass> = None;
    // Keeps the pass closest to the target; true when it is close enough.
    let keep = |p: Pass, best: &mut Option<Pass>| {
        let done = p.err <= RATE_TOLERANCE;
        if best.as_ref().is_none_or(|b| p.err < b.err) {
            *best = Some(p);
        }
        done
    };
    // 1. One scale for every section: bits fall as the scale grows; search
    // t = log2(scale), interpolating ln(size) (close to linear in t) inside a bracket
    // that always shrinks. `lo` is too big, `hi` too small.
    let mut lo: Option<(f64, Pass)> = None;
    let mut hi: Option<(f64, Pass)> = None;
    let mut t = 1.0f64;
    for _ in 0..RATE_PASSES {
        let (pass, _) = run(&Rate::uniform(t))?;
        let size = pass.size;
        let side = if size > target { &mut lo } else { &mut hi };
        let stream_copy = Pass {
            err: pass.err,
            size,
            stream: Vec::new(),
        };
        if keep(pass, &mut best) {
            return Ok(best.expect("kept").stream);
        }
        *side = Some((t, stream_copy));
        t = match (&lo, &hi) {
            (Some((a, pa)), Some((b, pb))) => {
                let (la, lb) = (pa.size.ln(), pb.size.ln());
                let guess = a + (la - target.ln()) / (la - lb) * (b - a);
                let margin = (b - a) * 0.1;
                guess.clamp(a + margin, b - margin)
            }
            (None, Some((b, _))) if *b <= MIN_LOG_SCALE => break,
            (Some((a, _)), None) if *a >= MAX_LOG_SCALE => break,
            (None, Some((b, _))) => (b - 2.0).max(MIN_LOG_SCALE),
            (Some((a, _)), None) => (a + 2.0).min(MAX_LOG_SCALE),
            (None, None) => unreachable!("one side was just set"),
        };
    }
    let (Some((t_lo, _)), Some((t_hi, _))) = (lo, hi) else {
        return Ok(best.expect("at least one pass").stream);
    };
    // 2. Residuals are integers, so near some scales many of them cross a quantiser
    // threshold together and the size jumps. Mix the two scales of the bracket across
    // (section, plane) units instead: from the finer one, move units to the coarser
    // scale, largest savings first, while the prediction stays above the target.
    let (fine_pass, fine) = run(&Rate::uniform(t_lo))?;
    let (coarse_pass, coarse) = run(&Rate::uniform(t_hi))?;
    let mut predicted = fine_pass.size;
    for p in [fine_pass, coarse_pass] {
        if keep(p, &mut best) {
            return Ok(best.expect("kept").stream);
        }
    }
    let mut units: Vec<((u8, usize), f64)> = fine
        .iter()
        .zip(&coarse)
        .map(|(&(u, a), &(_, b))| (u, a - b))
        .filter(|&(_, saving)| saving > 0.0)
        .collect();
    units.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut rate = Rate::uniform(t_lo);
    for _ in 0..MIX_PASSES {
        for &(u, saving) in &units {
            let switched = rate.mixed.iter().any(|(m, _)| *m == u);
            if !switched && predicted - saving >= target * (1.0 - RATE_TOLERANCE) {
                rate.mixed.push((u, t_hi));
                predicted -= saving;
            }
        }
        let (pass, _) = run(&rate)?;
        let size = pass.size;
        if keep(pass, &mut best) {
            break;
        }
        // Correct the prediction by what the mix really gave; when it undershot, move
        // the smallest switched unit back to the finer scale.
        predicted = size;
        if size < target {
            let Some(i) = (0..rate.mixed.len()).min_by(|&a, &b| {
                let saving = |k: usize| {
                    units
                        .iter()
                        .find(|(u, _)| *u == rate.mixed[k].0)
                        .map_or(0.0, |x| x.1)
                };
                saving(a).total_cmp(&saving(b))
            }) else {
                break;
            };
            let (u, _) = rate.mixed.swap_remove(i);
            predicted += units.iter().find(|(x, _)| *x == u).map_or(0.0, |x| x.1);
        }
    }
    // 3. Still off: the jump sits inside units, typically a mass of equal residuals (such
    // as every +-1 of a layer) crossing a threshold. From the finer scale, thin a growing
    // fraction of tiles (drop their +-1s below one step), by bisection: the size falls
    // smoothly with the fraction.
    if best.as_ref().is_some_and(|b| b.err > RATE_TOLERANCE) {
        let (mut a, mut b) = (0.0, 1.0);
        for _ in 0..THIN_PASSES {
            let rate = Rate {
                thin: (a + b) / 2.0,
                ..Rate::uniform(t_lo)
            };
            let (pass, _) = run(&rate)?;
            let size = pass.size;
            if keep(pass, &mut best) {
                break;
            }
            if size > target {
                a = rate.thin;
            } else {
                b = rate.thin;
            }
        }
    }
    // 4. Still off (the thinned finer scale stays above the target): from the finer
    // scale, move single layers of the three top sections to the coarser scale, smaller
    // sections and chroma first, keeping each move that leaves the stream above the target.
    if best.as_ref().is_some_and(|b| b.err > RATE_TOLERANCE) {
        let planes = picture.planes.len();
        let mut rate = Rate::uniform(t_lo);
        'greedy: for loq in [2u8, 1, 0] {
            for p in (0..planes).rev() {
                for layer in 0..4 {
                    rate.layers.push(((loq, p, layer), t_hi));
                    let (pass, _) = run(&rate)?;
                    let size = pass.size;
                    if keep(pass, &mut best) {
                        break 'greedy;
                    }
                    if size < target {
                        rate.layers.pop();
                    }
                }
            }
        }
    }
    // 5. Last resort: coarsen the detail layers (H, V, D) of the top section together,
    // by bisection between the two scales' neighbourhood.
    if best.as_ref().is_some_and(|b| b.err > RATE_TOLERANCE) {
        let planes = picture.planes.len();
        let (mut a, mut b) = (t_lo, t_lo + 1.0);
        for _ in 0..7 {
            let t = (a + b) / 2.0;
            let mut rate = Rate::uniform(t_lo);
            rate.layers = (0..planes)
                .flat_map(|p| (0..3).map(move |l| ((0u8, p, l), t)))
                .collect();
            let (pass, _) = run(&rate)?;
            let size = pass.size;
            if keep(pass, &mut best) {
                break;
            }
            if size > target {
                a = t;
            } else {
                b = t;
            }
        }
    }
    Ok(best.expect("at least one pass").stream)
}

/// A picture ready to code at any rate: its header (without section sizes) and its
/// planes' echelon pyramids, which rate control reuses for every pass.
struct Prepared {
    header: Header,
    pyramids: Vec<Pyramid>,
}

/// Checks the settings and builds the pyramids (and fits the adaptive upsampler).
fn prepare(picture: &Picture, cfg: &EncoderConfig, lossy: bool) -> Result<Prepared> {
    picture.validate()?;
    cfg.upsampler.validate()?;
    if let Some(p) = cfg
        .exact_plane
        .filter(|&p| usize::from(p) >= picture.planes.len())
    {
        return Err(Error::param(format!(
            "exact plane {p} but the picture has {} planes",
            picture.planes.len()
        )));
    }
    if !TILE_LOG2_RANGE.contains(&cfg.tile_log2) {
        return Err(Error::param(format!(
            "tile log2 {} outside 2..=8",
            cfg.tile_log2
        )));
    }
    let p0 = &picture.planes[0];
    let echelons = match cfg.echelons {
        Some(0) => return Err(Error::param("echelon count must be at least 1")),
        Some(e) if e > MAX_ECHELONS => {
            return Err(Error::param(format!(
                "echelon count {e} above {MAX_ECHELONS}"
            )))
        }
        Some(e) => e,
        None => auto_echelons(p0.width, p0.height),
    };
    let mut header = Header {
        lossless: !lossy,
        predicted_average: lossy && cfg.predicted_average,
        colour_transform: cfg.colour_transform,
        checksums: cfg.checksums,
        format_tag: cfg.format_tag,
        upsampler: cfg.upsampler,
        tile_log2: cfg.tile_log2,
        planes: picture
            .planes
            .iter()
            .map(|p| PlaneDesc {
                width: p.width,
                height: p.height,
                bit_depth: p.bit_depth,
                echelons,
            })
            .collect(),
        section_sizes: Vec::new(),
    };
    header.validate()?;

    let sources = signed_planes(picture, cfg.colour_transform);
    let pyramids: Vec<Pyramid> = parallel::map(
        cfg.threads,
        sources.into_iter().enumerate().collect(),
        |(i, lvl)| {
            let p = &picture.planes[i];
            build_pyramid(
                lvl,
                echelons,
                colour::plane_range(p.bit_depth, i, cfg.colour_transform),
            )
        },
    );

    if cfg.adaptive_upsampler {
        if let Some(taps) = pyramids[0]
            .levels
            .get(1)
            .and_then(|lower| fit_kernel(lower, &pyramids[0].levels[0]))
        {
            header.upsampler = Upsampler::Custom(taps);
            header.validate()?;
        }
    }
    Ok(Prepared { header, pyramids })
}

/// Encodes at the rate `rate` (`None`: lossless); `units` gets the payload bytes of each
/// (section LoQ, plane).
fn encode_at(
    picture: &Picture,
    cfg: &EncoderConfig,
    rate: Option<&Rate>,
    units: &mut UnitSizes,
) -> Result<Vec<u8>> {
    let prepared = prepare(picture, cfg, rate.is_some())?;
    encode_prepared(&prepared, cfg, rate, units)
}

/// Codes a prepared picture at the rate `rate` (`None`: lossless).
fn encode_prepared(
    prepared: &Prepared,
    cfg: &EncoderConfig,
    rate: Option<&Rate>,
    units: &mut UnitSizes,
) -> Result<Vec<u8>> {
    let Prepared { header, pyramids } = prepared;
    let mut header = header.clone();
    let mut sections = Vec::new();
    // Lossy streams code each echelon against the decoder's reconstruction of the one
    // below, kept here section by section.
    let mut recon: Vec<Option<Level>> = vec![None; header.planes.len()];
    for s in 0..header.section_count() {
        let loq = header.section_loq(s);
        let section = encode_section(&header, pyramids, loq, cfg, rate, &mut recon, units)?;
        header.section_sizes.push(
            u32::try_from(section.len()).map_err(|_| {
                Error::LimitsExceeded(format!("section for LoQ {loq} exceeds 4 GiB"))
            })?,
        );
        sections.push(section);
    }
    let mut out =
        Vec::with_capacity(header.encoded_len() + sections.iter().map(Vec::len).sum::<usize>());
    header.write(&mut out);
    sections.iter().for_each(|s| out.extend_from_slice(s));
    Ok(out)
}

/// Converts samples to `i32`, applying YCoCg-R to planes 0-2 when asked.
fn signed_planes(picture: &Picture, colour_transform: bool) -> Vec<Level> {
    let mut levels: Vec<Level> = picture
        .planes
        .iter()
        .map(|p| Level {
            width: p.width,
            height: p.height,
            data: p.samples.iter().map(|&s| i32::from(s)).collect(),
        })
        .collect();
    if colour_transform {
        let (r, rest) = levels.split_at_mut(1);
        let (g, b) = rest.split_at_mut(1);
        for ((r, g), b) in r[0]
            .data
            .iter_mut()
            .zip(g[0].data.iter_mut())
            .zip(b[0].data.iter_mut())
        {
            let (y, co, cg) = colour::forward(*r, *g, *b);
            (*r, *g, *b) = (y, co, cg);
        }
    }
    levels
}

fn build_pyramid(source: Level, echelons: u8, range: (i32, i32)) -> Pyramid {
    let mut levels = vec![source];
    let mut details = Vec::new();
    for _ in 1..echelons {
        let (lower, det) = forward_level(levels.last().expect("non-empty"));
        levels.push(lower);
        details.push(det);
    }
    Pyramid {
        levels,
        details,
        range,
    }
}

/// Encodes the section of LoQ `loq`: tables, tableau, tile payloads, CRC. For lossy
/// streams, `recon` holds each plane's reconstruction of the echelon below and gets this
/// section's.
fn encode_section(
    header: &Header,
    pyramids: &[Pyramid],
    loq: u8,
    cfg: &EncoderConfig,
    rate: Option<&Rate>,
    recon: &mut [Option<Level>],
    units: &mut UnitSizes,
) -> Result<Vec<u8>> {
    let t = cfg.tile_log2;
    // Every tile of every plane present in this section, in stream order.
    let mut jobs = Vec::new();
    for (p, desc) in header.planes.iter().enumerate() {
        if loq >= desc.echelons {
            continue;
        }
        let grid = tile_grid(&pyramids[p], loq, desc.echelons, t);
        for ty in 0..grid.tiles_y() {
            for tx in 0..grid.tiles_x() {
                jobs.push((p, grid.tile_rect(tx, ty)));
            }
        }
    }
    let quants: Vec<[Quant; 4]> = (0..header.planes.len())
        .map(|p| {
            let base = loq + 1 == header.planes[p].echelons;
            let exact = cfg.exact_plane.is_some_and(|e| usize::from(e) == p);
            std::array::from_fn(|l| match rate {
                Some(_) if exact => Quant::IDENTITY,
                Some(r) => {
                    let at = LayerAt {
                        loq,
                        plane: p,
                        bit_depth: header.planes[p].bit_depth,
                        colour: header.colour_transform,
                        base,
                        layer: l,
                    };
                    scaled_quant(r.scale(loq, p, l), at)
                }
                None => Quant::IDENTITY,
            })
        })
        .collect();
    let ctx = TileContext {
        header,
        loq,
        cfg,
        recon,
        quants: &quants,
        rounding: DEAD_ZONE_ROUNDING,
        thin: rate.map_or(0.0, |r| r.thin),
    };
    let indexed: Vec<(usize, (usize, Rect))> = jobs.iter().copied().enumerate().collect();
    let models: Vec<TileModel> = parallel::map(cfg.threads, indexed, |(i, (p, rect))| {
        model_tile(&pyramids[p], p, rect, thinned(i, ctx.thin), &ctx)
    });
    if !header.lossless {
        reconstruct_section(header, pyramids, loq, &jobs, &models, recon, cfg.threads);
    }

    // Statistics of the whole section give one table per (plane, layer, kind).
    // Indexed by table key; tables that no symbol uses stay absent from the stream.
    let mut hist = vec![[0u64; VALUE_ALPHABET]; header.planes.len() * 16];
    for m in &models {
        for (k, s) in m.syms.symbols() {
            hist[k as usize][s as usize] += 1;
        }
    }
    let counts: Vec<(u16, &[u64; VALUE_ALPHABET])> = hist
        .iter()
        .enumerate()
        .filter(|(_, c)| c.iter().any(|&n| n > 0))
        .map(|(k, c)| (k as u16, c))
        .collect();
    let mut tables: Vec<Option<AnsEncTable>> = vec![None; header.planes.len() * 16];
    let mut out = Vec::new();
    // One precision for the whole section, sized to its busiest table.
    let log = table_log_for(
        counts
            .iter()
            .map(|(_, c)| c.iter().sum::<u64>())
            .max()
            .unwrap_or(0),
    );
    out.put_u8(loq);
    out.put_u8(log as u8);
    if !header.lossless {
        for (p, desc) in header.planes.iter().enumerate() {
            if loq < desc.echelons {
                for q in &quants[p][..layer_count(loq + 1 == desc.echelons, true)] {
                    out.put_varint(q.step);
                    out.put_u8(q.offset);
                }
            }
        }
    }
    out.put_varint(counts.len() as u32);
    for &(k, c) in &counts {
        let table = FreqTable::from_counts(&c[..stree::alphabet(k as usize % KINDS)], log);
        out.put_u8((k / 16) as u8);
        out.put_u8(((k % 16) / KINDS as u16) as u8);
        out.put_u8((k as usize % KINDS) as u8);
        table.write(&mut out);
        tables[k as usize] = Some(AnsEncTable::new(&table));
    }
    let payloads: Vec<Vec<u8>> = parallel::map(cfg.threads, models, |m| {
        let stream = m.syms.finish(&tables, log);
        let mut payload = Vec::with_capacity(stream.len() + 1);
        payload.put_u8(m.modes);
        payload.extend_from_slice(&stream);
        payload
    });
    let sizes: Vec<u32> = payloads.iter().map(|p| p.len() as u32).collect();
    for (&(p, _), &n) in jobs.iter().zip(&sizes) {
        match units.iter_mut().find(|(u, _)| *u == (loq, p)) {
            Some((_, total)) => *total += f64::from(n),
            None => units.push(((loq, p), f64::from(n))),
        }
    }
    write_tableau(&sizes, &mut out);
    payloads.iter().for_each(|p| out.extend_from_slice(p));
    if header.checksums {
        let crc = crc32fast::hash(&out);
        out.put_u32(crc);
    }
    Ok(out)
}

/// The tile grid of plane data at `loq`: samples for the lowest echelon, blocks (the
/// grid of the echelon below) otherwise.
fn tile_grid(pyr: &Pyramid, loq: u8, echelons: u8, tile_log2: u8) -> TileGrid {
    let grid_level = if loq + 1 == echelons { loq } else { loq + 1 };
    let l = &pyr.levels[grid_level as usize];
    TileGrid {
        width: l.width,
        height: l.height,
        tile_log2,
    }
}

/// What every tile of a section shares while it is modelled.
struct TileContext<'a> {
    header: &'a Header,
    loq: u8,
    cfg: &'a EncoderConfig,
    /// Lossy streams: the decoder's reconstruction of each plane's echelon below.
    recon: &'a [Option<Level>],
    quants: &'a [[Quant; 4]],
    /// Dead-zone rounding of the quantiser, in 1/256 of a step.
    rounding: u32,
    /// Fraction of tiles whose residual layers are thinned ([`Quant::quantize_layer`]).
    thin: f64,
}

/// Whether tile `i` of a section is among the `thin` fraction that rate control thins:
/// a low-discrepancy sequence, so any fraction spreads evenly over the picture.
fn thinned(i: usize, thin: f64) -> bool {
    const GOLDEN: f64 = 0.618_033_988_749_894_8;
    thin > 0.0 && ((i + 1) as f64 * GOLDEN).fract() < thin
}

fn model_tile(
    pyr: &Pyramid,
    plane: usize,
    rect: Rect,
    thin: bool,
    ctx: &TileContext<'_>,
) -> TileModel {
    let (loq, cfg) = (ctx.loq, ctx.cfg);
    let lossy = !ctx.header.lossless;
    let echelons = ctx.header.planes[plane].echelons;
    let quant = &ctx.quants[plane];
    let (w, h) = (rect.width() as usize, rect.height() as usize);
    let mut layers: Vec<Vec<i32>> = Vec::new();
    // Lossy: what the decoder will have, the reconstructed tile (lowest echelon) or the
    // dequantised residual layers.
    let mut decoded: Vec<Vec<i32>> = Vec::new();
    if loq + 1 == echelons {
        let level = &pyr.levels[loq as usize];
        let mut tile = crop(&level.data, level.width as usize, rect);
        let mut res = vec![0; w * h];
        if lossy {
            med_quantize(&mut tile, w, h, pyr.range, quant[0], ctx.rounding, &mut res);
            decoded.push(tile);
        } else {
            med_residuals(&tile, w, h, pyr.range, &mut res);
        }
        layers.push(res);
    } else {
        // Lossless: the exact echelon below; lossy: the decoder's reconstruction of it.
        let lower = match lossy {
            true => ctx.recon[plane]
                .as_ref()
                .expect("the echelon below is reconstructed first"),
            false => &pyr.levels[loq as usize + 1],
        };
        let upper = &pyr.levels[loq as usize];
        let det = &pyr.details[loq as usize];
        let average = lossy && !ctx.header.predicted_average;
        let mut pred = Prediction::default();
        pred.compute(
            ctx.header.upsampler,
            lower,
            (upper.width, upper.height),
            rect,
            pyr.range,
            average,
        );
        for l in 0..3 {
            let coeffs = crop(&det.layers[l], lower.width as usize, rect);
            layers.push(if pred.zero {
                coeffs
            } else {
                coeffs
                    .iter()
                    .zip(&pred.layers[l])
                    .map(|(&c, &p)| c - p)
                    .collect()
            });
        }
        if lossy {
            // The average residual: the true A (the exact echelon below) against the
            // predicted A, which is the reconstructed sample below with the
            // predicted-average step (or for the nearest upsampler).
            let truth = crop(
                &pyr.levels[loq as usize + 1].data,
                lower.width as usize,
                rect,
            );
            let below = crop(&lower.data, lower.width as usize, rect);
            let base = if ctx.header.predicted_average || pred.zero {
                below
            } else {
                pred.average[..w * h].to_vec()
            };
            layers.push(truth.iter().zip(&base).map(|(&t, &b)| t - b).collect());
            for (l, vals) in layers.iter_mut().enumerate() {
                quant[l].quantize_layer(vals, w, h, ctx.rounding, thin);
                decoded.push(vals.iter().map(|&q| quant[l].dequantize(q)).collect());
            }
        }
    }
    let mut modes = 0u8;
    let mut syms = AnsEncoder::new();
    for (l, vals) in layers.iter().enumerate() {
        let mode = stree::choose_mode(vals);
        modes |= mode << (2 * l);
        stree::model_layer(
            vals,
            w,
            h,
            cfg.tile_log2,
            mode,
            &mut |kind, s, nb, extra| syms.put(key(plane, l, kind), s, nb, extra),
        );
    }
    TileModel {
        modes,
        syms,
        decoded,
    }
}

/// Lossy streams: rebuilds each plane's echelon of this section exactly as the decoder
/// will, from the tiles' decoded data, for the next section to predict from (a band of
/// tile rows per job, as the decoder does).
fn reconstruct_section(
    header: &Header,
    pyramids: &[Pyramid],
    loq: u8,
    jobs: &[(usize, Rect)],
    models: &[TileModel],
    recon: &mut [Option<Level>],
    threads: usize,
) {
    let side = 1usize << header.tile_log2;
    for (p, desc) in header.planes.iter().enumerate() {
        if loq >= desc.echelons {
            continue;
        }
        let pyr = &pyramids[p];
        let upper = &pyr.levels[loq as usize];
        let (uw, uh) = (upper.width, upper.height);
        let tiles: Vec<(Rect, &TileModel)> = jobs
            .iter()
            .zip(models)
            .filter(|((q, _), _)| *q == p)
            .map(|(&(_, rect), m)| (rect, m))
            .collect();
        let mut data = vec![0; (uw * uh) as usize];
        if loq + 1 == desc.echelons {
            for (rect, m) in &tiles {
                let w = rect.width() as usize;
                for (y, row) in m.decoded[0].chunks_exact(w).enumerate() {
                    let at = (rect.y0 as usize + y) * uw as usize + rect.x0 as usize;
                    data[at..at + w].copy_from_slice(row);
                }
            }
        } else {
            let lower = recon[p]
                .as_ref()
                .expect("the echelon below is reconstructed first");
            // A tile row of blocks covers 2 * side rows of this echelon.
            let bands: Vec<(usize, &mut [i32])> = data
                .chunks_mut(2 * side * uw as usize)
                .enumerate()
                .collect();
            parallel::map(threads, bands, |(ty, band)| {
                let mut work = Prediction::default();
                for (rect, m) in tiles.iter().filter(|(r, _)| r.y0 as usize == ty * side) {
                    let residuals: Vec<&[i32]> = m.decoded.iter().map(|d| &d[..]).collect();
                    predict_reconstruct(
                        &mut work,
                        header.upsampler,
                        lower,
                        (uw, uh),
                        *rect,
                        &residuals,
                        header.predicted_average,
                        pyr.range,
                        band,
                        rect.y0,
                    );
                }
            });
        }
        recon[p] = Some(Level {
            width: uw,
            height: uh,
            data,
        });
    }
}

fn crop(data: &[i32], stride: usize, r: Rect) -> Vec<i32> {
    let mut out = Vec::with_capacity((r.width() * r.height()) as usize);
    for y in r.y0..r.y1 {
        let start = y as usize * stride;
        out.extend_from_slice(&data[start + r.x0 as usize..start + r.x1 as usize]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinned_tiles_spread_by_fraction() {
        for f in [0.1, 0.25, 0.5, 0.9] {
            let n = (0..1000).filter(|&i| thinned(i, f)).count();
            assert!((n as f64 - 1000.0 * f).abs() <= 10.0, "{f}: {n}");
            // Evenly: every run of 40 tiles has its share, give or take one or two.
            for start in (0..960).step_by(40) {
                let k = (start..start + 40).filter(|&i| thinned(i, f)).count();
                assert!((k as f64 - 40.0 * f).abs() <= 2.0, "{f} at {start}: {k}");
            }
        }
        assert!((0..1000).all(|i| !thinned(i, 0.0) && thinned(i, 1.0)));
    }
}
