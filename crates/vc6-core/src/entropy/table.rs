//! Static frequency tables: normalisation, serialisation and decode lookup tables.

use crate::bytes::{ByteReader, ByteWriter};
use crate::error::{Error, Result};

/// Precision of the probabilities, in bits.
pub const PROB_BITS: u32 = 12;
/// Sum of the frequencies of every table.
pub const PROB_SCALE: u32 = 1 << PROB_BITS;

/// Frequencies (summing to [`PROB_SCALE`]) and cumulative starts, for the encoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncTable {
    /// Frequency of each symbol.
    pub freq: Vec<u32>,
    /// Cumulative frequency before each symbol.
    pub cum: Vec<u32>,
}

impl EncTable {
    /// Builds a table from symbol counts; every symbol with a non-zero count gets a
    /// non-zero frequency. `counts` must have at least one non-zero entry.
    pub fn from_counts(counts: &[u64]) -> EncTable {
        let len = counts.iter().rposition(|&c| c > 0).map_or(1, |p| p + 1);
        let counts = &counts[..len];
        let total: u64 = counts.iter().sum();
        let mut freq: Vec<u32> = counts
            .iter()
            .map(|&c| {
                if c == 0 {
                    0
                } else {
                    ((c * u64::from(PROB_SCALE) + total / 2) / total).max(1) as u32
                }
            })
            .collect();
        if total == 0 {
            freq[0] = PROB_SCALE;
        }
        let mut sum: i64 = freq.iter().map(|&f| i64::from(f)).sum();
        // Fix the rounding: take from (or give to) the largest frequencies first.
        while sum != i64::from(PROB_SCALE) {
            let mut order: Vec<usize> = (0..freq.len()).filter(|&i| freq[i] > 0).collect();
            order.sort_by_key(|&i| std::cmp::Reverse(freq[i]));
            for i in order {
                if sum > i64::from(PROB_SCALE) && freq[i] > 1 {
                    let take = ((sum - i64::from(PROB_SCALE)) as u32)
                        .min(freq[i] - 1)
                        .min(freq[i] / 8 + 1);
                    freq[i] -= take;
                    sum -= i64::from(take);
                } else if sum < i64::from(PROB_SCALE) {
                    freq[i] += (i64::from(PROB_SCALE) - sum) as u32;
                    sum = i64::from(PROB_SCALE);
                }
                if sum == i64::from(PROB_SCALE) {
                    break;
                }
            }
        }
        EncTable::from_freqs(freq)
    }

    fn from_freqs(freq: Vec<u32>) -> EncTable {
        let mut cum = Vec::with_capacity(freq.len());
        let mut acc = 0;
        for &f in &freq {
            cum.push(acc);
            acc += f;
        }
        EncTable { freq, cum }
    }

    /// Number of symbols in the table (the last one has a non-zero frequency).
    pub fn alphabet(&self) -> usize {
        self.freq.len()
    }

    /// Estimated cost in bits of coding `counts` with this table.
    pub fn cost_bits(&self, counts: &[u64]) -> f64 {
        counts
            .iter()
            .zip(&self.freq)
            .filter(|(&c, _)| c > 0)
            .map(|(&c, &f)| c as f64 * (f64::from(PROB_BITS) - f64::from(f).log2()))
            .sum()
    }

    /// Serialises: symbol count, then each frequency as a varint.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.put_u8(self.freq.len() as u8);
        for &f in &self.freq {
            out.put_varint(f);
        }
    }

    /// Parses a serialised table, checking it against the alphabet size.
    pub(crate) fn read(r: &mut ByteReader<'_>, alphabet: usize) -> Result<EncTable> {
        let n = r.u8("frequency table")? as usize;
        if n == 0 || n > alphabet {
            return Err(Error::format(format!(
                "frequency table has {n} symbols, alphabet has {alphabet}"
            )));
        }
        let mut freq = Vec::with_capacity(n);
        let mut sum = 0u64;
        for _ in 0..n {
            let f = r.varint("frequency table")?;
            sum += u64::from(f);
            freq.push(f);
        }
        if sum != u64::from(PROB_SCALE) {
            return Err(Error::format(format!(
                "frequency table sums to {sum}, expected {PROB_SCALE}"
            )));
        }
        Ok(EncTable::from_freqs(freq))
    }
}

/// Decode lookup table: one packed entry per probability slot.
///
/// Entry layout: bits 0..13 frequency, 13..25 `slot - cum`, 25..32 symbol.
#[derive(Clone)]
pub struct DecTable {
    pub(crate) lut: Box<[u32; PROB_SCALE as usize]>,
}

impl std::fmt::Debug for DecTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DecTable")
    }
}

impl DecTable {
    /// Builds the lookup table of a (validated) frequency table.
    pub fn new(t: &EncTable) -> DecTable {
        // Built by appending, without zeroing first: tables are rebuilt per section.
        let mut lut = Vec::with_capacity(PROB_SCALE as usize);
        for (sym, &f) in t.freq.iter().enumerate() {
            let base = f | (sym as u32) << 25;
            lut.extend((0..f).map(|bias| base | bias << 13));
        }
        let lut = lut
            .into_boxed_slice()
            .try_into()
            .expect("frequencies sum to PROB_SCALE");
        DecTable { lut }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_tables_sum_to_scale() {
        let cases: Vec<Vec<u64>> = vec![
            vec![1],
            vec![0, 0, 5],
            vec![1_000_000, 1, 1, 1, 1, 1, 1, 1],
            (0..62).map(|i| 1 + (i * i) as u64).collect(),
            (0..62).map(|i| if i % 3 == 0 { 0 } else { 1 }).collect(),
        ];
        for counts in cases {
            let t = EncTable::from_counts(&counts);
            assert_eq!(t.freq.iter().sum::<u32>(), PROB_SCALE);
            for (i, &c) in counts.iter().enumerate() {
                if c > 0 {
                    assert!(t.freq[i] > 0);
                }
            }
            let mut buf = Vec::new();
            t.write(&mut buf);
            let back = EncTable::read(&mut ByteReader::new(&buf), 62).unwrap();
            assert_eq!(back, t);
        }
    }
}
