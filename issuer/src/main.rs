//! `sparks-issuer`: serve the awards API, and manage its tokens and queue.

use std::net::SocketAddr;
use std::sync::Arc;

use anchor_lang::prelude::Pubkey;
use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use metrics_exporter_prometheus::PrometheusBuilder;
use sparks_client::rpc::SparksRpc;
use sparks_issuer::model::SOURCES;
use sparks_issuer::routes::{router, AppState};
use sparks_issuer::store::Store;
use sparks_issuer::worker::{Worker, WorkerConfig};

#[derive(Parser)]
#[command(name = "sparks-issuer", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the awards API.
    Serve(ServeArgs),
    /// Create, list and revoke the API's bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Award requests by state.
    Queue(DatabaseArgs),
    /// Send a failed request again (its old award ids were voided; it gets new ones).
    Retry(RequestArgs),
    /// Cancel a request that was never sent (still pending).
    Cancel(RequestArgs),
}

#[derive(Args)]
struct RequestArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// The issuer key the request is for.
    #[arg(long)]
    issuer: String,
    /// The request's idempotency key.
    #[arg(long)]
    key: String,
}

#[derive(Args)]
struct DatabaseArgs {
    /// Postgres URL (the service keeps its tables in the schema `issuer`).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// JSON-RPC endpoint of a Solana node.
    #[arg(long, env = "SPARKS_RPC_URL", default_value = "http://127.0.0.1:8899")]
    rpc_url: String,
    /// Address to listen on.
    #[arg(long, env = "SPARKS_ISSUER_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// The issuer key's keypair file: the worker signs and sends the
    /// requests of tokens bound to this key. Without it only the API runs.
    #[arg(long, env = "SPARKS_ISSUER_KEYPAIR")]
    issuer_keypair: Option<std::path::PathBuf>,
    /// Priority fee, micro-lamports per compute unit.
    #[arg(long, env = "SPARKS_PRIORITY_FEE", default_value_t = 0)]
    priority_fee: u64,
    /// Batches being sent at once.
    #[arg(long, env = "SPARKS_ISSUER_IN_FLIGHT", default_value_t = 16)]
    max_in_flight: usize,
    /// Address lookup tables the worker may create for hot accounts (each
    /// full table: 256 addresses, about 0.058 SOL of rent, paid by the
    /// issuer key). 0 sends legacy transactions only.
    #[arg(long, env = "SPARKS_ISSUER_LOOKUP_TABLES", default_value_t = 16)]
    lookup_tables: usize,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed this once.
    Create {
        #[command(flatten)]
        database: DatabaseArgs,
        /// A name to recognise it by (the client it is for).
        #[arg(long)]
        name: String,
        /// The issuer key its awards are sent with.
        #[arg(long)]
        issuer: String,
        /// Award sources it may use, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        sources: Vec<String>,
    },
    /// Revoke a token by id.
    Revoke {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long)]
        id: i64,
    },
    /// List the tokens (never the tokens themselves).
    List(DatabaseArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
        Command::Token(TokenCommand::Create {
            database,
            name,
            issuer,
            sources,
        }) => {
            issuer
                .parse::<Pubkey>()
                .ok()
                .with_context(|| format!("--issuer {issuer:?} is not a base58 public key"))?;
            if let Some(bad) = sources.iter().find(|s| !SOURCES.contains(&s.as_str())) {
                bail!("--sources: {bad:?} is not one of {}", SOURCES.join(", "));
            }
            let store = Store::connect(&database.database_url).await?;
            let (id, token) = store.create_token(&name, &issuer, &sources).await?;
            println!(
                "token {id} ({name}) for issuer {issuer}, sources {}:",
                sources.join(",")
            );
            println!("{token}");
            Ok(())
        }
        Command::Token(TokenCommand::Revoke { database, id }) => {
            Store::connect(&database.database_url)
                .await?
                .revoke_token(id)
                .await?;
            println!("token {id} revoked");
            Ok(())
        }
        Command::Token(TokenCommand::List(database)) => {
            for token in Store::connect(&database.database_url)
                .await?
                .tokens()
                .await?
            {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    token.id,
                    token.name,
                    token.issuer,
                    token.sources.join(","),
                    if token.revoked { "revoked" } else { "live" }
                );
            }
            Ok(())
        }
        Command::Retry(args) => {
            Store::connect(&args.database.database_url)
                .await?
                .retry(&args.issuer, &args.key)
                .await?;
            println!("request {:?} is pending again", args.key);
            Ok(())
        }
        Command::Cancel(args) => {
            Store::connect(&args.database.database_url)
                .await?
                .cancel(&args.issuer, &args.key)
                .await?;
            println!("request {:?} cancelled", args.key);
            Ok(())
        }
        Command::Queue(database) => {
            for (state, n) in Store::connect(&database.database_url)
                .await?
                .queue()
                .await?
            {
                println!("{state}\t{n}");
            }
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let store = Store::connect(&args.database.database_url).await?;
    let config = read_config(&args.rpc_url).await?;
    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    let keypair =
        match &args.issuer_keypair {
            Some(path) => Some(solana_keypair::read_keypair_file(path).map_err(|e| {
                anyhow::anyhow!("reading the issuer keypair {}: {e}", path.display())
            })?),
            None => None,
        };
    let sender = keypair
        .as_ref()
        .map(|k| solana_signer::Signer::pubkey(k).to_string());
    // A token bound to another key gets its requests accepted and never sent.
    for token in store.tokens().await? {
        if !token.revoked && sender.as_ref().is_some_and(|s| *s != token.issuer) {
            tracing::warn!(
                token = token.id,
                issuer = %token.issuer,
                "this token's requests are for an issuer key this service does not send with; \
                 they stay pending until a service with that key runs"
            );
        }
    }
    let worker = keypair.map(|keypair| {
        tracing::info!(issuer = %solana_signer::Signer::pubkey(&keypair), "worker sending awards");
        Worker::new(
            store.clone(),
            SparksRpc::new(&args.rpc_url),
            keypair,
            WorkerConfig {
                priority_fee: args.priority_fee,
                max_in_flight: args.max_in_flight,
                max_lookup_tables: args.lookup_tables,
                ..WorkerConfig::default()
            },
        )
    });
    let state = Arc::new(AppState {
        store,
        max_amount: config.max_award_per_ix,
        metrics: Some(metrics),
        sender,
        holding_lease: worker.as_ref().map(Worker::holding_lease),
    });
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let worker = match worker {
        Some(worker) => Some(tokio::spawn(worker.run(shutdown))),
        None => {
            tracing::warn!("no --issuer-keypair: requests are accepted but not sent");
            None
        }
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(listen = %listener.local_addr()?, rpc = %args.rpc_url, "serving the awards API");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        })
        .await?;
    let _ = stop.send(true);
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    Ok(())
}

/// The program's Config, read at start. A node that fails to answer (a
/// provider's 429 or 5xx, a restart) is asked again for up to two minutes;
/// a chain without the program is an error at once.
async fn read_config(rpc_url: &str) -> anyhow::Result<sparks::state::Config> {
    let rpc = SparksRpc::new(rpc_url);
    let started = std::time::Instant::now();
    let mut wait = std::time::Duration::from_millis(200);
    loop {
        match rpc.config().await {
            Ok(Some(config)) => return Ok(config),
            Ok(None) => {
                bail!("the Sparks program is not initialized on {rpc_url} (no Config account)")
            }
            Err(error) if started.elapsed() < std::time::Duration::from_secs(120) => {
                tracing::warn!(%error, rpc = rpc_url, "reading the program's Config; will retry");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(5));
            }
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("reading the program's Config from {rpc_url}"))
            }
        }
    }
}
