//! Table ANS (tANS) with two interleaved states and `2^L` states per table, where `L`
//! (6 to 11) is chosen per section.
//!
//! Each tile has one bit stream, read least-significant bit first: the two initial
//! states (`L` bits each), then for every symbol the bits of its state transition
//! followed by the extra bits of its value. Symbol `i` of a tile uses state `i mod 2`.
//! The encoder codes symbols in reverse order and writes the bits forward.

use super::bits::{BitReader, BitWriter};
use super::table::{FreqTable, MAX_TABLE_LOG};
use super::TOKEN_LUT;

const STATES: usize = 2;
/// Entries of the largest table; smaller tables use a prefix.
const SIZE: usize = 1 << MAX_TABLE_LOG;

/// Where each table slot's symbol sits: symbols are spread over the table with an odd
/// step, so each symbol's slots are scattered evenly (docs/bitstream.md, 7.5).
fn spread(freq: &[u32], log: u32) -> Vec<u8> {
    let size = 1usize << log;
    let mask = size - 1;
    let step = (size >> 1) + (size >> 3) + 3;
    let mut slots = vec![0u8; size];
    let mut pos = 0;
    for (sym, &f) in freq.iter().enumerate() {
        for _ in 0..f {
            slots[pos] = sym as u8;
            pos = (pos + step) & mask;
        }
    }
    slots
}

/// The decode state machine of a table (docs/bitstream.md 7.5), state by state: the
/// symbol the state decodes, the state bits it reads and the base of the next state.
/// [`DecTable`] packs these for the CPU; GPU backends pack them their own way.
pub fn decode_states(t: &FreqTable) -> impl Iterator<Item = (u8, u32, u32)> + '_ {
    let slots = spread(&t.freq, t.log);
    let mut next: Vec<u32> = t.freq.clone();
    slots.into_iter().map(move |sym| {
        let s = sym as usize;
        let x = next[s];
        next[s] += 1;
        let nbits = t.log - log2(x);
        (sym, nbits, (x << nbits) - (1 << t.log))
    })
}

#[inline(always)]
fn log2(x: u32) -> u32 {
    31 - x.leading_zeros()
}

/// Decode table: one packed entry per state.
///
/// Entry layout: bits 0..11 next-state base, 11..22 mask of the state bits, 22..26
/// number of state bits, 26..32 state bits plus extra value bits, 32..64 value base (the
/// token's base value, or the symbol itself for node tables). Storing masks and sums
/// saves the decoder variable shifts, which are slow without BMI2.
#[derive(Clone)]
pub struct DecTable {
    entries: Box<[u64; SIZE]>,
    /// Most bits (state and extra) one symbol reads.
    most_bits: u32,
}

impl std::fmt::Debug for DecTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DecTable")
    }
}

impl DecTable {
    /// Builds the decode table of a validated frequency table. `values` says whether its
    /// symbols are value tokens (with extra bits) or plain symbols.
    pub fn new(t: &FreqTable, values: bool) -> DecTable {
        // The states of `decode_states`, computed in place (this runs for every table of
        // every section, so it avoids the iterator's allocations and per-state lookups).
        let log = t.log;
        let size = 1usize << log;
        let mut slots = [0u8; SIZE];
        let step = (size >> 1) + (size >> 3) + 3;
        let mut pos = 0;
        // Per symbol: its counter, and the entry bits that depend on the symbol alone.
        let mut next = [0u32; 256];
        let mut fixed = [0u64; 256];
        let mut most_bits = 0;
        for (sym, &f) in t.freq.iter().enumerate() {
            let (nb, vbase) = if values {
                TOKEN_LUT[sym]
            } else {
                (0, sym as u32)
            };
            if f > 0 {
                // The symbol's first state (`x = f`) reads the most state bits.
                most_bits = most_bits.max(log - log2(f) + nb);
            }
            next[sym] = f;
            fixed[sym] = u64::from(nb) << 26 | u64::from(vbase) << 32;
            for _ in 0..f {
                slots[pos] = sym as u8;
                pos = (pos + step) & (size - 1);
            }
        }
        let mut entries = Vec::with_capacity(SIZE);
        entries.extend(slots[..size].iter().map(|&sym| {
            let s = usize::from(sym);
            let x = next[s];
            next[s] = x + 1;
            let nbits = log - log2(x);
            let base = (x << nbits) - size as u32;
            let mask = (1u64 << nbits) - 1;
            // `nb + nbits` stays below 64, so adding carries nothing past the 6-bit field.
            (u64::from(base) | mask << 11 | u64::from(nbits) << 22)
                + (u64::from(nbits) << 26)
                + fixed[s]
        }));
        // States never reach past `1 << t.log`; the rest of the array stays zero, which
        // keeps every lookup in bounds without a check.
        entries.resize(SIZE, 0);
        let entries = entries.into_boxed_slice().try_into().expect("SIZE entries");
        DecTable { entries, most_bits }
    }
}

