//! Picture model: 1 to 255 planes, each with its own size and bit depth.

use crate::error::{Error, Result};

/// Most planes a picture may have.
pub const MAX_PLANES: usize = 255;
/// Largest plane width or height.
pub const MAX_DIMENSION: u32 = 65535;

/// One plane of samples, row-major, `width * height` samples, LSB-aligned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plane {
    /// Width in samples (1..=65535).
    pub width: u32,
    /// Height in samples (1..=65535).
    pub height: u32,
    /// Bits per sample (1..=16); every sample is below `1 << bit_depth`.
    pub bit_depth: u8,
    /// The samples, row after row.
    pub samples: Vec<u16>,
}

impl Plane {
    /// A plane filled with zeros.
    pub fn new(width: u32, height: u32, bit_depth: u8) -> Result<Plane> {
        check_plane_shape(width, height, bit_depth)?;
        Ok(Plane {
            width,
            height,
            bit_depth,
            samples: vec![0; width as usize * height as usize],
        })
    }

    /// A plane from existing samples; checks the length and the sample range.
    pub fn from_samples(
        width: u32,
        height: u32,
        bit_depth: u8,
        samples: Vec<u16>,
    ) -> Result<Plane> {
        let plane = Plane {
            width,
            height,
            bit_depth,
            samples,
        };
        plane.validate()?;
        Ok(plane)
    }

    /// Checks shape, length and that no sample exceeds the bit depth.
    pub fn validate(&self) -> Result<()> {
        check_plane_shape(self.width, self.height, self.bit_depth)?;
        let n = self.width as usize * self.height as usize;
        if self.samples.len() != n {
            return Err(Error::param(format!(
                "plane of {}x{} needs {n} samples, got {}",
                self.width,
                self.height,
                self.samples.len()
            )));
        }
        let max = self.max_value();
        if let Some(pos) = self.samples.iter().position(|&s| s > max) {
            return Err(Error::param(format!(
                "sample {} at index {pos} does not fit in {} bits",
                self.samples[pos], self.bit_depth
            )));
        }
        Ok(())
    }

    /// Largest sample value allowed by the bit depth.
    pub fn max_value(&self) -> u16 {
        ((1u32 << self.bit_depth) - 1) as u16
    }

    /// Sample at (x, y).
    pub fn get(&self, x: u32, y: u32) -> u16 {
        self.samples[y as usize * self.width as usize + x as usize]
    }

    /// The rectangle (x, y, w, h) as a new plane.
    pub fn crop(&self, x: u32, y: u32, w: u32, h: u32) -> Result<Plane> {
        if w == 0
            || h == 0
            || x.checked_add(w).is_none_or(|e| e > self.width)
            || y.checked_add(h).is_none_or(|e| e > self.height)
        {
            return Err(Error::param(format!(
                "crop {w}x{h} at ({x},{y}) is outside the {}x{} plane",
                self.width, self.height
            )));
        }
        let mut samples = Vec::with_capacity(w as usize * h as usize);
        for row in y..y + h {
            let start = row as usize * self.width as usize + x as usize;
            samples.extend_from_slice(&self.samples[start..start + w as usize]);
        }
        Ok(Plane {
            width: w,
            height: h,
            bit_depth: self.bit_depth,
            samples,
        })
    }
}

/// A picture: an ordered list of planes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Picture {
    /// The planes, in stream order.
    pub planes: Vec<Plane>,
}

impl Picture {
    /// A picture from planes; checks every plane and the plane count.
    pub fn new(planes: Vec<Plane>) -> Result<Picture> {
        let pic = Picture { planes };
        pic.validate()?;
        Ok(pic)
    }

    /// Checks the plane count and every plane.
    pub fn validate(&self) -> Result<()> {
        if self.planes.is_empty() || self.planes.len() > MAX_PLANES {
            return Err(Error::param(format!(
                "a picture has 1 to {MAX_PLANES} planes, got {}",
                self.planes.len()
            )));
        }
        self.planes.iter().try_for_each(Plane::validate)
    }
}

pub(crate) fn check_plane_shape(width: u32, height: u32, bit_depth: u8) -> Result<()> {
    if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(Error::param(format!(
            "plane size {width}x{height} is outside 1..={MAX_DIMENSION}"
        )));
    }
    if !(1..=16).contains(&bit_depth) {
        return Err(Error::param(format!(
            "bit depth {bit_depth} is outside 1..=16"
        )));
    }
    Ok(())
}
