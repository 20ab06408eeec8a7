//! The echelon pyramid: building it (encoder), predicting details from the echelon below,
//! and reconstructing an echelon tile by tile (decoder), plus the direct coding of the
//! lowest echelon with the MED predictor.
//!
//! Echelon `j + 1` is the average layer `A` of the 2x2 transform of echelon `j`
//! (see [`transform`]). Echelon `j` is coded as the residuals of its detail layers
//! `H, V, D` against the details of the upsampled echelon `j + 1`.
//!
//! - [`level`]: an echelon's samples; [`forward`]: the encoder's pyramid;
//! - [`transform`]: the 2x2 transform; [`upsample`]: the kernels;
//! - [`predict`]: predicted details and the plain reconstruction (the reference);
//! - [`fused`]: the decoder's one-pass prediction and reconstruction (`x86`: its AVX2
//!   twin, chosen at run time);
//! - [`med`]: the lowest echelon.

pub mod forward;
pub mod fused;
pub mod level;
pub mod med;
pub mod predict;
pub mod transform;
pub mod upsample;
#[cfg(target_arch = "x86_64")]
mod x86;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86_predict;

pub use forward::{forward_level, Details};
pub use fused::predict_reconstruct;
pub use level::Level;
pub use med::{med_quantize, med_reconstruct, med_residuals};
pub use predict::{reconstruct_blocks, Prediction};
pub use upsample::Upsampler;

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tableau::Rect;

    fn level(w: u32, h: u32, seed: u32) -> Level {
        let mut s = seed;
        Level {
            width: w,
            height: h,
            data: (0..w * h)
                .map(|i| {
                    crate::test_rng::xorshift(&mut s);
                    ((i % w) * 3 + (i / w) * 2) as i32 % 200 + (s % 40) as i32
                })
                .collect(),
        }
    }

    #[test]
    fn one_level_reconstructs_exactly_for_every_upsampler() {
        for (w, h) in [(1, 1), (1, 7), (6, 1), (5, 3), (16, 16), (33, 17)] {
            let src = level(w, h, w * 31 + h);
            let (lower, det) = forward_level(&src);
            for up in [
                Upsampler::Nearest,
                Upsampler::Linear,
                Upsampler::Cubic,
                Upsampler::ModifiedCubic,
            ] {
                let blocks = Rect::full(lower.width, lower.height);
                let n = (lower.width * lower.height) as usize;
                let mut pred = Prediction::default();
                pred.compute(up, &lower, (w, h), blocks, (0, 255), false);
                let res: Vec<Vec<i32>> = (0..3)
                    .map(|l| (0..n).map(|i| det.layers[l][i] - pred.get(i)[l]).collect())
                    .collect();
                let mut out = vec![-1; (w * h) as usize];
                reconstruct_blocks(
                    &lower,
                    (w, h),
                    blocks,
                    &pred,
                    &[&res[0], &res[1], &res[2]],
                    false,
                    (0, 255),
                    &mut out,
                    0,
                    &mut Vec::new(),
                );
                assert_eq!(out, src.data, "{w}x{h} {up}");
            }
        }
    }

    #[test]
    fn fused_prediction_matches_predict_then_reconstruct() {
        let ups = [
            Upsampler::Nearest,
            Upsampler::Linear,
            Upsampler::Cubic,
            Upsampler::ModifiedCubic,
            Upsampler::Custom([-3000, 20000, -1000, -616]),
        ];
        for (w, h) in [(1, 1), (2, 3), (7, 5), (16, 16), (33, 17), (40, 9)] {
            let lower = level(u32::div_ceil(w, 2), u32::div_ceil(h, 2), w + 7 * h);
            let noise = level(lower.width, 4 * lower.height, w * h);
            let (lw, lh) = (lower.width, lower.height);
            let range = (-20, 230);
            for up in ups {
                for (layers, predicted_average) in [(3, false), (4, true), (4, false)] {
                    // Tiles of 3 x 2 blocks, each band two block rows of the echelon.
                    let (tw, th) = (3, 2);
                    let mut want = vec![0; (w * h) as usize];
                    let mut got = vec![0; (w * h) as usize];
                    let mut work = Prediction::default();
                    for (tx, ty, r) in test_support::tiles(lw, lh, tw, th) {
                        let n = (r.width() * r.height()) as usize;
                        let res: Vec<Vec<i32>> = (0..layers)
                            .map(|l| {
                                let at = (l * n + (tx + ty) as usize) % noise.data.len();
                                let src = noise.data.iter().cycle().skip(at);
                                src.take(n).map(|v| v % 60 - 30).collect()
                            })
                            .collect();
                        let res: Vec<&[i32]> = res.iter().map(|r| &r[..]).collect();
                        let band = (2 * r.y0 * w) as usize..;
                        let mut pred = Prediction::default();
                        let average = layers == 4 && !predicted_average;
                        pred.compute(up, &lower, (w, h), r, range, average);
                        reconstruct_blocks(
                            &lower,
                            (w, h),
                            r,
                            &pred,
                            &res,
                            predicted_average,
                            range,
                            &mut want[band.clone()],
                            r.y0,
                            &mut Vec::new(),
                        );
                        predict_reconstruct(
                            &mut work,
                            up,
                            &lower,
                            (w, h),
                            r,
                            &res,
                            predicted_average,
                            range,
                            &mut got[band],
                            r.y0,
                        );
                    }
                    assert_eq!(got, want, "{w}x{h} {up} {layers} {predicted_average}");
                }
            }
        }
    }

    #[test]
    fn padded_details_are_zero() {
        let src = level(5, 3, 9);
        let (_, det) = forward_level(&src);
        // Column 2 of the block grid covers only column 4 of the source.
        for by in 0..2 {
            assert_eq!(det.layers[0][by * 3 + 2], 0);
            assert_eq!(det.layers[2][by * 3 + 2], 0);
        }
        for bx in 0..3 {
            assert_eq!(det.layers[1][3 + bx], 0);
        }
    }

    #[test]
    fn med_round_trip() {
        let src = level(7, 5, 3);
        let mut r = vec![0; 35];
        med_residuals(&src.data, 7, 5, (0, 255), &mut r);
        med_reconstruct(&mut r, 7, 5, (0, 255));
        assert_eq!(r, src.data);
    }
}
