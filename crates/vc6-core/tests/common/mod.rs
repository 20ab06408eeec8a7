//! Helpers shared by the core's integration tests.

/// xorshift32: deterministic noise without a `rand` dependency.
pub fn xorshift(seed: &mut u32) -> u32 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 17;
    *seed ^= *seed << 5;
    *seed
}