impl DecTable {
    /// The most bits two symbols read, when one refill holds them (a refill leaves at
    /// least 56 bits in the buffer).
    #[inline(always)]
    fn pair_bits(&self) -> Option<u32> {
        let bits = 2 * self.most_bits;
        (bits <= 56).then_some(bits)
    }
}

/// Encode table: for symbol `s` and the decoder's counter `x` in `[f_s, 2 f_s)`, the
/// state (plus `SIZE`) whose decode entry yields them.
#[derive(Debug, Clone)]
pub struct AnsEncTable {
    freq: Vec<u32>,
    cum: Vec<u32>,
    next: Vec<u16>,
    log: u32,
}

impl AnsEncTable {
    /// Builds the encode table of a frequency table.
    pub fn new(t: &FreqTable) -> AnsEncTable {
        let size = 1usize << t.log;
        let slots = spread(&t.freq, t.log);
        let mut count: Vec<u32> = vec![0; t.freq.len()];
        let mut next = vec![0u16; size];
        for (i, &sym) in slots.iter().enumerate() {
            let s = sym as usize;
            next[(t.cum[s] + count[s]) as usize] = (i + size) as u16;
            count[s] += 1;
        }
        AnsEncTable {
            freq: t.freq.clone(),
            cum: t.cum.clone(),
            next,
            log: t.log,
        }
    }
}

/// A queued symbol: table index, symbol, extra bits and their count.
type Queued = (u16, u8, u8, u32);

/// Collects a tile's symbols in decode order, then codes them all at once.
#[derive(Debug, Default)]
pub struct AnsEncoder {
    syms: Vec<Queued>,
}

impl AnsEncoder {
    /// An empty encoder.
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

    /// The queued (table, symbol) pairs, for gathering statistics.
    pub fn symbols(&self) -> impl Iterator<Item = (u16, u8)> + '_ {
        self.syms.iter().map(|&(t, s, _, _)| (t, s))
    }

    /// Queues `sym` of table `table`, followed by `nb` extra bits `extra`.
    #[inline]
    pub fn put(&mut self, table: u16, sym: u8, nb: u8, extra: u32) {
        self.syms.push((table, sym, nb, extra));
    }

    /// Codes the queued symbols with `tables` (indexed by the queued table numbers, all
    /// of precision `log`); an empty queue gives an empty stream.
    pub fn finish(self, tables: &[Option<AnsEncTable>], log: u32) -> Vec<u8> {
        if self.syms.is_empty() {
            return Vec::new();
        }
        let size = 1u32 << log;
        let mut state = [size; STATES];
        let mut chunks: Vec<(u32, u8)> = vec![(0, 0); self.syms.len()];
        for (i, &(t, sym, _, _)) in self.syms.iter().enumerate().rev() {
            let t = tables[t as usize]
                .as_ref()
                .expect("table for a queued symbol");
            debug_assert_eq!(t.log, log);
            let s = sym as usize;
            let (f, x) = (t.freq[s], &mut state[i % STATES]);
            debug_assert!(f > 0, "symbol {s} has zero frequency");
            let hb = log2(f);
            let k = log - hb - u32::from((*x >> (log - hb)) < f);
            chunks[i] = (*x & ((1 << k) - 1), k as u8);
            let c = *x >> k;
            *x = u32::from(t.next[(t.cum[s] + c - f) as usize]);
        }
        let mut w = BitWriter::new();
        for x in state {
            w.write(x - size, log);
        }
        for (&(bits, k), &(_, _, nb, extra)) in chunks.iter().zip(&self.syms) {
            w.write(bits, u32::from(k));
            w.write(extra, u32::from(nb));
        }
        w.finish()
    }
}

