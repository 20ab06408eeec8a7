//! Raw (not entropy coded) extra bits, least significant bit first.

/// `MASKS[n]` has the low `n` bits set.
static MASKS: [u64; 64] = {
    let mut m = [0u64; 64];
    let mut i = 1;
    while i < 64 {
        m[i] = (1u64 << i) - 1;
        i += 1;
    }
    m
};

/// Writes bits LSB-first into bytes.
#[derive(Debug, Default, Clone)]
pub struct BitWriter {
    bytes: Vec<u8>,
    acc: u64,
    count: u32,
}

impl BitWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the low `n` bits of `v` (`n <= 32`).
    #[inline(always)]
    pub fn write(&mut self, v: u32, n: u32) {
        debug_assert!(n <= 32 && (n == 32 || v >> n == 0));
        // `count < 32` on entry, so 64 bits hold it all; flush whole 32-bit words.
        self.acc |= u64::from(v) << self.count;
        self.count += n;
        if self.count >= 32 {
            self.bytes
                .extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.count -= 32;
        }
    }

    /// Pads to a byte boundary with zeros and returns the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        let tail = self.count.div_ceil(8) as usize;
        self.bytes
            .extend_from_slice(&self.acc.to_le_bytes()[..tail]);
        self.bytes
    }
}

/// Reads bits LSB-first; reading past the end yields zeros, which
/// [`BitReader::finished_cleanly`] reports.
///
/// It is `Copy` so hot loops can work on a local copy the compiler keeps in registers;
/// the fields those loops use are few (the unread bytes, the bit buffer and its count),
/// so that they fit in registers beside the decoder's own.
#[derive(Clone, Copy)]
pub struct BitReader<'a> {
    /// Bytes not yet loaded into `acc`.
    rest: &'a [u8],
    acc: u64,
    count: u32,
    /// Length of the whole data.
    len: usize,
    /// Zero bytes loaded past the end.
    padding: usize,
}

impl<'a> BitReader<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        BitReader {
            rest: data,
            acc: 0,
            count: 0,
            len: data.len(),
            padding: 0,
        }
    }

    #[inline(always)]
    fn refill(&mut self) {
        match self.rest.first_chunk::<8>() {
            Some(&word) => {
                self.acc |= u64::from_le_bytes(word) << self.count;
                // `count < 64`, so at most 7 bytes (`& 7` lets the slicing skip its check).
                let taken = (63 - self.count) / 8;
                self.rest = &self.rest[taken as usize & 7..];
                self.count += taken * 8;
            }
            None => *self = self.refill_tail(),
        }
    }

    /// Byte-wise refill near the end of the data (by value, so callers' copies stay in
    /// registers).
    #[cold]
    #[inline(never)]
    fn refill_tail(mut self) -> Self {
        while self.count <= 56 {
            let byte = match self.rest.split_first() {
                Some((&b, rest)) => {
                    self.rest = rest;
                    b
                }
                None => {
                    // Past the end: counted, so reads there show in `finished_cleanly`.
                    self.padding += 1;
                    0
                }
            };
            self.acc |= u64::from(byte) << self.count;
            self.count += 8;
        }
        self
    }

    /// Reads `n <= 32` bits.
    #[inline(always)]
    pub fn read(&mut self, n: u32) -> u32 {
        // No early return for n == 0: that branch is unpredictable in the value loop.
        if self.count < n {
            self.refill();
        }
        let v = (self.acc & ((1u64 << n) - 1)) as u32;
        self.acc >>= n;
        self.count -= n;
        v
    }

    /// Reads `n <= 56` bits.
    #[inline(always)]
    pub fn read_long(&mut self, n: u32) -> u64 {
        if self.count < n {
            self.refill();
        }
        // A mask table: cheaper than building the mask with a variable shift.
        let v = self.acc & MASKS[n as usize & 63];
        self.acc >>= n;
        self.count -= n;
        v
    }

    /// Makes at least `n <= 56` bits available and returns the bit buffer (its low `n`
    /// bits are the next ones), consuming nothing: the caller decides how many bits to
    /// take once it has looked at them, then calls [`BitReader::consume`].
    #[inline(always)]
    pub fn peek(&mut self, n: u32) -> u64 {
        if self.count < n {
            self.refill();
        }
        self.acc
    }

    /// Drops `n` bits that [`BitReader::peek`] made available.
    #[inline(always)]
    pub fn consume(&mut self, n: u32) {
        self.acc >>= n;
        self.count -= n;
    }

    /// The bit buffer: the next bits, lowest first. Only the first `n` that a
    /// [`BitReader::peek`] of `n` made available are data.
    #[inline(always)]
    pub fn buffer(&self) -> u64 {
        self.acc
    }

    /// The low `n` bits of `v` (`n < 64`): a mask table, cheaper than building the mask
    /// with a variable shift.
    #[inline(always)]
    pub fn low_bits(v: u64, n: u32) -> u64 {
        v & MASKS[n as usize & 63]
    }

    /// True when every read stayed inside the data and at most the final byte's
    /// padding is left unread.
    pub fn finished_cleanly(&self) -> bool {
        let loaded = (self.len - self.rest.len() + self.padding) as u64;
        let consumed = loaded * 8 - u64::from(self.count);
        let total = self.len as u64 * 8;
        consumed <= total && consumed + 8 > total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip() {
        let mut w = BitWriter::new();
        let items: Vec<(u32, u32)> = (0..1000u32)
            .map(|i| (i * 7919 % (1 << (i % 26)), i % 26))
            .collect();
        for &(v, n) in &items {
            w.write(v & ((1u64 << n) - 1) as u32, n);
        }
        let bytes = w.finish();
        let mut r = BitReader::new(&bytes);
        for &(v, n) in &items {
            assert_eq!(r.read(n), v & ((1u64 << n) - 1) as u32);
        }
        assert!(r.finished_cleanly());
        r.read(16);
        assert!(!r.finished_cleanly());
    }
}
