//! The issuer service: the app's back end awards Sparks over HTTP and the
//! service lands each award exactly once on chain.
//!
//! The write path: `routes` (HTTP, tokens) → `store` (the Postgres outbox)
//! → `worker` (packs, signs, sends and settles `award_batch` transactions).
//! `model` validates requests; `auth` makes and checks tokens.

pub mod auth;
pub mod error;
pub mod lookup;
pub mod model;
pub mod routes;
pub mod statuses;
pub mod store;
pub mod worker;