/// Decodes a tile's symbols; reading past the end of the stream yields zeros and is
/// reported by [`AnsDecoder::finished_cleanly`].
///
/// It is `Copy` so hot loops can work on a local copy the compiler keeps in registers.
#[derive(Clone, Copy)]
pub struct AnsDecoder<'a> {
    bits: BitReader<'a>,
    /// The state of the next symbol and that of the one after. Symbol `i` uses state
    /// `i mod 2`; rotating the pair after each symbol keeps that without a lane index.
    /// Only their low `MAX_TABLE_LOG` bits count (see [`step`]).
    cur: u32,
    next: u32,
}

impl<'a> AnsDecoder<'a> {
    /// Starts decoding `data` (which begins with the initial states) with tables of
    /// precision `log`.
    pub fn new(data: &'a [u8], log: u32) -> Self {
        let mut bits = BitReader::new(data);
        let cur = bits.read(log);
        let next = bits.read(log);
        AnsDecoder { bits, cur, next }
    }

    /// Decodes one symbol and returns its value: the token's value with its extra bits
    /// for value tables, the symbol for others.
    #[inline(always)]
    pub fn get(&mut self, table: &DecTable) -> u32 {
        let (value, state) = step::<false>(&table.entries, self.cur, &mut self.bits);
        self.cur = self.next;
        self.next = state;
        value
    }

    /// Decodes `n` values with one table and hands each to `sink(index, value)`: the hot
    /// loop of s-tree leaves, with the states and bit reader in registers.
    #[inline(always)]
    pub fn values(&mut self, table: &DecTable, n: usize, sink: impl FnMut(usize, u32)) {
        if let Some(pair_bits) = table.pair_bits() {
            self.values_with::<true>(table, pair_bits, n, sink);
        } else {
            self.values_with::<false>(table, 0, n, sink);
        }
    }

    /// [`AnsDecoder::values`]; with `PAIRED`, one refill check per pair of symbols for
    /// `pair_bits`, the most bits that two read.
    #[inline(always)]
    fn values_with<const PAIRED: bool>(
        &mut self,
        table: &DecTable,
        pair_bits: u32,
        n: usize,
        mut sink: impl FnMut(usize, u32),
    ) {
        // A local copy of the (boxed) entries' address saves reloading it every symbol.
        let entries: &[u64; SIZE] = &table.entries;
        let mut d = *self;
        let mut i = 0;
        // Two symbols per round: the pair of states comes back to where it was.
        while i + STATES <= n {
            if PAIRED {
                d.bits.peek(pair_bits);
            }
            let (v0, t0) = step::<PAIRED>(entries, d.cur, &mut d.bits);
            let (v1, t1) = step::<PAIRED>(entries, d.next, &mut d.bits);
            (d.cur, d.next) = (t0, t1);
            sink(i, v0);
            sink(i + 1, v1);
            i += STATES;
        }
        if i < n {
            sink(i, d.get(table));
        }
        *self = d;
    }

