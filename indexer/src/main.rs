//! `sparks-indexer`: mirrors the Sparks program into Postgres.
//!
//! `run` (catch up, then follow the chain), `backfill` (catch up and exit,
//! or a slot range), `migrate`, `verify`, `reindex`, `serve` (the API and
//! the page only) and `webhooks` (subscriptions). Every flag has an
//! environment variable; logs go to stderr through tracing (`RUST_LOG`,
//! `--log-format json`).

mod webhooks_cli;

use std::str::FromStr;
use std::time::Duration;

use anchor_lang::prelude::Pubkey;
use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand, ValueEnum};
use solana_commitment_config::CommitmentLevel;
use sparks_client::rpc::SparksRpc;
use sparks_indexer::api::{self, ApiConfig, AppState};
use sparks_indexer::indexer::{Indexer, IndexerConfig};
use sparks_indexer::source::{Source, SourceConfig};
use sparks_indexer::store::{Selection, Store};
use sparks_indexer::stream::StreamConfig;
use sparks_indexer::webhooks::worker::{Deliverer, DeliveryConfig};
use tokio::sync::watch;

#[derive(Parser)]
#[command(
    name = "sparks-indexer",
    version,
    about = "Mirrors the Sparks program's events into Postgres, exactly once"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format on stderr.
    #[arg(long, global = true, env = "SPARKS_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Catch up from the cursor, then follow the chain live until SIGINT/SIGTERM.
    Run(RunArgs),
    /// Catch up from the cursor and exit; with --from/--until, (re)index a slot range.
    Backfill(BackfillArgs),
    /// Apply the database migrations and exit.
    Migrate(DatabaseArgs),
    /// Compare every program account on chain with its projection; exit 1 on any difference.
    Verify(VerifyArgs),
    /// Fetch stored transactions again and replace their rows exactly once
    /// (after a program upgrade, or for those stored with a problem).
    Reindex(ReindexArgs),
    /// Serve the HTTP API (and the settings page) from the database only.
    Serve(ServeArgs),
    /// Manage webhook subscriptions (delivered by `run`).
    Webhooks {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(subcommand)]
        command: webhooks_cli::WebhooksCommand,
    },
}

#[derive(Args)]
struct ApiArgs {
    /// Address the HTTP API listens on.
    #[arg(long, env = "SPARKS_API_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Origin allowed by CORS (repeatable or comma-separated; `*` for any).
    #[arg(
        long = "cors-origin",
        env = "SPARKS_CORS_ORIGINS",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,
    /// Most concurrent summary requests answered by one query (1: one query each).
    #[arg(long, env = "SPARKS_API_MAX_BATCH", default_value_t = api::DEFAULT_MAX_BATCH,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    api_max_batch: u16,
    /// The same for history pages.
    #[arg(long, env = "SPARKS_API_HISTORY_MAX_BATCH", default_value_t = api::DEFAULT_MAX_BATCH,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    api_history_max_batch: u16,
    /// Batched summary or history queries of one kind in flight at once.
    #[arg(long, env = "SPARKS_API_BATCH_WORKERS", default_value_t = api::DEFAULT_BATCH_WORKERS,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    api_batch_workers: u16,
    /// The JSON-RPC URL the page reads the chain through, to check the
    /// API's figures. Must be public. Without it the page gets the
    /// indexer's own RPC URL only when that points at this machine (a
    /// local chain): a provider's URL may carry its key.
    #[arg(long, env = "SPARKS_PUBLIC_RPC_URL")]
    public_rpc_url: Option<String>,
    /// The Wallet Standard chain the page asks wallets to sign for.
    #[arg(long, env = "SPARKS_CLUSTER", default_value = "solana:localnet",
          value_parser = ["solana:mainnet", "solana:devnet", "solana:testnet", "solana:localnet"])]
    cluster: String,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    api: ApiArgs,
    /// A JSON-RPC endpoint for /health's lag in slots (optional).
    #[arg(long, env = "SPARKS_RPC_URL")]
    rpc_url: Option<String>,
    /// The Sparks program the mirror follows (this build's id by default),
    /// which /v1/config gives pages to verify against.
    #[arg(long, env = "SPARKS_PROGRAM_ID")]
    program_id: Option<String>,
}

