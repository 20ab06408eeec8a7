//! What the pyramid's tests share (test builds only): random kernels and echelons, and
//! a grid of tiles.
// The random kernels and echelons serve the AVX2 kernels' tests, which x86 alone runs.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use super::{Level, Upsampler};
use crate::tableau::Rect;
use crate::test_rng::Rng;

/// A kernel: linear, cubic, modified cubic or custom taps (four in five custom draws
/// being ordinary, one extreme), and with `nearest` the nearest upsampler as well.
pub(crate) fn upsampler(rng: &mut Rng, nearest: bool) -> Upsampler {
    let k = rng.below(if nearest { 5 } else { 4 }) + u64::from(!nearest);
    match k {
        0 => Upsampler::Nearest,
        1 => Upsampler::Linear,
        2 => Upsampler::Cubic,
        3 => Upsampler::ModifiedCubic,
        _ => Upsampler::Custom(custom_taps(rng)),
    }
}

/// Four `i16` taps summing to 16384, some of them extreme.
fn custom_taps(rng: &mut Rng) -> [i16; 4] {
    if rng.below(4) == 0 {
        return [32767, 32767, -32768, -16382];
    }
    loop {
        let k: [i32; 3] = std::array::from_fn(|_| rng.within(-20000, 20000));
        let k3 = 16384 - k[0] - k[1] - k[2];
        if let Ok(k3) = i16::try_from(k3) {
            return [k[0] as i16, k[1] as i16, k[2] as i16, k3];
        }
    }
}

/// True when `up` on samples in `range` may overflow the scalar code's `i32` sums: debug
/// builds panic there (release builds wrap, and so must the kernels), so tests skip it.
pub(crate) fn overflows_in_debug(up: Upsampler, range: (i32, i32)) -> bool {
    let spread: i64 = up.taps().iter().map(|&k| i64::from(k).abs()).sum();
    let big = i64::from(range.0.abs().max(range.1));
    cfg!(debug_assertions) && spread * big + 8192 > i64::from(i32::MAX)
}

/// A `w x h` echelon of samples in `range`, each at one end of it when `extreme`.
pub(crate) fn level(rng: &mut Rng, w: u32, h: u32, range: (i32, i32), extreme: bool) -> Level {
    let data = (0..w * h)
        .map(|_| match extreme {
            true => [range.0, range.1][rng.below(2) as usize],
            false => rng.within(range.0, range.1),
        })
        .collect();
    Level {
        width: w,
        height: h,
        data,
    }
}

/// The tiles of `tw x th` blocks over a `w x h` grid, row by row: `(tx, ty, rect)`.
pub(crate) fn tiles(w: u32, h: u32, tw: u32, th: u32) -> impl Iterator<Item = (u32, u32, Rect)> {
    (0..h.div_ceil(th)).flat_map(move |ty| {
        (0..w.div_ceil(tw)).map(move |tx| {
            let r = Rect {
                x0: tx * tw,
                y0: ty * th,
                x1: ((tx + 1) * tw).min(w),
                y1: ((ty + 1) * th).min(h),
            };
            (tx, ty, r)
        })
    })
}
