//! Picture quality measures for the lossy comparison (`lossy` binary): PSNR over R, G, B,
//! SSIM on luma, and the downscales that LoQ `k` thumbnails are compared against.
//!
//! Every function takes interleaved RGB8, row-major, `width * height * 3` bytes, like
//! [`crate::CorpusImage::pixels`].

/// The PSNR reported for identical pictures (MSE 0), in dB. Every PSNR is capped here so
/// that means stay finite; a single wrong sample in a 1-megapixel picture already gives
/// about 113 dB, so the cap only ever hides differences no lossy codec produces.
pub const PSNR_CAP_DB: f64 = 100.0;

/// Sum of squared differences over all samples of two equally long buffers.
///
/// # Panics
/// When the lengths differ.
pub fn sse(a: &[u8], b: &[u8]) -> u64 {
    assert_eq!(a.len(), b.len(), "sse: buffers of different lengths");
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = i32::from(x) - i32::from(y);
            (d * d) as u64
        })
        .sum()
}

/// PSNR in dB for a mean squared error over 8-bit samples (peak 255):
/// `10 log10(255^2 / mse)`, capped at [`PSNR_CAP_DB`] (also for `mse == 0`).
pub fn psnr_from_mse(mse: f64) -> f64 {
    if mse <= 0.0 {
        return PSNR_CAP_DB;
    }
    (10.0 * (255.0 * 255.0 / mse).log10()).min(PSNR_CAP_DB)
}

/// PSNR over every R, G and B sample of two RGB8 pictures (one MSE over all `3 * w * h`
/// samples, peak 255), capped at [`PSNR_CAP_DB`]: identical pictures give the cap.
///
/// For a whole corpus, pool the squared errors ([`sse`]) over all images and call
/// [`psnr_from_mse`] once, rather than averaging per-image dB.
///
/// # Panics
/// When the lengths differ; an empty buffer gives the cap.
pub fn psnr_rgb(a: &[u8], b: &[u8]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return PSNR_CAP_DB;
    }
    psnr_from_mse(sse(a, b) as f64 / a.len() as f64)
}

/// BT.601 luma of an RGB8 picture, unrounded: `Y = 0.299 R + 0.587 G + 0.114 B`.
pub fn luma_bt601(rgb: &[u8]) -> Vec<f64> {
    rgb.chunks_exact(3)
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .collect()
}

/// Side of the SSIM window, in pixels.
pub const SSIM_WINDOW: usize = 11;
/// Standard deviation of the SSIM window's Gaussian, in pixels.
pub const SSIM_SIGMA: f64 = 1.5;

