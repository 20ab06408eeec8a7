//! The AVX2 twin of the scalar lane decoder ([`super::decode::Lanes::phase`]): the full
//! rounds of a phase, 8 lanes per vector, four vectors for a 32-lane tile (so four
//! independent table gathers are in flight). Each step is the scalar step on 8 lanes:
//! look up the entries (a gather), update the states, and let the lanes whose state fell
//! below 2^16 take the next words in lane order (a movemask gives the lanes, a table
//! their ranks, one 16-byte load and a permute the words).
//!
//! The caller keeps the lanes' states in [`Lanes`] between phases and decodes a phase's
//! last, partial round with the scalar code, which reads the same words: the two are
//! interchangeable at any round boundary. The word stream must be followed by
//! [`WORD_PADDING`] zero bytes, so that the vector loads of a round never leave the buffer
//! (a stream that runs past its end reads those zeros, as the scalar reader does).
#![allow(unsafe_code)]
// The kernels walk several parallel arrays of vectors by index.
#![allow(clippy::needless_range_loop)]

use super::decode::Lanes;
use super::{BYPASS_BITS, NODE_ALPHABET, VALUE_ALPHABET};
use crate::simd::x86::{load, store};
use core::arch::x86_64::*;

/// Zero bytes the word stream needs after its end: a round reads at most 12 vectors' words
/// (tokens and two bypass steps for 4 vectors, 16 bytes each) from where it starts.
pub(crate) const WORD_PADDING: usize = 256;

/// The lanes of `$x` (an array of at most 4 vectors) below 2^16 read the next words of
/// `$words`, in lane order over all the vectors (vector 0's lanes first). Each vector's
/// first word is found from the counts of the vectors before it, so the loads do not wait
/// on one another, and nothing branches on which lanes read (that is unpredictable). A
/// macro, so that the states stay in registers (a function with a target feature may not
/// be forced inline, and the compiler kept it out of line).
macro_rules! refill_all {
    ($x:expr, $words:expr) => {{
        let x = &mut $x;
        let words: &mut Words<'_> = $words;
        let low = _mm256_set1_epi32(0xffff);
        let mut need = [_mm256_setzero_si256(); 4];
        let mut m = [0usize; 4];
        for (v, xv) in x.iter().enumerate() {
            need[v] = _mm256_cmpeq_epi32(_mm256_min_epu32(*xv, low), *xv);
            m[v] = _mm256_movemask_ps(_mm256_castsi256_ps(need[v])) as usize;
        }
        let mut at = [0usize; 4];
        let mut pos = words.pos;
        for v in 0..x.len() {
            at[v] = pos;
            pos += 2 * m[v].count_ones() as usize;
        }
        for (v, xv) in x.iter_mut().enumerate() {
            let w = load_bytes16(&words.data[at[v]..at[v] + 16]);
            let w = _mm256_cvtepu16_epi32(w);
            let take = _mm256_permutevar8x32_epi32(w, load(&RANKS[m[v] & 255]));
            let nx = _mm256_or_si256(_mm256_slli_epi32::<16>(*xv), take);
            *xv = _mm256_blendv_epi8(*xv, nx, need[v]);
        }
        words.pos = pos;
    }};
}

/// `RANKS[m][i]`: for the lanes `m` (bit `i` set: lane `i` needs a word), the number of
/// lanes below `i` in `m`, which is the index of lane `i`'s word among the next ones.
static RANKS: [[u32; 8]; 256] = {
    let mut t = [[0u32; 8]; 256];
    let mut m = 0;
    while m < 256 {
        let mut i = 0;
        let mut rank = 0;
        while i < 8 {
            t[m][i] = rank;
            if m & (1 << i) != 0 {
                rank += 1;
            }
            i += 1;
        }
        m += 1;
    }
    t
};

