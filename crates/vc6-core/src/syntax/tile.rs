//! A tile's payload (docs/bitstream.md 7.6): its header byte (each layer's mode and the
//! lane count), the lanes' states and the word stream, and the phases of symbols they
//! code: for each layer in turn, nothing (zero), every coefficient (dense), or an s-tree
//! level by level and then its leaf values.

use super::context::MAX_CONTEXTS;
use super::stree;
use crate::entropy::{
    split_value, zigzag, Lanes, SymbolQueue, WordReader, LANE_CLASSES, STATE_LOW,
};
use crate::error::{Error, Result};
use crate::quant::CoeffMap;

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
    leaves: Vec<Vec<u32>>,
    dirty: Vec<Dirty>,
    /// S-tree scratch: node positions and flags.
    nodes: Vec<stree::Pos>,
    next: Vec<stree::Pos>,
    flags: Vec<u8>,
    /// Per-symbol table offsets and decoded values of a phase.
    offsets: Vec<u32>,
    values: Vec<i32>,
    /// The tile's words, followed by zeros for the vector loads.
    words: Vec<u8>,
}

/// Which entries of a layer buffer may be non-zero.
#[derive(Clone, Copy)]
enum Dirty {
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
    /// The context of each coefficient position (`w x h`), followed by at least 8 more
    /// bytes (read, unused, by vector loads).
    pub ctx: &'a [u8],
    /// Every decode table of the section, `2^log` entries each.
    pub entries: &'a [u32],
}

