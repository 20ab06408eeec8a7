//! Decoding with the checksums made right: the fuzzer's mutations would otherwise stop
//! at the header or section CRC, and the table, tableau and tile decoders behind them
//! would see only the streams the seeds hold.
//!
//! The checksums are recomputed in a copy of the input (from the layout of
//! docs/bitstream.md §3 and §7.2) rather than switched off in the library, so the
//! library fuzzed is the library shipped and every finding replays in an ordinary test.

use crate::decode;

/// Fixes the checksums of `data`, then runs [`decode::check`] on it.
pub fn check(data: &[u8]) {
    decode::check(&fix_checksums(data));
}

/// Offset of the header CRC, from the fixed fields (13 bytes, 6 per plane, 8 for custom
/// upsampler taps, 4 per section length), or `None` when the bytes are too short to say.
fn header_crc_at(data: &[u8]) -> Option<usize> {
    let planes = usize::from(*data.get(7)?);
    let custom = if *data.get(8)? == 4 { 8 } else { 0 };
    Some(13 + 6 * planes + custom + 4 * usize::from(*data.get(12)?))
}

/// A copy of `data` whose header CRC, and each section's CRC when the header's flag says
/// sections carry one, match their bytes (as far as the bytes reach).
pub fn fix_checksums(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let Some(at) = header_crc_at(&out) else {
        return out;
    };
    if at + 4 > out.len() {
        return out;
    }
    let crc = crc32fast::hash(&out[..at]);
    out[at..at + 4].copy_from_slice(&crc.to_le_bytes());
    let sections_crc = out[5] & 4 != 0;
    if !sections_crc {
        return out;
    }
    let count = usize::from(out[12]);
    let lengths_at = at - 4 * count;
    let mut start = at + 4;
    for i in 0..count {
        let b = &out[lengths_at + 4 * i..lengths_at + 4 * i + 4];
        let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let Some(end) = start
            .checked_add(len)
            .filter(|&e| e <= out.len() && len >= 4)
        else {
            break;
        };
        let crc = crc32fast::hash(&out[start..end - 4]);
        out[end - 4..end].copy_from_slice(&crc.to_le_bytes());
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fix_checksums;

    #[test]
    fn fixing_a_valid_stream_changes_nothing_and_a_damaged_one_decodes_past_its_crcs() {
        let pixels: Vec<u8> = (0..40 * 30).map(|i| (i * 7 % 251) as u8).collect();
        let enc = vc6::Encoder::new(40, 30, vc6::PixelFormat::Gray8, Default::default())
            .expect("encoder");
        let stream = enc.encode(&pixels).expect("encode");
        assert_eq!(fix_checksums(&stream), stream);
        // A flipped bit in the last byte before the final CRC: the decoder sees the
        // damage (or not) in the tile, not as a checksum mismatch.
        let mut bad = stream.clone();
        let n = bad.len();
        bad[n - 5] ^= 0x10;
        let dec = vc6::Decoder::new(Default::default()).expect("decoder");
        let raw = dec.decode(&bad).expect_err("a flipped bit fails the CRC");
        assert!(raw.to_string().contains("checksum"), "{raw}");
        if let Err(e) = dec.decode(&fix_checksums(&bad)) {
            assert!(!e.to_string().contains("checksum"), "{e}");
        }
    }
}
