//! Decode tables and the scalar reference decoder of a tile's lanes (docs/bitstream.md
//! 7.5). The AVX2 decoder (`x86`) must give the same values, states and word positions.

use super::table::FreqTable;
use super::{token_base, BYPASS_BITS, MAX_LANES, NODE_ALPHABET, STATE_LOW, VALUE_ALPHABET};

/// The symbol of a missing table's entries: a decoder that meets it reports the tile
/// corrupt (it named a table its section does not define).
pub const INVALID_SYMBOL: u32 = 63;

/// Packs a decode-table entry: bits 0-11 the slot's offset in its symbol's range
/// (`slot - cum`), bits 12-24 the frequency, bits 25-30 the symbol.
#[inline(always)]
pub const fn entry(bias: u32, freq: u32, sym: u32) -> u32 {
    bias | freq << 12 | sym << 25
}

/// The fields of an entry: (bias, frequency, symbol).
#[inline(always)]
pub const fn unpack(e: u32) -> (u32, u32, u32) {
    (e & 0xfff, (e >> 12) & 0x1fff, e >> 25)
}

/// The decode table of one frequency table: one entry per slot (`2^log` slots).
#[derive(Clone)]
pub struct DecTable {
    /// The entries.
    pub entries: Vec<u32>,
    /// Precision.
    pub log: u32,
}

impl std::fmt::Debug for DecTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DecTable(2^{})", self.log)
    }
}

impl DecTable {
    /// The decode table of a frequency table.
    pub fn new(t: &FreqTable) -> DecTable {
        let mut entries = vec![0; 1 << t.log];
        fill(t, &mut entries);
        DecTable {
            entries,
            log: t.log,
        }
    }
}

/// Writes the entries of `t` into `out` (`2^t.log` of them): slot `s` in the range
/// `[cum_k, cum_k + f_k)` of symbol `k` gets `(s - cum_k, f_k, k)`.
pub fn fill(t: &FreqTable, out: &mut [u32]) {
    let mut slot = 0;
    for (k, (&f, &c)) in t.freq.iter().zip(&t.cum).enumerate() {
        for bias in 0..f {
            out[slot] = entry(bias, f, k as u32);
            slot += 1;
        }
        debug_assert_eq!(c + f, slot as u32);
    }
}

/// Writes the entries of a missing table of precision `log`: each leaves the state as it
/// is (frequency `2^log`, offset the slot) and yields [`INVALID_SYMBOL`].
pub fn fill_invalid(log: u32, out: &mut [u32]) {
    for (s, e) in out.iter_mut().enumerate() {
        *e = entry(s as u32, 1 << log, INVALID_SYMBOL);
    }
}

/// The word stream of a tile: 16-bit little-endian words, read in order. Reading past
/// its end yields zeros and is remembered.
#[derive(Debug, Clone, Copy)]
pub struct WordReader<'a> {
    /// The words' bytes.
    pub data: &'a [u8],
    /// Byte position of the next word.
    pub pos: usize,
    /// True once a read went past the end.
    pub overrun: bool,
}

impl<'a> WordReader<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        WordReader {
            data,
            pos: 0,
            overrun: false,
        }
    }

    /// The next word.
    #[inline(always)]
    pub fn next_word(&mut self) -> u32 {
        match self.data.get(self.pos..self.pos + 2) {
            Some(b) => {
                self.pos += 2;
                u32::from(u16::from_le_bytes([b[0], b[1]]))
            }
            None => {
                self.overrun = true;
                0
            }
        }
    }

    /// True when every word was read and no read went past the end.
    pub fn finished(&self) -> bool {
        !self.overrun && self.pos == self.data.len()
    }
}

/// The states of a tile's lanes, with what the decoder has seen so far.
#[derive(Debug, Clone)]
pub struct Lanes {
    /// One state per lane; only the first `count` are used.
    pub x: [u32; MAX_LANES],
    /// Number of lanes.
    pub count: usize,
    /// Set when a symbol came from a missing table or is outside its alphabet.
    pub bad: bool,
}

impl Lanes {
    /// Lanes starting from `states` (at most 32).
    pub fn new(states: &[u32]) -> Self {
        let mut x = [STATE_LOW; MAX_LANES];
        x[..states.len()].copy_from_slice(states);
        Lanes {
            x,
            count: states.len(),
            bad: false,
        }
    }

    /// True when every lane is back at [`STATE_LOW`], where the encoder started.
    pub fn at_start(&self) -> bool {
        self.x[..self.count].iter().all(|&s| s == STATE_LOW)
    }

