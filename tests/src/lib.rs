//! Test fixtures for the Sparks programs inside solana-program-test's real
//! bank, run natively or as their SBF bytecode (`runtime`). Test files live
//! in `tests/tests/`.

pub mod fixture;
pub mod heap;
pub mod runtime;
pub mod vm_heap;

pub use fixture::*;
pub use runtime::{Bytecode, Native, Runtime};
