//! The 2x2 directional decomposition: an integer-reversible (lifting) Haar transform of
//! each 2x2 block into an average `A` and horizontal, vertical and diagonal details.
//!
//! For a block `a b / c d`:
//! ```text
//! h1 = a - b;  l1 = b + (h1 >> 1)        h2 = c - d;  l2 = d + (h2 >> 1)
//! V  = l1 - l2; A = l2 + (V >> 1)        D  = h1 - h2; H = h2 + (D >> 1)
//! ```
//! `>>` is an arithmetic shift (floor division by 2). `A` lies within the range of the
//! samples; it is the sample of the echelon below.

/// Forward transform: `[a, b, c, d]` to `[A, H, V, D]`.
#[inline(always)]
pub fn forward(s: [i32; 4]) -> [i32; 4] {
    let [a, b, c, d] = s;
    let h1 = a - b;
    let l1 = b + (h1 >> 1);
    let h2 = c - d;
    let l2 = d + (h2 >> 1);
    let v = l1 - l2;
    let avg = l2 + (v >> 1);
    let dd = h1 - h2;
    let h = h2 + (dd >> 1);
    [avg, h, v, dd]
}

/// Inverse transform: `[A, H, V, D]` to `[a, b, c, d]`.
#[inline(always)]
pub fn inverse(t: [i32; 4]) -> [i32; 4] {
    let [avg, h, v, dd] = t;
    let l2 = avg - (v >> 1);
    let l1 = v + l2;
    let h2 = h - (dd >> 1);
    let h1 = dd + h2;
    let b = l1 - (h1 >> 1);
    let a = h1 + b;
    let d = l2 - (h2 >> 1);
    let c = h2 + d;
    [a, b, c, d]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transform_is_reversible_and_average_in_range() {
        let vals = [-65535, -300, -1, 0, 1, 2, 7, 255, 65535];
        for &a in &vals {
            for &b in &vals {
                for &c in &vals {
                    for &d in &vals {
                        let t = forward([a, b, c, d]);
                        assert_eq!(inverse(t), [a, b, c, d]);
                        let lo = a.min(b).min(c).min(d);
                        let hi = a.max(b).max(c).max(d);
                        assert!(t[0] >= lo && t[0] <= hi);
                    }
                }
            }
        }
        assert_eq!(forward([5, 5, 5, 5]), [5, 0, 0, 0]);
    }
}
