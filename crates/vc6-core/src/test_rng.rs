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
    // Drawn by the AVX2 kernels' tests only.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn within(&mut self, lo: i32, hi: i32) -> i32 {
        (i64::from(lo) + self.below((i64::from(hi) - i64::from(lo) + 1) as u64) as i64) as i32
    }

    /// Four `i16` upsampling taps summing to 16384, some of them extreme.
    // Drawn by the AVX2 kernels' tests only.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn custom_taps(&mut self) -> [i16; 4] {
        if self.below(4) == 0 {
            return [32767, 32767, -32768, -16382];
        }
        loop {
            let k: [i32; 3] = std::array::from_fn(|_| self.within(-20000, 20000));
            let k3 = 16384 - k[0] - k[1] - k[2];
            if let Ok(k3) = i16::try_from(k3) {
                return [k[0] as i16, k[1] as i16, k[2] as i16, k3];
            }
        }
    }
}

/// xorshift32, for tests that draw `u32`s.
pub(crate) fn xorshift(s: &mut u32) -> u32 {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    *s
}
