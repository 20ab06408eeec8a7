//! Dead-zone quantisation of residuals (lossy streams, docs/bitstream.md 7.6).
//!
//! Steps are in sixteenths of a sample, so rate control can move them finely. The
//! encoder maps a residual `r` to `q = sign(r) * floor((|r| + rounding) / step)`, with a
//! rounding below half a step (the dead zone around 0 is wider than the other bins); the
//! decoder maps `q` back to `sign(q) * floor(|q| * step + offset)`, the offset (signalled
//! per plane, echelon and layer) placing the reconstruction inside the bin. A step of 1
//! (16 sixteenths) with offset 0 is the identity, which is how lossless streams read.

use crate::error::{Error, Result};

/// Step units per sample: steps are signalled in sixteenths.
pub const STEP_ONE: u32 = 16;
/// Largest step width a stream may signal, in sixteenths (2^20 units of the coded depth,
/// above every coefficient bound: with fraction bits a unit is a fraction of a sample, and
/// the coarsest quantisers still need steps of thousands of samples).
pub const MAX_STEP: u32 = 1 << 24;

/// The bound on a plane's coefficients (docs/bitstream.md 7.7): `4 (hi - lo)` for the
/// sample range `(lo, hi)`. No valid residual exceeds it (a detail's residual is at most
/// twice its largest detail, `2 (hi - lo)`), and every decoded coefficient is clamped to
/// it, so corrupt streams stay within the bounds of section 8 as well.
pub fn coeff_bound((lo, hi): (i32, i32)) -> i32 {
    4 * (hi - lo)
}

/// Step width and reconstruction offset of one plane, echelon and layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quant {
    /// Step width in sixteenths of a unit of the coded depth, 16..=2^24.
    pub step: u32,
    /// Reconstruction offset in 1/256 of a step, 0..=255.
    pub offset: u8,
}

impl Default for Quant {
    fn default() -> Self {
        Quant::IDENTITY
    }
}

impl Quant {
    /// The identity (lossless) quantiser.
    pub const IDENTITY: Quant = Quant {
        step: STEP_ONE,
        offset: 0,
    };

    /// A checked quantiser (`step` in sixteenths).
    pub fn new(step: u32, offset: u8) -> Result<Quant> {
        if !(STEP_ONE..=MAX_STEP).contains(&step) {
            return Err(Error::format(format!(
                "quantiser step {step}/16 outside 16..={MAX_STEP} sixteenths"
            )));
        }
        Ok(Quant { step, offset })
    }

    /// True when dequantisation changes nothing.
    pub fn is_identity(self) -> bool {
        self.step == STEP_ONE && self.offset == 0
    }

    /// The offset in sixteenths: `(step * offset) >> 8`.
    pub fn offset_value(self) -> i64 {
        (i64::from(self.step) * i64::from(self.offset)) >> 8
    }

    /// The decoder's reconstruction of `q`: `sign(q) * ((|q| * step + offset) >> 4)`,
    /// its magnitude clamped to `bound` (see [`coeff_bound`]).
    #[inline]
    pub fn dequantize(self, q: i32, bound: i32) -> i32 {
        if q == 0 {
            return 0;
        }
        let m = (i64::from(q.unsigned_abs()) * i64::from(self.step) + self.offset_value()) >> 4;
        let m = m.min(i64::from(bound)) as i32;
        if q < 0 {
            -m
        } else {
            m
        }
    }

    /// The encoder's quantisation of `r`, with `rounding` in 1/256 of a step (below 128:
    /// a dead zone).
    #[inline]
    pub fn quantize(self, r: i32, rounding: u32) -> i32 {
        let step = i64::from(self.step);
        let add = (step * i64::from(rounding)) >> 8;
        let m = ((i64::from(r.unsigned_abs()) * 16 + add) / step) as i32;
        if r < 0 {
            -m
        } else {
            m
        }
    }

    /// Quantises a `w x h` layer of residuals in place, then drops isolated ones: a `±1`
    /// with no non-zero among its 8 neighbours, whose residual is below one step. In an
    /// s-tree such a coefficient costs a path of nodes from the root besides its value,
    /// more than the error it removes is worth (measured on the rgb8 corpus: +0.1 dB at
    /// 1.25 bpp).
    ///
    /// With `thin`, every `±1` below one step goes, isolated or not: rate control's finest
    /// knob, applied to some tiles only, for when all the `±1`s of a layer appear or vanish
    /// together between two neighbouring steps.
    pub fn quantize_layer(self, values: &mut [i32], w: usize, h: usize, rounding: u32, thin: bool) {
        // Candidates: quantised to ±1 from a residual below one step. The bound ramps up
        // from 0 at a step of one sample to the full step at two, so the rule does not
        // switch on at once (rate control would see the size jump).
        let step = i64::from(self.step);
        let bound = match thin {
            true => step,
            false => step.min(2 * (step - i64::from(STEP_ONE))),
        };
        let mut candidates = Vec::new();
        for (i, v) in values.iter_mut().enumerate() {
            let q = self.quantize(*v, rounding);
            if q.abs() == 1 && i64::from(v.unsigned_abs()) * 16 < bound {
                candidates.push(i);
            }
            *v = q;
        }
        if thin {
            candidates.into_iter().for_each(|i| values[i] = 0);
            return;
        }
        // Decide on every candidate before zeroing any, so two neighbours keep each other.
        let isolated: Vec<usize> = candidates
            .into_iter()
            .filter(|&i| {
                let (x, y) = (i % w, i / w);
                let (x0, x1) = (x.saturating_sub(1), (x + 1).min(w - 1));
                let (y0, y1) = (y.saturating_sub(1), (y + 1).min(h - 1));
                (y0..=y1).all(|ny| {
                    values[ny * w + x0..=ny * w + x1]
                        .iter()
                        .enumerate()
                        .all(|(dx, &n)| n == 0 || (x0 + dx, ny) == (x, y))
                })
            })
            .collect();
        isolated.into_iter().for_each(|i| values[i] = 0);
    }
}

