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
        tables: &[Option<FreqTable>],
        out: &mut Vec<u8>,
    ) {
        assert!(
            (1..=super::MAX_LANES).contains(&lanes),
            "lane count {lanes}"
        );
        let mut x = [STATE_LOW; super::MAX_LANES];
        let mut words: Vec<u16> = Vec::with_capacity(queue.len());
        let phases: Vec<_> = queue.phases().collect();
        for phase in phases.into_iter().rev() {
            let syms = &queue.syms[phase];
            let rounds = syms.len().div_ceil(lanes);
            for r in (0..rounds).rev() {
                let round = &syms[r * lanes..((r + 1) * lanes).min(syms.len())];
                // The decoder's order within a round, backwards: the long extra bits'
                // high parts, the extra bits (up to 16), the tokens.
                for (k, q) in round.iter().enumerate().rev() {
                    if u32::from(q.nb) > BYPASS_BITS {
                        let b = u32::from(q.nb) - BYPASS_BITS;
                        put_bypass(&mut x[k], q.extra >> BYPASS_BITS, b, &mut words);
                    }
                }
                for (k, q) in round.iter().enumerate().rev() {
                    if q.nb > 0 {
                        let b = u32::from(q.nb).min(BYPASS_BITS);
                        put_bypass(&mut x[k], q.extra & ((1 << b) - 1), b, &mut words);
                    }
                }
                for (k, q) in round.iter().enumerate().rev() {
                    let t = tables[usize::from(q.table)]
                        .as_ref()
                        .expect("a table for every queued symbol");
                    let s = usize::from(q.sym);
                    put_symbol(&mut x[k], t.freq[s], t.cum[s], t.log, &mut words);
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

/// Codes a symbol of frequency `f` starting at `c` (precision `log`) into state `x`.
#[inline(always)]
fn put_symbol(x: &mut u32, f: u32, c: u32, log: u32, words: &mut Vec<u16>) {
    debug_assert!(f > 0, "symbol of zero frequency");
    // The state's largest value before coding that keeps it below 2^32 after.
    let max = (u64::from(STATE_LOW >> log) << 16) * u64::from(f);
    if u64::from(*x) >= max {
        words.push(*x as u16);
        *x >>= 16;
    }
    *x = ((*x / f) << log) + *x % f + c;
}

/// Codes `b` (1 to 16) raw bits `v` into state `x`: a symbol of frequency 1 in `2^b`.
#[inline(always)]
fn put_bypass(x: &mut u32, v: u32, b: u32, words: &mut Vec<u16>) {
    if u64::from(*x) >= 1u64 << (32 - b) {
        words.push(*x as u16);
        *x >>= 16;
    }
    *x = (*x << b) | v;
}

#[cfg(test)]
mod tests {
    use super::*;

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
