//! What the benches share: positional arguments, a runtime, and a durable
//! private Postgres with the schema migrated (figures claim durable commits).
#![allow(dead_code)] // each bench uses its own part

use std::sync::Arc;
use std::time::{Duration, Instant};

use anchor_lang::prelude::Pubkey;
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction::Transaction;
use sparks::state::Source;
use sparks_client::instructions as ix;
use sparks_client::rpc::SparksRpc;
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

/// Milliseconds at quantile `p` of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// Sends one award to a fresh wallet; returns confirmed → visible in the API.
pub async fn lag_of_one_award(
    rpc: &SparksRpc,
    issuer: &Keypair,
    http: &reqwest::Client,
    base: &str,
    n: u64,
) -> Duration {
    let client = rpc.client();
    let wallet = Pubkey::new_unique();
    let mut reference = [0u8; 32];
    reference[..8].copy_from_slice(&n.to_le_bytes());
    let award = ix::award_for_account(
        &issuer.pubkey(),
        &wallet,
        None,
        Source::Trading,
        10,
        reference,
        n,
    );
    let blockhash = client.get_latest_blockhash().await.unwrap();
    let tx =
        Transaction::new_signed_with_payer(&[award], Some(&issuer.pubkey()), &[issuer], blockhash);
    let signature = client.send_transaction(&tx).await.unwrap();
    loop {
        let status = client.get_signature_statuses(&[signature]).await.unwrap();
        if let Some(Some(status)) = status.value.first() {
            assert!(status.err.is_none(), "award failed: {:?}", status.err);
            if status.satisfies_commitment(solana_commitment_config::CommitmentConfig::confirmed())
            {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let confirmed = Instant::now();
    let url = format!("{base}/v1/wallets/{wallet}/sparks");
    loop {
        let body: serde_json::Value = http.get(&url).send().await.unwrap().json().await.unwrap();
        if body["exists"] == true {
            return confirmed.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Sends `count` awards to fresh wallets, one every 1/`per_second` s (award
/// ids from `first_id`), each measured as [`lag_of_one_award`]; sorted.
pub async fn lags_at(
    rpc: Arc<SparksRpc>,
    issuer: Arc<Keypair>,
    base: String,
    count: u64,
    per_second: u64,
    first_id: u64,
) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / per_second.max(1) as u32);
    let mut measurements = Vec::new();
    for n in 0..count {
        ticker.tick().await;
        let (rpc, issuer, http, base) = (rpc.clone(), issuer.clone(), http.clone(), base.clone());
        measurements.push(tokio::spawn(async move {
            lag_of_one_award(&rpc, &issuer, &http, &base, first_id + n).await
        }));
    }
    let mut lags = Vec::new();
    for measurement in measurements {
        lags.push(measurement.await.unwrap());
    }
    lags.sort();
    lags
}