/// SSIM of two RGB8 pictures of `w x h` pixels, on their BT.601 luma ([`luma_bt601`]).
///
/// Wang, Bovik, Sheikh, Simoncelli, "Image quality assessment: from error visibility to
/// structural similarity", IEEE Trans. Image Processing 13(4), 2004, eq. (13):
///
/// ```text
/// SSIM(x, y) = (2 mu_x mu_y + C1) (2 sigma_xy + C2)
///            / ((mu_x^2 + mu_y^2 + C1) (sigma_x^2 + sigma_y^2 + C2)),
/// C1 = (K1 L)^2, C2 = (K2 L)^2, K1 = 0.01, K2 = 0.03, L = 255,
/// ```
///
/// with the means, variances and covariance weighted by the paper's 11x11 circular
/// Gaussian window (sigma 1.5, normalised to sum 1), evaluated at every position where the
/// window lies wholly inside the picture (MATLAB's `filter2(..., 'valid')`), and the
/// result is the mean of that SSIM map. Unlike the reference `ssim.m`, the picture is not
/// downsampled first. A picture narrower or lower than 11 pixels is one window: the plain
/// (unweighted) statistics of the whole picture. Identical pictures give exactly 1.
///
/// # Panics
/// When a buffer is not `w * h * 3` bytes long.
pub fn ssim_luma(a: &[u8], b: &[u8], w: usize, h: usize) -> f64 {
    assert_eq!(
        a.len(),
        w * h * 3,
        "ssim_luma: first picture is not w*h*3 bytes"
    );
    assert_eq!(
        b.len(),
        w * h * 3,
        "ssim_luma: second picture is not w*h*3 bytes"
    );
    if w == 0 || h == 0 {
        return 1.0;
    }
    let (x, y) = (luma_bt601(a), luma_bt601(b));
    if w < SSIM_WINDOW || h < SSIM_WINDOW {
        return ssim_global(&x, &y);
    }
    let g = gaussian_window();
    let n = SSIM_WINDOW;
    let ow = w - n + 1;
    let oh = h - n + 1;
    // Horizontal pass: per row, the windowed sums of x, y, x^2, y^2, xy over `ow` columns.
    let mut horiz = vec![[0.0f64; 5]; ow * h];
    for r in 0..h {
        let (xr, yr) = (&x[r * w..(r + 1) * w], &y[r * w..(r + 1) * w]);
        for c in 0..ow {
            let mut s = [0.0f64; 5];
            for (k, &wt) in g.iter().enumerate() {
                let (p, q) = (xr[c + k], yr[c + k]);
                s[0] += wt * p;
                s[1] += wt * q;
                s[2] += wt * p * p;
                s[3] += wt * q * q;
                s[4] += wt * p * q;
            }
            horiz[r * ow + c] = s;
        }
    }
    // Vertical pass and the SSIM map, summed.
    let mut total = 0.0;
    let mut col = vec![[0.0f64; 5]; ow];
    for r in 0..oh {
        col.iter_mut().for_each(|s| *s = [0.0; 5]);
        for (k, &wt) in g.iter().enumerate() {
            let row = &horiz[(r + k) * ow..(r + k + 1) * ow];
            for (acc, s) in col.iter_mut().zip(row) {
                for i in 0..5 {
                    acc[i] += wt * s[i];
                }
            }
        }
        for s in &col {
            total += ssim_from_moments(
                s[0],
                s[1],
                s[2] - s[0] * s[0],
                s[3] - s[1] * s[1],
                s[4] - s[0] * s[1],
            );
        }
    }
    total / (ow * oh) as f64
}

const SSIM_C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
const SSIM_C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);

fn ssim_from_moments(mx: f64, my: f64, vx: f64, vy: f64, cxy: f64) -> f64 {
    ((2.0 * mx * my + SSIM_C1) * (2.0 * cxy + SSIM_C2))
        / ((mx * mx + my * my + SSIM_C1) * (vx + vy + SSIM_C2))
}

/// SSIM of two luma planes taken as a single window (small pictures).
fn ssim_global(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut vx, mut vy, mut cxy) = (0.0, 0.0, 0.0);
    for (&p, &q) in x.iter().zip(y) {
        vx += (p - mx) * (p - mx);
        vy += (q - my) * (q - my);
        cxy += (p - mx) * (q - my);
    }
    ssim_from_moments(mx, my, vx / n, vy / n, cxy / n)
}

/// The 1-D factor of the separable 11x11 Gaussian window (sigma 1.5), summing to 1.
fn gaussian_window() -> [f64; SSIM_WINDOW] {
    let mut g = [0.0; SSIM_WINDOW];
    let c = (SSIM_WINDOW / 2) as f64;
    for (i, v) in g.iter_mut().enumerate() {
        let d = i as f64 - c;
        *v = (-d * d / (2.0 * SSIM_SIGMA * SSIM_SIGMA)).exp();
    }
    let s: f64 = g.iter().sum();
    g.iter_mut().for_each(|v| *v /= s);
    g
}

/// Size of a side after `k` halvings, rounding up, as vc6 sizes LoQ `k`:
/// `ceil(len / 2^k)`, which equals `len = (len + 1) / 2` applied `k` times.
pub fn loq_len(len: usize, k: u32) -> usize {
    len.div_ceil(1usize << k)
}

