//! Static frequency tables: normalisation and serial form (docs/bitstream.md 7.4).

use crate::bytes::{ByteReader, ByteWriter};
use crate::error::{Error, Result};

/// Largest table precision, in bits (frequencies sum to 4096).
pub const MAX_PRECISION: u32 = 12;
/// Smallest table precision, in bits (enough for every alphabet).
pub const MIN_PRECISION: u32 = 6;

/// Frequencies summing to `1 << log`, with cumulative starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreqTable {
    /// Frequency of each symbol; the last is non-zero.
    pub freq: Vec<u32>,
    /// Cumulative frequency before each symbol.
    pub cum: Vec<u32>,
    /// log2 of the frequency sum (the table's precision).
    pub log: u32,
}

impl FreqTable {
    /// Builds a table of precision `log` from symbol counts; every symbol with a non-zero
    /// count gets a non-zero frequency. At most `1 << log` symbols may be used.
    pub fn from_counts(counts: &[u64], log: u32) -> FreqTable {
        let scale = 1i64 << log;
        let len = counts.iter().rposition(|&c| c > 0).map_or(1, |p| p + 1);
        let counts = &counts[..len];
        let total: u64 = counts.iter().sum();
        let mut freq: Vec<u32> = counts
            .iter()
            .map(|&c| {
                if c == 0 {
                    0
                } else {
                    ((c * scale as u64 + total / 2) / total).max(1) as u32
                }
            })
            .collect();
        if total == 0 {
            freq[0] = scale as u32;
        }
        let mut sum: i64 = freq.iter().map(|&f| i64::from(f)).sum();
        // Fix the rounding: take from (or give to) the largest frequencies first, where a
        // unit changes the cost least.
        while sum != scale {
            let mut order: Vec<usize> = (0..freq.len()).filter(|&i| freq[i] > 0).collect();
            order.sort_by_key(|&i| std::cmp::Reverse(freq[i]));
            for i in order {
                if sum > scale && freq[i] > 1 {
                    let take = ((sum - scale) as u32).min(freq[i] - 1).min(freq[i] / 8 + 1);
                    freq[i] -= take;
                    sum -= i64::from(take);
                } else if sum < scale {
                    freq[i] += (scale - sum) as u32;
                    sum = scale;
                }
                if sum == scale {
                    break;
                }
            }
        }
        FreqTable::from_freqs(freq, log)
    }

    fn from_freqs(freq: Vec<u32>, log: u32) -> FreqTable {
        let mut cum = Vec::with_capacity(freq.len());
        let mut acc = 0;
        for &f in &freq {
            cum.push(acc);
            acc += f;
        }
        FreqTable { freq, cum, log }
    }

    /// Serialises: the symbol count `n`, then the first `n - 1` frequencies as varints;
    /// the last is what remains of `2^log` (the precision is the section's).
    pub fn write(&self, out: &mut Vec<u8>) {
        out.put_u8(self.freq.len() as u8);
        for &f in &self.freq[..self.freq.len() - 1] {
            out.put_varint(f);
        }
    }

    /// Parses a serialised table of precision `log`, checking it against the alphabet.
    pub(crate) fn read(r: &mut ByteReader<'_>, alphabet: usize, log: u32) -> Result<FreqTable> {
        let n = r.u8("frequency table")? as usize;
        if n == 0 || n > alphabet {
            return Err(Error::format(format!(
                "frequency table has {n} symbols, alphabet has {alphabet}"
            )));
        }
        let mut freq = Vec::with_capacity(n);
        let mut sum = 0u64;
        for _ in 1..n {
            let f = r.varint("frequency table")?;
            sum += u64::from(f);
            freq.push(f);
        }
        let scale = 1u64 << log;
        if sum >= scale {
            return Err(Error::format(format!(
                "frequency table sums to {sum} before its last symbol, at least {scale} (the whole)"
            )));
        }
        freq.push((scale - sum) as u32);
        Ok(FreqTable::from_freqs(freq, log))
    }
}

/// The precision for a section whose busiest table codes `symbols` symbols: enough to
/// model it, at most `most` (smaller tables build faster and stay in L1).
pub fn precision_for(symbols: u64, most: u32) -> u32 {
    let need = 64 - symbols.max(1).leading_zeros();
    need.clamp(MIN_PRECISION, most.clamp(MIN_PRECISION, MAX_PRECISION))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_tables_sum_to_scale_and_round_trip() {
        let cases: Vec<Vec<u64>> = vec![
            vec![1],
            vec![0, 0, 5],
            vec![1_000_000, 1, 1, 1, 1, 1, 1, 1],
            (0..62).map(|i| 1 + (i * i * i) as u64).collect(),
            (0..62).map(|i| if i % 3 == 0 { 0 } else { 1 }).collect(),
        ];
        for log in [MIN_PRECISION, 8, MAX_PRECISION] {
            for counts in &cases {
                let t = FreqTable::from_counts(counts, log);
                assert_eq!(t.freq.iter().sum::<u32>(), 1 << log);
                assert!(*t.freq.last().unwrap() > 0);
                for (i, &c) in counts.iter().enumerate() {
                    if c > 0 {
                        assert!(t.freq[i] > 0);
                    }
                }
                let mut buf = Vec::new();
                t.write(&mut buf);
                let back = FreqTable::read(&mut ByteReader::new(&buf), 62, log).unwrap();
                assert_eq!(back, t);
                // At a smaller precision the listed frequencies already reach the whole.
                if t.freq.len() > 1
                    && t.freq[..t.freq.len() - 1].iter().sum::<u32>() >= 1 << (log - 1)
                {
                    assert!(FreqTable::read(&mut ByteReader::new(&buf), 62, log - 1).is_err());
                }
            }
        }
        assert_eq!(precision_for(0, 12), MIN_PRECISION);
        assert_eq!(precision_for(300, 12), 9);
        assert_eq!(precision_for(1 << 20, 11), 11);
        assert_eq!(precision_for(1 << 20, 20), MAX_PRECISION);
    }

    #[test]
    fn malformed_tables_are_refused() {
        // No symbols; more than the alphabet; listed frequencies that fill the whole.
        for bytes in [&[0u8][..], &[17], &[2, 0x80, 0x01]] {
            assert!(FreqTable::read(&mut ByteReader::new(bytes), 16, 7).is_err());
        }
        let t = FreqTable::read(&mut ByteReader::new(&[2, 0x7f]), 16, 7).unwrap();
        assert_eq!(t.freq, vec![127, 1]);
    }
}