    /// Decodes a phase of `n` symbols, symbol `j` with the table `table_of(j)` (its
    /// `2^log` entries), in rounds of [`Lanes::count`], and hands each to
    /// `sink(j, v)`: the value (token base and extra bits) for value phases, the symbol
    /// for node phases. The scalar reference of the AVX2 decoder.
    pub fn phase<'t>(
        &mut self,
        words: &mut WordReader<'_>,
        log: u32,
        n: usize,
        values: bool,
        mut table_of: impl FnMut(usize) -> &'t [u32],
        mut sink: impl FnMut(usize, u32),
    ) {
        if self.count == 1 {
            return self.phase1(words, log, n, values, table_of, sink);
        }
        let lanes = self.count;
        let mask = (1u32 << log) - 1;
        let alphabet = if values {
            VALUE_ALPHABET
        } else {
            NODE_ALPHABET
        } as u32;
        let mut tok = [0u32; MAX_LANES];
        let mut start = 0;
        while start < n {
            let k = lanes.min(n - start);
            for (l, t) in tok[..k].iter_mut().enumerate() {
                let table = table_of(start + l);
                let x = &mut self.x[l];
                let (bias, f, sym) = unpack(table[(*x & mask) as usize]);
                *x = f * (*x >> log) + bias;
                renorm(x, words);
                self.bad |= sym >= alphabet;
                *t = sym;
            }
            if !values {
                for (l, &t) in tok[..k].iter().enumerate() {
                    sink(start + l, t);
                }
                start += k;
                continue;
            }
            let mut extra = [0u32; MAX_LANES];
            for l in 0..k {
                let (nb, _) = token_base(tok[l]);
                if nb > 0 {
                    extra[l] = bypass(&mut self.x[l], nb.min(BYPASS_BITS), words);
                }
            }
            for l in 0..k {
                let (nb, _) = token_base(tok[l]);
                if nb > BYPASS_BITS {
                    extra[l] |= bypass(&mut self.x[l], nb - BYPASS_BITS, words) << BYPASS_BITS;
                }
            }
            for l in 0..k {
                sink(start + l, token_base(tok[l]).1 | extra[l]);
            }
            start += k;
        }
    }
}

impl Lanes {
    /// [`Lanes::phase`] for one lane: a round is one symbol (its token, then its extra
    /// bits), so the loop is plain, and the words are read without a branch on whether the
    /// state needs one (that is unpredictable).
    fn phase1<'t>(
        &mut self,
        words: &mut WordReader<'_>,
        log: u32,
        n: usize,
        values: bool,
        mut table_of: impl FnMut(usize) -> &'t [u32],
        mut sink: impl FnMut(usize, u32),
    ) {
        let mask = (1u32 << log) - 1;
        let alphabet = if values {
            VALUE_ALPHABET
        } else {
            NODE_ALPHABET
        } as u32;
        let mut x = self.x[0];
        let mut bad = false;
        for j in 0..n {
            let (bias, f, sym) = unpack(table_of(j)[(x & mask) as usize]);
            x = f * (x >> log) + bias;
            x = refill(x, words);
            bad |= sym >= alphabet;
            if !values {
                sink(j, sym);
                continue;
            }
            let (nb, base) = token_base(sym);
            let mut extra = 0;
            if nb > 0 {
                let b = nb.min(BYPASS_BITS);
                extra = x & ((1 << b) - 1);
                x = refill(x >> b, words);
                if nb > BYPASS_BITS {
                    let b = nb - BYPASS_BITS;
                    extra |= (x & ((1 << b) - 1)) << BYPASS_BITS;
                    x = refill(x >> b, words);
                }
            }
            sink(j, base | extra);
        }
        self.x[0] = x;
        self.bad |= bad;
    }
}

/// `x`, or `x` with the next word shifted in when it fell below [`STATE_LOW`].
#[inline(always)]
fn refill(x: u32, words: &mut WordReader<'_>) -> u32 {
    let need = x < STATE_LOW;
    let b = |i: usize| words.data.get(i).map_or(0, |&v| u32::from(v));
    let w = b(words.pos) | b(words.pos + 1) << 8;
    let step = if need { 2 } else { 0 };
    words.overrun |= need && words.pos + 2 > words.data.len();
    words.pos += step;
    if need {
        (x << 16) | w
    } else {
        x
    }
}

/// Takes `b` raw bits from state `x` (a symbol of frequency 1 in `2^b`).
#[inline(always)]
fn bypass(x: &mut u32, b: u32, words: &mut WordReader<'_>) -> u32 {
    let v = *x & ((1 << b) - 1);
    *x >>= b;
    renorm(x, words);
    v
}

/// Shifts the next word into `x` when it fell below [`STATE_LOW`] (the multi-lane
/// reference's step; the one-lane loop uses the branch-free [`refill`]).
#[inline(always)]
fn renorm(x: &mut u32, words: &mut WordReader<'_>) {
    if *x < STATE_LOW {
        *x = (*x << 16) | words.next_word();
    }
}

