//! Live lag: transaction confirmed → visible in the API. The local chain,
//! the indexer running live (websocket subscription, as `sparks-indexer run`),
//! a durable private Postgres and the API served on loopback, all in this
//! process; awards to fresh wallets are sent at a steady rate, each one's
//! confirmation is awaited (getSignatureStatuses, polled every millisecond),
//! then the API is polled every 5 ms until the wallet shows the award.
//! Prints p50/p90/p99/max over all transactions.
//!
//! cargo bench -p sparks-indexer --bench live -- [transactions] [per_second]

use std::sync::Arc;
use std::time::{Duration, Instant};

use solana_keypair::Keypair;
use sparks_client::rpc::SparksRpc;
use sparks_client::scenario;
use sparks_indexer::api::{self, ApiConfig, AppState};
use sparks_indexer::indexer::{Indexer, IndexerConfig};
use sparks_indexer::source::{Source as ChainSource, SourceConfig};
use sparks_localnet::{Localnet, LocalnetConfig};
use tokio::sync::watch;

mod common;

fn main() {
    let transactions = common::arg(0, 1_000);
    let per_second = common::arg(1, 20).max(1);
    common::runtime().block_on(async {
        let chain = Localnet::start(LocalnetConfig::default()).expect("local chain");
        let rpc = Arc::new(SparksRpc::new(chain.rpc_url()));
        let (admin, issuer) = (Keypair::new(), Arc::new(Keypair::new()));
        scenario::deploy(&rpc, &admin, &issuer).await.unwrap();
        let pg = common::durable_postgres(&[]);
        let store = common::migrated_store(&pg.url()).await;
        let indexer = Indexer::new(
            ChainSource::new(SourceConfig::new(chain.rpc_url(), sparks::ID)),
            store.clone(),
            IndexerConfig::default(),
        );
        let (_stop, shutdown) = watch::channel(false);
        let ws_url = chain.ws_url().to_owned();
        tokio::spawn(async move { indexer.run(Some(ws_url), shutdown).await });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(api::serve(
            listener,
            AppState::new(api::connect(&pg.url()).await.unwrap(), ApiConfig::default()),
            std::future::pending(),
        ));
        // Caught up with the deployment and subscribed.
        while store.cursor().await.unwrap().caught_up_slot == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;

        let started = Instant::now();
        let lags = common::lags_at(rpc, issuer, base, transactions, per_second, 0).await;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "live lag (confirmed → visible in the API) over {transactions} transactions at {per_second}/s \
             ({secs:.1} s): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            common::percentile(&lags, 0.50),
            common::percentile(&lags, 0.90),
            common::percentile(&lags, 0.99),
            common::percentile(&lags, 1.0),
        );
    });
}
