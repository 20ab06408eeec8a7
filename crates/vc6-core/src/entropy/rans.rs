//! Four-way interleaved rANS with 32-bit states and 16-bit renormalisation.
//!
//! Symbol `i` of a tile uses state `i mod 4`. The encoder codes symbols in reverse
//! and the byte stream is reversed so the decoder reads forward.

use super::bits::BitReader;
use super::table::{DecTable, EncTable, PROB_BITS};
use super::TOKEN_LUT;

/// Lower bound of the normalised state interval `[RANS_LOW, RANS_LOW << 16)`.
pub const RANS_LOW: u32 = 1 << 16;
const LANES: usize = 4;

/// Collects symbols in decode order, then codes them all at once.
#[derive(Debug, Default)]
pub struct RansEncoder {
    /// (start, freq) of every symbol, in decode order.
    syms: Vec<(u16, u16)>,
}

impl RansEncoder {
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

    /// Queues `sym` coded with `table`.
    #[inline]
    pub fn put(&mut self, table: &EncTable, sym: usize) {
        let f = table.freq[sym];
        debug_assert!(f > 0, "symbol {sym} has zero frequency");
        // A frequency of 4096 is stored as 0 in 16 bits; `finish` restores it.
        self.syms.push((table.cum[sym] as u16, f as u16));
    }

