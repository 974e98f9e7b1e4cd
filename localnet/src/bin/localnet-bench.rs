//! Benchmark of the local chain: start time, then confirmed transactions per
//! second through JSON-RPC, sequential and concurrent (awards to fresh
//! wallets, each waiting for `confirmed`). Prints its figures.
//!
//! `cargo run --release -p sparks-localnet --bin localnet-bench -- [--sequential N] [--concurrent N] [--tasks K] [--native]`

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::instructions::{ConfigParams, IssuerParams};
use sparks::state::Source;
use sparks_client::instructions as ix;
use sparks_client::rpc::SparksRpc;
use sparks_localnet::{Localnet, LocalnetConfig, ProgramRuntime};

#[derive(Parser)]
struct Args {
    /// Awards sent one after another.
    #[arg(long, default_value_t = 300)]
    sequential: usize,
    /// Awards sent by concurrent tasks.
    #[arg(long, default_value_t = 1_000)]
    concurrent: usize,
    /// Concurrent tasks (each its own issuer, so no two share a fee payer).
    #[arg(long, default_value_t = 16)]
    tasks: usize,
    /// Run the programs as native builtins instead of their SBF bytecode.
    #[arg(long)]
    native: bool,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let admin = Keypair::new();
    let issuers: Vec<Keypair> = (0..args.tasks.max(1)).map(|_| Keypair::new()).collect();
    let mut airdrop: Vec<_> = issuers.iter().map(|k| k.pubkey()).collect();
    airdrop.push(admin.pubkey());

    let started = Instant::now();
    let chain = Localnet::start(LocalnetConfig {
        airdrop,
        runtime: if args.native {
            ProgramRuntime::Native
        } else {
            ProgramRuntime::Bytecode
        },
        ..LocalnetConfig::default()
    })
    .context("start")?;
    let start_time = started.elapsed();
    let rpc = Arc::new(SparksRpc::new(chain.rpc_url()));
    let params = ConfigParams {
        referral_trade_share_bps: 1_000,
        first_subscription_bonus: 0,
        max_award_per_ix: 1_000,
    };
    rpc.send(&[ix::initialize(&admin.pubkey(), params)], &admin, &[])
        .await?;
    for issuer in &issuers {
        let p = IssuerParams {
            allowed_sources: Source::ALL_BITS,
            cap_per_period: u64::MAX / 2,
            period_secs: 86_400,
        };
        rpc.send(
            &[ix::upsert_issuer(&admin.pubkey(), &issuer.pubkey(), p)],
            &admin,
            &[],
        )
        .await?;
    }

    let begin = Instant::now();
    for _ in 0..args.sequential {
        rpc.award(
            &issuers[0],
            &Keypair::new().pubkey(),
            Source::Trading,
            1,
            [0; 32],
        )
        .await?;
    }
    let sequential = args.sequential as f64 / begin.elapsed().as_secs_f64();

    let per_task = args.concurrent / issuers.len();
    let begin = Instant::now();
    let mut handles = Vec::new();
    for issuer in issuers {
        let rpc = rpc.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..per_task {
                rpc.award(
                    &issuer,
                    &Keypair::new().pubkey(),
                    Source::Campaign,
                    1,
                    [1; 32],
                )
                .await?;
            }
            anyhow::Ok(())
        }));
    }
    for handle in handles {
        handle.await??;
    }
    let concurrent = (per_task * args.tasks) as f64 / begin.elapsed().as_secs_f64();

    println!(
        "programs: {}",
        if args.native {
            "native builtins"
        } else {
            "SBF bytecode"
        }
    );
    println!(
        "chain start (incl. deploying the programs): {:.3} s",
        start_time.as_secs_f64()
    );
    println!(
        "sequential: {} awards, {sequential:.0} confirmed tx/s",
        args.sequential
    );
    println!(
        "concurrent: {} awards from {} tasks, {concurrent:.0} confirmed tx/s",
        per_task * args.tasks,
        args.tasks
    );
    chain.stop();
    Ok(())
}
