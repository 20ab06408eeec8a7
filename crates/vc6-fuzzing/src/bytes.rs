//! Drawing choices from the fuzzer's bytes. Running out of bytes yields zeros, so every
//! input, however short, maps to some choice (the smallest one), and libFuzzer's
//! mutations of a byte move one choice at a time.

/// A cursor over the fuzzer's bytes.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Reads from the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// The next byte (0 once the bytes run out).
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// A value in `lo..=hi` (`lo` once the bytes run out).
    pub fn range(&mut self, lo: u32, hi: u32) -> u32 {
        debug_assert!(lo <= hi);
        let span = hi - lo + 1;
        let v = if span <= 256 {
            u32::from(self.byte())
        } else {
            u32::from(self.u16())
        };
        lo + v % span
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.range(0, items.len() as u32 - 1) as usize]
    }

    /// A coin flip.
    pub fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    /// Whatever is left.
    pub fn rest(self) -> &'a [u8] {
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::Input;

    #[test]
    fn choices_stay_in_range_and_default_when_empty() {
        let mut i = Input::new(&[255, 7, 1, 2]);
        assert_eq!(i.range(1, 64), 1 + 255 % 64);
        assert_eq!(i.pick(&['a', 'b', 'c']), 'b');
        assert!(i.flag());
        assert_eq!(i.rest(), &[2]);
        let mut empty = Input::new(&[]);
        assert_eq!(empty.range(5, 9000), 5);
        assert!(!empty.flag());
    }
}