/// Decodes one tile payload into the first `w * h` entries of each of `out`'s layers.
/// `tables[l]` and `maps[l]` are layer `l`'s decode tables and code-to-coefficient mapping
/// (dequantisation and clamping). With `simd`, the full rounds of 8- and 32-lane tiles run
/// on the AVX2 decoder (the caller checked [`crate::simd::avx2`]); the scalar decoder, the
/// reference, runs everything else and gives the same result.
pub fn decode_tile(
    payload: &[u8],
    spec: &TileSpec<'_>,
    tables: &[LayerTables],
    maps: &[CoeffMap],
    out: &mut TileLayers,
    simd: bool,
) -> Result<()> {
    let layers = tables.len();
    let (w, h) = (spec.w, spec.h);
    let n = w * h;
    out.prepare(layers, n);
    let Some((&first, body)) = payload.split_first() else {
        for l in 0..layers {
            clear(&mut out.bufs[l], &out.leaves[l], &mut out.dirty[l]);
        }
        return Ok(());
    };
    let head = TileHeader::read(first, layers)?;
    let lanes = head.lanes();
    if body.len() < 4 * lanes || (body.len() - 4 * lanes) % 2 != 0 {
        return Err(Error::format(format!(
            "tile of {lanes} lanes has {} bytes after its header: not {lanes} states and whole words",
            body.len()
        )));
    }
    let (states, words) = body.split_at(4 * lanes);
    let mut x = [0u32; crate::entropy::MAX_LANES];
    for (s, b) in x.iter_mut().zip(states.chunks_exact(4)) {
        *s = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    if x[..lanes].iter().any(|&s| s < STATE_LOW) {
        return Err(Error::format("tile lane state below 2^16"));
    }
    let mut d = PhaseDecoder {
        lanes: Lanes::new(&x[..lanes]),
        pos: 0,
        overrun: false,
        len: words.len(),
        log: spec.log,
        entries: spec.entries,
        simd: simd && lanes >= 8,
    };
    if d.simd {
        out.words.clear();
        out.words.extend_from_slice(words);
        out.words.resize(words.len() + WORD_PADDING, 0);
    }
    let TileLayers {
        bufs,
        leaves,
        dirty,
        nodes,
        next,
        flags,
        offsets,
        values,
        words: padded,
    } = out;
    let words: &[u8] = if d.simd { padded } else { words };
    for l in 0..layers {
        let t = &tables[l];
        let map = &maps[l];
        match head.modes[l] {
            MODE_ZERO => clear(&mut bufs[l], &leaves[l], &mut dirty[l]),
            MODE_DENSE => {
                dirty[l] = match dirty[l] {
                    Dirty::Prefix(m) => Dirty::Prefix(m.max(n)),
                    _ => {
                        clear(&mut bufs[l], &leaves[l], &mut dirty[l]);
                        Dirty::Prefix(n)
                    }
                };
                let ctx = &spec.ctx[..];
                d.values(
                    words,
                    n,
                    Tables::Context {
                        by_ctx: t.dense,
                        ctx,
                    },
                    |j| t.dense[usize::from(ctx[j]) & (MAX_CONTEXTS - 1)],
                    0,
                    map,
                    &mut bufs[l][..n],
                );
            }
            _ => {
                clear(&mut bufs[l], &leaves[l], &mut dirty[l]);
                dirty[l] = Dirty::Leaves;
                nodes.clear();
                nodes.push((0, 0));
                for k in (1..=u32::from(spec.tile_log2)).rev() {
                    let table = if k == 1 { t.low } else { t.high };
                    values.clear();
                    values.resize(nodes.len(), 0);
                    d.symbols(words, nodes.len(), table, values);
                    if d.lanes.bad {
                        break;
                    }
                    flags.clear();
                    flags.extend(values.iter().map(|&f| f as u8));
                    stree::expand(nodes, flags, k, w, h, next)?;
                    std::mem::swap(nodes, next);
                }
                let leaves = &mut leaves[l];
                leaves.clear();
                leaves.extend(
                    nodes
                        .iter()
                        .map(|&(x, y)| u32::from(y) * w as u32 + u32::from(x)),
                );
                offsets.clear();
                offsets.extend(
                    leaves
                        .iter()
                        .map(|&p| t.leaf[usize::from(spec.ctx[p as usize]) & (MAX_CONTEXTS - 1)]),
                );
                values.clear();
                values.resize(leaves.len(), 0);
                d.values(
                    words,
                    leaves.len(),
                    Tables::Each(offsets),
                    |j| offsets[j],
                    1,
                    map,
                    values,
                );
                let buf = &mut bufs[l][..n];
                for (&p, &v) in leaves.iter().zip(values.iter()) {
                    buf[p as usize] = v;
                }
            }
        }
        if d.lanes.bad {
            return Err(Error::format(
                "tile uses a table its section does not define, or a symbol outside its alphabet",
            ));
        }
    }
    if !(d.lanes.at_start() && !d.overrun && d.pos == d.len) {
        return Err(Error::format(
            "entropy-coded data does not match its length (corrupted tile)",
        ));
    }
    Ok(())
}

/// Zeroes a layer buffer that `dirty` says may hold non-zeros at `leaves` or a prefix.
fn clear(buf: &mut [i32], leaves: &[u32], dirty: &mut Dirty) {
    match *dirty {
        Dirty::Clean => {}
        // Scattered stores beat a fill only while the leaves are few.
        Dirty::Leaves if leaves.len() * 8 < buf.len() => {
            for &i in leaves {
                buf[i as usize] = 0;
            }
        }
        Dirty::Leaves => buf.fill(0),
        Dirty::Prefix(n) => buf[..n].fill(0),
    }
    *dirty = Dirty::Clean;
}

/// Where the table offsets of a phase's symbols come from (the AVX2 decoder's form).
#[cfg(target_arch = "x86_64")]
use crate::entropy::x86::Tables;

/// Stand-in for the AVX2 decoder's table description where there is none.
#[cfg(not(target_arch = "x86_64"))]
#[derive(Clone, Copy)]
enum Tables<'a> {
    Context { by_ctx: [u32; 8], ctx: &'a [u8] },
    Each(&'a [u32]),
}

#[cfg(target_arch = "x86_64")]
use crate::entropy::x86::WORD_PADDING;
#[cfg(not(target_arch = "x86_64"))]
const WORD_PADDING: usize = 0;

/// A tile's lanes and word position, decoding phase after phase.
struct PhaseDecoder<'e> {
    lanes: Lanes,
    /// Byte position of the next word, and whether a read went past the end.
    pos: usize,
    overrun: bool,
    /// Bytes of words.
    len: usize,
    log: u32,
    entries: &'e [u32],
    simd: bool,
}

impl PhaseDecoder<'_> {
    /// A value phase of `n` symbols, symbol `j` with the table at `table_of(j)` (also
    /// described by `tables` for the AVX2 decoder), its code plus `add` mapped by `map`
    /// into `out[j]`.
    #[allow(clippy::too_many_arguments)]
    fn values(
        &mut self,
        words: &[u8],
        n: usize,
        tables: Tables<'_>,
        table_of: impl Fn(usize) -> u32,
        add: u32,
        map: &CoeffMap,
        out: &mut [i32],
    ) {
        let done = self.simd_rounds(words, n, tables, Some((add, map)), out);
        let size = 1usize << self.log;
        let entries = self.entries;
        let mut w = self.reader(words);
        self.lanes.phase(
            &mut w,
            self.log,
            n - done,
            true,
            |j| &entries[table_of(done + j) as usize..][..size],
            |j, u| out[done + j] = map.get(u + add),
        );
        self.pos = w.pos;
        self.overrun = w.overrun;
    }

    /// A node phase of `n` symbols of the table at `table`, into `out`.
    fn symbols(&mut self, words: &[u8], n: usize, table: u32, out: &mut [i32]) {
        #[cfg(target_arch = "x86_64")]
        let done = self.simd_rounds(words, n, Tables::One(table), None, out);
        #[cfg(not(target_arch = "x86_64"))]
        let done = 0;
        let size = 1usize << self.log;
        let t = &self.entries[table as usize..][..size];
        let mut w = self.reader(words);
        self.lanes.phase(
            &mut w,
            self.log,
            n - done,
            false,
            |_| t,
            |j, s| out[done + j] = s as i32,
        );
        self.pos = w.pos;
        self.overrun = w.overrun;
    }

    /// The scalar reader at the current position (over the words without their padding).
    fn reader<'w>(&self, words: &'w [u8]) -> WordReader<'w> {
        WordReader {
            data: &words[..self.len],
            pos: self.pos,
            overrun: self.overrun,
        }
    }

    /// The AVX2 decoder's full rounds; returns the symbols decoded.
    #[cfg(target_arch = "x86_64")]
    fn simd_rounds(
        &mut self,
        words: &[u8],
        n: usize,
        tables: Tables<'_>,
        values: Option<(u32, &CoeffMap)>,
        out: &mut [i32],
    ) -> usize {
        use crate::entropy::x86::{rounds, Values, Words};
        if !self.simd || self.overrun || n < self.lanes.count {
            return 0;
        }
        let mut w = Words {
            data: words,
            len: self.len,
            pos: self.pos,
        };
        let slow = |u: u32| values.map_or(0, |(_, m)| m.get(u));
        let v = match values {
            None => Values::Symbols,
            Some((add, m)) if m.quant().is_identity() => Values::Exact {
                add,
                bound: m.bound(),
            },
            Some((add, m)) => Values::Table {
                add,
                small: m.small(),
                slow: &slow,
            },
        };
        let done = rounds(
            &mut self.lanes,
            &mut w,
            self.entries,
            self.log,
            n,
            tables,
            v,
            out,
        );
        self.pos = w.pos;
        done
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn simd_rounds(
        &mut self,
        _: &[u8],
        _: usize,
        _: Tables<'_>,
        _: Option<(u32, &CoeffMap)>,
        _: &mut [i32],
    ) -> usize {
        0
    }
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