/// Turns a decoded code `u` (a zigzag value) into a coefficient: unzigzag, dequantise,
/// clamp to the plane's bound. The small codes, nearly all of them, are looked up.
#[derive(Debug, Clone)]
pub struct CoeffMap {
    quant: Quant,
    bound: i32,
    small: [i32; 64],
}

impl CoeffMap {
    /// The map of a layer quantised with `quant` in a plane of coefficient bound `bound`.
    pub fn new(quant: Quant, bound: i32) -> Self {
        CoeffMap {
            quant,
            bound,
            small: std::array::from_fn(|u| Self::compute(quant, bound, u as u32)),
        }
    }

    /// The coefficient of code `u`.
    #[inline(always)]
    pub fn get(&self, u: u32) -> i32 {
        match self.small.get(u as usize) {
            Some(&v) => v,
            None => Self::compute(self.quant, self.bound, u),
        }
    }

    /// The coefficient of code `u`, computed.
    #[inline]
    fn compute(quant: Quant, bound: i32, u: u32) -> i32 {
        quant
            .dequantize(crate::entropy::unzigzag(u), bound)
            .clamp(-bound, bound)
    }

    /// The layer's quantiser.
    pub fn quant(&self) -> Quant {
        self.quant
    }

    /// The plane's coefficient bound.
    pub fn bound(&self) -> i32 {
        self.bound
    }

    /// The coefficients of the codes below 64.
    pub fn small(&self) -> &[i32; 64] {
        &self.small
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_round_trip_within_a_step() {
        let id = Quant::IDENTITY;
        for r in [-70000, -3, -1, 0, 1, 2, 99999] {
            assert_eq!(id.dequantize(id.quantize(r, 0), 1 << 20), r);
        }
        let q = Quant::new(160, 43).unwrap();
        assert_eq!(q.offset_value(), 26);
        for r in -200..=200 {
            let back = q.dequantize(q.quantize(r, 85), 1000);
            assert!((back - r).abs() <= 10, "{r} -> {back}");
            assert!(back.signum() * r.signum() >= 0);
        }
        // The dead zone: residuals below 2/3 of a step vanish with rounding 1/3.
        assert_eq!(q.quantize(6, 85), 0);
        assert_eq!(q.quantize(7, 85), 1);
        assert_eq!(q.quantize(-7, 85), -1);
        assert_eq!(q.dequantize(-1, 1000), -11);
        assert!(Quant::new(0, 0).is_err() && Quant::new(MAX_STEP + 1, 0).is_err());
        assert!(Quant::new(MAX_STEP, 0).is_ok());
        // An isolated 1 below a step goes; one with a neighbour, or a full step, stays.
        let mut layer = vec![0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0];
        q.quantize_layer(&mut layer, 4, 3, 85, false);
        assert_eq!(layer, vec![0; 12]);
        let mut layer = vec![0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 12];
        q.quantize_layer(&mut layer, 4, 3, 85, false);
        assert_eq!(layer, vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let mut layer = vec![0, 0, 0, 0, 8, 8, 0, 0, 0, 0, 0, 0];
        q.quantize_layer(&mut layer, 4, 3, 85, false);
        assert_eq!(layer, vec![0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]);
        // Thinning drops them all, and keeps what is a full step or more.
        let mut layer = vec![0, 0, 0, 0, 8, 8, 0, 0, 0, 0, 0, 12];
        q.quantize_layer(&mut layer, 4, 3, 85, true);
        assert_eq!(layer, vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            Quant::new(MAX_STEP, 255).unwrap().dequantize(1 << 26, 1020),
            1020
        );
        let map = CoeffMap::new(q, 20);
        assert_eq!(
            (map.get(0), map.get(1), map.get(2), map.get(1000)),
            (0, -11, 11, 20)
        );
        assert_eq!(map.get(1001), -20);
        let id = CoeffMap::new(Quant::IDENTITY, 1020);
        assert_eq!((id.get(3), id.get(200), id.get(5000)), (-2, 100, 1020));
    }
}
