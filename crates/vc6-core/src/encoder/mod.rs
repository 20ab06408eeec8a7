//! The CPU encoder: picture -> echelon pyramid -> residual tiles -> sections -> stream.

mod rate;
mod section;

use crate::colour;
use crate::error::{Error, Result};
use crate::header::{Header, PlaneDesc, MAX_ECHELONS, TILE_LOG2_RANGE};
use crate::parallel;
use crate::picture::Picture;
use crate::pyramid::upsample::{fit_kernel, Upsampler};
use crate::pyramid::{forward_level, Details, Level};
use crate::quant::{Quant, MAX_STEP, STEP_ONE};
use rate::{encode_to_bpp, Rate, UnitSizes};
use section::encode_section;

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
    /// log2 of the tile side in coefficients (2..=8; 7 by default, good for lossless
    /// coding: lossy streams do as well with 6).
    pub tile_log2: u8,
    /// Append a CRC-32 to every section.
    pub checksums: bool,
    /// Pixel format tag stored in the header (0 = generic planar).
    pub format_tag: u8,
    /// Worker threads (0 = all cores).
    pub threads: usize,
    /// Lossy coding at this quality, 0 to 100, fractions allowed (`None`: lossless), the
    /// same at every bit depth. Quality 100 quantises with a step of 1, which still
    /// reconstructs the source exactly.
    pub quality: Option<f32>,
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
    /// Lanes of every coded tile: 1, 8 or 32 (`None`: chosen per tile by its size, so
    /// that the lanes' states cost about 2% of its bytes at most, 6% for 8 lanes in lossy
    /// streams). More lanes decode faster on SIMD and GPUs and cost 2 bytes of state each.
    pub lanes: Option<usize>,
    /// Contexts per plane of each residual section, 1 to 8 (`None`: chosen by the
    /// section's size: small sections cannot pay for the tables of many).
    pub contexts: Option<u8>,
    /// The precision of every section's tables, 6 to 12 (`None`: chosen per section by
    /// its busiest table). For tools that merge sections of several streams, which
    /// need one precision.
    pub precision: Option<u8>,
    /// Lossy streams: code the planes this many bits below their samples' unit, 0 to 7
    /// (`None`: [`DEFAULT_FRACTION_BITS`], fewer where a plane's depth leaves no room
    /// below 16 bits, and 0 at quality 100). The exact plane, if any, gets none. Echelons then keep fractions of a sample,
    /// which high-fidelity coding needs; see docs/bitstream.md 4.
    pub fraction_bits: Option<u8>,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig {
            echelons: None,
            upsampler: Upsampler::Cubic,
            colour_transform: false,
            tile_log2: 7,
            checksums: true,
            format_tag: 0,
            threads: 0,
            quality: None,
            predicted_average: true,
            adaptive_upsampler: false,
            target_bpp: None,
            exact_plane: None,
            lanes: None,
            contexts: None,
            precision: None,
            fraction_bits: None,
        }
    }
}

/// Fraction bits of lossy streams by default. Echelons are averages kept as integers, so
/// without fraction bits every echelon rounds away up to half a sample, and the steps
/// of low echelons cannot go below one sample: at the rates of high-fidelity coding
/// both cost bits that the residuals above pay back. Measured on greyscale pictures at
/// 0.5 bpp against 0 bits: +1.1 dB with 1 bit, +2.3 with 2, +2.7 with 3 and +3.0 with 4
/// on aqua (garden: +1.1, +1.9, +2.2, +2.3), nothing on a noisy picture (elephants); 5
/// bits add 0.1 dB more. On the rgb8 corpus, 4 bits gave +1.3, +1.6 and +2.0 dB at 0.5,
/// 1.25 and 3 bpp (docs/performance.md), 5 bits +0.02, +0.04 and +0.13 more, 6 bits
/// -0.02, +0.01 and +0.04 more than 5.
pub const DEFAULT_FRACTION_BITS: u8 = 5;

/// Dead-zone rounding of the lossy quantiser, in 1/256 of a step (0.29). With fraction
/// bits, 75 measured better than a third (85) by 0.05 to 0.1 dB, and 65 or 95 worse.
pub(crate) const DEAD_ZONE_ROUNDING: u32 = 75;
/// Reconstruction offset signalled for steps above 1, in 1/256 of a step (0.12): a
/// little below the centre of a bin, where the residuals' falling density puts the
/// centroid (30 measured best with [`DEAD_ZONE_ROUNDING`] at 75, against 25, 43 and 55).
const RECONSTRUCTION_OFFSET: u8 = 30;