    /// Decodes `out.len()` values with one table into `out`, each through `map`: the hot
    /// loop of dense layers (pairs of slots rather than indices, so no bounds checks).
    #[inline(always)]
    pub fn fill(&mut self, table: &DecTable, out: &mut [i32], map: impl Fn(u32) -> i32) {
        if let Some(pair_bits) = table.pair_bits() {
            self.fill_with::<true>(table, pair_bits, out, map);
        } else {
            self.fill_with::<false>(table, 0, out, map);
        }
    }

    /// [`AnsDecoder::fill`]; `PAIRED` and `pair_bits` as for [`AnsDecoder::values_with`].
    #[inline(always)]
    fn fill_with<const PAIRED: bool>(
        &mut self,
        table: &DecTable,
        pair_bits: u32,
        out: &mut [i32],
        map: impl Fn(u32) -> i32,
    ) {
        let entries: &[u64; SIZE] = &table.entries;
        let mut d = *self;
        let mut pairs = out.chunks_exact_mut(STATES);
        for pair in &mut pairs {
            if PAIRED {
                d.bits.peek(pair_bits);
            }
            let (v0, t0) = step::<PAIRED>(entries, d.cur, &mut d.bits);
            let (v1, t1) = step::<PAIRED>(entries, d.next, &mut d.bits);
            (d.cur, d.next) = (t0, t1);
            pair[0] = map(v0);
            pair[1] = map(v1);
        }
        for slot in pairs.into_remainder() {
            *slot = map(d.get(table));
        }
        *self = d;
    }

    /// True when both states are back at their start and the stream was used up to its
    /// final padding bits: the tile decoded exactly as it was coded.
    pub fn finished_cleanly(&self) -> bool {
        let low = SIZE as u32 - 1;
        self.cur & low == 0 && self.next & low == 0 && self.bits.finished_cleanly()
    }
}

