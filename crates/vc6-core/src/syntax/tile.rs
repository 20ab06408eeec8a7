//! A tile's payload (docs/bitstream.md 7.6): its header byte (each layer's mode and the
//! lane count), the lanes' states and the word stream, and the phases of symbols they
//! code: for each layer in turn, nothing (zero), every coefficient (dense), or an s-tree
//! level by level and then its leaf values.

use super::context::MAX_CONTEXTS;
use super::stree;
use crate::entropy::{split_value, zigzag, SymbolQueue, LANE_CLASSES};
use crate::error::{Error, Result};

/// Layer mode: every coefficient is zero; nothing is coded.
pub const MODE_ZERO: u8 = 0;
/// Layer mode: every coefficient coded, in raster order.
pub const MODE_DENSE: u8 = 1;
/// Layer mode: an s-tree with non-zero leaves.
pub const MODE_STREE: u8 = 2;

/// Table kind: values of dense layers.
pub const KIND_DENSE: usize = 0;
/// Table kind: s-tree leaf values (non-zero, coded as `zigzag(v) - 1`).
pub const KIND_LEAF: usize = 1;
/// Table kind: s-tree nodes at level 1 (their children are leaves).
pub const KIND_NODE_LOW: usize = 2;
/// Table kind: s-tree nodes above level 1.
pub const KIND_NODE_HIGH: usize = 3;
/// Number of table kinds per layer.
pub const KINDS: usize = 4;
/// Most layers a tile has (H, V, D and the average residual).
pub const MAX_LAYERS: usize = 4;

/// True for the kinds whose symbols are value tokens (with extra bits and contexts).
pub fn is_value_kind(kind: usize) -> bool {
    kind == KIND_DENSE || kind == KIND_LEAF
}

/// Alphabet size of a table kind.
pub fn alphabet(kind: usize) -> usize {
    if is_value_kind(kind) {
        crate::entropy::VALUE_ALPHABET
    } else {
        crate::entropy::NODE_ALPHABET
    }
}

/// A tile's header byte: `m0 + 3 m1 + 9 m2 + 27 m3 + 81 c`, the modes of its layers
/// (0 for layers it does not have) and its lane class `c` ([`LANE_CLASSES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileHeader {
    /// Mode of each layer.
    pub modes: [u8; MAX_LAYERS],
    /// Lane class: 1, 8 or 32 lanes.
    pub class: u8,
}

impl TileHeader {
    /// The lane count.
    pub fn lanes(&self) -> usize {
        LANE_CLASSES[usize::from(self.class)]
    }

    /// True when every layer is zero (the tile's payload is then empty).
    pub fn is_empty(&self) -> bool {
        self.modes.iter().all(|&m| m == MODE_ZERO)
    }

    /// The header byte.
    pub fn byte(&self) -> u8 {
        let m = self
            .modes
            .iter()
            .rev()
            .fold(0u32, |acc, &m| acc * 3 + u32::from(m));
        (m + 81 * u32::from(self.class)) as u8
    }

    /// Reads a header byte for a tile of `layers` layers.
    pub fn read(b: u8, layers: usize) -> Result<TileHeader> {
        let (m, class) = (u32::from(b) % 81, u32::from(b) / 81);
        if class as usize >= LANE_CLASSES.len() {
            return Err(Error::format(format!(
                "tile header {b} names lane class {class}"
            )));
        }
        if m >= 3u32.pow(layers as u32) {
            return Err(Error::format(format!(
                "tile header {b} sets modes for layers a tile of {layers} does not have"
            )));
        }
        if m == 0 {
            return Err(Error::format(
                "tile header says every layer is zero; such a tile has an empty payload",
            ));
        }
        let mut modes = [0; MAX_LAYERS];
        let mut rest = m;
        for mode in &mut modes {
            *mode = (rest % 3) as u8;
            rest /= 3;
        }
        Ok(TileHeader {
            modes,
            class: class as u8,
        })
    }
}

/// Picks a mode for a layer (an encoder heuristic; any mode decodes). S-trees pay off in
/// size from about 60% zeros, but dense layers decode faster: measured on the corpus, a
/// threshold of 75% zeros costs 1.5% in size and saves 14% of decode instructions.
pub fn choose_mode(vals: &[i32]) -> u8 {
    let nz = vals.iter().filter(|&&v| v != 0).count();
    if nz == 0 {
        MODE_ZERO
    } else if nz * 4 < vals.len() {
        MODE_STREE
    } else {
        MODE_DENSE
    }
}

