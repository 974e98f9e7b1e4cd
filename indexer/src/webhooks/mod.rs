//! Webhooks: the app learns of the program's events it subscribed to
//! (`perk.redeemed`, `sparks.awarded`, …), signed the Standard Webhooks way,
//! delivered at least once, in order per wallet.
//!
//! - `events`: which events, and the JSON each is delivered as;
//! - `outbox`: a row per stored batch, written in its database transaction,
//!   expanded into deliveries; and the notices a rollback owes;
//! - `subscriptions`: what `sparks-indexer webhooks …` manages;
//! - `signing`: Standard Webhooks signatures and secrets;
//! - `worker`: expands the outbox, claims due deliveries, sends, retries,
//!   dead-letters.

pub mod events;
pub mod outbox;
pub mod signing;
pub mod subscriptions;
pub mod worker;
