//! The s-tree of a sparse layer (docs/bitstream.md 7.6), level by level.
//!
//! An s-tree covers the tile's `2^t x 2^t` square. A node at level `k >= 1` covers a
//! `2^k` square and holds four flags, one per quadrant in Z order (bit 0 top-left, 1
//! top-right, 2 bottom-left, 3 bottom-right), saying whether that quadrant holds a
//! non-zero coefficient. The nodes are coded level by level from the root, each level in
//! the order of its parents, children in flag order; that is Z (Morton) order, and it
//! lets a decoder know each level's length (the flags set one level up) before it starts
//! the level. The flagged quadrants of level 1 are the leaves, whose values follow.

use crate::error::{Error, Result};

/// A node or leaf position, in units of its level's squares.
pub type Pos = (u16, u16);

/// The nodes of every level of the s-tree of a `w x h` layer (`vals`, row-major) in a
/// `2^t` tile, with their flags, from the root down: `levels[i]` is level `t - i`. Then
/// the leaves (level 0 positions), in order. The layer must hold a non-zero.
pub fn build(vals: &[i32], w: usize, h: usize, t: u8) -> (Vec<Vec<(Pos, u8)>>, Vec<Pos>) {
    let t = usize::from(t);
    let side = 1usize << t;
    // occ[k][y][x]: does the 2^k square at (x, y) << k hold a non-zero?
    let mut occ: Vec<Vec<bool>> = Vec::with_capacity(t + 1);
    let mut base = vec![false; side * side];
    for y in 0..h {
        for x in 0..w {
            base[y * side + x] = vals[y * w + x] != 0;
        }
    }
    occ.push(base);
    for k in 1..=t {
        let s = side >> k;
        let prev = &occ[k - 1];
        let ps = 2 * s;
        let level = (0..s * s)
            .map(|i| {
                let (x, y) = (i % s * 2, i / s * 2);
                prev[y * ps + x]
                    || prev[y * ps + x + 1]
                    || prev[(y + 1) * ps + x]
                    || prev[(y + 1) * ps + x + 1]
            })
            .collect();
        occ.push(level);
    }
    let mut levels = Vec::with_capacity(t);
    let mut nodes: Vec<Pos> = vec![(0, 0)];
    for k in (1..=t).rev() {
        let s = side >> (k - 1);
        let mut level = Vec::with_capacity(nodes.len());
        let mut next = Vec::with_capacity(nodes.len() * 2);
        for &(x, y) in &nodes {
            let mut flags = 0u8;
            for i in 0..4u16 {
                let (cx, cy) = (2 * x + (i & 1), 2 * y + (i >> 1));
                if occ[k - 1][usize::from(cy) * s + usize::from(cx)] {
                    flags |= 1 << i;
                    next.push((cx, cy));
                }
            }
            level.push(((x, y), flags));
        }
        levels.push(level);
        nodes = next;
    }
    (levels, nodes)
}

/// The children of the nodes at level `k` of a `w x h` tile with their decoded `flags`,
/// appended to `next` in order; checks that each node flags a quadrant and only
/// quadrants that start inside the tile.
pub fn expand(
    nodes: &[Pos],
    flags: &[u8],
    k: u32,
    w: usize,
    h: usize,
    next: &mut Vec<Pos>,
) -> Result<()> {
    next.clear();
    next.reserve(4 * nodes.len());
    let (kw, kh) = (w.div_ceil(1 << (k - 1)), h.div_ceil(1 << (k - 1)));
    for (&(x, y), &f) in nodes.iter().zip(flags) {
        // Quadrants that start inside the tile: the right ones when column 2x + 1 of
        // level k - 1 does, the bottom ones when row 2y + 1 does.
        let right = usize::from(2 * x + 1) < kw;
        let down = usize::from(2 * y + 1) < kh;
        let valid = 1 | u8::from(right) << 1 | u8::from(down) << 2 | u8::from(right && down) << 3;
        if f == 0 || f & !valid != 0 {
            return Err(Error::format(if f == 0 {
                super::errors::EMPTY_NODE
            } else {
                super::errors::OUTSIDE
            }));
        }
        let (bx, by) = (2 * x, 2 * y);
        for &(dx, dy) in CHILDREN[usize::from(f & 15)] {
            next.push((bx + dx, by + dy));
        }
    }
    Ok(())
}

/// The flagged quadrants of each node symbol, in flag order.
static CHILDREN: [&[(u16, u16)]; 16] = [
    &[],
    &[(0, 0)],
    &[(1, 0)],
    &[(0, 0), (1, 0)],
    &[(0, 1)],
    &[(0, 0), (0, 1)],
    &[(1, 0), (0, 1)],
    &[(0, 0), (1, 0), (0, 1)],
    &[(1, 1)],
    &[(0, 0), (1, 1)],
    &[(1, 0), (1, 1)],
    &[(0, 0), (1, 0), (1, 1)],
    &[(0, 1), (1, 1)],
    &[(0, 0), (0, 1), (1, 1)],
    &[(1, 0), (0, 1), (1, 1)],
    &[(0, 0), (1, 0), (0, 1), (1, 1)],
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_in_z_order_and_expand_back() {
        // 5 x 3 layer in a 4 x 4... tile of side 8 (t = 3).
        let (w, h) = (5, 3);
        let mut vals = vec![0; w * h];
        vals[0] = 1;
        vals[4] = -2;
        vals[2 * w + 1] = 3;
        let (levels, leaves) = build(&vals, w, h, 3);
        assert_eq!(levels.len(), 3);
        assert_eq!(levels[0], vec![((0, 0), 0b0011)]);
        let mut nodes = vec![(0u16, 0u16)];
        let mut next = Vec::new();
        for (i, level) in levels.iter().enumerate() {
            let k = 3 - i as u32;
            let pos: Vec<Pos> = level.iter().map(|l| l.0).collect();
            assert_eq!(pos, nodes);
            let flags: Vec<u8> = level.iter().map(|l| l.1).collect();
            expand(&nodes, &flags, k, w, h, &mut next).unwrap();
            nodes = next.clone();
        }
        assert_eq!(nodes, leaves);
        // Morton order: (0,0), (1,2), then (4,0).
        assert_eq!(leaves, vec![(0, 0), (1, 2), (4, 0)]);
        // A flag past the tile's edge, and an empty node, are refused.
        assert!(expand(&[(0, 0)], &[0b0100], 2, 4, 1, &mut next).is_err());
        assert!(expand(&[(0, 0)], &[0], 2, 4, 4, &mut next).is_err());
    }
}
