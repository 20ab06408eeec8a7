//! Seeded pseudo-random inputs for the unit tests that compare a SIMD kernel with its
//! scalar twin (test builds only).

/// xorshift64: fast, seeded, and the same sequence on every machine.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `lo ..= hi`.
    pub(crate) fn within(&mut self, lo: i32, hi: i32) -> i32 {
        (i64::from(lo) + self.below((i64::from(hi) - i64::from(lo) + 1) as u64) as i64) as i32
    }
}

/// xorshift32, for tests that draw `u32`s.
pub(crate) fn xorshift(s: &mut u32) -> u32 {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    *s
}