#[cfg(test)]
mod tests {
    use super::super::rans::{EncTable, RansEncoder, SymbolQueue};
    use super::super::{split_value, MAX_VALUE_BITS};
    use super::*;
    use crate::test_rng::xorshift;

    /// Codes random phases of values and nodes with several tables, decodes them back
    /// with every lane count, and checks the states and the stream end.
    #[test]
    fn phases_round_trip_for_every_lane_count() {
        for log in [6, 10, 12] {
            let mut seed = 12345u32;
            // Phases: values of table 0, nodes of tables 1 and 2 alternating.
            let mut phases: Vec<(bool, Vec<(usize, u32)>)> = Vec::new();
            for p in 0..9 {
                let n = [1, 31, 32, 33, 100, 7, 64, 5, 250][p];
                let values = p % 2 == 0;
                let items = (0..n)
                    .map(|_| {
                        let r = xorshift(&mut seed);
                        if values {
                            let u = match r % 8 {
                                0 => r >> (32 - MAX_VALUE_BITS),
                                1 => 17 + (r >> 20),
                                _ => [0, 1, 2, 3, 5, 0][(r % 6) as usize],
                            };
                            (0, u)
                        } else if r.is_multiple_of(3) {
                            (2, 1)
                        } else {
                            (1, (r >> 5) % 16)
                        }
                    })
                    .collect();
                phases.push((values, items));
            }
            // Tables from the symbols' counts (table 2 has only symbol 1).
            let mut counts = vec![vec![0u64; VALUE_ALPHABET]; 3];
            for (values, items) in &phases {
                for &(t, u) in items {
                    let s = if *values { split_value(u).0 } else { u as u8 };
                    counts[t][usize::from(s)] += 1;
                }
            }
            let freq: Vec<Option<FreqTable>> = counts
                .iter()
                .map(|c| Some(FreqTable::from_counts(c, log)))
                .collect();
            let dec: Vec<DecTable> = freq
                .iter()
                .map(|t| DecTable::new(t.as_ref().unwrap()))
                .collect();
            let mut q = SymbolQueue::new();
            for (values, items) in &phases {
                for &(t, u) in items {
                    if *values {
                        let (tok, nb, extra) = split_value(u);
                        q.put(t as u16, tok, nb as u8, extra);
                    } else {
                        q.put(t as u16, u as u8, 0, 0);
                    }
                }
                q.end_phase();
            }
            for lanes in [1, 2, 8, 32] {
                let mut bytes = Vec::new();
                let enc: Vec<Option<EncTable>> =
                    freq.iter().map(|t| t.as_ref().map(EncTable::new)).collect();
                RansEncoder::encode(&q, lanes, &enc, &mut bytes);
                let states: Vec<u32> = bytes[..4 * lanes]
                    .chunks_exact(4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                let mut l = Lanes::new(&states);
                let mut w = WordReader::new(&bytes[4 * lanes..]);
                for (values, items) in &phases {
                    let mut got = vec![0; items.len()];
                    l.phase(
                        &mut w,
                        log,
                        items.len(),
                        *values,
                        |j| &dec[items[j].0].entries,
                        |j, v| got[j] = v,
                    );
                    let want: Vec<u32> = items.iter().map(|i| i.1).collect();
                    assert_eq!(got, want, "log {log} lanes {lanes}");
                }
                assert!(
                    !l.bad && l.at_start() && w.finished(),
                    "log {log} lanes {lanes}"
                );
                // A flipped bit shows: in a value, a state or the stream's end.
                let mut broken = bytes.clone();
                let at = 4 * lanes + (bytes.len() - 4 * lanes) / 2;
                broken[at] ^= 0x10;
                let mut l = Lanes::new(&states);
                let mut w = WordReader::new(&broken[4 * lanes..]);
                let mut same = true;
                for (values, items) in &phases {
                    l.phase(
                        &mut w,
                        log,
                        items.len(),
                        *values,
                        |j| &dec[items[j].0].entries,
                        |j, v| same &= v == items[j].1,
                    );
                }
                assert!(
                    !(same && l.at_start() && w.finished()),
                    "damage unseen, lanes {lanes}"
                );
            }
        }
    }

    #[test]
    fn missing_tables_are_reported() {
        let mut invalid = vec![0; 1 << 8];
        fill_invalid(8, &mut invalid);
        let mut l = Lanes::new(&[STATE_LOW + 77; 4]);
        let mut w = WordReader::new(&[]);
        let mut seen = Vec::new();
        l.phase(&mut w, 8, 6, true, |_| &invalid, |_, v| seen.push(v));
        assert!(l.bad);
        assert_eq!(seen, vec![0; 6]);
        // The states stay where they were, and nothing was read.
        assert!(l.x[..4].iter().all(|&x| x == STATE_LOW + 77) && w.pos == 0);
    }
}
