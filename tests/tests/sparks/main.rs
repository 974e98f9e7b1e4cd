//! The Sparks program, instruction by instruction, inside a real bank.
#![allow(deprecated)]

mod test_smoke;