    /// Codes the queued symbols; an empty queue gives an empty stream.
    pub fn finish(self) -> Vec<u8> {
        if self.syms.is_empty() {
            return Vec::new();
        }
        let mut state = [RANS_LOW; LANES];
        let mut words: Vec<u16> = Vec::with_capacity(self.syms.len() / 2 + 8);
        for (i, &(start, f16)) in self.syms.iter().enumerate().rev() {
            let f = if f16 == 0 {
                1u32 << PROB_BITS
            } else {
                u32::from(f16)
            };
            let x = &mut state[i % LANES];
            let x_max = (u64::from(RANS_LOW >> PROB_BITS) << 16) * u64::from(f);
            if u64::from(*x) >= x_max {
                words.push(*x as u16);
                *x >>= 16;
            }
            *x = ((*x / f) << PROB_BITS) + (*x % f) + u32::from(start);
        }
        for x in state.iter().rev() {
            words.push(*x as u16);
            words.push((*x >> 16) as u16);
        }
        let mut out = Vec::with_capacity(words.len() * 2);
        for w in words.iter().rev() {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// One decode step of one lane: returns the table entry and the words taken so far,
/// renormalising from `words` (the next four stream words).
#[inline(always)]
fn step(lut: &[u32; 1 << PROB_BITS], x: &mut u32, words: u64, taken: u32) -> (u32, u32) {
    let s = *x;
    let e = lut[(s & ((1 << PROB_BITS) - 1)) as usize];
    let y = (e & 0x1fff) * (s >> PROB_BITS) + ((e >> 13) & 0xfff);
    // Branch-free renormalisation: whether a word is taken is unpredictable.
    let take = y < RANS_LOW;
    let w = (words >> (16 * taken)) as u32 & 0xffff;
    *x = if take { (y << 16) | w } else { y };
    (e, taken + take as u32)
}

/// Decodes symbols from an rANS stream; reading past its end yields zeros and is
/// reported by [`RansDecoder::finished_cleanly`].
pub struct RansDecoder<'a> {
    data: &'a [u8],
    pos: usize,
    state: [u32; LANES],
    lane: usize,
    overrun: bool,
}

impl<'a> RansDecoder<'a> {
    /// Starts decoding `data` (the states are its first 16 bytes).
    pub fn new(data: &'a [u8]) -> Self {
        let mut d = RansDecoder {
            data,
            pos: 0,
            state: [0; LANES],
            lane: 0,
            overrun: false,
        };
        for i in 0..LANES {
            let hi = d.word();
            let lo = d.word();
            d.state[i] = (hi << 16) | lo;
        }
        d
    }

    #[inline(always)]
    fn word(&mut self) -> u32 {
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

    /// Decodes one symbol with `table`.
    #[inline(always)]
    pub fn get(&mut self, table: &DecTable) -> u32 {
        let lane = self.lane;
        self.lane = (lane + 1) % LANES;
        let x = self.state[lane];
        let e = table.lut[(x & ((1 << PROB_BITS) - 1)) as usize];
        let f = e & 0x1fff;
        let x = f * (x >> PROB_BITS) + ((e >> 13) & 0xfff);
        let w = match self.data.get(self.pos..self.pos + 2) {
            Some(b) => u32::from(u16::from_le_bytes([b[0], b[1]])),
            None => 0,
        };
        let take = x < RANS_LOW;
        if take && w == 0 && self.pos + 2 > self.data.len() {
            self.overrun = true;
        }
        self.state[lane] = if take { (x << 16) | w } else { x };
        self.pos = (self.pos + 2 * take as usize).min(self.data.len());
        e >> 25
    }

    /// Decodes `n` unsigned values (token plus extra bits) with one table and hands
    /// each to `sink(index, value)`: the hot loop of dense layers and s-tree leaves, with
    /// the four states kept in registers.
    #[inline(always)]
    pub fn values(
        &mut self,
        table: &DecTable,
        bits: &mut BitReader<'_>,
        n: usize,
        mut sink: impl FnMut(usize, u32),
    ) {
        let lut = &table.lut;
        let mut i = 0;
        while self.lane != 0 && i < n {
            let (nb, base) = TOKEN_LUT[self.get(table) as usize & 63];
            sink(i, base | bits.read(nb));
            i += 1;
        }
        let [mut x0, mut x1, mut x2, mut x3] = self.state;
        let (data, mut pos) = (self.data, self.pos);
        let mut b = *bits;
        while i + LANES <= n {
            // A group of four symbols takes at most four words: fetch them with one check.
            let words = match data.get(pos..pos + 2 * LANES) {
                Some(b) => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
                None => {
                    let mut b = [0u8; 8];
                    let tail = data.get(pos..).unwrap_or(&[]);
                    b[..tail.len()].copy_from_slice(tail);
                    u64::from_le_bytes(b)
                }
            };
            let (e0, t) = step(lut, &mut x0, words, 0);
            let (e1, t) = step(lut, &mut x1, words, t);
            let (e2, t) = step(lut, &mut x2, words, t);
            let (e3, t) = step(lut, &mut x3, words, t);
            pos += 2 * t as usize;
            for (lane, e) in [e0, e1, e2, e3].into_iter().enumerate() {
                let (nb, base) = TOKEN_LUT[(e >> 25) as usize];
                sink(i + lane, base | b.read(nb));
            }
            i += LANES;
        }
        *bits = b;
        self.state = [x0, x1, x2, x3];
        if pos > data.len() {
            self.overrun = true;
        }
        self.pos = pos.min(data.len());
        while i < n {
            let (nb, base) = TOKEN_LUT[self.get(table) as usize & 63];
            sink(i, base | bits.read(nb));
            i += 1;
        }
    }

    /// True when every state is back at its start value and all data was used: the
    /// tile decoded exactly as it was coded.
    pub fn finished_cleanly(&self) -> bool {
        !self.overrun && self.pos == self.data.len() && self.state.iter().all(|&s| s == RANS_LOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rans_round_trip_with_mixed_tables() {
        let a = EncTable::from_counts(&[100, 20, 5, 1, 0, 1]);
        let b = EncTable::from_counts(&[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        let one = EncTable::from_counts(&[0, 7]);
        let da = DecTable::new(&a);
        let db = DecTable::new(&b);
        let done = DecTable::new(&one);
        let mut seed = 12345u32;
        let mut syms = Vec::new();
        for i in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let which = i % 3;
            let s = match which {
                0 => [0, 0, 0, 0, 1, 1, 2, 3, 5][(seed % 9) as usize],
                1 => (seed % 16) as usize,
                _ => 1,
            };
            syms.push((which, s));
        }
        let mut enc = RansEncoder::new();
        for &(w, s) in &syms {
            enc.put([&a, &b, &one][w], s);
        }
        let bytes = enc.finish();
        let mut dec = RansDecoder::new(&bytes);
        for &(w, s) in &syms {
            assert_eq!(dec.get([&da, &db, &done][w]) as usize, s);
        }
        assert!(dec.finished_cleanly());
        // Skewed data compresses.
        assert!(bytes.len() < 5000);
    }

    #[test]
    fn corrupt_streams_are_detected() {
        let a = EncTable::from_counts(&[10, 5, 1]);
        let da = DecTable::new(&a);
        let mut enc = RansEncoder::new();
        (0..100).for_each(|i| enc.put(&a, i % 3));
        let mut bytes = enc.finish();
        bytes[5] ^= 0x40;
        let mut dec = RansDecoder::new(&bytes);
        (0..100).for_each(|_| {
            dec.get(&da);
        });
        assert!(!dec.finished_cleanly());
        let mut dec = RansDecoder::new(&bytes[..3]);
        dec.get(&da);
        assert!(!dec.finished_cleanly());
    }
}
