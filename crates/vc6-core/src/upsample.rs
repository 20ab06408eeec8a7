//! Upsampling kernels that predict an echelon from the one below it.
//!
//! Every kernel is a separable 4-tap filter in 14-bit fixed point; the decoder and every
//! backend evaluate it with the same integer arithmetic (see docs/bitstream.md, "Prediction").

use crate::error::{Error, Result};

/// Fixed-point scale of kernel coefficients.
pub const KERNEL_SHIFT: u32 = 14;
/// Sum of the coefficients of every kernel.
pub const KERNEL_ONE: i32 = 1 << KERNEL_SHIFT;

/// Selects how the prediction of a higher echelon is formed from the lower one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Upsampler {
    /// Sample repetition: no detail prediction (the fastest to decode).
    Nearest,
    /// Bilinear, taps {12288, 4096} / 16384.
    Linear,
    /// Bicubic (a = -0.6), taps {-1382, 14285, 3942, -461} / 16384.
    Cubic,
    /// Sharper "modified cubic", taps {-2360, 15855, 4165, -1276} / 16384.
    ModifiedCubic,
    /// Four coefficients sent in the header; they must sum to 16384.
    Custom([i16; 4]),
}

impl Upsampler {
    /// The id stored in the header.
    pub fn id(self) -> u8 {
        match self {
            Upsampler::Nearest => 0,
            Upsampler::Linear => 1,
            Upsampler::Cubic => 2,
            Upsampler::ModifiedCubic => 3,
            Upsampler::Custom(_) => 4,
        }
    }

    /// Short name, as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Upsampler::Nearest => "nearest",
            Upsampler::Linear => "linear",
            Upsampler::Cubic => "cubic",
            Upsampler::ModifiedCubic => "modcubic",
            Upsampler::Custom(_) => "custom",
        }
    }

    /// The four taps applied to samples j-1, j, j+1, j+2 of the lower echelon to form the
    /// right (or lower) child of sample j; the left (upper) child uses them mirrored.
    pub fn taps(self) -> [i32; 4] {
        match self {
            Upsampler::Nearest => [0, KERNEL_ONE, 0, 0],
            Upsampler::Linear => [0, 12288, 4096, 0],
            Upsampler::Cubic => [-1382, 14285, 3942, -461],
            Upsampler::ModifiedCubic => [-2360, 15855, 4165, -1276],
            Upsampler::Custom(k) => k.map(i32::from),
        }
    }

    /// Checks a custom kernel (its taps must sum to 16384).
    pub fn validate(self) -> Result<()> {
        let sum: i32 = self.taps().iter().sum();
        if sum != KERNEL_ONE {
            return Err(Error::param(format!(
                "upsampler taps must sum to {KERNEL_ONE}, got {sum}"
            )));
        }
        Ok(())
    }
}

impl std::str::FromStr for Upsampler {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "nearest" => Ok(Upsampler::Nearest),
            "linear" => Ok(Upsampler::Linear),
            "cubic" => Ok(Upsampler::Cubic),
            "modcubic" | "modified-cubic" | "modifiedcubic" => Ok(Upsampler::ModifiedCubic),
            other => Err(Error::param(format!(
                "unknown upsampler '{other}' (expected nearest, linear, cubic or modcubic)"
            ))),
        }
    }
}

impl std::fmt::Display for Upsampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Applies a 4-tap kernel with rounding and clamps to `[lo, hi]`.
///
/// Inputs are within `[lo, hi]` where `|lo|, |hi| < 2^16`, and the sum of absolute taps
/// is below 2^15, so the accumulator stays inside `i32`.
#[inline(always)]
pub(crate) fn tap4(k: [i32; 4], s: [i32; 4], lo: i32, hi: i32) -> i32 {
    let acc = k[0] * s[0] + k[1] * s[1] + k[2] * s[2] + k[3] * s[3];
    ((acc + (KERNEL_ONE >> 1)) >> KERNEL_SHIFT).max(lo).min(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_kernels_sum_to_one() {
        for u in [
            Upsampler::Nearest,
            Upsampler::Linear,
            Upsampler::Cubic,
            Upsampler::ModifiedCubic,
        ] {
            u.validate().unwrap();
            assert_eq!(u.to_string().parse::<Upsampler>().unwrap(), u);
        }
        assert!(Upsampler::Custom([1, 2, 3, 4]).validate().is_err());
    }

    #[test]
    fn constant_input_stays_constant() {
        for u in [
            Upsampler::Nearest,
            Upsampler::Linear,
            Upsampler::Cubic,
            Upsampler::ModifiedCubic,
        ] {
            assert_eq!(tap4(u.taps(), [77; 4], 0, 255), 77, "{u}");
        }
    }

    #[test]
    fn linear_interpolates_and_kernels_clamp() {
        // The second child of 32 (between 32 and 48) sits a quarter of the way to 48.
        assert_eq!(tap4(Upsampler::Linear.taps(), [16, 32, 48, 64], 0, 255), 36);
        assert_eq!(
            tap4(Upsampler::ModifiedCubic.taps(), [0, 255, 255, 0], 0, 255),
            255
        );
        assert_eq!(tap4(Upsampler::Cubic.taps(), [255, 0, 0, 255], 0, 255), 0);
    }
}
