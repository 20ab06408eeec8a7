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

    /// Makes room for `n` more symbols.
    pub fn reserve(&mut self, n: usize) {
        self.syms.reserve(n);
    }

    /// The phases, as ranges of [`SymbolQueue::symbols`] (an unfinished last phase
    /// counts as one), in either direction (the encoder codes them last first).
    pub fn phases(&self) -> impl DoubleEndedIterator<Item = std::ops::Range<usize>> + '_ {
        let ends = &self.phase_ends[..];
        let n = self.syms.len() as u32;
        let open = ends.last().copied().unwrap_or(0) < n;
        (0..ends.len() + usize::from(open)).map(move |k| {
            let start = if k == 0 { 0 } else { ends[k - 1] };
            start as usize..ends.get(k).copied().unwrap_or(n) as usize
        })
    }
}

/// One symbol of an [`EncTable`]: what coding it takes, with the division by its
/// frequency done as a multiplication. 16 bytes, so that four lie in a cache line.
#[derive(Debug, Clone, Copy, Default)]
struct EncSymbol {
    /// States above this one send a word first: `2^(32 - log) freq - 1` (at most
    /// `u32::MAX`: a symbol of the whole table never sends one).
    x_lim: u32,
    /// `x / freq = (x + (x * rcp >> 32)) >> shift` for every `x < 2^32`: the low 32 bits of
    /// the reciprocal `ceil(2^(32 + shift) / freq)`, whose bit 32 is always set.
    rcp: u32,
    /// The symbol's start in the table.
    start: u16,
    /// `2^log - freq`: `(x / f) 2^log + x mod f = x + (x / f) (2^log - f)`.
    cmpl: u16,
    shift: u16,
    /// The frequency (0: never coded).
    freq: u16,
}

/// The encoder's form of a frequency table.
#[derive(Debug, Clone)]
pub struct EncTable {
    syms: Vec<EncSymbol>,
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
        EncTable { syms }
    }
}

/// Every table of a section in one array, found by the table number of a queued symbol
/// with one lookup.
#[derive(Debug, Clone, Default)]
pub struct EncTables {
    /// Per table number: where its symbols start in `syms` ([`EncTables::MISSING`] when
    /// it has none, which makes any lookup in it fail).
    starts: Vec<u32>,
    syms: Vec<EncSymbol>,
}

impl EncTables {
    const MISSING: u32 = u32::MAX;

    /// Room for tables numbered `0 .. count`, none present yet.
    pub fn with_count(count: usize) -> EncTables {
        EncTables {
            starts: vec![Self::MISSING; count],
            syms: Vec::new(),
        }
    }

    /// Sets table number `k` (below the count given to [`EncTables::with_count`]).
    pub fn insert(&mut self, k: usize, t: &EncTable) {
        self.starts[k] = self.syms.len() as u32;
        self.syms.extend_from_slice(&t.syms);
    }

    /// The tables `tables[k]`.
    pub fn from_tables(tables: &[Option<EncTable>]) -> EncTables {
        let mut out = EncTables::with_count(tables.len());
        for (k, t) in tables.iter().enumerate() {
            if let Some(t) = t {
                out.insert(k, t);
            }
        }
        out
    }
}

