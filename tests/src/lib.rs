#![allow(deprecated)] // solana-program-test 3.x marks its API "unstable"; it is the runtime we test in.
//! Test fixtures for the Sparks programs running natively inside
//! solana-program-test's real bank. Test files live in `tests/tests/`.

pub mod fixture;
pub mod heap;
pub mod runtime;

pub use fixture::*;
