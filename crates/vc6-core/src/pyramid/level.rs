//! An echelon's samples.

/// A plane of signed samples at one echelon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// Width in samples.
    pub width: u32,
    /// Height in samples.
    pub height: u32,
    /// Samples, row-major.
    pub data: Vec<i32>,
}
