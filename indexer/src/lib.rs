//! The Sparks indexer: source → decoder → store → API, data flowing one way.
//!
//! - [`source`]: a Solana JSON-RPC node (backfill by signatures, live by
//!   websocket), with retries, a request rate limit and finality tracking.
//! - [`decoder`]: a confirmed transaction → the Sparks events it carries.
//! - [`store`]: Postgres (events, projections, cursor), exactly once.
//! - [`indexer`]: runs the three together (catch-up, live, finality).
//! - [`verify`]: compares the projections with the accounts on chain.
//! - [`names`]: the names the store writes and its readers share.
//! - [`webhooks`]: the app's subscriptions, an outbox written with the
//!   events, and the worker that delivers them.

pub mod api;
pub mod decoder;
pub mod indexer;
pub mod names;
pub mod source;
pub mod store;
pub mod stream;
pub mod verify;
pub mod webhooks;
