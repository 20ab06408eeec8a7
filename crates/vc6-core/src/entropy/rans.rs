//! The rANS encoder of a tile (docs/bitstream.md 7.5).
//!
//! A tile's symbols come in *phases* (a dense layer, one level of an s-tree, the s-tree's
//! leaf values), each of a length the decoder knows before it starts the phase. A phase
//! is decoded in *rounds* of up to `lanes` symbols, symbol `j` of the phase in lane
//! `j mod lanes`: first every lane's token (in lane order), then every lane's extra bits
//! (a bypass step of up to 16 bits, in lane order), then the extra bits past 16 of the
//! lanes that have them. A lane whose state falls below [`STATE_LOW`] after a step reads
//! one 16-bit word, the next of the tile's single word stream.
//!
//! The encoder runs all of that backwards, from the last step to the first, and writes
//! the words it emits in reverse, so that the stream is in the order the decoder reads.

use super::table::FreqTable;
use super::{BYPASS_BITS, STATE_LOW};
use crate::bytes::ByteWriter;

/// A symbol waiting to be coded: the caller's table number, the symbol, and its extra
/// bits (`nb` of them, 0 for node symbols).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queued {
    /// Index of the symbol's table in the table list given to [`RansEncoder::encode`].
    pub table: u16,
    /// The symbol.
    pub sym: u8,
    /// Number of extra bits (at most 27).
    pub nb: u8,
    /// The extra bits.
    pub extra: u32,
}

/// A tile's symbols in decode order, with the ends of its phases.
#[derive(Debug, Default, Clone)]
pub struct SymbolQueue {
    syms: Vec<Queued>,
    /// One past the last symbol of each phase.
    phase_ends: Vec<u32>,
}

impl SymbolQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of symbols queued.
    pub fn len(&self) -> usize {
        self.syms.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }

    /// Queues `sym` of table `table`, followed by `nb` extra bits `extra`.
    #[inline]
    pub fn put(&mut self, table: u16, sym: u8, nb: u8, extra: u32) {
        self.syms.push(Queued {
            table,
            sym,
            nb,
            extra,
        });
    }

    /// Ends the current phase (nothing happens when it is empty).
    pub fn end_phase(&mut self) {
        let n = self.syms.len() as u32;
        if self.phase_ends.last().copied().unwrap_or(0) < n {
            self.phase_ends.push(n);
        }
    }

    /// The queued symbols, in decode order.
    pub fn symbols(&self) -> &[Queued] {
        &self.syms
    }

    /// The phases, as ranges of [`SymbolQueue::symbols`] (an unfinished last phase
    /// counts as one).
    pub fn phases(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        let n = self.syms.len() as u32;
        let open = (self.phase_ends.last().copied().unwrap_or(0) < n).then_some(n);
        let ends = self.phase_ends.iter().copied().chain(open);
        let mut start = 0usize;
        ends.map(move |e| {
            let r = start..e as usize;
            start = e as usize;
            r
        })
    }
}

/// One symbol of an [`EncTable`]: what coding it takes, with the division by its
/// frequency done as a multiplication.
#[derive(Debug, Clone, Copy, Default)]
struct EncSymbol {
    freq: u32,
    start: u32,
    /// States from this one up send a word first.
    x_max: u64,
    /// `x / freq = (x + (x * rcp >> 32)) >> shift` for every `x < 2^32`: the low 32 bits of
    /// the reciprocal `ceil(2^(32 + shift) / freq)`, whose bit 32 is always set.
    rcp: u32,
    shift: u32,
}

/// The encoder's form of a frequency table.
#[derive(Debug, Clone)]
pub struct EncTable {
    syms: Vec<EncSymbol>,
    log: u32,
}

impl EncTable {
    /// The encoder's form of `t`.
    pub fn new(t: &FreqTable) -> EncTable {
        let syms = t
            .freq
            .iter()
            .zip(&t.cum)
            .map(|(&f, &c)| enc_symbol(f, c, t.log))
            .collect();
        EncTable { syms, log: t.log }
    }
}

/// The coding of a symbol of frequency `f` (0: never coded) starting at `c`, in tables
/// of precision `log`.
fn enc_symbol(f: u32, c: u32, log: u32) -> EncSymbol {
    if f == 0 {
        return EncSymbol::default();
    }
    // With s = ceil(log2 f) and r = ceil(2^(32+s) / f), the error of x r / 2^(32+s) stays
    // below 1/f for x < 2^32, so its floor is x / f; and 2^32 <= r < 2^33.
    let shift = 32 - (f - 1).leading_zeros();
    let r = (1u64 << (32 + shift)).div_ceil(u64::from(f));
    EncSymbol {
        freq: f,
        start: c,
        x_max: (u64::from(STATE_LOW >> log) << 16) * u64::from(f),
        rcp: r as u32,
        shift,
    }
}

/// The rANS encoder.
#[derive(Debug)]
pub struct RansEncoder;