#[derive(Args)]
struct DatabaseArgs {
    /// Postgres URL.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
}

#[derive(Args)]
struct ChainArgs {
    /// JSON-RPC endpoint of a Solana node.
    #[arg(long, env = "SPARKS_RPC_URL", default_value = "http://127.0.0.1:8899")]
    rpc_url: String,
    /// The Sparks program id (this build's id by default).
    #[arg(long, env = "SPARKS_PROGRAM_ID")]
    program_id: Option<String>,
    /// Commitment of what is indexed: confirmed or finalized (nodes refuse
    /// getTransaction below confirmed).
    #[arg(long, env = "SPARKS_COMMITMENT", default_value = "confirmed")]
    commitment: String,
    /// getTransaction calls in flight.
    #[arg(long, env = "SPARKS_CONCURRENCY", default_value_t = 16)]
    concurrency: usize,
    /// Limit on RPC requests per second (public endpoints); unlimited by default.
    #[arg(long, env = "SPARKS_RPC_RPS")]
    requests_per_second: Option<u32>,
    /// Transactions per database commit.
    #[arg(long, env = "SPARKS_BATCH_SIZE", default_value_t = 500)]
    batch_size: usize,
    /// Database commits in flight (each on its own connection, committed in
    /// chain order).
    #[arg(long, env = "SPARKS_WRITE_CONCURRENCY", default_value_t = 2)]
    write_concurrency: usize,
    /// How long one RPC call is retried before the error surfaces (seconds).
    #[arg(long, env = "SPARKS_RPC_RETRY_SECS", default_value_t = 60)]
    retry_secs: u64,

    /// Signatures a catch-up lists in memory; a longer listing is kept in
    /// Postgres page by page (bounded memory, resumed after a stop).
    #[arg(long, env = "SPARKS_SPILL_AFTER", default_value_t = 10_000)]
    spill_after: usize,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    chain: ChainArgs,
    /// Websocket endpoint (derived from --rpc-url when omitted: http→ws, port+1).
    #[arg(long, env = "SPARKS_WS_URL")]
    ws_url: Option<String>,
    /// Poll interval in milliseconds, the safety net under the websocket.
    #[arg(long, env = "SPARKS_POLL_MS", default_value_t = 5_000)]
    poll_ms: u64,
    #[command(flatten)]
    grpc: GrpcArgs,
    #[command(flatten)]
    api: ApiArgs,
    /// Index only; do not serve the HTTP API.
    #[arg(long)]
    no_api: bool,
    /// Do not deliver webhooks (another process does, or none are wanted).
    #[arg(long)]
    no_webhooks: bool,
    /// Webhook deliveries in flight across all subscriptions.
    #[arg(long, env = "SPARKS_WEBHOOK_CONCURRENCY", default_value_t = 32,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    webhook_concurrency: u16,
    /// Seconds one webhook request may take.
    #[arg(long, env = "SPARKS_WEBHOOK_TIMEOUT_SECS", default_value_t = 10)]
    webhook_timeout_secs: u64,
}

