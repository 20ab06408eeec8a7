//! The Rust snippets of the READMEs, compiled by `cargo test` as doctests (with the
//! features they use: `cargo xtask test` turns on `opencl` and `image`). Not part of the
//! library.

#[doc = include_str!("../../../README.md")]
struct RepositoryReadme;

#[doc = include_str!("../README.md")]
struct CrateReadme;
