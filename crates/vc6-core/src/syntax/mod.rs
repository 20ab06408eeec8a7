//! The syntax inside a section: contexts, tile payloads and s-trees (docs/bitstream.md
//! section 7).

pub mod context;
#[cfg(target_arch = "x86_64")]
mod context_x86;
pub mod decode;
pub mod errors;
pub mod stree;
pub mod tile;

pub use decode::{decode_tile, dense_group, TileDecoder};
pub use tile::{
    alphabet, choose_mode, is_value_kind, model_layer, Contexts, LayerTables, TileHeader,
    TileLayers, TileSpec, KINDS, KIND_DENSE, KIND_LEAF, KIND_NODE_HIGH, KIND_NODE_LOW, MAX_LAYERS,
    MODE_DENSE, MODE_STREE, MODE_ZERO,
};
