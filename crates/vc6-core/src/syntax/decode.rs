//! Decoding tile payloads (docs/bitstream.md 7.5, 7.6): a [`TileDecoder`] reads a tile's
//! header and lanes, then its layers one by one, then checks the end. Dense layers of
//! several 8-lane tiles of a band can be decoded together ([`dense_group`]): one such
//! tile alone waits on every round's table lookup, several overlap theirs.
//!
//! The full rounds of 8- and 32-lane tiles run on the AVX2 decoder when the caller allows
//! it; the scalar decoder, the reference, runs everything else and gives the same result.

use super::context::MAX_CONTEXTS;
use super::errors;
use super::stree;
use super::tile::{Contexts, LayerTables, TileHeader, TileLayers, TileSpec, MODE_DENSE, MODE_ZERO};
use crate::entropy::{Lanes, WordReader, MAX_LANES, STATE_LOW};
use crate::error::{Error, Result};
use crate::quant::CoeffMap;

#[cfg(target_arch = "x86_64")]
use crate::entropy::x86::{Tables, WORD_PADDING};

/// Stand-in for the AVX2 decoder's table description where there is none (nothing
/// reads it: the stand-in `simd_rounds` decodes no symbol).
#[cfg(not(target_arch = "x86_64"))]
#[derive(Clone, Copy)]
#[allow(dead_code)]
enum Tables<'a> {
    Context { by_ctx: [u32; 8], ctx: &'a [u8] },
    Each(&'a [u32]),
    One(u32),
}
#[cfg(not(target_arch = "x86_64"))]
const WORD_PADDING: usize = 0;

/// Decodes one tile payload into the first `w * h` entries of each of `out`'s layers.
/// `tables[l]` and `maps[l]` are layer `l`'s decode tables and code-to-coefficient
/// mapping (dequantisation and clamping). With `simd`, the full rounds of 8- and 32-lane
/// tiles run on the AVX2 decoder (the caller checked [`crate::simd::avx2`]).
pub fn decode_tile(
    payload: &[u8],
    spec: &TileSpec<'_>,
    tables: &[LayerTables],
    maps: &[CoeffMap],
    out: &mut TileLayers,
    simd: bool,
) -> Result<()> {
    let mut d = TileDecoder::default();
    d.begin(payload, spec, tables.len(), out, simd)?;
    for l in 0..tables.len() {
        d.layer(l, spec, &tables[l], &maps[l], out)?;
    }
    d.finish()
}

/// A tile being decoded: its header, lanes and position in its words. Kept between tiles
/// so its buffers are reused.
#[derive(Default)]
pub struct TileDecoder {
    head: Option<TileHeader>,
    lanes: Option<Lanes>,
    /// The tile's words, followed by zeros for the vector loads.
    words: Vec<u8>,
    /// Bytes of words.
    len: usize,
    /// Byte position of the next word, and whether a read went past the end.
    pos: usize,
    overrun: bool,
    simd: bool,
    /// A context map made for the leaves of a tile that had none.
    ctx: Vec<u8>,
}

impl TileDecoder {
    /// Starts a tile: reads the header and the lanes' states, and readies `out` for
    /// `layers` layers of `spec.w x spec.h` coefficients.
    pub fn begin(
        &mut self,
        payload: &[u8],
        spec: &TileSpec<'_>,
        layers: usize,
        out: &mut TileLayers,
        simd: bool,
    ) -> Result<()> {
        out.prepare(layers, spec.w * spec.h);
        self.head = None;
        self.lanes = None;
        let Some((&first, body)) = payload.split_first() else {
            return Ok(());
        };
        let head = TileHeader::read(first, layers)?;
        let lanes = head.lanes();
        if body.len() < 4 * lanes || (body.len() - 4 * lanes) % 2 != 0 {
            return Err(Error::format(errors::bad_length(lanes, body.len())));
        }
        let (states, words) = body.split_at(4 * lanes);
        let mut x = [0u32; MAX_LANES];
        for (s, b) in x.iter_mut().zip(states.chunks_exact(4)) {
            *s = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        if x[..lanes].iter().any(|&s| s < STATE_LOW) {
            return Err(Error::format(errors::LOW_STATE));
        }
        self.words.clear();
        self.words.extend_from_slice(words);
        self.words.resize(words.len() + WORD_PADDING, 0);
        self.len = words.len();
        self.pos = 0;
        self.overrun = false;
        self.simd = simd && lanes >= 8;
        self.head = Some(head);
        self.lanes = Some(Lanes::new(&x[..lanes]));
        Ok(())
    }

    /// The mode of layer `l` (zero for an empty payload).
    pub fn mode(&self, l: usize) -> u8 {
        self.head.map_or(MODE_ZERO, |h| h.modes[l])
    }

    /// The tile's lane count (0 for an empty payload).
    pub fn lane_count(&self) -> usize {
        self.lanes.as_ref().map_or(0, |l| l.count)
    }

    /// Decodes layer `l` (layers go in order) with its tables and mapping into `out`.
    pub fn layer(
        &mut self,
        l: usize,
        spec: &TileSpec<'_>,
        t: &LayerTables,
        map: &CoeffMap,
        out: &mut TileLayers,
    ) -> Result<()> {
        match self.mode(l) {
            MODE_ZERO => out.clear(l),
            MODE_DENSE => return self.dense_from(l, spec, t, map, out, 0),
            _ => self.stree(l, spec, t, map, out)?,
        }
        self.check_symbols()
    }

    /// An s-tree layer: node levels, then the leaf values.
    fn stree(
        &mut self,
        l: usize,
        spec: &TileSpec<'_>,
        t: &LayerTables,
        map: &CoeffMap,
        out: &mut TileLayers,
    ) -> Result<()> {
        let (w, h) = (spec.w, spec.h);
        out.clear(l);
        out.dirty[l] = super::tile::Dirty::Leaves;
        let TileLayers {
            bufs,
            leaves,
            nodes,
            next,
            flags,
            offsets,
            values,
            ..
        } = out;
        nodes.clear();
        nodes.push((0, 0));
        for k in (1..=u32::from(spec.tile_log2)).rev() {
            let table = if k == 1 { t.low } else { t.high };
            values.clear();
            values.resize(nodes.len(), 0);
            self.symbols(spec, nodes.len(), table, values);
            if self.lanes.as_ref().is_some_and(|l| l.bad) {
                return Ok(());
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
        match spec.ctx {
            // Many leaves: a whole map (vectorised) costs less than window by window.
            Contexts::Lower {
                lower,
                lw,
                lh,
                x0,
                y0,
                thresholds,
            } if leaves.len() * 16 > w * h => {
                let blocks = crate::tableau::Rect {
                    x0: x0 as u32,
                    y0: y0 as u32,
                    x1: (x0 + w) as u32,
                    y1: (y0 + h) as u32,
                };
                super::context::context_map(lower, lw, lh, blocks, thresholds, &mut self.ctx);
                let c = &self.ctx;
                offsets.extend(
                    leaves
                        .iter()
                        .map(|&p| t.leaf[usize::from(c[p as usize]) & (MAX_CONTEXTS - 1)]),
                );
            }
            ctx => offsets.extend(
                leaves
                    .iter()
                    .map(|&p| t.leaf[usize::from(ctx.at(p as usize, w)) & (MAX_CONTEXTS - 1)]),
            ),
        }
        values.clear();
        values.resize(leaves.len(), 0);
        let count = leaves.len();
        self.values(
            spec,
            count,
            0,
            Tables::Each(offsets),
            |j| offsets[j],
            1,
            map,
            values,
        );
        let buf = &mut bufs[l][..w * h];
        for (&p, &v) in leaves.iter().zip(values.iter()) {
            buf[p as usize] = v;
        }
        Ok(())
    }

    /// Checks that every symbol so far came from a defined table and its alphabet.
    fn check_symbols(&self) -> Result<()> {
        if self.lanes.as_ref().is_some_and(|l| l.bad) {
            return Err(Error::format(errors::BAD_SYMBOL));
        }
        Ok(())
    }

    /// Checks the tile's end: every lane back at its start, the words used up exactly.
    pub fn finish(&self) -> Result<()> {
        let Some(lanes) = &self.lanes else {
            return Ok(());
        };
        self.check_symbols()?;
        if !(lanes.at_start() && !self.overrun && self.pos == self.len) {
            return Err(Error::format(errors::CORRUPT));
        }
        Ok(())
    }

    /// Symbols `done .. n` of a value phase, symbol `j` with the table at `table_of(j)`
    /// (also described by `tables` for the AVX2 decoder), its code plus `add` mapped by
    /// `map` into `out[j]`.
    #[allow(clippy::too_many_arguments)]
    fn values(
        &mut self,
        spec: &TileSpec<'_>,
        n: usize,
        done: usize,
        tables: Tables<'_>,
        table_of: impl Fn(usize) -> u32,
        add: u32,
        map: &CoeffMap,
        out: &mut [i32],
    ) {
        let done = done + self.simd_rounds(spec, n, done, tables, Some((add, map)), out);
        let size = 1usize << spec.log;
        let entries = spec.entries;
        let (mut w, lanes) = self.reader();
        lanes.phase(
            &mut w,
            spec.log,
            n - done,
            true,
            |j| &entries[table_of(done + j) as usize..][..size],
            |j, u| out[done + j] = map.get(u + add),
        );
        (self.pos, self.overrun) = (w.pos, w.overrun);
    }

    /// A node phase of `n` symbols of the table at `table`, into `out`.
    fn symbols(&mut self, spec: &TileSpec<'_>, n: usize, table: u32, out: &mut [i32]) {
        let done = self.simd_rounds(spec, n, 0, Tables::One(table), None, out);
        let t = &spec.entries[table as usize..][..1usize << spec.log];
        let (mut w, lanes) = self.reader();
        lanes.phase(
            &mut w,
            spec.log,
            n - done,
            false,
            |_| t,
            |j, s| out[done + j] = s as i32,
        );
        (self.pos, self.overrun) = (w.pos, w.overrun);
    }

    /// The scalar word reader at the current position, and the lanes.
    fn reader(&mut self) -> (WordReader<'_>, &mut Lanes) {
        let w = WordReader {
            data: &self.words[..self.len],
            pos: self.pos,
            overrun: self.overrun,
        };
        (w, self.lanes.as_mut().expect("a coded tile has lanes"))
    }

    /// The AVX2 decoder's full rounds of symbols `done .. n`; returns the symbols it
    /// decoded.
    #[cfg(target_arch = "x86_64")]
    fn simd_rounds(
        &mut self,
        spec: &TileSpec<'_>,
        n: usize,
        done: usize,
        tables: Tables<'_>,
        values: Option<(u32, &CoeffMap)>,
        out: &mut [i32],
    ) -> usize {
        use crate::entropy::x86::{rounds, Words};
        let Some(lanes) = self.lanes.as_mut() else {
            return 0;
        };
        if !self.simd || self.overrun || n - done < lanes.count {
            return 0;
        }
        let tables = match tables {
            Tables::Context { by_ctx, ctx } => Tables::Context {
                by_ctx,
                ctx: &ctx[done..],
            },
            Tables::Each(o) => Tables::Each(&o[done..]),
            t => t,
        };
        let mut w = Words {
            data: &self.words,
            len: self.len,
            pos: self.pos,
        };
        let slow = |u: u32| values.map_or(0, |(_, m)| m.get(u));
        let v = simd_values(values, &slow);
        let k = rounds(
            lanes,
            &mut w,
            spec.entries,
            spec.log,
            n - done,
            tables,
            v,
            &mut out[done..],
        );
        self.pos = w.pos;
        k
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn simd_rounds(
        &mut self,
        _: &TileSpec<'_>,
        _: usize,
        _: usize,
        _: Tables<'_>,
        _: Option<(u32, &CoeffMap)>,
        _: &mut [i32],
    ) -> usize {
        0
    }
}

/// The AVX2 decoder's form of a code-to-coefficient mapping (`None`: node symbols).
#[cfg(target_arch = "x86_64")]
fn simd_values<'a>(
    values: Option<(u32, &'a CoeffMap)>,
    slow: &'a dyn Fn(u32) -> i32,
) -> crate::entropy::x86::Values<'a> {
    use crate::entropy::x86::Values;
    match values {
        None => Values::Symbols,
        Some((add, m)) if m.quant().is_identity() => Values::Exact {
            add,
            bound: m.bound(),
        },
        Some((add, m)) => Values::Table {
            add,
            small: m.small(),
            slow,
        },
    }
}

/// Decodes dense layer `l` of several tiles of one band (one plane, section and layer:
/// one set of tables and one mapping). Tiles of one lane count that the AVX2 decoder may
/// run share their full rounds (up to four of 8 lanes, or two of 32; see the module
/// documentation); each tile then finishes its own phase. Returns each tile's result:
/// tiles fail on their own.
pub fn dense_group(
    l: usize,
    tiles: &mut [(&mut TileDecoder, &TileSpec<'_>, &mut TileLayers)],
    t: &LayerTables,
    map: &CoeffMap,
) -> Vec<Result<()>> {
    debug_assert!(tiles.iter().all(|(d, _, _)| d.mode(l) == MODE_DENSE));
    #[cfg(target_arch = "x86_64")]
    {
        use crate::entropy::x86::{dense_streams, Stream, Words};
        // The lane count with the most tiles that can share rounds.
        let able = |d: &TileDecoder, lanes: usize| d.simd && d.lane_count() == lanes && !d.overrun;
        let count = |lanes| tiles.iter().filter(|(d, _, _)| able(d, lanes)).count();
        let (lanes, most) = if count(8) >= 2 { (8, 4) } else { (32, 2) };
        if count(lanes) >= 2 {
            let slow = |u: u32| map.get(u);
            let values = simd_values(Some((0, map)), &slow);
            let (log, entries) = (tiles[0].1.log, tiles[0].1.entries);
            let mut streams = Vec::with_capacity(4);
            let mut done = Vec::with_capacity(tiles.len());
            for (d, spec, out) in tiles.iter_mut() {
                let n = spec.w * spec.h;
                let buf = out.overwrite(l, n);
                let ok = able(d, lanes) && streams.len() < most;
                let Contexts::Map(ctx) = spec.ctx else {
                    done.push(None);
                    continue;
                };
                if !ok {
                    done.push(None);
                    continue;
                }
                done.push(Some(streams.len()));
                streams.push(Stream {
                    lanes: d.lanes.as_mut().expect("a coded tile has lanes"),
                    words: Words {
                        data: &d.words,
                        len: d.len,
                        pos: d.pos,
                    },
                    ctx,
                    out: buf,
                    done: 0,
                });
            }
            if streams.len() >= 2 {
                dense_streams(&mut streams, entries, log, t.dense, values);
            }
            let progress: Vec<(usize, usize)> =
                streams.iter().map(|s| (s.words.pos, s.done)).collect();
            drop(streams);
            return tiles
                .iter_mut()
                .zip(done)
                .map(|((d, spec, out), s)| {
                    let (pos, from) = s.map_or((d.pos, 0), |k| progress[k]);
                    d.pos = pos;
                    d.dense_from(l, spec, t, map, out, from)
                })
                .collect();
        }
    }
    tiles
        .iter_mut()
        .map(|(d, spec, out)| d.layer(l, spec, t, map, out))
        .collect()
}

impl TileDecoder {
    /// A dense layer whose caller gave no context map (it did not expect one): the
    /// contexts position by position.
    fn dense_without_map(
        &mut self,
        l: usize,
        spec: &TileSpec<'_>,
        t: &LayerTables,
        map: &CoeffMap,
        out: &mut TileLayers,
    ) -> Result<()> {
        let n = spec.w * spec.h;
        let offsets: Vec<u32> = (0..n)
            .map(|p| t.dense[usize::from(spec.ctx.at(p, spec.w)) & (MAX_CONTEXTS - 1)])
            .collect();
        let buf = out.overwrite(l, n);
        self.values(
            spec,
            n,
            0,
            Tables::Each(&offsets),
            |j| offsets[j],
            0,
            map,
            buf,
        );
        self.check_symbols()
    }

    /// Decodes dense layer `l` from symbol `from` on (the symbols before are in `out`;
    /// 0: the whole layer).
    fn dense_from(
        &mut self,
        l: usize,
        spec: &TileSpec<'_>,
        t: &LayerTables,
        map: &CoeffMap,
        out: &mut TileLayers,
        from: usize,
    ) -> Result<()> {
        let n = spec.w * spec.h;
        let Contexts::Map(ctx) = spec.ctx else {
            return self.dense_without_map(l, spec, t, map, out);
        };
        let buf = out.overwrite(l, n);
        self.values(
            spec,
            n,
            from,
            Tables::Context {
                by_ctx: t.dense,
                ctx,
            },
            |j| t.dense[usize::from(ctx[j]) & (MAX_CONTEXTS - 1)],
            0,
            map,
            buf,
        );
        self.check_symbols()
    }
}