impl RansEncoder {
    /// Codes `queue` with `lanes` lanes (1 to 32) and the tables `tables[q.table]`,
    /// appending the lanes' initial states (`lanes` x `u32`) and the word stream
    /// (`u16` words) to `out`.
    ///
    /// Panics when a queued symbol has no table or a zero frequency: the caller builds
    /// the tables from the same symbols.
    pub fn encode(
        queue: &SymbolQueue,
        lanes: usize,
        tables: &[Option<EncTable>],
        out: &mut Vec<u8>,
    ) {
        assert!(
            (1..=super::MAX_LANES).contains(&lanes),
            "lane count {lanes}"
        );
        let mut x = [STATE_LOW; super::MAX_LANES];
        let mut words: Vec<u16> = Vec::with_capacity(queue.len());
        let phases: Vec<_> = queue.phases().collect();
        // A round's words, by step: each lane is coded whole (its long extra bits, its
        // extra bits, its token), its words going to the buffer of their step, and the
        // buffers are sent in the decoder's order reversed.
        let mut step = [Words::default(), Words::default(), Words::default()];
        for phase in phases.into_iter().rev() {
            let syms = &queue.syms[phase];
            let rounds = syms.len().div_ceil(lanes);
            for r in (0..rounds).rev() {
                let round = &syms[r * lanes..((r + 1) * lanes).min(syms.len())];
                step.iter_mut().for_each(|s| s.len = 0);
                for (q, x) in round.iter().zip(&mut x).rev() {
                    let nb = u32::from(q.nb);
                    if nb > BYPASS_BITS {
                        put_bypass(x, q.extra >> BYPASS_BITS, nb - BYPASS_BITS, &mut step[0]);
                    }
                    // No extra bits is a bypass of none: it changes nothing, sends nothing.
                    let b = nb.min(BYPASS_BITS);
                    put_bypass(x, q.extra & ((1 << b) - 1), b, &mut step[1]);
                    let t = tables[usize::from(q.table)]
                        .as_ref()
                        .expect("a table for every queued symbol");
                    put_symbol(x, &t.syms[usize::from(q.sym)], t.log, &mut step[2]);
                }
                for s in &step {
                    words.extend_from_slice(&s.buf[..s.len]);
                }
            }
        }
        out.reserve(4 * lanes + 2 * words.len());
        for &s in &x[..lanes] {
            out.put_u32(s);
        }
        for &w in words.iter().rev() {
            out.put_u16(w);
        }
    }
}

/// The words one step of a round sends (at most one per lane).
struct Words {
    buf: [u16; super::MAX_LANES + 1],
    len: usize,
}

impl Default for Words {
    fn default() -> Self {
        Words {
            buf: [0; super::MAX_LANES + 1],
            len: 0,
        }
    }
}

impl Words {
    /// Sends the low 16 bits of `x` when `send` (the store happens either way: a branch
    /// on `send` would be mispredicted about one step in five).
    #[inline(always)]
    fn put(&mut self, x: u32, send: bool) {
        self.buf[self.len.min(super::MAX_LANES)] = x as u16;
        self.len += usize::from(send);
    }
}

/// Codes a symbol into state `x` (tables of precision `log`): `x = (x / f) 2^log +
/// (x mod f) + c`, after sending a word when that would not fit.
#[inline(always)]
fn put_symbol(x: &mut u32, s: &EncSymbol, log: u32, words: &mut Words) {
    debug_assert!(s.freq > 0, "symbol of zero frequency");
    let send = u64::from(*x) >= s.x_max;
    words.put(*x, send);
    *x >>= if send { 16 } else { 0 };
    let x64 = u64::from(*x);
    let q = ((x64 + ((x64 * u64::from(s.rcp)) >> 32)) >> s.shift) as u32;
    *x = (q << log) + (*x - q * s.freq) + s.start;
}

/// Codes `b` (0 to 16) raw bits `v` into state `x`: a symbol of frequency 1 in `2^b`.
#[inline(always)]
fn put_bypass(x: &mut u32, v: u32, b: u32, words: &mut Words) {
    let send = u64::from(*x) >= 1u64 << (32 - b);
    words.put(*x, send);
    *x >>= if send { 16 } else { 0 };
    *x = (*x << b) | v;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reciprocals_divide_exactly() {
        let mut seed = 7u64;
        for f in (1..=4096u32).chain([3, 5, 7, 4095, 2049]) {
            let t = enc_symbol(f, 0, 12);
            let shift = 32 - (f - 1).leading_zeros();
            let rcp = (1u64 << (32 + shift)).div_ceil(u64::from(f));
            assert!(rcp >> 32 == 1, "f {f}");
            assert_eq!((t.rcp, t.shift), (rcp as u32, shift), "f {f}");
            for k in 0..64 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let x = match k {
                    0 => u32::MAX,
                    1 => f.wrapping_mul(u32::MAX / f),
                    2 => f.wrapping_mul(u32::MAX / f).wrapping_sub(1),
                    _ => (seed >> 32) as u32,
                };
                let q = ((u128::from(x) * u128::from(rcp)) >> (32 + shift)) as u32;
                assert_eq!(q, x / f, "x {x} f {f}");
                let x64 = u64::from(x);
                let q2 = ((x64 + ((x64 * u64::from(t.rcp)) >> 32)) >> t.shift) as u32;
                assert_eq!(q2, q, "x {x} f {f}");
            }
        }
    }

    #[test]
    fn phases_cover_the_queue() {
        let mut q = SymbolQueue::new();
        q.end_phase();
        for i in 0..5 {
            q.put(0, i, 0, 0);
        }
        q.end_phase();
        q.end_phase();
        q.put(0, 9, 0, 0);
        let p: Vec<_> = q.phases().collect();
        assert_eq!(p, vec![0..5, 5..6]);
        q.end_phase();
        assert_eq!(q.phases().collect::<Vec<_>>(), vec![0..5, 5..6]);
    }
}