/// The coding of a symbol of frequency `f` (0: never coded) starting at `c`, in tables
/// of precision `log`.
fn enc_symbol(f: u32, c: u32, log: u32) -> EncSymbol {
    if f == 0 {
        return EncSymbol::default();
    }
    debug_assert!(log <= 16 && f <= 1 << log && c < 1 << log);
    // With s = ceil(log2 f) and r = ceil(2^(32+s) / f), the error of x r / 2^(32+s) stays
    // below 1/f for x < 2^32, so its floor is x / f; and 2^32 <= r < 2^33.
    let shift = 32 - (f - 1).leading_zeros();
    let r = (1u64 << (32 + shift)).div_ceil(u64::from(f));
    let x_max = (u64::from(STATE_LOW >> log) << 16) * u64::from(f);
    EncSymbol {
        x_lim: (x_max - 1).min(u64::from(u32::MAX)) as u32,
        rcp: r as u32,
        start: c as u16,
        cmpl: ((1u32 << log) - f) as u16,
        shift: shift as u16,
        freq: f as u16,
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
        Self::encode_with(queue, lanes, &EncTables::from_tables(tables), out);
    }

    /// [`RansEncoder::encode`] with the tables gathered in one [`EncTables`] (what a
    /// section builds once for all its tiles).
    pub fn encode_with(queue: &SymbolQueue, lanes: usize, tables: &EncTables, out: &mut Vec<u8>) {
        assert!(
            (1..=super::MAX_LANES).contains(&lanes),
            "lane count {lanes}"
        );
        WORDS.with_borrow_mut(|buf| {
            // A symbol sends at most three words (long extra bits, extra bits, token);
            // one more slot takes the store of a word not sent.
            let need = 3 * queue.len() + 1;
            if buf.len() < need {
                buf.resize(need, 0);
            }
            let mut x = [STATE_LOW; super::MAX_LANES];
            let mut w = Words {
                buf: &mut buf[..need],
                len: 0,
            };
            let t = Tables {
                starts: &tables.starts,
                syms: &tables.syms,
            };
            match lanes {
                1 => encode_one(&queue.syms, &mut x[0], t, &mut w),
                8 => encode_phases::<8>(queue, &mut x, t, &mut w),
                32 => encode_phases::<32>(queue, &mut x, t, &mut w),
                _ => encode_phases::<0>(queue, &mut x[..lanes], t, &mut w),
            }
            let words = &w.buf[..w.len];
            out.reserve(4 * lanes + 2 * words.len());
            for &s in &x[..lanes] {
                out.put_u32(s);
            }
            // The words were made from the last step to the first: the decoder reads
            // them in reverse.
            let at = out.len();
            out.resize(at + 2 * words.len(), 0);
            for (o, &v) in out[at..].chunks_exact_mut(2).zip(words.iter().rev()) {
                o.copy_from_slice(&v.to_le_bytes());
            }
        });
    }
}

thread_local! {
    /// The word buffer of [`RansEncoder::encode_with`], kept from tile to tile.
    static WORDS: std::cell::RefCell<Vec<u16>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// [`EncTables`] as plain slices, for the loops.
#[derive(Clone, Copy)]
struct Tables<'a> {
    starts: &'a [u32],
    syms: &'a [EncSymbol],
}

impl Tables<'_> {
    /// The coding of `q`'s symbol. Panics when its table is missing.
    #[inline(always)]
    fn get(&self, q: &Queued) -> &EncSymbol {
        let at = self.starts[usize::from(q.table)] as usize + usize::from(q.sym);
        &self.syms[at]
    }
}

/// One lane: every round is one symbol, whatever the phases.
#[inline(never)]
fn encode_one(syms: &[Queued], x: &mut u32, t: Tables<'_>, w: &mut Words<'_>) {
    let mut s = *x;
    for q in syms.iter().rev() {
        if q.nb != 0 {
            put_long(&mut s, q, w);
            put_extra(&mut s, q, w);
        }
        put_symbol(&mut s, t.get(q), w);
    }
    *x = s;
}

/// Codes the phases of `queue` backwards, each in rounds of `x.len()` lanes (`L` when
/// not 0, so the loops over a whole round have a known length).
#[inline(never)]
fn encode_phases<const L: usize>(
    queue: &SymbolQueue,
    x: &mut [u32],
    t: Tables<'_>,
    w: &mut Words<'_>,
) {
    let lanes = if L == 0 { x.len() } else { L };
    let x = &mut x[..lanes];
    for phase in queue.phases().rev() {
        let syms = &queue.syms[phase];
        let full = syms.len() / lanes;
        let (whole, rest) = syms.split_at(full * lanes);
        if !rest.is_empty() {
            round(rest, &mut x[..rest.len()], t, w);
        }
        for r in whole.chunks_exact(lanes).rev() {
            if L == 0 {
                round(r, x, t, w);
            } else {
                let r: &[Queued; L] = r.try_into().expect("a whole round");
                let x: &mut [u32; L] = (&mut x[..]).try_into().expect("a whole round");
                round(r, x, t, w);
            }
        }
    }
}

