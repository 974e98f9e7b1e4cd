//! The Sparks indexer: source → decoder → store → API, data flowing one way.
//!
//! Built so far: [`decoder`], which turns a confirmed transaction as a
//! JSON-RPC node returns it into the Sparks events it carries. The source
//! (backfill + websocket), the Postgres store and the binary are issue #4's
//! remaining work.

pub mod decoder;
