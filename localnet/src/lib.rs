//! A local Solana chain with the Sparks programs deployed, reachable over
//! standard JSON-RPC and websocket PubSub: this project's `solana-test-validator`.
//!
//! surfpool's SVM (LiteSVM underneath, agave 4.2's runtime) serves the
//! validator's RPC and PubSub APIs. By default the programs run as their
//! committed SBF bytecode (`sbf/deploy`, SBPF v3) in the SBF VM, metered as on
//! a validator; [`ProgramRuntime::Native`] runs them as native builtins
//! instead. Start it in-process with [`Localnet::start`] or from the
//! `sparks-localnet` binary.

mod builtins;
pub mod grpc;
mod native_runtime;
mod programs;

pub use grpc::GrpcConfig;
pub use programs::{features, ProgramRuntime};

use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anchor_lang::prelude::Pubkey;
use crossbeam_channel::{unbounded, Receiver, Sender};
use surfpool_core::runloops::start_local_surfnet_runloop;
use surfpool_core::surfnet::locker::SurfnetSvmLocker;
use surfpool_core::surfnet::svm::{SurfnetSvm, SurfnetSvmConfig};
use surfpool_types::{
    BlockProductionMode, RpcConfig, SimnetCommand, SimnetConfig, SimnetEvent, SurfpoolConfig,
};

/// How long the chain may take to report ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum LocalnetError {
    #[error("no free port on {host}: {source}")]
    NoFreePort {
        host: String,
        source: std::io::Error,
    },
    #[error("could not build the SVM: {0}")]
    Svm(String),
    #[error("could not deploy {program}: {message}")]
    Deploy {
        program: &'static str,
        message: String,
    },
    #[error("the chain did not report ready within {0:?}")]
    StartTimeout(Duration),
    #[error("the chain stopped while starting: {0}")]
    Stopped(String),
    #[error("could not spawn the chain thread: {0}")]
    Spawn(std::io::Error),
    #[error("could not serve gRPC on {address}: {source}")]
    Grpc {
        address: String,
        source: std::io::Error,
    },
}

/// When the chain produces blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockProduction {
    /// One slot per transaction: fastest confirmations (tests, demo).
    Transaction,
    /// One slot every `slot_time_ms`, like a validator.
    Clock,
}

#[derive(Debug, Clone)]
pub struct LocalnetConfig {
    /// Interface to bind; loopback unless you mean to expose it.
    pub host: String,
    /// JSON-RPC port; `None` picks a free one (with a free one above it
    /// for the websocket).
    pub rpc_port: Option<u16>,
    /// Websocket (PubSub) port; `None` is the RPC port + 1, as
    /// solana-test-validator does (clients such as web3.js assume it).
    pub ws_port: Option<u16>,
    /// Slot length in milliseconds (also the clock step in Transaction mode).
    pub slot_time_ms: u64,
    pub block_production: BlockProduction,
    /// Wallets funded at start.
    pub airdrop: Vec<Pubkey>,
    pub airdrop_lamports: u64,
    /// How the programs run: their SBF bytecode (the default) or native builtins.
    pub runtime: ProgramRuntime,
    /// Yellowstone gRPC, served from the chain's Geyser events.
    pub grpc: GrpcConfig,
}

impl Default for LocalnetConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            rpc_port: None,
            ws_port: None,
            slot_time_ms: 50,
            block_production: BlockProduction::Transaction,
            airdrop: Vec::new(),
            airdrop_lamports: 1_000_000_000_000,
            runtime: ProgramRuntime::Bytecode,
            grpc: GrpcConfig::default(),
        }
    }
}

/// A running local chain. Dropping it stops the chain.
pub struct Localnet {
    rpc_url: String,
    ws_url: String,
    grpc_url: String,
    commands: Sender<SimnetCommand>,
    runloop: Option<JoinHandle<()>>,
    /// Serves gRPC; dropped (stopped) with the chain.
    grpc_runtime: Option<tokio::runtime::Runtime>,
}

