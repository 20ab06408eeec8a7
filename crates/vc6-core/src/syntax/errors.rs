//! The messages of a corrupt tile's errors: one text whichever backend finds the fault,
//! so that every backend reports a damaged stream alike.

/// The lanes do not end where the encoder started them, or the words do not end with
/// the tile.
pub const CORRUPT: &str = "entropy-coded data does not match its length (corrupted tile)";
/// A symbol came from a table the section lacks, or lies outside its alphabet.
pub const BAD_SYMBOL: &str =
    "tile uses a table its section does not define, or a symbol outside its alphabet";
/// A lane's initial state is below the coder's range.
pub const LOW_STATE: &str = "tile lane state below 2^16";
/// An s-tree node flags no quadrant.
pub const EMPTY_NODE: &str = "s-tree node with no children";
/// An s-tree node flags a quadrant that starts outside the tile.
pub const OUTSIDE: &str = "s-tree marks data outside its tile";

/// A tile of `lanes` lanes whose payload after the header (`bytes`) is not the lanes'
/// states and whole words.
pub fn bad_length(lanes: usize, bytes: usize) -> String {
    format!(
        "tile of {lanes} lanes has {bytes} bytes after its header: not {lanes} states and whole words"
    )
}
