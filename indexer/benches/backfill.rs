//! Backfill from the local chain: transactions/s indexed by `catch_up`
//! (getSignaturesForAddress + getTransaction + getBlockTime + decode +
//! store) against the RPC's own getTransaction ceiling, measured in the
//! same run with the same concurrency.
//!
//! cargo bench -p sparks-indexer --bench backfill -- [transactions] [concurrency]

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use solana_client::rpc_config::RpcTransactionConfig;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction_status_client_types::UiTransactionEncoding;
use sparks_client::rpc::SparksRpc;
use sparks_client::scenario;
use sparks_indexer::indexer::{Indexer, IndexerConfig};
use sparks_indexer::source::{ListingStop, SignatureInfo, Source, SourceConfig};
use sparks_localnet::{Localnet, LocalnetConfig};
use tokio::sync::watch;

mod common;

/// getTransaction's options as the indexer's source sets them.
fn as_the_indexer_asks() -> RpcTransactionConfig {
    RpcTransactionConfig {
        encoding: Some(UiTransactionEncoding::Base64),
        commitment: Some(CommitmentConfig::confirmed()),
        max_supported_transaction_version: Some(0),
    }
}

/// `call` for every signature, `concurrency` at a time, in order: calls/s.
async fn per_second<F, Fut>(signatures: &[SignatureInfo], concurrency: usize, call: F) -> f64
where
    F: Fn(SignatureInfo) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let started = Instant::now();
    let done = futures::stream::iter(signatures.iter().cloned())
        .map(call)
        .buffered(concurrency)
        .count()
        .await;
    done as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let transactions = common::arg(0, 5_000) as usize;
    let concurrency = common::arg(1, 16) as usize;
    common::runtime().block_on(async {
        let chain = Localnet::start(LocalnetConfig::default()).expect("local chain");
        let rpc = SparksRpc::new(chain.rpc_url());
        let (admin, issuer) = (Keypair::new(), Keypair::new());
        scenario::deploy(&rpc, &admin, &issuer).await.unwrap();
        let wallets: Vec<_> = (0..transactions * 2).map(|_| Keypair::new().pubkey()).collect();
        let started = Instant::now();
        scenario::bulk_awards(&rpc, &issuer, &wallets, 2, 5).await.unwrap();
        println!(
            "chain: {transactions} award_batch transactions (2 new wallets each) sent in {:.1} s",
            started.elapsed().as_secs_f64()
        );

        let pg = common::durable_postgres(&[]);
        let store = common::migrated_store(&pg.url()).await;
        let source = Source::new(SourceConfig::new(chain.rpc_url(), sparks::ID));
        let listing = Instant::now();
        let signatures = source.signatures(&ListingStop::Start).await.unwrap();
        let listing = listing.elapsed().as_secs_f64();

        // The RPC's ceiling: the same getTransaction calls, same concurrency, nothing else.
        let client = Arc::new(solana_client::nonblocking::rpc_client::RpcClient::new(chain.rpc_url().to_owned()));
        let fetched = signatures.len();
        let ceiling = per_second(&signatures, concurrency, |info| {
            let client = client.clone();
            async move {
                let signature = info.signature.parse().unwrap();
                client
                    .get_transaction_with_config(&signature, as_the_indexer_asks())
                    .await
                    .unwrap();
            }
        })
        .await;
        // What this node makes the indexer ask per transaction: its
        // getTransaction blockTime is in the wrong unit and its signature list
        // has none (validators give it there), so getBlockTime too, at once.
        let both_ceiling = per_second(&signatures, concurrency, |info| {
            let client = client.clone();
            async move {
                let signature = info.signature.parse().unwrap();
                let (tx, time) = tokio::join!(
                    client.get_transaction_with_config(&signature, as_the_indexer_asks()),
                    client.get_block_time(info.slot)
                );
                tx.unwrap();
                time.unwrap();
            }
        })
        .await;

        let indexer = Indexer::new(
            source,
            store,
            IndexerConfig {
                concurrency,
                ..IndexerConfig::default()
            },
        );
        let (_keep, shutdown) = watch::channel(false);
        let started = Instant::now();
        let progress = indexer.catch_up(&shutdown).await.unwrap();
        let secs = started.elapsed().as_secs_f64();
        let rate = progress.transactions as f64 / secs;
        println!(
            "getSignaturesForAddress: {fetched} signatures listed in {listing:.2} s (part of the backfill, not of the ceilings)"
        );
        println!(
            "getTransaction ceiling: {fetched} calls at concurrency {concurrency}: {ceiling:.0} tx/s"
        );
        println!(
            "getTransaction + getBlockTime per transaction (what this node needs): {both_ceiling:.0} tx/s"
        );
        // The node's whole side of a backfill, one phase after the other as
        // the backfill runs them: list every signature, then both calls each.
        let node_ceiling = fetched as f64 / (listing + fetched as f64 / both_ceiling);
        println!(
            "listing + getTransaction + getBlockTime (the node's side of a backfill, no decoding or storing): {node_ceiling:.0} tx/s"
        );
        println!(
            "backfill: {} transactions, {} events in {secs:.2} s = {rate:.0} tx/s, {:.0} events/s \
             ({:.0}% of the getTransaction ceiling, {:.0}% of the two-call ceiling, {:.0}% of the node's side)",
            progress.transactions,
            progress.events,
            progress.events as f64 / secs,
            100.0 * rate / ceiling,
            100.0 * rate / both_ceiling,
            100.0 * rate / node_ceiling
        );
    });
}
