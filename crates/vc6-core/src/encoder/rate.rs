//! Rate control: the quantiser scale (and finer knobs) that bring a lossy stream within
//! 1% of a target size.

use super::{encode_prepared, prepare, EncoderConfig};
use crate::error::Result;
use crate::picture::Picture;

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
/// `(loq, plane, layer)`; and the fraction of tiles thinned (the encoder's `thinned`).
#[derive(Debug, Clone)]
pub(crate) struct Rate {
    log_scale: f64,
    mixed: Vec<((u8, usize), f64)>,
    layers: Vec<((u8, usize, usize), f64)>,
    pub(crate) thin: f64,
}

impl Rate {
    pub(crate) fn uniform(t: f64) -> Rate {
        Rate {
            log_scale: t,
            mixed: Vec::new(),
            layers: Vec::new(),
            thin: 0.0,
        }
    }

    pub(crate) fn scale(&self, loq: u8, plane: usize, layer: usize) -> f64 {
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
pub(crate) type UnitSizes = Vec<((u8, usize), f64)>;

/// One rate-control pass: the stream and how far it is from the target.
struct Pass {
    err: f64,
    size: f64,
    stream: Vec<u8>,
}

pub(crate) fn encode_to_bpp(picture: &Picture, cfg: &EncoderConfig, bpp: f64) -> Result<Vec<u8>> {
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
