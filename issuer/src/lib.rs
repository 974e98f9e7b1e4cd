//! The issuer service: the app's back end awards Sparks over HTTP and the
//! service lands each award exactly once on chain.
//!
//! The write path: `routes` (HTTP, tokens) → `store` (the Postgres outbox)
//! → the worker (packs, signs, sends and tracks `award_batch`
//! transactions; being built). `model` validates requests; `auth` makes and
//! checks tokens.

pub mod auth;
pub mod error;
pub mod model;
pub mod routes;
pub mod store;