impl Localnet {
    /// Starts the chain with the Sparks and example-mint programs and returns
    /// once it answers RPC.
    pub fn start(config: LocalnetConfig) -> Result<Self, LocalnetError> {
        let started = Instant::now();

        let (rpc_port, ws_port) = ports(&config.host, config.rpc_port, config.ws_port)?;

        // Instruction profiling re-executes every transaction; it is on by
        // default and costs ~5x throughput, so it is off here. No database:
        // surfpool's garbage collection with one rebuilds LiteSVM and would
        // drop the programs deployed here.
        let svm_config = SurfnetSvmConfig {
            slot_time: config.slot_time_ms,
            instruction_profiling_enabled: false,
            feature_config: programs::feature_config(),
            ..SurfnetSvmConfig::default()
        };
        let (mut svm, events, geyser_events) =
            SurfnetSvm::new(svm_config).map_err(|e| LocalnetError::Svm(e.to_string()))?;
        programs::deploy(&mut svm.inner.svm, config.runtime)?;
        let (grpc_runtime, grpc_url, geyser_events) = serve_grpc(&config, geyser_events)?;

        let surfpool_config = SurfpoolConfig {
            simnets: vec![SimnetConfig {
                offline_mode: true,
                remote_rpc_url: None,
                slot_time: config.slot_time_ms,
                block_production_mode: match config.block_production {
                    BlockProduction::Transaction => BlockProductionMode::Transaction,
                    BlockProduction::Clock => BlockProductionMode::Clock,
                },
                airdrop_addresses: config.airdrop.clone(),
                airdrop_token_amount: config.airdrop_lamports,
                instruction_profiling_enabled: false,
                ..SimnetConfig::default()
            }],
            rpc: RpcConfig {
                bind_host: config.host.clone(),
                bind_port: rpc_port,
                ws_port,
                ..RpcConfig::default()
            },
            ..SurfpoolConfig::default()
        };

        let (commands_tx, commands_rx) = unbounded();
        let locker = SurfnetSvmLocker::new(svm);
        let runloop_commands = commands_tx.clone();
        let runloop = std::thread::Builder::new()
            .name("sparks-localnet".into())
            .spawn(move || {
                let future = start_local_surfnet_runloop(
                    locker,
                    surfpool_config,
                    runloop_commands,
                    commands_rx,
                    geyser_events,
                );
                if let Err(error) = hiro_system_kit::nestable_block_on(future) {
                    tracing::error!(%error, "local chain stopped");
                }
                tracing::debug!("local chain runloop returned");
            })
            .map_err(LocalnetError::Spawn)?;

        wait_until_ready(&events)?;
        drain_events(events);
        let chain = Self {
            rpc_url: format!("http://{}:{rpc_port}", config.host),
            ws_url: format!("ws://{}:{ws_port}", config.host),
            grpc_url,
            commands: commands_tx,
            runloop: Some(runloop),
            grpc_runtime: Some(grpc_runtime),
        };
        tracing::info!(rpc = %chain.rpc_url, ws = %chain.ws_url, grpc = %chain.grpc_url, elapsed = ?started.elapsed(), "local chain ready");
        Ok(chain)
    }

    pub fn rpc_url(&self) -> &str {
        &self.rpc_url
    }

    pub fn ws_url(&self) -> &str {
        &self.ws_url
    }

    /// Yellowstone gRPC endpoint (`http://host:port`).
    pub fn grpc_url(&self) -> &str {
        &self.grpc_url
    }

    /// Stops the chain and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        tracing::debug!("stopping the local chain");
        let _ = self.commands.send(SimnetCommand::Terminate(None));
        if let Some(handle) = self.runloop.take() {
            let _ = handle.join();
        }
        if let Some(runtime) = self.grpc_runtime.take() {
            runtime.shutdown_background();
        }
        tracing::debug!("local chain stopped");
    }
}

