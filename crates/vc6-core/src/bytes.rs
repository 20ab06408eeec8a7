//! Little-endian byte reading and writing with bounds checks, and LEB128 varints.

use crate::error::{Error, Result};

/// A cursor over a byte slice that never reads past its end.
pub(crate) struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of `data[0]` in the whole stream, for error messages.
    base: u64,
    /// Total bytes the caller supplied, for `Truncated` errors.
    available: u64,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        ByteReader {
            data,
            pos: 0,
            base: 0,
            available: data.len() as u64,
        }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(Error::truncated(
                what,
                self.base + self.pos as u64 + n as u64,
                self.available,
            ));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.bytes(1, what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &str) -> Result<u16> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Unsigned LEB128, at most 5 bytes, value below 2^32.
    pub(crate) fn varint(&mut self, what: &str) -> Result<u32> {
        let mut v: u64 = 0;
        for i in 0..5 {
            let b = self.u8(what)?;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return u32::try_from(v)
                    .map_err(|_| Error::format(format!("{what}: varint overflows 32 bits")));
            }
        }
        Err(Error::format(format!("{what}: varint longer than 5 bytes")))
    }
}

/// Appends little-endian values and varints to a byte vector.
pub(crate) trait ByteWriter {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_varint(&mut self, v: u32);
}

impl ByteWriter for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_varint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.push(v as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip() {
        for v in [0u32, 1, 127, 128, 300, 16383, 16384, u32::MAX] {
            let mut buf = Vec::new();
            buf.put_varint(v);
            let mut r = ByteReader::new(&buf);
            assert_eq!(r.varint("v").unwrap(), v);
            assert_eq!(r.remaining(), 0);
        }
    }

    #[test]
    fn reads_past_end_are_truncated_errors() {
        let mut r = ByteReader::new(&[1, 2]);
        assert!(matches!(
            r.u32("x"),
            Err(Error::Truncated {
                needed: 4,
                available: 2,
                ..
            })
        ));
        let mut r = ByteReader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(matches!(r.varint("x"), Err(Error::Format(_))));
    }
}
