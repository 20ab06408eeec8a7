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

/// Reads bits LSB-first; reading past the end yields zeros and records an overrun.
///
/// It is `Copy` so hot loops can work on a local copy the compiler keeps in registers.
#[derive(Clone, Copy)]
pub struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    count: u32,
    overrun: bool,
}

impl<'a> BitReader<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            pos: 0,
            acc: 0,
            count: 0,
            overrun: false,
        }
    }

    #[inline(always)]
    fn refill(&mut self) {
        match self.data.get(self.pos..self.pos + 8) {
            Some(b) => {
                let word = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                self.acc |= word << self.count;
                let taken = (63 - self.count) / 8;
                self.pos += taken as usize;
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
            let byte = match self.data.get(self.pos) {
                Some(&b) => b,
                None => {
                    // Past the end: count padding so a corrupt stream cannot loop forever.
                    if self.pos >= self.data.len() + 8 {
                        self.overrun = true;
                    }
                    0
                }
            };
            self.acc |= u64::from(byte) << self.count;
            self.pos += 1;
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

    /// True when every read stayed inside the data and at most the final byte's
    /// padding is left unread.
    pub fn finished_cleanly(&self) -> bool {
        let consumed = self.pos as u64 * 8 - u64::from(self.count);
        let total = self.data.len() as u64 * 8;
        !self.overrun && consumed <= total && consumed + 8 > total
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
