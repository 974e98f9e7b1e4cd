//! The docs' generated parts, and the tests that keep them true.
//!
//! - [`help`]: docs/CONFIGURATION.md, each binary's `--help`.
//! - `tests/figures.rs`: README's figure table is docs/BENCHMARKS.md's
//!   summary, and every number in that summary is in the section it links.

pub mod help;