/// Codes one round backwards: the decoder's steps (long extra bits, extra bits, tokens)
/// from the last to the first, each over the lanes from the last to the first. Each
/// lane's own steps keep their order, and the words come out in the order of the
/// decoder's reads, reversed.
#[inline(always)]
fn round(syms: &[Queued], x: &mut [u32], t: Tables<'_>, w: &mut Words<'_>) {
    let n = syms.len().min(x.len());
    let (syms, x) = (&syms[..n], &mut x[..n]);
    for i in (0..n).rev() {
        put_long(&mut x[i], &syms[i], w);
    }
    // Few symbols have extra bits (a few percent): a branch costs less than a bypass of
    // none.
    for i in (0..n).rev() {
        if syms[i].nb != 0 {
            put_extra(&mut x[i], &syms[i], w);
        }
    }
    let (buf, mut len) = (&mut *w.buf, w.len);
    for i in (0..n).rev() {
        let s = t.get(&syms[i]);
        let v = x[i];
        let send = v > s.x_lim;
        buf[len] = v as u16;
        len += usize::from(send);
        x[i] = code(if send { v >> 16 } else { v }, s);
    }
    w.len = len;
}

/// The words of a tile, from its last step to its first.
struct Words<'a> {
    buf: &'a mut [u16],
    len: usize,
}

impl Words<'_> {
    /// Sends the low 16 bits of `x` when `send` (the store happens either way: a branch
    /// on `send` would be mispredicted about one step in five).
    #[inline(always)]
    fn put(&mut self, x: u32, send: bool) {
        self.buf[self.len] = x as u16;
        self.len += usize::from(send);
    }
}

/// The extra bits of `q` past [`BYPASS_BITS`], if any.
#[inline(always)]
fn put_long(x: &mut u32, q: &Queued, w: &mut Words<'_>) {
    let nb = u32::from(q.nb);
    if nb > BYPASS_BITS {
        put_bypass(x, q.extra >> BYPASS_BITS, nb - BYPASS_BITS, w);
    }
}

/// The first [`BYPASS_BITS`] extra bits of `q` (none is a bypass of none: it changes
/// nothing, sends nothing).
#[inline(always)]
fn put_extra(x: &mut u32, q: &Queued, w: &mut Words<'_>) {
    let b = u32::from(q.nb).min(BYPASS_BITS);
    put_bypass(x, q.extra & ((1 << b) - 1), b, w);
}

/// Codes a symbol into state `x`: `x = (x / f) 2^log + (x mod f) + c`, after sending a
/// word when that would not fit.
#[inline(always)]
fn put_symbol(x: &mut u32, s: &EncSymbol, w: &mut Words<'_>) {
    let send = *x > s.x_lim;
    w.put(*x, send);
    *x = code(if send { *x >> 16 } else { *x }, s);
}

/// `(x / f) 2^log + (x mod f) + c` for a state `x` small enough.
#[inline(always)]
fn code(x: u32, s: &EncSymbol) -> u32 {
    debug_assert!(s.freq > 0, "symbol of zero frequency");
    let x64 = u64::from(x);
    let q = ((x64 + ((x64 * u64::from(s.rcp)) >> 32)) >> s.shift) as u32;
    x + q * u32::from(s.cmpl) + u32::from(s.start)
}

