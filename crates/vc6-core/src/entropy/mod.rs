//! Entropy coding: static-model table ANS over small alphabets, with values split into
//! a token (entropy coded) and raw extra bits (docs/bitstream.md, section 7).

mod ans;
mod bits;
mod table;

pub use ans::{decode_states, AnsDecoder, AnsEncTable, AnsEncoder, DecTable};
pub use bits::{BitReader, BitWriter};
pub use table::{table_log_for, FreqTable, MAX_TABLE_LOG, MIN_TABLE_LOG};

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
/// `16 + 2 (n - 4) + bit(n - 1)` and the `n - 1` low bits follow raw.
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
#[inline(always)]
pub fn token_base(token: u32) -> (u32, u32) {
    if token < DIRECT_TOKENS {
        (0, token)
    } else {
        let t = token - DIRECT_TOKENS;
        let n = t / 2 + 4;
        (n - 1, (1 << n) | ((t & 1) << (n - 1)))
    }
}

/// (extra bit count, base value) of each value token; tokens past the alphabet map
/// to (0, 0) so a lookup never needs a bounds check.
pub(crate) static TOKEN_LUT: [(u32, u32); 128] = {
    let mut t = [(0u32, 0u32); 128];
    let mut i = 0;
    while i < VALUE_ALPHABET {
        let token = i as u32;
        t[i] = if token < DIRECT_TOKENS {
            (0, token)
        } else {
            let n = (token - DIRECT_TOKENS) / 2 + 4;
            (n - 1, (1 << n) | (((token - DIRECT_TOKENS) & 1) << (n - 1)))
        };
        i += 1;
    }
    t
};

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
            assert_eq!(TOKEN_LUT[t as usize], (nb, base));
            u = u * 3 / 2 + 1;
        }
        let (t, _, _) = split_value((1 << MAX_VALUE_BITS) - 1);
        assert_eq!(t as usize, VALUE_ALPHABET - 1);
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