/// Quantiser scale at quality 50 (the step of the top echelon's average layer, in samples).
const QUALITY_STEP: f64 = 6.0;

/// The quantiser scale of a quality: JPEG's quality curve (`2 - q/50` from 50 up, `50/q`
/// below) times 6 (the scale at quality 50). At 100 it is 0: every step is 1 and the
/// stream exact.
pub fn quality_scale(quality: f32) -> f64 {
    let q = f64::from(quality).clamp(1.0, 100.0);
    let curve = if q >= 50.0 { 2.0 - q / 50.0 } else { 50.0 / q };
    QUALITY_STEP * curve
}

/// The quantiser of one layer of the top echelon of plane `plane` coded at `bit_depth`
/// bits (its depth plus the stream's fraction bits) at quality `quality`.
pub fn lossy_quant(
    quality: f32,
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
pub(crate) struct LayerAt {
    pub(crate) loq: u8,
    pub(crate) plane: usize,
    pub(crate) bit_depth: u8,
    /// The picture is colour-transformed (planes 1 and 2 are chroma).
    pub(crate) colour: bool,
    /// The plane's lowest echelon (one layer of samples).
    pub(crate) base: bool,
    pub(crate) layer: usize,
}

/// Step factor per LoQ below the top: an error in echelon `k` spreads over `4^k` samples
/// (and into every echelon above), so lower echelons are quantised finer. Tuned on the
/// rgb8 corpus with `cargo xtask bench --lossy`: 0.42 against 1 was +1.4 dB mean PSNR at
/// 1.25 bpp (+7 dB on LoQ 1 and 2 thumbnails); making every step proportional to the
/// scale (it was `1 + (s - 1) w`, which left low echelons near-lossless) and 0.35 gave
/// +0.6 dB more. With fraction bits low echelons can take steps below a sample, and
/// 0.42 is best again (+0.1 dB against 0.35 at 0.5 to 3 bpp; 0.3, 0.45 and 0.5 worse).
const ECHELON_WEIGHT: f64 = 0.42;

/// Step factors of the layers of a residual echelon, H, V, D and A, against the lowest
/// echelon's samples. A unit of `H` or `V` moves the four samples of its block by half a
/// unit, one of `D` by a quarter and one of `A` by a whole unit, so for the same error
/// per bit `H` and `V` take twice the step of `A`, and `D` four times (measured on the
/// rgb8 corpus at 1.25 bpp: D at 4 rather than 2 is +0.27 dB). The average residual,
/// which corrects the echelon below, takes 1.4 (+0.05 dB against 1 with fraction bits;
/// 0.7 is -0.3 dB, 2 no better).
const DETAIL_WEIGHT: [f64; 4] = [2.0, 2.0, 4.0, 1.4];

/// Step factor of the chroma planes (Co, Cg) of a colour-transformed picture. An error in
/// Y moves R, G and B alike, one in Co or Cg moves them by halves and quarters (squared
/// error gains 3, 0.5 and 0.75), so chroma takes about 2-2.5 times luma's step; 3 measured
/// best on the rgb8 corpus (+0.2 dB at 1.25 bpp against 2) before fraction bits, 2.5
/// after (+0.04 dB against 3 and 2).
const CHROMA_WEIGHT: f64 = 2.5;

/// The quantiser of a layer at scale `s`, the step `s * weight` (steps below one unit of
/// the coded depth are 1, exact): finer in lower echelons ([`ECHELON_WEIGHT`]), by layer
/// ([`DETAIL_WEIGHT`]) and by plane ([`CHROMA_WEIGHT`]), and in units of an 8-bit sample,
/// so that a quality means the same at every coded depth (a 16-bit plane's steps are 256
/// times larger, and 5 fraction bits make them 32 times larger).
pub(crate) fn scaled_quant(s: f64, at: LayerAt) -> Quant {
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
pub(crate) struct Pyramid {
    pub(crate) levels: Vec<Level>,
    pub(crate) details: Vec<Details>,
    pub(crate) range: (i32, i32),
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
        (Some(q), None) if !(0.0..=100.0).contains(&q) => Err(Error::param(format!(
            "quality must be from 0 to 100, got {q}"
        ))),
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

/// A picture ready to code at any rate: its header (without section sizes) and its
/// planes' echelon pyramids, which rate control reuses for every pass.
pub(crate) struct Prepared {
    header: Header,
    pyramids: Vec<Pyramid>,
}

/// Checks the settings and builds the pyramids (and fits the adaptive upsampler).
pub(crate) fn prepare(picture: &Picture, cfg: &EncoderConfig, lossy: bool) -> Result<Prepared> {
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
    if let Some(l) = cfg
        .lanes
        .filter(|l| !crate::entropy::LANE_CLASSES.contains(l))
    {
        return Err(Error::param(format!("{l} lanes: a tile has 1, 8 or 32")));
    }
    if let Some(c) = cfg
        .contexts
        .filter(|&c| c == 0 || usize::from(c) > crate::syntax::context::MAX_CONTEXTS)
    {
        return Err(Error::param(format!(
            "{c} contexts: 1 to {}",
            crate::syntax::context::MAX_CONTEXTS
        )));
    }
    if let Some(p) = cfg.precision.filter(|p| {
        !(crate::entropy::MIN_PRECISION..=crate::entropy::MAX_PRECISION).contains(&u32::from(*p))
    }) {
        return Err(Error::param(format!("table precision {p}: 6 to 12")));
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
    let fraction_bits = fraction_bits(picture, cfg, lossy)?;
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
            .zip(&fraction_bits)
            .map(|(p, &f)| PlaneDesc {
                width: p.width,
                height: p.height,
                bit_depth: p.bit_depth,
                fraction_bits: f,
                echelons,
            })
            .collect(),
        section_sizes: Vec::new(),
    };
    header.validate()?;

    let sources = signed_planes(picture, cfg.colour_transform, &fraction_bits);
    let pyramids: Vec<Pyramid> = parallel::map(
        cfg.threads,
        sources.into_iter().enumerate().collect(),
        |(i, lvl)| {
            let p = &picture.planes[i];
            build_pyramid(
                lvl,
                echelons,
                colour::plane_range(p.bit_depth + fraction_bits[i], i, cfg.colour_transform),
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
pub(crate) fn encode_prepared(
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

/// The fraction bits of each plane (see [`EncoderConfig::fraction_bits`]).
fn fraction_bits(picture: &Picture, cfg: &EncoderConfig, lossy: bool) -> Result<Vec<u8>> {
    let n = picture.planes.len();
    let deepest = picture
        .planes
        .iter()
        .map(|p| p.bit_depth)
        .max()
        .unwrap_or(8);
    let f = match cfg.fraction_bits {
        Some(0) | None if !lossy => 0,
        Some(_) if !lossy => {
            return Err(Error::param(
                "fraction bits are for lossy streams (give a quality or a target rate)",
            ))
        }
        Some(f) if f > crate::header::MAX_FRACTION_BITS || deepest + f > 16 => {
            return Err(Error::param(format!(
                "{f} fraction bits: 0 to {}, and at most {} for planes of {deepest} bits",
                crate::header::MAX_FRACTION_BITS,
                16 - deepest
            )))
        }
        Some(f) => f,
        // Quality 100 is exact: fraction bits would only cost.
        None if cfg.quality == Some(100.0) => 0,
        None => DEFAULT_FRACTION_BITS.min(16 - deepest),
    };
    let mut bits = vec![f; n];
    // An exact plane (an alpha plane) coded below its unit would carry the fractions of
    // its averages too: on the rgba8 corpus picture at quality 80 the stream was 2.45 bpp
    // with none, 3.31 with 2 bits and 5.56 with 5. Planes 0-2 of a colour-transformed
    // picture share theirs.
    if let Some(e) = cfg.exact_plane.map(usize::from).filter(|&e| e < n) {
        match cfg.colour_transform && e < 3 {
            true => bits[..3].fill(0),
            false => bits[e] = 0,
        }
    }
    Ok(bits)
}

/// Converts samples to `i32`, each plane's `fraction_bits` above their unit, applying
/// YCoCg-R to planes 0-2 when asked.
fn signed_planes(picture: &Picture, colour_transform: bool, fraction_bits: &[u8]) -> Vec<Level> {
    let mut levels: Vec<Level> = picture
        .planes
        .iter()
        .zip(fraction_bits)
        .map(|(p, &f)| Level {
            width: p.width,
            height: p.height,
            data: p.samples.iter().map(|&s| i32::from(s) << f).collect(),
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
