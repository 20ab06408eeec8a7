//! Tile grids and the tableau: the per-tile byte sizes at the front of each section,
//! which let a decoder find any tile without decoding the ones before it.

use crate::bytes::{ByteReader, ByteWriter};
use crate::error::{Error, Result};

/// A rectangle `[x0, x1) x [y0, y1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    /// Left edge (inclusive).
    pub x0: u32,
    /// Top edge (inclusive).
    pub y0: u32,
    /// Right edge (exclusive).
    pub x1: u32,
    /// Bottom edge (exclusive).
    pub y1: u32,
}

impl Rect {
    /// The rectangle `[0, w) x [0, h)`.
    pub fn full(w: u32, h: u32) -> Rect {
        Rect {
            x0: 0,
            y0: 0,
            x1: w,
            y1: h,
        }
    }
    /// Width.
    pub fn width(&self) -> u32 {
        self.x1 - self.x0
    }
    /// Height.
    pub fn height(&self) -> u32 {
        self.y1 - self.y0
    }
    /// True when the rectangle holds no samples.
    pub fn is_empty(&self) -> bool {
        self.x0 >= self.x1 || self.y0 >= self.y1
    }
    /// The rectangle in the grid below (each sample of that grid covers 2x2 here).
    pub fn halved(&self) -> Rect {
        Rect {
            x0: self.x0 / 2,
            y0: self.y0 / 2,
            x1: self.x1.div_ceil(2),
            y1: self.y1.div_ceil(2),
        }
    }
    /// Grown by `m` on every side, clipped to `[0, w) x [0, h)`.
    pub fn grown(&self, m: u32, w: u32, h: u32) -> Rect {
        Rect {
            x0: self.x0.saturating_sub(m),
            y0: self.y0.saturating_sub(m),
            x1: (self.x1 + m).min(w),
            y1: (self.y1 + m).min(h),
        }
    }
}

/// How a grid of `width x height` coefficients splits into square tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileGrid {
    /// Grid width in coefficients.
    pub width: u32,
    /// Grid height in coefficients.
    pub height: u32,
    /// log2 of the tile side.
    pub tile_log2: u8,
}

impl TileGrid {
    /// Tiles across.
    pub fn tiles_x(&self) -> u32 {
        self.width.div_ceil(1 << self.tile_log2)
    }
    /// Tiles down.
    pub fn tiles_y(&self) -> u32 {
        self.height.div_ceil(1 << self.tile_log2)
    }
    /// Number of tiles.
    pub fn count(&self) -> usize {
        self.tiles_x() as usize * self.tiles_y() as usize
    }
    /// The coefficients covered by tile `(tx, ty)`.
    pub fn tile_rect(&self, tx: u32, ty: u32) -> Rect {
        let s = self.tile_log2;
        Rect {
            x0: tx << s,
            y0: ty << s,
            x1: ((tx + 1) << s).min(self.width),
            y1: ((ty + 1) << s).min(self.height),
        }
    }
    /// Tile coordinates `(tx0..tx1, ty0..ty1)` of the tiles that intersect `r`.
    pub fn tiles_covering(&self, r: Rect) -> Rect {
        let s = self.tile_log2;
        if r.is_empty() {
            return Rect::default();
        }
        Rect {
            x0: r.x0 >> s,
            y0: r.y0 >> s,
            x1: ((r.x1 - 1) >> s) + 1,
            y1: ((r.y1 - 1) >> s) + 1,
        }
    }
}

/// Writes the tile sizes as varints.
pub(crate) fn write_tableau(sizes: &[u32], out: &mut Vec<u8>) {
    sizes.iter().for_each(|&s| out.put_varint(s));
}

/// Reads `count` tile sizes and turns them into byte offsets relative to the first
/// payload byte; the returned vector has `count + 1` entries.
pub(crate) fn read_tableau(
    r: &mut ByteReader<'_>,
    count: usize,
    payload_limit: u64,
) -> Result<Vec<u64>> {
    // Each entry takes at least one byte, so the count is bounded by the data.
    if count > r.remaining() {
        return Err(Error::format(format!(
            "tableau lists {count} tiles but the section has only {} bytes left",
            r.remaining()
        )));
    }
    let mut offsets = Vec::with_capacity(count + 1);
    let mut acc = 0u64;
    offsets.push(0);
    for _ in 0..count {
        acc += u64::from(r.varint("tableau")?);
        if acc > payload_limit {
            return Err(Error::format(
                "tableau tile sizes exceed the section length",
            ));
        }
        offsets.push(acc);
    }
    Ok(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_geometry() {
        let g = TileGrid {
            width: 130,
            height: 64,
            tile_log2: 6,
        };
        assert_eq!((g.tiles_x(), g.tiles_y(), g.count()), (3, 1, 3));
        assert_eq!(
            g.tile_rect(2, 0),
            Rect {
                x0: 128,
                y0: 0,
                x1: 130,
                y1: 64
            }
        );
        let c = g.tiles_covering(Rect {
            x0: 60,
            y0: 10,
            x1: 70,
            y1: 11,
        });
        assert_eq!(
            c,
            Rect {
                x0: 0,
                y0: 0,
                x1: 2,
                y1: 1
            }
        );
        assert_eq!(
            Rect {
                x0: 3,
                y0: 3,
                x1: 7,
                y1: 8
            }
            .halved(),
            Rect {
                x0: 1,
                y0: 1,
                x1: 4,
                y1: 4
            }
        );
    }

    #[test]
    fn tableau_round_trip_and_bounds() {
        let sizes = [5u32, 300, 0, 70000];
        let mut buf = Vec::new();
        write_tableau(&sizes, &mut buf);
        let offs = read_tableau(&mut ByteReader::new(&buf), 4, 100_000).unwrap();
        assert_eq!(offs, vec![0, 5, 305, 305, 70305]);
        assert!(read_tableau(&mut ByteReader::new(&buf), 4, 1000).is_err());
        assert!(read_tableau(&mut ByteReader::new(&buf), 400, 1 << 40).is_err());
    }
}