/// One decode step: the value and the next state.
///
/// The next state is `base + state bits`, which stays below `2^L`: the sum is formed
/// from the whole entry and the whole bit buffer, whose higher fields only add above bit
/// `MAX_TABLE_LOG` (no carry comes up from below), and the next lookup masks them off.
/// It also comes straight from the bit buffer, so the state's dependency chain does not
/// wait on the mask lookup of the value's bits.
///
/// With `READY`, the caller has made sure the bits are there (no refill check).
#[inline(always)]
fn step<const READY: bool>(
    entries: &[u64; SIZE],
    state: u32,
    bits: &mut BitReader<'_>,
) -> (u32, u32) {
    let e = entries[state as usize & (SIZE - 1)];
    let total = (e >> 26) as u32 & 63;
    let acc = if READY {
        bits.buffer()
    } else {
        bits.peek(total)
    };
    let next = (e as u32).wrapping_add(acc as u32 & (e >> 11) as u32);
    let v = BitReader::low_bits(acc, total);
    bits.consume(total);
    ((e >> 32) as u32 | (v >> ((e >> 22) & 15)) as u32, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ans_round_trip_with_mixed_tables() {
        let counts: [&[u64]; 3] = [
            &[100, 20, 5, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9],
            &[1; 16],
            &[0, 7],
        ];
        let freq: Vec<FreqTable> = counts
            .iter()
            .map(|c| FreqTable::from_counts(c, 10))
            .collect();
        let enc: Vec<Option<AnsEncTable>> =
            freq.iter().map(|t| Some(AnsEncTable::new(t))).collect();
        let dec = [
            DecTable::new(&freq[0], true),
            DecTable::new(&freq[1], false),
            DecTable::new(&freq[2], false),
        ];
        let mut seed = 12345u32;
        let mut syms = Vec::new();
        for i in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let which = i % 3;
            let s = match which {
                0 => [0, 0, 0, 0, 1, 1, 2, 3, 5, 17][(seed % 10) as usize],
                1 => (seed % 16) as usize,
                _ => 1,
            };
            // Value tokens of 16 and above carry extra bits.
            let nb = if which == 0 { TOKEN_LUT[s].0 } else { 0 };
            let extra = (seed >> 7) & ((1 << nb) - 1);
            let nb = nb as u8;
            syms.push((which, s, nb, extra));
        }
        let mut e = AnsEncoder::new();
        syms.iter()
            .for_each(|&(w, s, nb, x)| e.put(w as u16, s as u8, nb, x));
        let bytes = e.finish(&enc, 10);
        let mut d = AnsDecoder::new(&bytes, 10);
        for &(w, s, _, x) in &syms {
            let v = d.get(&dec[w]);
            if w == 0 {
                let (nb, base) = TOKEN_LUT[s];
                assert_eq!(v, base | x, "nb {nb}");
            } else {
                assert_eq!(v as usize, s);
            }
        }
        assert!(d.finished_cleanly());
        assert!(bytes.len() < 5000);
    }

    #[test]
    fn decode_tables_follow_decode_states() {
        let counts: [&[u64]; 3] = [&[100, 20, 5, 1, 0, 1, 0, 0, 9], &[1; 16], &[0, 7]];
        for log in [6, 9, MAX_TABLE_LOG] {
            for c in counts {
                let t = FreqTable::from_counts(c, log);
                for values in [false, true] {
                    let d = DecTable::new(&t, values);
                    let mut n = 0;
                    for (i, (sym, nbits, base)) in decode_states(&t).enumerate() {
                        let (nb, vbase) = if values {
                            TOKEN_LUT[sym as usize]
                        } else {
                            (0, u32::from(sym))
                        };
                        let want = u64::from(base)
                            | ((1u64 << nbits) - 1) << 11
                            | u64::from(nbits) << 22
                            | u64::from(nbits + nb) << 26
                            | u64::from(vbase) << 32;
                        assert_eq!(d.entries[i], want, "log {log} state {i}");
                        n += 1;
                    }
                    assert_eq!(n, 1 << log);
                    assert!(d.entries[n..].iter().all(|&e| e == 0));
                }
            }
        }
    }

    #[test]
    fn values_loop_matches_single_steps_and_detects_damage() {
        let freq = FreqTable::from_counts(
            &[
                50, 30, 10, 5, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
            ],
            MAX_TABLE_LOG,
        );
        let enc = [Some(AnsEncTable::new(&freq))];
        let dec = DecTable::new(&freq, true);
        let syms: Vec<u8> = (0..1001u32)
            .map(|i| [0, 1, 0, 2, 0, 1, 3, 20, 4, 0, 16][(i * 7 % 11) as usize])
            .collect();
        let mut e = AnsEncoder::new();
        for &s in &syms {
            let (nb, _) = TOKEN_LUT[s as usize];
            e.put(0, s, nb as u8, (1 << nb) - 1);
        }
        let mut bytes = e.finish(&enc, MAX_TABLE_LOG);
        let mut out = vec![0u32; syms.len()];
        let mut d = AnsDecoder::new(&bytes, MAX_TABLE_LOG);
        d.get(&dec);
        d.values(&dec, syms.len() - 1, |i, v| out[i + 1] = v);
        assert!(d.finished_cleanly());
        for (&s, &v) in syms.iter().zip(&out).skip(1) {
            let (nb, base) = TOKEN_LUT[s as usize];
            assert_eq!(v, base | ((1 << nb) - 1));
        }
        bytes[3] ^= 0x10;
        let mut d = AnsDecoder::new(&bytes, MAX_TABLE_LOG);
        d.values(&dec, syms.len(), |_, _| {});
        assert!(!d.finished_cleanly());
        let mut d = AnsDecoder::new(&bytes[..bytes.len() / 2], MAX_TABLE_LOG);
        d.values(&dec, syms.len(), |_, _| {});
        assert!(!d.finished_cleanly());
    }
}