/// Box-filter downscale of an RGB8 picture by `2^k` in each direction: each output pixel
/// is the rounded mean of its `2^k x 2^k` block of the source. The output is
/// `ceil(w / 2^k) x ceil(h / 2^k)` (the size of vc6's LoQ `k`); blocks at the right and
/// bottom edges that stick out of the picture are averaged over the pixels present.
/// Returns the pixels and the output width and height.
///
/// # Panics
/// When `rgb` is not `w * h * 3` bytes long, or `k >= usize::BITS`.
pub fn area_downscale(rgb: &[u8], w: usize, h: usize, k: u32) -> (Vec<u8>, usize, usize) {
    assert_eq!(
        rgb.len(),
        w * h * 3,
        "area_downscale: picture is not w*h*3 bytes"
    );
    let s = 1usize << k;
    let (ow, oh) = (loq_len(w, k), loq_len(h, k));
    let mut out = vec![0u8; ow * oh * 3];
    let mut sums = vec![0u64; ow * 3];
    for oy in 0..oh {
        sums.iter_mut().for_each(|v| *v = 0);
        let (y0, y1) = (oy * s, ((oy + 1) * s).min(h));
        for y in y0..y1 {
            let row = &rgb[y * w * 3..(y + 1) * w * 3];
            for (x, p) in row.chunks_exact(3).enumerate() {
                let o = (x / s) * 3;
                sums[o] += u64::from(p[0]);
                sums[o + 1] += u64::from(p[1]);
                sums[o + 2] += u64::from(p[2]);
            }
        }
        for ox in 0..ow {
            let count = ((((ox + 1) * s).min(w) - ox * s) * (y1 - y0)) as u64;
            for c in 0..3 {
                let v = (sums[ox * 3 + c] + count / 2) / count;
                out[(oy * ow + ox) * 3 + c] = v as u8;
            }
        }
    }
    (out, ow, oh)
}

/// The Lanczos-3 kernel `sinc(t) sinc(t / 3)` for `|t| < 3`, else 0.
fn lanczos3(t: f64) -> f64 {
    let t = t.abs();
    if t < 1e-12 {
        1.0
    } else if t >= 3.0 {
        0.0
    } else {
        let pt = std::f64::consts::PI * t;
        3.0 * pt.sin() * (pt / 3.0).sin() / (pt * pt)
    }
}

/// Per output sample along one axis: the first source index and the weights.
fn lanczos_taps(len: usize, out_len: usize, scale: f64) -> Vec<(usize, Vec<f32>)> {
    (0..out_len)
        .map(|i| {
            // Output sample i covers source [i*s, (i+1)*s): its centre in source pixels.
            let centre = (i as f64 + 0.5) * scale - 0.5;
            let reach = 3.0 * scale;
            let lo = ((centre - reach).floor() as isize + 1).max(0) as usize;
            let hi = ((centre + reach).ceil() as isize - 1).min(len as isize - 1) as usize;
            let lo = lo.min(hi);
            let mut wts: Vec<f64> = (lo..=hi)
                .map(|x| lanczos3((x as f64 - centre) / scale))
                .collect();
            let sum: f64 = wts.iter().sum();
            wts.iter_mut().for_each(|v| *v /= sum);
            (lo, wts.into_iter().map(|v| v as f32).collect())
        })
        .collect()
}

