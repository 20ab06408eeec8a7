//! Reversible colour transform YCoCg-R, applied to planes 0-2 (R, G, B) when the header
//! says so. Co and Cg take one bit more than the source; they are stored as signed
//! values in `[-(2^d - 1), 2^d - 1]`.

/// R, G, B to Y, Co, Cg.
#[inline(always)]
pub fn forward(r: i32, g: i32, b: i32) -> (i32, i32, i32) {
    let co = r - b;
    let t = b + (co >> 1);
    let cg = g - t;
    let y = t + (cg >> 1);
    (y, co, cg)
}

/// Y, Co, Cg to R, G, B.
#[inline(always)]
pub fn inverse(y: i32, co: i32, cg: i32) -> (i32, i32, i32) {
    let t = y - (cg >> 1);
    let g = cg + t;
    let b = t - (co >> 1);
    let r = b + co;
    (r, g, b)
}

/// Sample range `(lo, hi)` of plane `index` of a picture with this bit depth.
pub fn plane_range(bit_depth: u8, index: usize, colour_transform: bool) -> (i32, i32) {
    let max = (1i32 << bit_depth) - 1;
    if colour_transform && (index == 1 || index == 2) {
        (-max, max)
    } else {
        (0, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ycocg_is_reversible_and_in_range() {
        for depth in [1u8, 8, 16] {
            let max = (1 << depth) - 1;
            let vals = [0, 1, max / 3, max / 2, max - 1, max];
            for &r in &vals {
                for &g in &vals {
                    for &b in &vals {
                        let (y, co, cg) = forward(r, g, b);
                        assert_eq!(inverse(y, co, cg), (r, g, b));
                        assert!((0..=max).contains(&y));
                        assert!((-max..=max).contains(&co) && (-max..=max).contains(&cg));
                    }
                }
            }
        }
    }
}
