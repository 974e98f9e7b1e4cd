//! `sparks-demo`: the whole system on this machine in one command.
//!
//! Starts the local chain with both programs, a private Postgres, the
//! indexer (live, from the chain's Yellowstone gRPC stream) and the API with the settings page; drives
//! realistic activity through the client library; prints the page URL; keeps
//! a trickle of live trades going until Ctrl-C; then stops everything and
//! deletes the database.

mod fulfilment;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::state::Source;
use sparks_client::rpc::SparksRpc;
use sparks_client::scenario;
use sparks_indexer::api::{self, ApiConfig, AppState};
use sparks_indexer::indexer::{Indexer, IndexerConfig};
use sparks_indexer::source::{Source as ChainSource, SourceConfig};
use sparks_indexer::store::Store;
use sparks_indexer::stream::StreamConfig;
use sparks_indexer::webhooks::subscriptions::{self, NewSubscription};
use sparks_indexer::webhooks::worker::{Deliverer, DeliveryConfig};
use sparks_localnet::{Localnet, LocalnetConfig};
use sparks_pglocal::PgServer;
use tokio::sync::watch;

#[derive(Parser)]
#[command(
    name = "sparks-demo",
    about = "Chain + Postgres + indexer + API + activity, until Ctrl-C"
)]
struct Args {
    /// Wallets the activity creates.
    #[arg(long, default_value_t = 300)]
    wallets: usize,
    /// Port of the API and settings page (0: any free port).
    #[arg(long, env = "SPARKS_DEMO_PORT", default_value_t = 8080)]
    port: u16,
    /// Milliseconds between live trades after the initial activity (0: none).
    #[arg(long, default_value_t = 3_000)]
    live_interval_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let started = Instant::now();
    say("starting the local chain (the programs' committed SBF bytecode)");
    let chain = Localnet::start(LocalnetConfig::default()).context("starting the local chain")?;
    say("starting a private Postgres");
    let pg = PgServer::start().context("starting Postgres")?;
    let store = Store::connect(&pg.url()).await?;
    store.migrate().await?;

    let (stop, shutdown) = watch::channel(false);
    let indexer = Indexer::new(
        ChainSource::new(SourceConfig::new(chain.rpc_url(), sparks::ID)),
        store.clone(),
        IndexerConfig {
            poll_interval: Duration::from_secs(2),
            finality_interval: Duration::from_secs(2),
            ..IndexerConfig::default()
        },
    );
    // The path an operator at volume runs: the chain's Yellowstone gRPC
    // stream, RPC only for repairs.
    let indexing = tokio::spawn({
        let (indexer, grpc, shutdown) = (
            indexer.clone(),
            StreamConfig::new(chain.grpc_url()),
            shutdown.clone(),
        );
        async move { indexer.run_stream(grpc, shutdown).await }
    });
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await {
        Ok(listener) => listener,
        Err(error) if args.port != 0 => {
            say(&format!(
                "port {} is taken ({error}); using a free one",
                args.port
            ));
            tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?
        }
        Err(error) => return Err(error.into()),
    };
    let base = format!("http://{}", listener.local_addr()?);
    let state = AppState::new(
        store.pool().clone(),
        ApiConfig {
            rpc_url: Some(chain.rpc_url().to_owned()),
            ..ApiConfig::default()
        },
    );
    let serving = tokio::spawn(api::serve(listener, state, {
        let mut shutdown = shutdown.clone();
        async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        }
    }));

    // The app's fulfilment: a receiver subscribed to what must be granted.
    let fulfilment = fulfilment::Fulfilment::start().await?;
    let (_, secret) = subscriptions::add(
        store.pool(),
        &NewSubscription {
            url: fulfilment.url.clone(),
            event_types: [
                "perk.redeemed",
                "whitelist.spot_granted",
                "whitelist.spot_consumed",
            ]
            .map(String::from)
            .to_vec(),
            perk_kinds: Vec::new(),
            perk_ids: Vec::new(),
            commitment: "confirmed".into(),
            retry_for: Duration::from_secs(86_400),
            max_in_flight: 8,
        },
    )
    .await?;
    fulfilment.set_secret(&secret)?;
    let delivering = tokio::spawn(
        Deliverer::new(store.pool().clone(), DeliveryConfig::default())?.run(shutdown.clone()),
    );

    say(&format!("driving activity for {} wallets (trades, subscriptions, referrals, a campaign, perks, NFT mints)", args.wallets));
    let rpc = SparksRpc::new(chain.rpc_url());
    let demo = scenario::demo_activity(&rpc, args.wallets)
        .await
        .context("demo activity")?;
    // Wait until the indexer has everything the chain has.
    while store.cursor().await?.caught_up_slot < rpc.client().get_slot().await? {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // …and until the app has been told of every redemption.
    let waiting = Instant::now();
    while waiting.elapsed() < Duration::from_secs(20) {
        let pending: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM webhook_outbox)
                      + (SELECT count(*) FROM webhook_deliveries WHERE state = 'pending')",
        )
        .fetch_one(store.pool())
        .await?;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let featured = demo.featured;
    println!();
    println!(
        "Sparks demo ready in {:.0} s: {} transactions, {} wallets",
        started.elapsed().as_secs_f64(),
        demo.transactions,
        demo.wallets.len()
    );
    println!("  settings page : {base}/account?wallet={featured}");
    println!("  API           : {base}/v1/wallets/{featured}/sparks   (see {base}/openapi.json)");
    println!("  health        : {base}/health      metrics: {base}/metrics");
    println!(
        "  chain RPC     : {}   websocket: {}   gRPC: {}",
        chain.rpc_url(),
        chain.ws_url(),
        chain.grpc_url()
    );
    println!("  Postgres      : {}", pg.url());
    println!(
        "  webhooks      : {} perks and spots fulfilled by the app's receiver ({}), signatures checked",
        fulfilment.granted.load(Ordering::SeqCst),
        fulfilment.url
    );
    println!(
        "Live trades every {} ms. Ctrl-C to stop.",
        args.live_interval_ms
    );

    let trickle = tokio::spawn(live_trades(
        rpc,
        demo.issuer.insecure_clone(),
        demo.wallets.iter().map(|w| w.pubkey()).collect(),
        args.live_interval_ms,
    ));
    wait_for_signal().await;
    say("stopping");
    trickle.abort();
    stop.send(true).ok();
    indexing.await??;
    serving.await??;
    delivering.await??;
    drop(pg);
    chain.stop();
    say("stopped; the database is deleted");
    Ok(())
}

async fn live_trades(
    rpc: SparksRpc,
    issuer: Keypair,
    wallets: Vec<anchor_lang::prelude::Pubkey>,
    every_ms: u64,
) {
    if every_ms == 0 {
        return;
    }
    for n in 0u64.. {
        tokio::time::sleep(Duration::from_millis(every_ms)).await;
        let wallet = wallets[(n as usize * 7) % wallets.len()];
        let mut reference = [0u8; 32];
        reference[..8].copy_from_slice(&n.to_le_bytes());
        if let Err(error) = rpc
            .award(&issuer, &wallet, Source::Trading, 10 + n % 90, reference)
            .await
        {
            tracing::warn!(%error, "live trade failed");
        }
    }
}

async fn wait_for_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

fn say(message: &str) {
    eprintln!("==> {message}");
}