impl Drop for Localnet {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The RPC and websocket ports: as given, the websocket next to the RPC
/// port by default, and free ones (a free pair) where none is given.
fn ports(host: &str, rpc: Option<u16>, ws: Option<u16>) -> Result<(u16, u16), LocalnetError> {
    let no_port = |source| LocalnetError::NoFreePort {
        host: host.into(),
        source,
    };
    match (rpc, ws) {
        (Some(rpc), Some(ws)) => Ok((rpc, ws)),
        (Some(rpc), None) => Ok((
            rpc,
            rpc.checked_add(1)
                .ok_or_else(|| no_port(std::io::Error::other("no port above the RPC port")))?,
        )),
        (None, ws) => {
            // A free port whose neighbour is free too, so the pair follows
            // the validator's convention.
            for _ in 0..64 {
                let listener = TcpListener::bind((host, 0)).map_err(no_port)?;
                let rpc = listener.local_addr().map_err(no_port)?.port();
                let Some(next) = rpc.checked_add(1) else {
                    continue;
                };
                if ws.is_none() && TcpListener::bind((host, next)).is_err() {
                    continue;
                }
                return Ok((rpc, ws.unwrap_or(next)));
            }
            Err(no_port(std::io::Error::other("no free pair of ports")))
        }
    }
}

/// Starts the gRPC server on a runtime of its own and puts the feed between
/// the chain's Geyser events and surfpool's plugin runloop (which gets every
/// event, as before). Returns the runtime, the URL and the runloop's end.
fn serve_grpc(
    config: &LocalnetConfig,
    events: Receiver<surfpool_core::surfnet::GeyserEvent>,
) -> Result<
    (
        tokio::runtime::Runtime,
        String,
        Receiver<surfpool_core::surfnet::GeyserEvent>,
    ),
    LocalnetError,
> {
    let address = format!("{}:{}", config.host, config.grpc.port.unwrap_or(0));
    let failed = |source| LocalnetError::Grpc {
        address: address.clone(),
        source,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("sparks-localnet-grpc")
        .enable_all()
        .build()
        .map_err(failed)?;
    // Bound here (a std socket, so a caller inside a runtime can start the
    // chain too) and served on the gRPC runtime.
    let listener = TcpListener::bind(&address).map_err(failed)?;
    listener.set_nonblocking(true).map_err(failed)?;
    let port = listener.local_addr().map_err(failed)?.port();
    let feed = grpc::Feed::new(config.grpc.replay_slots);
    let ping_interval = config.grpc.ping_interval;
    let x_token = config.grpc.x_token.clone();
    let served = feed.clone();
    runtime.spawn(async move {
        match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => {
                if let Err(error) = grpc::serve(listener, served, ping_interval, x_token).await {
                    tracing::error!(%error, "gRPC server stopped");
                }
            }
            Err(error) => tracing::error!(%error, "gRPC listener"),
        }
    });
    let (forward, runloop_events) = unbounded();
    std::thread::Builder::new()
        .name("sparks-localnet-geyser".into())
        .spawn(move || {
            for event in events {
                feed.push(&event);
                if forward.send(event).is_err() {
                    break;
                }
            }
        })
        .map_err(LocalnetError::Spawn)?;
    Ok((
        runtime,
        format!("http://{}:{port}", config.host),
        runloop_events,
    ))
}

fn wait_until_ready(events: &Receiver<SimnetEvent>) -> Result<(), LocalnetError> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            // Offline mode sends no `Connected`; `CoreStarted` means RPC is
            // up and (with no startup plan) the surfnet is ready.
            Ok(SimnetEvent::CoreStarted(_)) => return Ok(()),
            Ok(SimnetEvent::Aborted(reason)) => return Err(LocalnetError::Stopped(reason)),
            Ok(SimnetEvent::Shutdown) => return Err(LocalnetError::Stopped("shutdown".into())),
            Ok(_) => continue,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                return Err(LocalnetError::StartTimeout(START_TIMEOUT))
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                return Err(LocalnetError::Stopped("event channel closed".into()))
            }
        }
    }
}

/// The event channel is unbounded and every processed transaction is sent on
/// it; drain it so a long-running chain does not grow without bound.
fn drain_events(events: Receiver<SimnetEvent>) {
    let _ = std::thread::Builder::new()
        .name("sparks-localnet-events".into())
        .spawn(move || {
            for event in events {
                if let SimnetEvent::ErrorLog(_, message) = event {
                    tracing::debug!(%message, "local chain");
                }
            }
        });
}
