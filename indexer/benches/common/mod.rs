//! What the benches share: positional arguments, a runtime, and a durable
//! private Postgres with the schema migrated (figures claim durable commits).
#![allow(dead_code)] // each bench uses its own part

use sparks_indexer::store::Store;
use sparks_pglocal::{PgOptions, PgServer};

/// The `n`-th positional argument after `--`, or `default`.
pub fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A private Postgres with durable commits (`fsync`, `synchronous_commit`).
pub fn durable_postgres(settings: &[(&str, &str)]) -> PgServer {
    PgServer::start_with(PgOptions {
        durable: true,
        settings: settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    })
    .expect("private postgres")
}

/// A store on `url` with the schema migrated.
pub async fn migrated_store(url: &str) -> Store {
    let store = Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}