/// Lanczos-3 downscale of an RGB8 picture by `2^k` in each direction, to the same
/// `ceil(w / 2^k) x ceil(h / 2^k)` grid as [`area_downscale`] (output pixel `i` centred on
/// the source block `[i 2^k, (i + 1) 2^k)`). Separable, the kernel stretched by `2^k`
/// (support 3 output pixels each side); taps outside the picture are dropped and the rest
/// renormalised. Results are rounded and clamped to 0..=255.
///
/// # Panics
/// When `rgb` is not `w * h * 3` bytes long.
pub fn lanczos3_downscale(rgb: &[u8], w: usize, h: usize, k: u32) -> (Vec<u8>, usize, usize) {
    assert_eq!(
        rgb.len(),
        w * h * 3,
        "lanczos3_downscale: picture is not w*h*3 bytes"
    );
    let (ow, oh) = (loq_len(w, k), loq_len(h, k));
    if k == 0 {
        return (rgb.to_vec(), w, h);
    }
    let scale = (1u64 << k) as f64;
    let xt = lanczos_taps(w, ow, scale);
    let yt = lanczos_taps(h, oh, scale);
    // Horizontal: h rows of ow pixels, in f32.
    let mut tmp = vec![0.0f32; ow * h * 3];
    for y in 0..h {
        let row = &rgb[y * w * 3..(y + 1) * w * 3];
        for (ox, (lo, wts)) in xt.iter().enumerate() {
            let mut acc = [0.0f32; 3];
            for (j, &wt) in wts.iter().enumerate() {
                let p = &row[(lo + j) * 3..(lo + j) * 3 + 3];
                for c in 0..3 {
                    acc[c] += wt * f32::from(p[c]);
                }
            }
            tmp[(y * ow + ox) * 3..(y * ow + ox) * 3 + 3].copy_from_slice(&acc);
        }
    }
    let mut out = vec![0u8; ow * oh * 3];
    for (oy, (lo, wts)) in yt.iter().enumerate() {
        for ox in 0..ow {
            let mut acc = [0.0f32; 3];
            for (j, &wt) in wts.iter().enumerate() {
                let p = &tmp[((lo + j) * ow + ox) * 3..((lo + j) * ow + ox) * 3 + 3];
                for c in 0..3 {
                    acc[c] += wt * p[c];
                }
            }
            for c in 0..3 {
                out[(oy * ow + ox) * 3 + c] = acc[c].round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    (out, ow, oh)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic textured picture (no external data).
    fn picture(w: usize, h: usize) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                [
                    (128.0 + 90.0 * (x / 7.0).sin() * (y / 5.0).cos()) as u8,
                    (128.0 + 60.0 * (x / 3.0 + y / 11.0).sin()) as u8,
                    ((x * 3.0 + y * 5.0) as usize % 256) as u8,
                ]
            })
            .collect()
    }

    /// Adds a deterministic pseudo-random error of amplitude `amp` to every sample.
    fn noisy(p: &[u8], amp: i32) -> Vec<u8> {
        let mut s = 0x2545_f491_u32;
        p.iter()
            .map(|&v| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                let e = (s % (2 * amp as u32 + 1)) as i32 - amp;
                (i32::from(v) + e).clamp(0, 255) as u8
            })
            .collect()
    }

    #[test]
    fn psnr_of_identical_pictures_is_the_cap() {
        let p = picture(13, 9);
        assert_eq!(psnr_rgb(&p, &p), PSNR_CAP_DB);
        assert_eq!(psnr_from_mse(0.0), PSNR_CAP_DB);
        assert_eq!(psnr_rgb(&[], &[]), PSNR_CAP_DB);
    }

    #[test]
    fn psnr_small_examples_by_hand() {
        // One pixel, every sample off by 1: MSE 1, PSNR = 20 log10(255) = 48.1308 dB.
        let a = [10u8, 20, 30];
        let b = [11u8, 19, 31];
        assert!((psnr_rgb(&a, &b) - 48.130_803_608).abs() < 1e-6);
        // Two pixels, one sample off by 6 of 6 samples: MSE 36/6 = 6,
        // PSNR = 10 log10(65025 / 6) = 40.3493 dB.
        let a = [0u8, 0, 0, 100, 100, 100];
        let b = [0u8, 0, 0, 100, 106, 100];
        assert_eq!(sse(&a, &b), 36);
        assert!((psnr_rgb(&a, &b) - 40.349_2).abs() < 1e-3);
        // Black against white: MSE 255^2, 0 dB.
        assert!(psnr_rgb(&[0; 3], &[255; 3]).abs() < 1e-12);
    }

    #[test]
    fn luma_weights_are_bt601() {
        let y = luma_bt601(&[255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]);
        let want = [76.245, 149.685, 29.07, 255.0];
        for (g, w) in y.iter().zip(want) {
            assert!((g - w).abs() < 1e-9, "{g} vs {w}");
        }
    }

    #[test]
    fn gaussian_window_sums_to_one_and_is_symmetric() {
        let g = gaussian_window();
        assert!((g.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        for i in 0..SSIM_WINDOW {
            assert!((g[i] - g[SSIM_WINDOW - 1 - i]).abs() < 1e-15);
        }
        assert!(g[5] > g[4] && g[4] > g[0]);
    }

    #[test]
    fn ssim_of_identical_is_one_and_falls_with_noise() {
        let (w, h) = (40, 31);
        let p = picture(w, h);
        assert!((ssim_luma(&p, &p, w, h) - 1.0).abs() < 1e-12);
        let mut last = 1.0;
        for amp in [2, 8, 24, 64] {
            let s = ssim_luma(&p, &noisy(&p, amp), w, h);
            assert!(s < last, "SSIM {s} at noise {amp} not below {last}");
            assert!(s > 0.0);
            last = s;
        }
        assert!(last < 0.7, "heavy noise still gives SSIM {last}");
        // Small pictures use one global window: identical still gives 1.
        let q = picture(5, 4);
        assert!((ssim_luma(&q, &q, 5, 4) - 1.0).abs() < 1e-12);
        assert!(ssim_luma(&q, &noisy(&q, 30), 5, 4) < 1.0);
    }

    #[test]
    fn ssim_of_a_constant_shift_by_hand() {
        // Flat pictures of luma 100 and 110: sigma terms vanish, so
        // SSIM = (2*100*110 + C1) / (100^2 + 110^2 + C1) everywhere.
        let (w, h) = (16, 12);
        let a = vec![100u8; w * h * 3];
        let b = vec![110u8; w * h * 3];
        let want = (2.0 * 100.0 * 110.0 + SSIM_C1) / (100.0f64 * 100.0 + 110.0 * 110.0 + SSIM_C1);
        assert!((ssim_luma(&a, &b, w, h) - want).abs() < 1e-9);
        assert!((ssim_luma(&a[..27], &b[..27], 3, 3) - want).abs() < 1e-9);
    }

    #[test]
    fn area_downscale_of_constant_is_constant_at_odd_sizes() {
        for (w, h) in [(1, 1), (7, 5), (9, 13), (16, 16), (17, 3)] {
            let p: Vec<u8> = std::iter::repeat_n([12u8, 200, 77], w * h)
                .flatten()
                .collect();
            for k in 0..4 {
                let (o, ow, oh) = area_downscale(&p, w, h, k);
                assert_eq!((ow, oh), (loq_len(w, k), loq_len(h, k)));
                assert_eq!(o.len(), ow * oh * 3);
                assert!(
                    o.chunks_exact(3).all(|c| c == [12, 200, 77]),
                    "{w}x{h} k={k}"
                );
                let (l, lw, lh) = lanczos3_downscale(&p, w, h, k);
                assert_eq!((lw, lh), (ow, oh));
                assert!(
                    l.chunks_exact(3).all(|c| c == [12, 200, 77]),
                    "lanczos {w}x{h} k={k}"
                );
            }
        }
    }

    #[test]
    fn area_downscale_averages_blocks_and_partial_edges() {
        // 3x3 grey picture (R=G=B), k=1: output 2x2.
        //   1 2 3
        //   4 5 6
        //   7 8 9
        // blocks: {1,2,4,5} -> 3, {3,6} -> 4.5 -> 5 (rounded half up), {7,8} -> 7.5 -> 8, {9}.
        let g = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        let p: Vec<u8> = g.iter().flat_map(|&v| [v, v, v]).collect();
        let (o, ow, oh) = area_downscale(&p, 3, 3, 1);
        assert_eq!((ow, oh), (2, 2));
        let grey: Vec<u8> = o.chunks_exact(3).map(|c| c[0]).collect();
        assert_eq!(grey, [3, 5, 8, 9]);
        // k=2 on 3x3: one block, the mean of 1..=9 = 5.
        let (o, ow, oh) = area_downscale(&p, 3, 3, 2);
        assert_eq!((ow, oh, &o[..]), (1, 1, &[5u8, 5, 5][..]));
        // k=0 is the identity.
        assert_eq!(area_downscale(&p, 3, 3, 0).0, p);
    }

    #[test]
    fn loq_len_matches_repeated_halving() {
        for len in 1..100usize {
            let mut l = len;
            for k in 0..6 {
                assert_eq!(loq_len(len, k), l);
                l = l.div_ceil(2);
            }
        }
    }

    #[test]
    fn lanczos_and_area_agree_on_smooth_pictures() {
        // A smooth ramp: both downscales stay close (they differ only in the filter).
        let (w, h) = (64, 48);
        let p: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                [(x * 3) as u8, (y * 4) as u8, ((x + y) * 2) as u8]
            })
            .collect();
        for k in 1..3 {
            let (a, ..) = area_downscale(&p, w, h, k);
            let (l, ..) = lanczos3_downscale(&p, w, h, k);
            assert!(psnr_rgb(&a, &l) > 35.0, "k={k}: {}", psnr_rgb(&a, &l));
        }
    }
}
