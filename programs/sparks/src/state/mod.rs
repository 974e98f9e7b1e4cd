//! Account types. Every account is a PDA whose seeds live in [`crate::constants`];
//! every account carries `seq`, bumped by one on each change, so an indexer can
//! keep projections monotonic whatever order it sees events in.

mod config;
mod issuer;
mod perk;
mod source;
mod spark_account;
mod whitelist;

pub use config::*;
pub use issuer::*;
pub use perk::*;
pub use source::*;
pub use spark_account::*;
pub use whitelist::*;