/// Where each symbol's table starts in the entries.
#[derive(Clone, Copy)]
pub(crate) enum Tables<'a> {
    /// By context: symbol `j` uses `by_ctx[ctx[j]]` (`ctx` has 8 readable bytes past
    /// every symbol of the phase).
    Context { by_ctx: [u32; 8], ctx: &'a [u8] },
    /// Symbol `j` uses `offsets[j]`.
    Each(&'a [u32]),
    /// Every symbol uses this one.
    One(u32),
}

/// What the decoded values become.
#[derive(Clone, Copy)]
pub(crate) enum Values<'a> {
    /// Node symbols: the symbols themselves.
    Symbols,
    /// Zigzag codes (plus `add`) to coefficients, unzigzagged and clamped to `±bound`.
    Exact { add: u32, bound: i32 },
    /// Zigzag codes (plus `add`) to coefficients through a table of the first 64 and,
    /// for larger codes, `slow`.
    Table {
        add: u32,
        small: &'a [i32; 64],
        slow: &'a dyn Fn(u32) -> i32,
    },
}

/// The word stream of a tile, padded: `data[..len]` are the words, then zeros.
pub(crate) struct Words<'a> {
    pub data: &'a [u8],
    pub len: usize,
    pub pos: usize,
}

/// Decodes the full rounds of a phase of `n` symbols (`n / lanes` rounds; `lanes` is 8 or
/// 32), writing each symbol's value to `out[j]` (`out.len() >= n`), and returns how many
/// symbols it decoded (it stops early, at a round boundary, when the words run out: the
/// scalar code then finishes the phase and sees the overrun). `entries` holds every
/// table (each `2^log` entries at its offset).
///
/// The caller must have checked [`crate::simd::avx2`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn rounds(
    lanes: &mut Lanes,
    words: &mut Words<'_>,
    entries: &[u32],
    log: u32,
    n: usize,
    tables: Tables<'_>,
    values: Values<'_>,
    out: &mut [i32],
) -> usize {
    debug_assert!(crate::simd::avx2());
    debug_assert!(words.data.len() >= words.len + WORD_PADDING);
    // SAFETY: the caller checked that the CPU has AVX2, BMI1, BMI2 and POPCNT.
    unsafe {
        match lanes.count {
            8 => rounds_avx2::<1>(lanes, words, entries, log, n, tables, values, out),
            32 => rounds_avx2::<4>(lanes, words, entries, log, n, tables, values, out),
            _ => 0,
        }
    }
}