/// Codes `b` (0 to 16) raw bits `v` into state `x`: a symbol of frequency 1 in `2^b`.
#[inline(always)]
fn put_bypass(x: &mut u32, v: u32, b: u32, w: &mut Words<'_>) {
    // `x >= 2^(32 - b)`.
    let send = *x > u32::MAX >> b;
    w.put(*x, send);
    let s = if send { *x >> 16 } else { *x };
    *x = (s << b) | v;
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
            assert_eq!((t.rcp, u32::from(t.shift)), (rcp as u32, shift), "f {f}");
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

    /// The encoder as it was first written (one lane at a time, each lane's steps whole,
    /// its words into per-step buffers sent in order): the reference of the rounds coded
    /// step by step.
    fn encode_reference(
        queue: &SymbolQueue,
        lanes: usize,
        tables: &[Option<FreqTable>],
    ) -> Vec<u8> {
        let mut x = [STATE_LOW; super::super::MAX_LANES];
        let mut words: Vec<u16> = Vec::new();
        let phases: Vec<_> = queue.phases().collect();
        let bypass = |x: &mut u32, v: u32, b: u32, out: &mut Vec<u16>| {
            if u64::from(*x) >= 1u64 << (32 - b) {
                out.push(*x as u16);
                *x >>= 16;
            }
            *x = (*x << b) | v;
        };
        for phase in phases.into_iter().rev() {
            let syms = &queue.syms[phase];
            for r in (0..syms.len().div_ceil(lanes)).rev() {
                let round = &syms[r * lanes..((r + 1) * lanes).min(syms.len())];
                let mut step: [Vec<u16>; 3] = Default::default();
                for (q, x) in round.iter().zip(&mut x).rev() {
                    let nb = u32::from(q.nb);
                    if nb > BYPASS_BITS {
                        bypass(x, q.extra >> BYPASS_BITS, nb - BYPASS_BITS, &mut step[0]);
                    }
                    let b = nb.min(BYPASS_BITS);
                    bypass(x, q.extra & ((1 << b) - 1), b, &mut step[1]);
                    let t = tables[usize::from(q.table)].as_ref().unwrap();
                    let (f, c) = (t.freq[usize::from(q.sym)], t.cum[usize::from(q.sym)]);
                    let x_max = (u64::from(STATE_LOW >> t.log) << 16) * u64::from(f);
                    if u64::from(*x) >= x_max {
                        step[2].push(*x as u16);
                        *x >>= 16;
                    }
                    *x = ((*x / f) << t.log) + (*x % f) + c;
                }
                step.iter().for_each(|s| words.extend_from_slice(s));
            }
        }
        let mut out = Vec::new();
        x[..lanes].iter().for_each(|&s| out.put_u32(s));
        words.iter().rev().for_each(|&w| out.put_u16(w));
        out
    }

    #[test]
    fn rounds_code_as_the_reference() {
        use crate::test_rng::Rng;
        let mut rng = Rng(0x1234_5678_9abc_def0);
        let mut next = |n: u64| rng.below(n);
        for case in 0..300 {
            let log = [6, 8, 11, 12][case % 4];
            // Three tables, one of them missing, one of a single symbol.
            let tables: Vec<Option<FreqTable>> = (0..4)
                .map(|k| match k {
                    1 => None,
                    3 => Some(FreqTable::from_counts(&[0, 0, 5], log)),
                    _ => {
                        let counts: Vec<u64> = (0..20).map(|_| next(3) * next(1000)).collect();
                        Some(FreqTable::from_counts(&counts, log))
                    }
                })
                .collect();
            let usable: Vec<(u16, Vec<u8>)> = tables
                .iter()
                .enumerate()
                .filter_map(|(k, t)| {
                    let t = t.as_ref()?;
                    let syms = (0..t.freq.len() as u8).filter(|&s| t.freq[usize::from(s)] > 0);
                    Some((k as u16, syms.collect()))
                })
                .collect();
            let mut q = SymbolQueue::new();
            for _ in 0..next(6) {
                for _ in 0..next(300) {
                    let (table, syms) = &usable[next(usable.len() as u64) as usize];
                    let sym = syms[next(syms.len() as u64) as usize];
                    let nb = match next(10) {
                        0..=6 => 0,
                        7 | 8 => next(17) as u8,
                        _ => 17 + next(11) as u8,
                    };
                    let extra = (next(1 << 32) as u32) & ((1u64 << nb) - 1) as u32;
                    q.put(*table, sym, nb, extra);
                }
                q.end_phase();
            }
            let enc: Vec<Option<EncTable>> = tables
                .iter()
                .map(|t| t.as_ref().map(EncTable::new))
                .collect();
            for lanes in [1, 2, 7, 8, 9, 31, 32] {
                let mut got = vec![0xAA];
                RansEncoder::encode(&q, lanes, &enc, &mut got);
                let want = encode_reference(&q, lanes, &tables);
                assert_eq!(got[1..], want[..], "case {case} lanes {lanes}");
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
        assert_eq!(q.phases().rev().collect::<Vec<_>>(), vec![5..6, 0..5]);
    }
}