/// Queues the symbols of one layer (`w x h` values, row-major, in a tile of side
/// `2^t`) in `mode`, phase by phase: each symbol with the table `key(kind, context)`,
/// the context of a value being `ctx` at its position (0 for nodes).
#[allow(clippy::too_many_arguments)]
pub fn model_layer(
    vals: &[i32],
    w: usize,
    h: usize,
    t: u8,
    mode: u8,
    ctx: &[u8],
    queue: &mut SymbolQueue,
    key: impl Fn(usize, u8) -> u16,
) {
    let value = |kind: usize, c: u8, u: u32, q: &mut SymbolQueue| {
        let (tok, nb, extra) = split_value(u);
        q.put(key(kind, c), tok, nb as u8, extra);
    };
    match mode {
        MODE_ZERO => {}
        MODE_DENSE => {
            for (i, &v) in vals.iter().enumerate() {
                value(KIND_DENSE, ctx[i], zigzag(v), queue);
            }
            queue.end_phase();
        }
        MODE_STREE => {
            let (levels, leaves) = stree::build(vals, w, h, t);
            let depth = levels.len();
            for (i, level) in levels.iter().enumerate() {
                let kind = if i + 1 == depth {
                    KIND_NODE_LOW
                } else {
                    KIND_NODE_HIGH
                };
                for &(_, flags) in level {
                    queue.put(key(kind, 0), flags, 0, 0);
                }
                queue.end_phase();
            }
            for (x, y) in leaves {
                let i = usize::from(y) * w + usize::from(x);
                value(KIND_LEAF, ctx[i], zigzag(vals[i]) - 1, queue);
            }
            queue.end_phase();
        }
        _ => unreachable!("invalid layer mode"),
    }
}

/// The decode tables of one layer of a tile, as offsets into the section's entries
/// ([`TileSpec::entries`]): for the value kinds one table per context (a missing table is
/// one whose entries name [`crate::entropy::INVALID_SYMBOL`]), for the node kinds one
/// each. Each table is `2^log` entries.
#[derive(Debug, Clone, Copy, Default)]
pub struct LayerTables {
    /// Dense values, by context.
    pub dense: [u32; MAX_CONTEXTS],
    /// S-tree leaf values, by context.
    pub leaf: [u32; MAX_CONTEXTS],
    /// S-tree nodes at level 1.
    pub low: u32,
    /// S-tree nodes above level 1.
    pub high: u32,
}

/// The coefficient layers of one tile, reused from tile to tile. Each layer remembers
/// which of its entries the last tile may have left non-zero, so the next tile clears
/// only those (s-tree layers touch a few entries, dense layers overwrite all).
#[derive(Default)]
pub struct TileLayers {
    /// One buffer per layer.
    pub bufs: Vec<Vec<i32>>,
    /// Per layer: positions of the last s-tree's leaves.
    pub(super) leaves: Vec<Vec<u32>>,
    pub(super) dirty: Vec<Dirty>,
    /// S-tree scratch: node positions and flags.
    pub(super) nodes: Vec<stree::Pos>,
    pub(super) next: Vec<stree::Pos>,
    pub(super) flags: Vec<u8>,
    /// Per-symbol table offsets and decoded values of a phase.
    pub(super) offsets: Vec<u32>,
    pub(super) values: Vec<i32>,
}

/// Which entries of a layer buffer may be non-zero.
#[derive(Clone, Copy)]
pub(super) enum Dirty {
    /// None: the buffer is all zero.
    Clean,
    /// Those in the layer's `leaves`.
    Leaves,
    /// Any of the first `n`.
    Prefix(usize),
}

impl TileLayers {
    /// Readies at least `layers` layers of at least `n` entries each. Buffers only grow
    /// (with zeros), so what `dirty` says of them stays true.
    pub fn prepare(&mut self, layers: usize, n: usize) {
        for l in 0..layers {
            if l == self.bufs.len() {
                self.bufs.push(Vec::new());
                self.leaves.push(Vec::new());
                self.dirty.push(Dirty::Clean);
            }
            if self.bufs[l].len() < n {
                self.bufs[l].resize(n, 0);
            }
        }
    }

