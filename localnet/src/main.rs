//! `sparks-localnet`: starts the local chain and prints its RPC, websocket
//! and Yellowstone gRPC URLs, like `solana-test-validator`. Runs until Ctrl-C.

use anyhow::Context;
use clap::Parser;
use sparks_localnet::{BlockProduction, Localnet, LocalnetConfig, ProgramRuntime};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "A local Solana chain with the Sparks programs (their SBF bytecode, or native builtins with --native)"
)]
struct Args {
    /// Interface to bind.
    #[arg(long, env = "SPARKS_LOCALNET_HOST", default_value = "127.0.0.1")]
    host: String,
    /// JSON-RPC port (default: a free one).
    #[arg(long, env = "SPARKS_LOCALNET_RPC_PORT")]
    rpc_port: Option<u16>,
    /// Websocket port (default: the RPC port + 1, like solana-test-validator).
    #[arg(long, env = "SPARKS_LOCALNET_WS_PORT")]
    ws_port: Option<u16>,
    /// Yellowstone gRPC port (default: a free one).
    #[arg(long, env = "SPARKS_LOCALNET_GRPC_PORT")]
    grpc_port: Option<u16>,
    /// Slots a gRPC subscription can replay with `from_slot`.
    #[arg(
        long,
        env = "SPARKS_LOCALNET_GRPC_REPLAY_SLOTS",
        default_value_t = 10_000
    )]
    grpc_replay_slots: u64,
    /// Require this access token as every gRPC call's `x-token`, as providers do.
    #[arg(long, env = "SPARKS_LOCALNET_GRPC_X_TOKEN", hide_env_values = true)]
    grpc_x_token: Option<String>,
    /// Slot length in milliseconds.
    #[arg(long, env = "SPARKS_LOCALNET_SLOT_TIME_MS", default_value_t = 50)]
    slot_time_ms: u64,
    /// Produce a slot every --slot-time-ms, like a validator, instead of one
    /// slot per transaction (the default: fastest confirmations).
    #[arg(long, env = "SPARKS_LOCALNET_CLOCK", default_value_t = false)]
    clock: bool,
    /// Run the programs as native builtins instead of their committed SBF
    /// bytecode (no compute metering; for debugging the program natively).
    #[arg(long, env = "SPARKS_LOCALNET_NATIVE", default_value_t = false)]
    native: bool,
    /// Wallets to fund at start (base58), repeatable.
    #[arg(long = "airdrop", value_parser = parse_pubkey)]
    airdrop: Vec<anchor_lang::prelude::Pubkey>,
}

fn parse_pubkey(s: &str) -> Result<anchor_lang::prelude::Pubkey, String> {
    s.parse()
        .map_err(|e| format!("not a base58 public key: {e}"))
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let runtime = if args.native {
        "native builtins"
    } else {
        "SBF bytecode (sbf/deploy, SBPF v3)"
    };
    let chain = Localnet::start(LocalnetConfig {
        host: args.host,
        rpc_port: args.rpc_port,
        ws_port: args.ws_port,
        slot_time_ms: args.slot_time_ms,
        block_production: if args.clock {
            BlockProduction::Clock
        } else {
            BlockProduction::Transaction
        },
        airdrop: args.airdrop,
        runtime: if args.native {
            ProgramRuntime::Native
        } else {
            ProgramRuntime::Bytecode
        },
        grpc: sparks_localnet::GrpcConfig {
            port: args.grpc_port,
            replay_slots: args.grpc_replay_slots,
            x_token: args.grpc_x_token,
            ..sparks_localnet::GrpcConfig::default()
        },
        ..LocalnetConfig::default()
    })
    .context("starting the local chain")?;
    println!("RPC URL:       {}", chain.rpc_url());
    println!("Websocket URL: {}", chain.ws_url());
    println!("gRPC URL:      {} (Yellowstone)", chain.grpc_url());
    println!("Sparks:        {}", sparks::ID);
    println!("Example mint:  {}", example_mint::ID);
    println!("Programs run:  {runtime}");
    println!("Ctrl-C to stop.");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(tokio::signal::ctrl_c())
        .context("waiting for Ctrl-C")?;
    chain.stop();
    Ok(())
}