/// Streaming from a Yellowstone gRPC endpoint instead of websocket + getTransaction.
#[derive(Args)]
struct GrpcArgs {
    /// Yellowstone gRPC ("Dragon's Mouth") endpoint: stream transactions and
    /// slots from it, with RPC (--rpc-url) only for repairs and finality proofs.
    #[arg(long, env = "SPARKS_GRPC_URL")]
    grpc_url: Option<String>,
    /// The provider's access token, sent as the `x-token` header.
    #[arg(long, env = "SPARKS_GRPC_X_TOKEN", hide_env_values = true)]
    grpc_x_token: Option<String>,
    /// Seconds without any message (not even a ping) before the stream is reconnected.
    #[arg(long, env = "SPARKS_GRPC_STALL_SECS", default_value_t = 30)]
    grpc_stall_secs: u64,
    /// Streamed transactions held waiting for their slot to confirm; past
    /// it they are dropped and repaired over RPC.
    #[arg(long, env = "SPARKS_GRPC_MAX_BUFFERED", default_value_t = 100_000)]
    grpc_max_buffered: usize,
    /// Never ask the endpoint to replay from the cursor (`from_slot`):
    /// every reconnect is repaired over RPC.
    #[arg(long, env = "SPARKS_GRPC_NO_REPLAY", default_value_t = false)]
    grpc_no_replay: bool,
}

#[derive(Args)]
struct BackfillArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    chain: ChainArgs,
    /// First slot of a range to (re)index; the cursor is left alone.
    #[arg(long, requires = "until")]
    from: Option<u64>,
    /// Last slot of the range.
    #[arg(long, requires = "from")]
    until: Option<u64>,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("selection").required(true).args(["signatures", "from", "problems"])))]
struct ReindexArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    chain: ChainArgs,
    /// A stored transaction's signature (repeatable).
    #[arg(long = "signature")]
    signatures: Vec<String>,
    /// First slot of a range of stored transactions.
    #[arg(long, requires = "until")]
    from: Option<u64>,
    /// Last slot of the range.
    #[arg(long, requires = "from")]
    until: Option<u64>,
    /// Every stored transaction with a recorded problem (skipped, undecodable,
    /// unfetchable, out of range).
    #[arg(long)]
    problems: bool,
}

#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    chain: ChainArgs,
}