    /// Zeroes layer `l` (only what the last tile may have left non-zero).
    pub(super) fn clear(&mut self, l: usize) {
        let buf = &mut self.bufs[l];
        match self.dirty[l] {
            Dirty::Clean => {}
            // Scattered stores beat a fill only while the leaves are few.
            Dirty::Leaves if self.leaves[l].len() * 8 < buf.len() => {
                for &i in &self.leaves[l] {
                    buf[i as usize] = 0;
                }
            }
            Dirty::Leaves => buf.fill(0),
            Dirty::Prefix(n) => buf[..n].fill(0),
        }
        self.dirty[l] = Dirty::Clean;
    }

    /// Layer `l`'s first `n` entries, to be overwritten whole (a dense layer).
    pub(super) fn overwrite(&mut self, l: usize, n: usize) -> &mut [i32] {
        self.dirty[l] = match self.dirty[l] {
            Dirty::Prefix(m) => Dirty::Prefix(m.max(n)),
            _ => {
                // The last tile's leaves may lie past `n` (a smaller tile now).
                self.clear(l);
                Dirty::Prefix(n)
            }
        };
        &mut self.bufs[l][..n]
    }

    /// Layer `l`'s first `n` entries, for the caller to change in place (they hold every
    /// non-zero entry).
    pub fn decoded_mut(&mut self, l: usize, n: usize) -> &mut [i32] {
        self.dirty[l] = match self.dirty[l] {
            Dirty::Prefix(m) => Dirty::Prefix(m.max(n)),
            Dirty::Clean | Dirty::Leaves => Dirty::Prefix(n),
        };
        &mut self.bufs[l][..n]
    }
}

/// Where a tile's coefficient contexts come from.
#[derive(Debug, Clone, Copy)]
pub enum Contexts<'a> {
    /// A map of every position (`w x h`, row-major), followed by at least 8 more bytes
    /// (read, unused, by vector loads). Dense layers need it.
    Map(&'a [u8]),
    /// Computed position by position from the echelon below (`lower`, `lw` samples a
    /// row), the tile's blocks starting at `(x0, y0)` of its grid: cheaper than a map
    /// when only a few leaves need one.
    Lower {
        /// The echelon below.
        lower: &'a [i32],
        /// Its width.
        lw: usize,
        /// Its height.
        lh: usize,
        /// The tile's first block.
        x0: usize,
        /// Its first block row.
        y0: usize,
        /// The plane's thresholds.
        thresholds: &'a [u32],
    },
    /// Context 0 everywhere (a lowest echelon, one context).
    Zero,
}

impl Contexts<'_> {
    /// The context of position `p` of a tile `w` coefficients wide.
    #[inline]
    pub fn at(&self, p: usize, w: usize) -> u8 {
        match *self {
            Contexts::Map(m) => m[p],
            Contexts::Lower {
                lower,
                lw,
                lh,
                x0,
                y0,
                thresholds,
            } => {
                let a = super::context::activity(lower, lw, lh, x0 + p % w, y0 + p / w);
                super::context::context_of(a, thresholds)
            }
            Contexts::Zero => 0,
        }
    }
}

/// What decoding a tile needs besides its payload.
#[derive(Debug, Clone, Copy)]
pub struct TileSpec<'a> {
    /// Table precision of the section.
    pub log: u32,
    /// log2 of the tile side.
    pub tile_log2: u8,
    /// Tile size in coefficients.
    pub w: usize,
    /// Tile height.
    pub h: usize,
    /// The context of each coefficient position.
    pub ctx: Contexts<'a>,
    /// Every decode table of the section, `2^log` entries each.
    pub entries: &'a [u32],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes_round_trip_and_checks() {
        for layers in [1usize, 3, 4] {
            for class in 0..3u8 {
                for m in 1..3u32.pow(layers as u32) {
                    let mut modes = [0; MAX_LAYERS];
                    let mut r = m;
                    for mode in modes.iter_mut().take(layers) {
                        *mode = (r % 3) as u8;
                        r /= 3;
                    }
                    let h = TileHeader { modes, class };
                    assert_eq!(TileHeader::read(h.byte(), layers).unwrap(), h);
                }
            }
        }
        assert!(TileHeader::read(0, 3).is_err());
        assert!(TileHeader::read(81, 3).is_err());
        assert!(TileHeader::read(3, 1).is_err());
        assert!(TileHeader::read(243, 4).is_err());
        assert!(TileHeader::read(242, 4).is_ok());
    }
}