#[target_feature(enable = "avx2,bmi1,bmi2,popcnt")]
#[allow(clippy::too_many_arguments)]
fn rounds_avx2<const V: usize>(
    lanes: &mut Lanes,
    words: &mut Words<'_>,
    entries: &[u32],
    log: u32,
    n: usize,
    tables: Tables<'_>,
    values: Values<'_>,
    out: &mut [i32],
) -> usize {
    let lanes_n = 8 * V;
    let full = n / lanes_n * lanes_n;
    // Checked once here so that every gather below stays inside `entries`.
    let most = entries.len().saturating_sub(1 << log) as u32;
    let table_ok = match tables {
        Tables::Context { by_ctx, ctx } => {
            by_ctx.iter().all(|&o| o <= most) && ctx.len() >= full + 8
        }
        Tables::Each(o) => o.len() >= full && o[..full].iter().all(|&o| o <= most),
        Tables::One(o) => o <= most,
    };
    if !table_ok || out.len() < full {
        return 0;
    }
    let mut x = [_mm256_setzero_si256(); V];
    for (v, xv) in x.iter_mut().enumerate() {
        *xv = load(&lanes.x[8 * v..8 * v + 8]);
    }
    let mask = _mm256_set1_epi32(((1u32 << log) - 1) as i32);
    let shift = _mm_cvtsi32_si128(log as i32);
    let alphabet = match values {
        Values::Symbols => NODE_ALPHABET,
        _ => VALUE_ALPHABET,
    } as i32;
    let too_big = _mm256_set1_epi32(alphabet - 1);
    let mut bad = _mm256_setzero_si256();
    let by_ctx = match tables {
        Tables::Context { by_ctx, .. } => load(&by_ctx),
        _ => _mm256_setzero_si256(),
    };
    let mut done = 0;
    while done < full {
        if words.pos > words.len {
            break;
        }
        let mut sym = [_mm256_setzero_si256(); V];
        for v in 0..V {
            let j = done + 8 * v;
            let off = match tables {
                Tables::Context { ctx, .. } => {
                    let c = _mm256_cvtepu8_epi32(load_bytes8(&ctx[j..j + 8]));
                    _mm256_permutevar8x32_epi32(by_ctx, c)
                }
                Tables::Each(o) => load(&o[j..j + 8]),
                Tables::One(o) => _mm256_set1_epi32(o as i32),
            };
            // SAFETY: every offset is at most `entries.len() - 2^log` (checked above).
            sym[v] = unsafe { token_step(&mut x[v], off, entries, mask, shift) };
            bad = _mm256_or_si256(bad, _mm256_cmpgt_epi32(sym[v], too_big));
        }
        refill_all!(x, words);
        if matches!(values, Values::Symbols) {
            for v in 0..V {
                store(&mut out[done + 8 * v..done + 8 * v + 8], sym[v]);
            }
            done += lanes_n;
            continue;
        }
        let mut nb = [_mm256_setzero_si256(); V];
        let mut any = _mm256_setzero_si256();
        for v in 0..V {
            nb[v] = extra_bits(sym[v]);
            any = _mm256_or_si256(any, nb[v]);
        }
        if _mm256_testz_si256(any, any) == 0 {
            let mut extra = [_mm256_setzero_si256(); V];
            let mut long = _mm256_setzero_si256();
            for v in 0..V {
                extra[v] = take_bits(&mut x[v], low_bits(nb[v]));
                long = _mm256_or_si256(long, high_bits(nb[v]));
            }
            refill_all!(x, words);
            if _mm256_testz_si256(long, long) == 0 {
                for v in 0..V {
                    let hi = take_bits(&mut x[v], high_bits(nb[v]));
                    extra[v] = _mm256_or_si256(extra[v], _mm256_slli_epi32::<16>(hi));
                }
                refill_all!(x, words);
            }
            for v in 0..V {
                sym[v] = token_value(sym[v], nb[v], extra[v]);
            }
        }
        for v in 0..V {
            let j = done + 8 * v;
            map_store(values, sym[v], &mut out[j..j + 8]);
        }
        done += lanes_n;
    }
    for (v, xv) in x.iter().enumerate() {
        store(&mut lanes.x[8 * v..8 * v + 8], *xv);
    }
    lanes.bad |= _mm256_testz_si256(bad, bad) == 0;
    done
}

/// One tile's dense phase, for [`dense_streams`].
pub(crate) struct Stream<'a> {
    /// The tile's lanes (8 or 32; every stream of a call has the same count).
    pub lanes: &'a mut Lanes,
    /// Its words.
    pub words: Words<'a>,
    /// The context of each coefficient, 8 readable bytes past the last.
    pub ctx: &'a [u8],
    /// Where the coefficients go; the phase has `out.len()` symbols.
    pub out: &'a mut [i32],
    /// Symbols decoded so far (a multiple of the lane count).
    pub done: usize,
}

