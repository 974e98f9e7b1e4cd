//! The library every Sparks tool shares: addresses (PDAs), instruction
//! builders for every instruction, compute budgets, batch packing, and the
//! event decoder. Everything is built
//! from the program crate's own types; no layout is copied by hand.

pub mod address_pattern;
pub mod budget;
pub mod events;
pub mod instructions;
pub mod native;
pub mod packing;
pub mod pda;

pub use sparks;
pub use sparks::ID as PROGRAM_ID;

#[cfg(feature = "rpc")]
pub mod rpc;
#[cfg(feature = "rpc")]
pub mod scenario;