/// Measured: the API's history rate +20% over glibc's malloc (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match execute(cli.command).await {
        Ok(code) => code,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn execute(command: Command) -> anyhow::Result<std::process::ExitCode> {
    match command {
        Command::Migrate(args) => {
            let store = connect(&args).await?;
            tracing::info!("migrations applied");
            drop(store);
        }
        Command::Run(args) => {
            let store = connect(&args.database).await?;
            let mut config = indexer_config(&args.chain);
            config.poll_interval = Duration::from_millis(args.poll_ms);
            let indexer = Indexer::new(source(&args.chain)?, store, config);
            let ws_url = args
                .ws_url
                .clone()
                .unwrap_or_else(|| derive_ws_url(&args.chain.rpc_url));
            let shutdown = shutdown_signal();
            let api = if args.no_api {
                None
            } else {
                let state = AppState::new(
                    reader_pool(&args.database).await?,
                    api_config(
                        &args.api,
                        Some(args.chain.rpc_url.clone()),
                        program_id(&args.chain)?,
                    ),
                );
                Some(spawn_api(&args.api, state, shutdown.clone()).await?)
            };
            let webhooks = if args.no_webhooks {
                None
            } else {
                let config = DeliveryConfig {
                    concurrency: usize::from(args.webhook_concurrency),
                    timeout: Duration::from_secs(args.webhook_timeout_secs.max(1)),
                    ..DeliveryConfig::default()
                };
                let deliverer = Deliverer::new(reader_pool(&args.database).await?, config)?;
                Some(tokio::spawn(deliverer.run(shutdown.clone())))
            };
            match &args.grpc.grpc_url {
                Some(grpc_url) => {
                    let mut stream = StreamConfig::new(grpc_url.clone());
                    stream.x_token = args.grpc.grpc_x_token.clone();
                    stream.stall_timeout = Duration::from_secs(args.grpc.grpc_stall_secs.max(1));
                    stream.max_buffered = args.grpc.grpc_max_buffered;
                    stream.replay = !args.grpc.grpc_no_replay;
                    tracing::info!(rpc = %args.chain.rpc_url, grpc = %grpc_url, "indexing from the gRPC stream");
                    indexer.run_stream(stream, shutdown).await?;
                }
                None => {
                    tracing::info!(rpc = %args.chain.rpc_url, ws = %ws_url, "indexing");
                    indexer.run(Some(ws_url), shutdown).await?;
                }
            }
            if let Some(api) = api {
                api.await??;
            }
            if let Some(webhooks) = webhooks {
                webhooks.await??;
            }
            tracing::info!("stopped");
        }
        Command::Backfill(args) => {
            let store = connect(&args.database).await?;
            let indexer = Indexer::new(source(&args.chain)?, store, indexer_config(&args.chain));
            let shutdown = shutdown_signal();
            let started = std::time::Instant::now();
            let progress = match (args.from, args.until) {
                (Some(from), Some(until)) => indexer.backfill_slots(from, until, &shutdown).await?,
                _ => indexer.catch_up(&shutdown).await?,
            };
            let secs = started.elapsed().as_secs_f64();
            tracing::info!(
                signatures = progress.signatures,
                transactions = progress.transactions,
                events = progress.events,
                seconds = format!("{secs:.2}"),
                tx_per_sec = (progress.transactions as f64 / secs) as u64,
                "backfill done"
            );
        }
        Command::Reindex(args) => {
            let store = connect(&args.database).await?;
            let indexer = Indexer::new(source(&args.chain)?, store, indexer_config(&args.chain));
            let named = args.signatures.len() as u64;
            let selection = match (args.from, args.until) {
                (Some(from), Some(until)) => Selection::Slots { from, until },
                _ if args.problems => Selection::WithProblems,
                _ => Selection::Signatures(args.signatures),
            };
            let progress = indexer.reindex(&selection, &shutdown_signal()).await?;
            if progress.signatures < named {
                bail!(
                    "{} of the {named} signatures are not stored; reindex replaces stored \
                     transactions (backfill --from/--until indexes missing ones)",
                    named - progress.signatures
                );
            }
            if progress.transactions < progress.signatures {
                bail!(
                    "reindexed {} of {} selected transactions (stopped early)",
                    progress.transactions,
                    progress.signatures
                );
            }
            tracing::info!(
                transactions = progress.transactions,
                events = progress.events,
                "reindex done"
            );
        }
        Command::Webhooks { database, command } => {
            let store = connect(&database).await?;
            webhooks_cli::run(store.pool(), command).await?;
        }
        Command::Serve(args) => {
            let pool = reader_pool(&args.database).await?;
            Store::from_pool(pool.clone())
                .migrate()
                .await
                .context("applying migrations")?;
            let program = parse_program_id(args.program_id.as_deref())?;
            let config = api_config(&args.api, args.rpc_url.clone(), program);
            let state = AppState::new(pool, config);
            spawn_api(&args.api, state, shutdown_signal())
                .await?
                .await??;
        }
        Command::Verify(args) => {
            let store = connect(&args.database).await?;
            let program = program_id(&args.chain)?;
            if program != sparks::ID {
                bail!(
                    "verify reads accounts with this build's program id {}; got {program}",
                    sparks::ID
                );
            }
            let commitment = commitment(&args.chain.commitment)?;
            let rpc = SparksRpc::with_commitment(
                args.chain.rpc_url.clone(),
                solana_commitment_config::CommitmentConfig { commitment },
            );
            let report = sparks_indexer::verify::verify(&rpc, &store).await?;
            for difference in &report.differences {
                println!("{difference}");
            }
            let compared: usize = report.compared.values().sum();
            println!(
                "{} accounts compared, {} differences",
                compared,
                report.differences.len()
            );
            if !report.differences.is_empty() {
                return Ok(std::process::ExitCode::FAILURE);
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn api_config(args: &ApiArgs, rpc_url: Option<String>, program: Pubkey) -> ApiConfig {
    ApiConfig {
        cors_origins: args.cors_origins.clone(),
        rpc_url,
        public_rpc_url: args.public_rpc_url.clone(),
        cluster: args.cluster.clone(),
        program_id: program.to_string(),
        max_batch: usize::from(args.api_max_batch),
        history_max_batch: usize::from(args.api_history_max_batch),
        batch_workers: usize::from(args.api_batch_workers),
        ..ApiConfig::default()
    }
}

async fn spawn_api(
    args: &ApiArgs,
    state: AppState,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "API listening; settings page at http://{address}/account");
    Ok(tokio::spawn(sparks_indexer::api::serve(
        listener,
        state,
        async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        },
    )))
}

async fn connect(args: &DatabaseArgs) -> anyhow::Result<Store> {
    let store = Store::connect(&args.database_url)
        .await
        .context("connecting to Postgres")?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

async fn reader_pool(args: &DatabaseArgs) -> anyhow::Result<sqlx::PgPool> {
    sparks_indexer::api::connect(&args.database_url)
        .await
        .context("connecting the API to Postgres")
}

fn program_id(chain: &ChainArgs) -> anyhow::Result<Pubkey> {
    parse_program_id(chain.program_id.as_deref())
}

/// `--program-id`, or this build's id.
fn parse_program_id(text: Option<&str>) -> anyhow::Result<Pubkey> {
    match text {
        None => Ok(sparks::ID),
        Some(text) => Pubkey::from_str(text)
            .with_context(|| format!("--program-id {text:?} is not a public key")),
    }
}

fn commitment(text: &str) -> anyhow::Result<CommitmentLevel> {
    match text {
        "confirmed" => Ok(CommitmentLevel::Confirmed),
        "finalized" => Ok(CommitmentLevel::Finalized),
        "processed" => bail!(
            "--commitment processed cannot be indexed: nodes refuse getTransaction and \
             getSignaturesForAddress below confirmed, and a processed transaction may never \
             land; use confirmed (the default) or finalized"
        ),
        other => bail!("--commitment {other:?}: expected confirmed or finalized"),
    }
}

fn source(chain: &ChainArgs) -> anyhow::Result<std::sync::Arc<Source>> {
    let mut config = SourceConfig::new(chain.rpc_url.clone(), program_id(chain)?);
    config.commitment = commitment(&chain.commitment)?;
    config.requests_per_second = chain.requests_per_second;
    config.retry_for = Duration::from_secs(chain.retry_secs);
    Ok(Source::new(config))
}

fn indexer_config(chain: &ChainArgs) -> IndexerConfig {
    IndexerConfig {
        concurrency: chain.concurrency,
        batch_size: chain.batch_size,
        write_concurrency: chain.write_concurrency,
        spill_after: chain.spill_after,
        ..IndexerConfig::default()
    }
}

/// `http://host:8899` → `ws://host:8900` (the Solana convention).
fn derive_ws_url(rpc_url: &str) -> String {
    let (scheme, rest) = match rpc_url.split_once("://") {
        Some(("https", rest)) => ("wss", rest),
        Some((_, rest)) => ("ws", rest),
        None => ("ws", rpc_url),
    };
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let authority = match authority.rsplit_once(':') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(port) => format!("{host}:{}", port.saturating_add(1)),
            Err(_) => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    if path.is_empty() {
        format!("{scheme}://{authority}")
    } else {
        format!("{scheme}://{authority}/{path}")
    }
}

/// Flips to true on SIGINT or SIGTERM; the indexer finishes its batch and stops.
fn shutdown_signal() -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    tokio::spawn(async move {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutdown requested");
        let _ = sender.send(true);
    });
    receiver
}

#[cfg(test)]
mod tests {
    use super::derive_ws_url;

    #[test]
    fn websocket_url_follows_the_solana_convention() {
        assert_eq!(
            derive_ws_url("http://127.0.0.1:8899"),
            "ws://127.0.0.1:8900"
        );
        assert_eq!(
            derive_ws_url("https://api.devnet.solana.com"),
            "wss://api.devnet.solana.com"
        );
        assert_eq!(
            derive_ws_url("https://rpc.example/key"),
            "wss://rpc.example/key"
        );
    }
}