/// Decodes the dense phases of several tiles of the same lane count at once: one tile
/// waits on each round's table gathers, several overlap theirs. Every tile uses the
/// tables `by_ctx` and the mapping `values` (tiles of one band share plane, section and
/// layer). Runs full rounds while every tile has one left; the caller finishes each
/// tile's phase with [`rounds`] and the scalar code.
///
/// The caller must have checked [`crate::simd::avx2`].
pub(crate) fn dense_streams(
    streams: &mut [Stream<'_>],
    entries: &[u32],
    log: u32,
    by_ctx: [u32; 8],
    values: Values<'_>,
) {
    debug_assert!(crate::simd::avx2());
    let most = entries.len().saturating_sub(1 << log) as u32;
    let lanes = streams.first().map_or(0, |s| s.lanes.count);
    let ok = by_ctx.iter().all(|&o| o <= most)
        && streams.iter().all(|s| {
            s.lanes.count == lanes
                && s.ctx.len() >= s.out.len() + 8
                && s.words.data.len() >= s.words.len + WORD_PADDING
                && s.done % lanes == 0
        });
    if !ok {
        return;
    }
    // SAFETY: the caller checked that the CPU has AVX2, BMI1, BMI2 and POPCNT.
    unsafe {
        match (lanes, streams) {
            (8, [a, b]) => dense_streams_avx2::<2, 1>([a, b], entries, log, by_ctx, values),
            (8, [a, b, c]) => dense_streams_avx2::<3, 1>([a, b, c], entries, log, by_ctx, values),
            (8, [a, b, c, d]) => {
                dense_streams_avx2::<4, 1>([a, b, c, d], entries, log, by_ctx, values)
            }
            (32, [a, b]) => dense_streams_avx2::<2, 4>([a, b], entries, log, by_ctx, values),
            _ => {}
        }
    }
}

/// [`dense_streams`] for `S` tiles of `8 V` lanes.
#[target_feature(enable = "avx2,bmi1,bmi2,popcnt")]
fn dense_streams_avx2<const S: usize, const V: usize>(
    mut st: [&mut Stream<'_>; S],
    entries: &[u32],
    log: u32,
    by_ctx: [u32; 8],
    values: Values<'_>,
) {
    let mut x = [[_mm256_setzero_si256(); V]; S];
    for (xs, s) in x.iter_mut().zip(st.iter()) {
        for (v, xv) in xs.iter_mut().enumerate() {
            *xv = load(&s.lanes.x[8 * v..8 * v + 8]);
        }
    }
    let mask = _mm256_set1_epi32(((1u32 << log) - 1) as i32);
    let shift = _mm_cvtsi32_si128(log as i32);
    let too_big = _mm256_set1_epi32(VALUE_ALPHABET as i32 - 1);
    let by_ctx = load(&by_ctx);
    let mut bad = [_mm256_setzero_si256(); S];
    loop {
        if st
            .iter()
            .any(|s| s.done + 8 * V > s.out.len() || s.words.pos > s.words.len)
        {
            break;
        }
        let mut sym = [[_mm256_setzero_si256(); V]; S];
        for k in 0..S {
            for v in 0..V {
                let j = st[k].done + 8 * v;
                let c = _mm256_cvtepu8_epi32(load_bytes8(&st[k].ctx[j..j + 8]));
                let off = _mm256_permutevar8x32_epi32(by_ctx, c);
                // SAFETY: every offset in `by_ctx` is at most `entries.len() - 2^log`
                // (checked by the caller).
                sym[k][v] = unsafe { token_step(&mut x[k][v], off, entries, mask, shift) };
                bad[k] = _mm256_or_si256(bad[k], _mm256_cmpgt_epi32(sym[k][v], too_big));
            }
        }
        for k in 0..S {
            refill_all!(x[k], &mut st[k].words);
        }
        let mut nb = [[_mm256_setzero_si256(); V]; S];
        let mut any = _mm256_setzero_si256();
        for k in 0..S {
            for v in 0..V {
                nb[k][v] = extra_bits(sym[k][v]);
                any = _mm256_or_si256(any, nb[k][v]);
            }
        }
        if _mm256_testz_si256(any, any) == 0 {
            let mut extra = [[_mm256_setzero_si256(); V]; S];
            let mut long = _mm256_setzero_si256();
            for k in 0..S {
                for v in 0..V {
                    extra[k][v] = take_bits(&mut x[k][v], low_bits(nb[k][v]));
                    long = _mm256_or_si256(long, high_bits(nb[k][v]));
                }
            }
            for k in 0..S {
                refill_all!(x[k], &mut st[k].words);
            }
            if _mm256_testz_si256(long, long) == 0 {
                for k in 0..S {
                    for v in 0..V {
                        let hi = take_bits(&mut x[k][v], high_bits(nb[k][v]));
                        extra[k][v] = _mm256_or_si256(extra[k][v], _mm256_slli_epi32::<16>(hi));
                    }
                    refill_all!(x[k], &mut st[k].words);
                }
            }
            for k in 0..S {
                for v in 0..V {
                    sym[k][v] = token_value(sym[k][v], nb[k][v], extra[k][v]);
                }
            }
        }
        for k in 0..S {
            let j = st[k].done;
            for v in 0..V {
                map_store(values, sym[k][v], &mut st[k].out[j + 8 * v..j + 8 * v + 8]);
            }
            st[k].done = j + 8 * V;
        }
    }
    for ((xs, s), b) in x.iter().zip(st.iter_mut()).zip(bad) {
        for (v, xv) in xs.iter().enumerate() {
            store(&mut s.lanes.x[8 * v..8 * v + 8], *xv);
        }
        s.lanes.bad |= _mm256_testz_si256(b, b) == 0;
    }
}

/// One token step on 8 lanes: each lane's entry at `off + (x mod 2^log)` of `entries`
/// (one gather), its state `x` updated to `f (x >> log) + bias`; returns the symbols.
///
/// # Safety
///
/// Every lane of `off` is at most `entries.len() - 2^log`, with `mask = 2^log - 1`: the
/// gather then reads inside `entries`.
#[target_feature(enable = "avx2,bmi1,bmi2,popcnt")]
#[inline]
unsafe fn token_step(
    x: &mut __m256i,
    off: __m256i,
    entries: &[u32],
    mask: __m256i,
    shift: __m128i,
) -> __m256i {
    let idx = _mm256_add_epi32(off, _mm256_and_si256(*x, mask));
    // SAFETY: the caller keeps `off` below `entries.len() - 2^log`, and the slot is below
    // `2^log`, so each index is inside `entries`.
    let e = unsafe { _mm256_i32gather_epi32::<4>(entries.as_ptr().cast(), idx) };
    // The entry's fields (`decode::unpack`): bias, frequency, symbol.
    let bias = _mm256_and_si256(e, _mm256_set1_epi32(0xfff));
    let f = _mm256_and_si256(_mm256_srli_epi32::<12>(e), _mm256_set1_epi32(0x1fff));
    *x = _mm256_add_epi32(_mm256_mullo_epi32(f, _mm256_srl_epi32(*x, shift)), bias);
    _mm256_srli_epi32::<25>(e)
}

/// The extra bit count of each value token: 0 below 16, else `(token - 10) / 2`.
#[target_feature(enable = "avx2")]
#[inline]
fn extra_bits(sym: __m256i) -> __m256i {
    let big = _mm256_cmpgt_epi32(sym, _mm256_set1_epi32(15));
    _mm256_and_si256(
        big,
        _mm256_srli_epi32::<1>(_mm256_sub_epi32(sym, _mm256_set1_epi32(10))),
    )
}

/// The extra bits of the first bypass step: at most [`BYPASS_BITS`] of `nb`.
#[target_feature(enable = "avx2")]
#[inline]
fn low_bits(nb: __m256i) -> __m256i {
    _mm256_min_epu32(nb, _mm256_set1_epi32(BYPASS_BITS as i32))
}

/// The extra bits of the second bypass step: those of `nb` past [`BYPASS_BITS`].
#[target_feature(enable = "avx2")]
#[inline]
fn high_bits(nb: __m256i) -> __m256i {
    _mm256_max_epi32(
        _mm256_sub_epi32(nb, _mm256_set1_epi32(BYPASS_BITS as i32)),
        _mm256_setzero_si256(),
    )
}

/// A bypass step: takes the low `b` bits of each state (returned), shifting them out.
#[target_feature(enable = "avx2")]
#[inline]
fn take_bits(x: &mut __m256i, b: __m256i) -> __m256i {
    let one = _mm256_set1_epi32(1);
    let bits = _mm256_and_si256(*x, _mm256_sub_epi32(_mm256_sllv_epi32(one, b), one));
    *x = _mm256_srlv_epi32(*x, b);
    bits
}

/// The value of each token with its `nb` extra bits `extra`: the token below 16, else
/// `(2 + (token & 1)) << nb`, OR the extra bits.
#[target_feature(enable = "avx2")]
#[inline]
fn token_value(sym: __m256i, nb: __m256i, extra: __m256i) -> __m256i {
    let big = _mm256_cmpgt_epi32(sym, _mm256_set1_epi32(15));
    let one = _mm256_set1_epi32(1);
    let high = _mm256_sllv_epi32(
        _mm256_add_epi32(_mm256_set1_epi32(2), _mm256_and_si256(sym, one)),
        nb,
    );
    _mm256_or_si256(_mm256_blendv_epi8(sym, high, big), extra)
}

/// Stores 8 values (zigzag codes or symbols) as coefficients.
#[target_feature(enable = "avx2,bmi1,bmi2,popcnt")]
#[inline]
fn map_store(values: Values<'_>, u: __m256i, out: &mut [i32]) {
    match values {
        Values::Symbols => store(out, u),
        Values::Exact { add, bound } => {
            let u = _mm256_add_epi32(u, _mm256_set1_epi32(add as i32));
            let sign = _mm256_sub_epi32(
                _mm256_setzero_si256(),
                _mm256_and_si256(u, _mm256_set1_epi32(1)),
            );
            let v = _mm256_xor_si256(_mm256_srli_epi32::<1>(u), sign);
            let v = _mm256_min_epi32(
                _mm256_max_epi32(v, _mm256_set1_epi32(-bound)),
                _mm256_set1_epi32(bound),
            );
            store(out, v);
        }
        Values::Table { add, small, slow } => {
            let u = _mm256_add_epi32(u, _mm256_set1_epi32(add as i32));
            let idx = _mm256_min_epu32(u, _mm256_set1_epi32(63));
            // SAFETY: every index is at most 63 and `small` has 64 entries.
            let v = unsafe { _mm256_i32gather_epi32::<4>(small.as_ptr(), idx) };
            store(out, v);
            let big = _mm256_cmpgt_epi32(u, _mm256_set1_epi32(63));
            let m = _mm256_movemask_ps(_mm256_castsi256_ps(big));
            if m != 0 {
                let mut codes = [0u32; 8];
                store(&mut codes, u);
                for (i, o) in out[..8].iter_mut().enumerate() {
                    if m & (1 << i) != 0 {
                        *o = slow(codes[i]);
                    }
                }
            }
        }
    }
}

#[target_feature(enable = "avx2")]
#[inline]
fn load_bytes8(s: &[u8]) -> __m128i {
    let s = &s[..8];
    // SAFETY: `s` holds 8 readable bytes; the load reads exactly 8.
    unsafe { _mm_loadl_epi64(s.as_ptr().cast()) }
}

#[target_feature(enable = "avx2")]
#[inline]
fn load_bytes16(s: &[u8]) -> __m128i {
    let s = &s[..16];
    // SAFETY: `s` holds 16 readable bytes; the load is unaligned.
    unsafe { _mm_loadu_si128(s.as_ptr().cast()) }
}

/// Compares [`rounds`] with the scalar [`Lanes::phase`] on streams from the encoder.
#[cfg(test)]
mod tests {
    use super::super::decode::{fill, fill_invalid, WordReader};
    use super::super::rans::{EncTable, RansEncoder, SymbolQueue};
    use super::super::{split_value, FreqTable, MAX_VALUE_BITS};
    use super::*;
    use crate::quant::{CoeffMap, Quant};
    use crate::test_rng::xorshift;

    #[test]
    fn avx2_rounds_equal_scalar_phases() {
        if !crate::simd::avx2() {
            eprintln!("no AVX2 here: the AVX2 rANS decoder is not tested");
            return;
        }
        let mut seed = 99u32;
        for log in [6u32, 9, 12] {
            for lanes in [8usize, 32] {
                for case in 0..6 {
                    // Values from three context tables (one missing in some cases), then
                    // nodes of one table.
                    let n = [64, 100, 512, 33, 8, 4096][case];
                    let ctx: Vec<u8> = (0..n + 8)
                        .map(|_| (xorshift(&mut seed) % 3) as u8)
                        .collect();
                    let vals: Vec<u32> = (0..n)
                        .map(|_| {
                            let r = xorshift(&mut seed);
                            match r % 16 {
                                0 => r >> (32 - MAX_VALUE_BITS),
                                1..=3 => 16 + (r >> 24),
                                _ => r % 9,
                            }
                        })
                        .collect();
                    let nodes: Vec<u32> =
                        (0..n / 2).map(|_| 1 + xorshift(&mut seed) % 15).collect();
                    let mut counts = vec![vec![0u64; VALUE_ALPHABET]; 4];
                    for (j, &u) in vals.iter().enumerate() {
                        counts[usize::from(ctx[j])][usize::from(split_value(u).0)] += 1;
                    }
                    nodes.iter().for_each(|&s| counts[3][s as usize] += 1);
                    let freq: Vec<Option<FreqTable>> = counts
                        .iter()
                        .map(|c| {
                            c.iter()
                                .any(|&k| k > 0)
                                .then(|| FreqTable::from_counts(c, log))
                        })
                        .collect();
                    let mut q = SymbolQueue::new();
                    for (j, &u) in vals.iter().enumerate() {
                        let (t, nb, e) = split_value(u);
                        q.put(u16::from(ctx[j]), t, nb as u8, e);
                    }
                    q.end_phase();
                    nodes.iter().for_each(|&s| q.put(3, s as u8, 0, 0));
                    let mut bytes = Vec::new();
                    let enc: Vec<Option<EncTable>> =
                        freq.iter().map(|t| t.as_ref().map(EncTable::new)).collect();
                    RansEncoder::encode(&q, lanes, &enc, &mut bytes);
                    let size = 1usize << log;
                    let mut entries = vec![0u32; 5 * size];
                    for (k, t) in freq.iter().enumerate() {
                        match t {
                            Some(t) => fill(t, &mut entries[k * size..(k + 1) * size]),
                            None => fill_invalid(log, &mut entries[k * size..(k + 1) * size]),
                        }
                    }
                    fill_invalid(log, &mut entries[4 * size..]);
                    let by_ctx = [0, size as u32, 2 * size as u32, 4 * size as u32, 0, 0, 0, 0];
                    let states: Vec<u32> = bytes[..4 * lanes]
                        .chunks_exact(4)
                        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect();
                    let word_bytes = &bytes[4 * lanes..];
                    let quant = Quant::new(40, 43).unwrap();
                    let map = CoeffMap::new(quant, 1 << 19);
                    let slow = |u: u32| map.get(u);
                    let small: [i32; 64] = std::array::from_fn(|u| map.get(u as u32));
                    for damaged in [false, true] {
                        let mut wb = word_bytes.to_vec();
                        if damaged && !wb.is_empty() {
                            let at = wb.len() / 3;
                            wb[at] ^= 0x21;
                            // Tiles have whole words (an odd length is refused earlier).
                            wb.truncate((wb.len() * 2 / 3) & !1);
                        }
                        // Scalar reference.
                        let mut l = Lanes::new(&states);
                        let mut w = WordReader::new(&wb);
                        let mut want = vec![0i32; n];
                        l.phase(
                            &mut w,
                            log,
                            n,
                            true,
                            |j| &entries[by_ctx[usize::from(ctx[j])] as usize..][..size],
                            |j, u| want[j] = map.get(u),
                        );
                        let mut want_nodes = vec![0i32; n / 2];
                        l.phase(
                            &mut w,
                            log,
                            n / 2,
                            false,
                            |_| &entries[3 * size..4 * size],
                            |j, s| want_nodes[j] = s as i32,
                        );
                        // AVX2 rounds, scalar tails.
                        let mut padded = wb.clone();
                        padded.resize(wb.len() + WORD_PADDING, 0);
                        let mut l2 = Lanes::new(&states);
                        let mut ws = Words {
                            data: &padded,
                            len: wb.len(),
                            pos: 0,
                        };
                        let mut got = vec![0i32; n];
                        let values = Values::Table {
                            add: 0,
                            small: &small,
                            slow: &slow,
                        };
                        let k = rounds(
                            &mut l2,
                            &mut ws,
                            &entries,
                            log,
                            n,
                            Tables::Context { by_ctx, ctx: &ctx },
                            values,
                            &mut got,
                        );
                        let mut w2 = WordReader {
                            data: &wb,
                            pos: ws.pos,
                            overrun: false,
                        };
                        l2.phase(
                            &mut w2,
                            log,
                            n - k,
                            true,
                            |j| &entries[by_ctx[usize::from(ctx[k + j])] as usize..][..size],
                            |j, u| got[k + j] = map.get(u),
                        );
                        let mut ws = Words {
                            data: &padded,
                            len: wb.len(),
                            pos: w2.pos,
                        };
                        let mut got_nodes = vec![0i32; n / 2];
                        let k2 = rounds(
                            &mut l2,
                            &mut ws,
                            &entries,
                            log,
                            n / 2,
                            Tables::One(3 * size as u32),
                            Values::Symbols,
                            &mut got_nodes,
                        );
                        let mut w3 = WordReader {
                            data: &wb,
                            pos: ws.pos,
                            overrun: w2.overrun,
                        };
                        l2.phase(
                            &mut w3,
                            log,
                            n / 2 - k2,
                            false,
                            |_| &entries[3 * size..4 * size],
                            |j, s| got_nodes[k2 + j] = s as i32,
                        );
                        let what = format!("log {log} lanes {lanes} case {case} damaged {damaged}");
                        if !damaged {
                            assert!(k > 0 || n < lanes, "{what}: no AVX2 rounds ran");
                            assert!(!l.bad && l.at_start() && w.finished(), "{what}");
                        }
                        assert_eq!(got, want, "{what}");
                        assert_eq!(got_nodes, want_nodes, "{what}");
                        assert_eq!(l2.x, l.x, "{what}");
                        assert_eq!(l2.bad, l.bad, "{what}");
                        assert_eq!(w3.finished(), w.finished(), "{what}");
                    }
                    // Exact (lossless) values, leaves' offset (+1).
                    let mut l = Lanes::new(&states);
                    let mut w = WordReader::new(word_bytes);
                    let exact = CoeffMap::new(Quant::IDENTITY, 1000);
                    let mut want = vec![0i32; n];
                    l.phase(
                        &mut w,
                        log,
                        n,
                        true,
                        |j| &entries[by_ctx[usize::from(ctx[j])] as usize..][..size],
                        |j, u| want[j] = exact.get(u + 1),
                    );
                    let mut padded = word_bytes.to_vec();
                    padded.resize(word_bytes.len() + WORD_PADDING, 0);
                    let mut l2 = Lanes::new(&states);
                    let mut ws = Words {
                        data: &padded,
                        len: word_bytes.len(),
                        pos: 0,
                    };
                    let offsets: Vec<u32> = (0..n).map(|j| by_ctx[usize::from(ctx[j])]).collect();
                    let mut got = vec![0i32; n];
                    let k = rounds(
                        &mut l2,
                        &mut ws,
                        &entries,
                        log,
                        n,
                        Tables::Each(&offsets),
                        Values::Exact {
                            add: 1,
                            bound: 1000,
                        },
                        &mut got,
                    );
                    assert_eq!(
                        &got[..k],
                        &want[..k],
                        "log {log} lanes {lanes} case {case} exact"
                    );
                }
            }
        }
    }
}
