//! Entropy coding (docs/bitstream.md, section 7): static-model rANS with up to 32
//! interleaved lanes per tile, values split into a token (coded with a frequency table)
//! and extra bits (coded in the same lanes as uniform "bypass" symbols).
//!
//! - [`table`]: frequency tables, their normalisation and their serial form.
//! - [`rans`]: the encoder, which codes a tile's symbols phase by phase in rounds of
//!   lanes and writes the lanes' states and one word stream.
//! - [`decode`]: decode tables and the scalar reference decoder of a round.
//! - `x86`: the AVX2 decoder of dense rounds, the scalar decoder's twin.

pub mod decode;
pub mod rans;
pub mod table;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;

pub use decode::{DecTable, Lanes, WordReader, INVALID_SYMBOL};
pub use rans::{EncTable, RansEncoder, SymbolQueue};
pub use table::{precision_for, FreqTable, MAX_PRECISION, MIN_PRECISION};

/// The lower bound of a lane's state: states live in `[STATE_LOW, 2^32)`, and a lane
/// that falls below it reads one 16-bit word. Every lane starts its encoding here, so a
/// decoder ends each tile with every state back at this value.
pub const STATE_LOW: u32 = 1 << 16;
/// Most lanes a tile may use.
pub const MAX_LANES: usize = 32;
/// The lane counts a tile header can declare (classes 0, 1, 2).
pub const LANE_CLASSES: [usize; 3] = [1, 8, 32];
/// Most extra bits one bypass step carries; longer extra bits take a second step.
pub const BYPASS_BITS: u32 = 16;

/// Values below this are their own token; larger ones carry extra bits.
pub const DIRECT_TOKENS: u32 = 16;
/// Largest unsigned value a token can carry: below 2^27.
pub const MAX_VALUE_BITS: u32 = 27;
/// Size of the value-token alphabet.
pub const VALUE_ALPHABET: usize = (DIRECT_TOKENS + 2 * (MAX_VALUE_BITS - 1 - 4) + 2) as usize;
/// Size of the s-tree node alphabet (four child flags).
pub const NODE_ALPHABET: usize = 16;

/// Splits `u` into (token, extra bit count, extra bits).
///
/// `u < 16` is token `u`; otherwise with `n = floor(log2 u)` the token is
/// `16 + 2 (n - 4) + bit(n - 1)` and the `n - 1` low bits follow as extra bits.
#[inline(always)]
pub fn split_value(u: u32) -> (u8, u32, u32) {
    if u < DIRECT_TOKENS {
        (u as u8, 0, 0)
    } else {
        let n = 31 - u.leading_zeros();
        let token = DIRECT_TOKENS + 2 * (n - 4) + ((u >> (n - 1)) & 1);
        (token as u8, n - 1, u & ((1 << (n - 1)) - 1))
    }
}

/// Extra bit count and the value's high part for a token (inverse of [`split_value`]).
/// Tokens past the alphabet give `(0, 0)`.
#[inline(always)]
pub fn token_base(token: u32) -> (u32, u32) {
    if token < DIRECT_TOKENS {
        (0, token)
    } else if (token as usize) < VALUE_ALPHABET {
        let t = token - DIRECT_TOKENS;
        let n = t / 2 + 4;
        (n - 1, (1 << n) | ((t & 1) << (n - 1)))
    } else {
        (0, 0)
    }
}

/// Maps a signed value to unsigned: 0, -1, 1, -2, 2 ... -> 0, 1, 2, 3, 4 ...
#[inline(always)]
pub fn zigzag(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

/// Inverse of [`zigzag`].
#[inline(always)]
pub fn unzigzag(u: u32) -> i32 {
    ((u >> 1) as i32) ^ -((u & 1) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let mut u = 0u32;
        while u < (1 << MAX_VALUE_BITS) {
            let (t, nb, extra) = split_value(u);
            assert!((t as usize) < VALUE_ALPHABET, "u={u} t={t}");
            let (nb2, base) = token_base(u32::from(t));
            assert_eq!(nb, nb2);
            assert_eq!(base | extra, u);
            u = u * 3 / 2 + 1;
        }
        let (t, _, _) = split_value((1 << MAX_VALUE_BITS) - 1);
        assert_eq!(t as usize, VALUE_ALPHABET - 1);
        assert_eq!(token_base(VALUE_ALPHABET as u32), (0, 0));
        assert_eq!(token_base(INVALID_SYMBOL), (0, 0));
    }

    #[test]
    fn zigzag_round_trip() {
        for v in [0, 1, -1, 2, -2, 1000, -1000, (1 << 26) - 1, -(1 << 26)] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }
}
