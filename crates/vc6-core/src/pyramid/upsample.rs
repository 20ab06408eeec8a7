//! Upsampling kernels that predict an echelon from the one below it.
//!
//! Every kernel is a separable 4-tap filter in 14-bit fixed point; the decoder and every
//! backend evaluate it with the same integer arithmetic (see docs/bitstream.md, "Prediction").

use crate::error::{Error, Result};

/// Fixed-point scale of kernel coefficients.
pub const KERNEL_SHIFT: u32 = 14;
/// Sum of the coefficients of every kernel.
pub const KERNEL_ONE: i32 = 1 << KERNEL_SHIFT;

/// The most the absolute values of a kernel's taps may sum to: with samples of at most 16
/// bits (`|s| < 2^16`), `sum |k_i| |s_i| + 2^13` then stays below `2^31`, so every kernel
/// sum fits the 32-bit arithmetic of the CPU, its SIMD and the GPU kernels.
pub const MAX_TAP_MAGNITUDE: i32 = 1 << 15;

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
        let magnitude: i32 = self.taps().iter().map(|t| t.abs()).sum();
        if magnitude > MAX_TAP_MAGNITUDE {
            return Err(Error::param(format!(
                "upsampler taps' absolute values sum to {magnitude}, more than \
                 {MAX_TAP_MAGNITUDE} (the kernel arithmetic is 32-bit: docs/bitstream.md 6.2)"
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

/// Fits the four taps of a symmetric kernel to predict `upper` from `lower` (the echelon
/// below it): least squares over every row pair of `upper`, averaged vertically, against
/// the horizontal children of `lower`'s samples, with the taps summing to one. Returns
/// `None` when the picture is too small or the fit degenerate. The encoder's adaptive
/// upsampler; the taps travel in the header as a custom kernel.
pub fn fit_kernel(lower: &super::level::Level, upper: &super::level::Level) -> Option<[i16; 4]> {
    let (lw, lh) = (lower.width as usize, lower.height as usize);
    let (uw, uh) = (upper.width as usize, upper.height as usize);
    if lw < 4 || lh < 2 || uw < 8 {
        return None;
    }
    // Normal equations of t - s3 = k0 (s0 - s3) + k1 (s1 - s3) + k2 (s2 - s3).
    let mut a = [[0f64; 3]; 3];
    let mut b = [0f64; 3];
    let l =
        |y: usize, x: isize| f64::from(lower.data[y * lw + x.clamp(0, lw as isize - 1) as usize]);
    let step = (lh / 256).max(1);
    for y in (0..lh).step_by(step) {
        let (y0, y1) = (2 * y, (2 * y + 1).min(uh - 1));
        let r = |x: usize| {
            (f64::from(upper.data[y0 * uw + x]) + f64::from(upper.data[y1 * uw + x])) / 2.0
        };
        for j in 0..lw {
            if 2 * j + 1 >= uw {
                break;
            }
            let j = j as isize;
            // Second child: (L[j-1], L[j], L[j+1], L[j+2]); first child, mirrored:
            // (L[j+1], L[j], L[j-1], L[j-2]).
            let second = [l(y, j - 1), l(y, j), l(y, j + 1), l(y, j + 2)];
            let first = [l(y, j + 1), l(y, j), l(y, j - 1), l(y, j - 2)];
            for (s, t) in [(second, r(2 * j as usize + 1)), (first, r(2 * j as usize))] {
                let d = [s[0] - s[3], s[1] - s[3], s[2] - s[3]];
                let e = t - s[3];
                for m in 0..3 {
                    for n in 0..3 {
                        a[m][n] += d[m] * d[n];
                    }
                    b[m] += d[m] * e;
                }
            }
        }
    }
    let k = solve3(a, b)?;
    let taps = [k[0], k[1], k[2], 1.0 - k[0] - k[1] - k[2]];
    if taps.iter().any(|t| !t.is_finite() || t.abs() > 1.5) {
        return None;
    }
    let mut q = taps.map(|t| (t * f64::from(KERNEL_ONE)).round() as i32);
    q[1] += KERNEL_ONE - q.iter().sum::<i32>();
    // A kernel the format does not allow (its sums could overflow) is no fit.
    if q.iter().map(|t| t.abs()).sum::<i32>() > MAX_TAP_MAGNITUDE {
        return None;
    }
    let q = q.map(|t| i16::try_from(t).ok());
    Some([q[0]?, q[1]?, q[2]?, q[3]?])
}

/// Solves a 3x3 linear system by Cramer's rule; `None` when (nearly) singular.
fn solve3(a: [[f64; 3]; 3], b: [f64; 3]) -> Option<[f64; 3]> {
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(a);
    if d.abs() < 1e-9 * (a[0][0] * a[1][1] * a[2][2]).abs().max(1.0) {
        return None;
    }
    let mut x = [0f64; 3];
    for (i, xi) in x.iter_mut().enumerate() {
        let mut m = a;
        for r in 0..3 {
            m[r][i] = b[r];
        }
        *xi = det(m) / d;
    }
    Some(x)
}

/// Applies a 4-tap kernel with rounding and clamps to `[lo, hi]` (docs/bitstream.md 6.1):
/// the reference form of [`tap_pair`], which the codec uses.
///
/// Inputs are within `[lo, hi]` where `|lo|, |hi| < 2^16`, and the sum of absolute taps
/// is at most [`MAX_TAP_MAGNITUDE`] (`Upsampler::validate`), so the accumulator stays
/// inside `i32`.
#[cfg(test)]
pub(crate) fn tap4(k: [i32; 4], s: [i32; 4], lo: i32, hi: i32) -> i32 {
    let acc = k[0] * s[0] + k[1] * s[1] + k[2] * s[2] + k[3] * s[3];
    ((acc + (KERNEL_ONE >> 1)) >> KERNEL_SHIFT).max(lo).min(hi)
}

/// Both children of sample `j` from `s = (L[j-2], L[j-1], L[j], L[j+1], L[j+2])`:
/// `(tap4(mirrored k, s[0..4]), tap4(k, s[1..5]))`, the same values, with the product
/// `k1 L[j]` that both contain computed once.
#[inline(always)]
pub(crate) fn tap_pair(k: [i32; 4], s: [i32; 5], lo: i32, hi: i32) -> (i32, i32) {
    let shared = k[1] * s[2];
    let first = k[3] * s[0] + k[2] * s[1] + shared + k[0] * s[3];
    let second = k[0] * s[1] + shared + k[2] * s[3] + k[3] * s[4];
    let round = |acc: i32| ((acc + (KERNEL_ONE >> 1)) >> KERNEL_SHIFT).max(lo).min(hi);
    (round(first), round(second))
}

/// The arithmetic of a kernel: both children of a sample ([`tap_pair`]'s values).
/// Monomorphised so the common kernels can skip multiplies.
pub(crate) trait Taps: Copy {
    /// `tap_pair(k, s, lo, hi)` for this kernel's taps `k`.
    fn pair(self, s: [i32; 5], lo: i32, hi: i32) -> (i32, i32);
}

/// Any four taps.
#[derive(Clone, Copy)]
pub(crate) struct AnyTaps(pub [i32; 4]);

impl Taps for AnyTaps {
    #[inline(always)]
    fn pair(self, s: [i32; 5], lo: i32, hi: i32) -> (i32, i32) {
        tap_pair(self.0, s, lo, hi)
    }
}

/// The linear kernel, `(0, 3/4, 1/4, 0)`: `(4096 x + 8192) >> 14` is `(x + 2) >> 2`, so
/// shifts and adds give [`tap_pair`]'s values exactly.
#[derive(Clone, Copy)]
pub(crate) struct LinearTaps;

impl Taps for LinearTaps {
    #[inline(always)]
    fn pair(self, s: [i32; 5], lo: i32, hi: i32) -> (i32, i32) {
        let near = 3 * s[2] + 2;
        let round = |acc: i32| (acc >> 2).max(lo).min(hi);
        (round(s[1] + near), round(near + s[3]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_kernels_sum_to_one_and_track_the_content() {
        use crate::pyramid::{forward_level, Level};
        // Smooth content (a slow sinusoid): the best kernel interpolates, like linear
        // or cubic, with most weight on the nearest sample.
        let (w, h) = (256u32, 64u32);
        let data = (0..w * h)
            .map(|i| {
                let x = f64::from(i % w);
                (128.0 + 100.0 * (x / 9.0).sin()) as i32
            })
            .collect();
        let upper = Level {
            width: w,
            height: h,
            data,
        };
        let (lower, _) = forward_level(&upper);
        let k = fit_kernel(&lower, &upper).expect("a fit");
        assert_eq!(k.iter().map(|&t| i32::from(t)).sum::<i32>(), KERNEL_ONE);
        assert!(k[1] > k[2] && k[1] > 8000, "{k:?}");
        Upsampler::Custom(k).validate().unwrap();
        // Too small to fit.
        let tiny = Level {
            width: 4,
            height: 2,
            data: vec![0; 8],
        };
        assert!(fit_kernel(&forward_level(&tiny).0, &tiny).is_none());
    }

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
    fn custom_kernels_whose_sums_could_overflow_are_refused() {
        // Both sum to 16384; the second's magnitudes sum to 2^15 + 2, whose products with
        // 16-bit samples overflow i32 (a fuzzing finding: docs/robustness.md).
        Upsampler::Custom([-8192, 16384, 16384, -8192])
            .validate()
            .unwrap_err();
        let e = Upsampler::Custom([-4097, 12289, 12289, -4097]).validate();
        assert!(e.unwrap_err().to_string().contains("more than 32768"));
        Upsampler::Custom([-4096, 12288, 12288, -4096])
            .validate()
            .unwrap();
        // At the bound, the worst sum of 16-bit samples still fits.
        let worst = i64::from(MAX_TAP_MAGNITUDE) * 65535 + i64::from(KERNEL_ONE >> 1);
        assert!(worst <= i64::from(i32::MAX));
        for u in [Upsampler::Cubic, Upsampler::ModifiedCubic] {
            assert!(u.taps().iter().map(|t| t.abs()).sum::<i32>() <= MAX_TAP_MAGNITUDE);
        }
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
    fn linear_taps_match_the_general_form() {
        let k = Upsampler::Linear.taps();
        let mut seed = 99u32;
        for _ in 0..20_000 {
            let s: [i32; 5] = std::array::from_fn(|_| {
                (crate::test_rng::xorshift(&mut seed) % 131071) as i32 - 65535
            });
            for (lo, hi) in [(-65535, 65535), (0, 255), (-255, 255)] {
                let s = s.map(|v| v.clamp(lo, hi));
                assert_eq!(LinearTaps.pair(s, lo, hi), tap_pair(k, s, lo, hi), "{s:?}");
            }
        }
    }

    #[test]
    fn tap_pairs_match_single_taps() {
        let kernels = [
            Upsampler::Linear.taps(),
            Upsampler::Cubic.taps(),
            Upsampler::ModifiedCubic.taps(),
            [-3000, 20000, -1000, 384],
        ];
        let s = [-255, 0, 17, 255, 254, 3, -1, 128];
        for k in kernels {
            let m = [k[3], k[2], k[1], k[0]];
            for w in s.windows(5) {
                let w = [w[0], w[1], w[2], w[3], w[4]];
                for (lo, hi) in [(0, 255), (-255, 255), (0, 65535)] {
                    assert_eq!(
                        tap_pair(k, w, lo, hi),
                        (
                            tap4(m, [w[0], w[1], w[2], w[3]], lo, hi),
                            tap4(k, [w[1], w[2], w[3], w[4]], lo, hi)
                        )
                    );
                }
            }
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
