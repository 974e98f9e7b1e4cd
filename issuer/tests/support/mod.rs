//! A running `sparks-issuer serve` against a private Postgres and the
//! local chain, and helpers to call it.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks_client::rpc::SparksRpc;
use sparks_client::scenario;
use sparks_localnet::{Localnet, LocalnetConfig};
use sparks_pglocal::PgServer;

/// The indexer's fault proxy: 429s, 500s, "node is behind", slow answers,
/// no answer and resets in front of the chain.
#[path = "../../../indexer/tests/support/faults.rs"]
pub mod faults;

pub const BIN: &str = env!("CARGO_BIN_EXE_sparks-issuer");

pub struct Service {
    args: Vec<String>,
    pub chain: Localnet,
    pub rpc: SparksRpc,
    pub issuer_keypair: Keypair,
    _keypair_file: tempfile::NamedTempFile,
    pub pg: PgServer,
    child: Child,
    pub url: String,
    http: reqwest::Client,
    pub issuer: String,
    /// In front of the chain for the service, when it runs with faults.
    pub proxy: Option<faults::FaultProxy>,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn cli(pg: &PgServer, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", pg.url())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

impl Service {
    /// The service; with `worker`, it sends with the issuer's keypair.
    pub async fn start(worker: bool) -> Self {
        Self::start_with(worker, None).await
    }

    /// The service; with `fault_rate`, it reaches the chain through a fault
    /// proxy that answers that share of its calls with a fault.
    pub async fn start_with(worker: bool, fault_rate: Option<f64>) -> Self {
        // A clocked chain: slots pass (and awards finalize) without traffic.
        let chain = Localnet::start(LocalnetConfig {
            block_production: sparks_localnet::BlockProduction::Clock,
            slot_time_ms: 20,
            ..LocalnetConfig::default()
        })
        .expect("local chain");
        let rpc = SparksRpc::new(chain.rpc_url());
        let (admin, issuer) = (Keypair::new(), Keypair::new());
        scenario::deploy(&rpc, &admin, &issuer).await.unwrap();
        let pg = PgServer::start().expect("private postgres");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let keypair_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            keypair_file.path(),
            serde_json::to_string(&issuer.to_bytes().to_vec()).unwrap(),
        )
        .unwrap();
        let mut args = vec![
            "serve".to_owned(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
        ];
        if worker {
            args.extend([
                "--issuer-keypair".into(),
                keypair_file.path().display().to_string(),
            ]);
        }
        let proxy = match fault_rate {
            Some(rate) => {
                let proxy = faults::FaultProxy::start(chain.rpc_url().to_owned(), rate, 7).await;
                args.extend(["--rpc-url".into(), proxy.url.clone()]);
                Some(proxy)
            }
            None => None,
        };
        let child = spawn(&args, &pg, &chain);
        let service = Self {
            args,
            rpc: SparksRpc::new(chain.rpc_url()),
            chain,
            issuer_keypair: issuer.insecure_clone(),
            _keypair_file: keypair_file,
            pg,
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            issuer: issuer.pubkey().to_string(),
            proxy,
        };
        service.wait_until_up().await;
        service
    }

    async fn wait_until_up(&self) {
        let started = Instant::now();
        while self
            .http
            .get(format!("{}/health", self.url))
            .send()
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the service starts"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Another `serve` with the same key, database and chain (a rolling
    /// deploy's new instance), on a port of its own: the process and its URL.
    pub async fn start_another(&self) -> (Child, String) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut args = self.args.clone();
        let at = args.iter().position(|a| a == "--listen").unwrap() + 1;
        args[at] = format!("127.0.0.1:{port}");
        let child = spawn(&args, &self.pg, &self.chain);
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while self.http.get(format!("{url}/health")).send().await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "it starts");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (child, url)
    }

    /// SIGTERM (a graceful stop, as a deploy does), and waits for the exit.
    pub fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let _ = self.child.wait();
    }

    /// SIGKILL, then the same command again, once it answers.
    pub async fn kill_and_restart(&mut self) {
        self.child.kill().unwrap();
        let _ = self.child.wait();
        self.child = spawn(&self.args, &self.pg, &self.chain);
        self.wait_until_up().await;
    }

    /// A token made with the CLI, as an operator would.
    pub fn token(&self, sources: &str) -> (i64, String) {
        let (ok, stdout, stderr) = cli(
            &self.pg,
            &[
                "token",
                "create",
                "--name",
                "app",
                "--issuer",
                &self.issuer,
                "--sources",
                sources,
            ],
        );
        assert!(ok, "{stderr}");
        let id = stdout
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("token id");
        let token = stdout.lines().last().unwrap().trim().to_owned();
        (id, token)
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn post(&self, token: &str, body: &Value) -> (u16, Value) {
        self.call(
            reqwest::Method::POST,
            "/v1/awards",
            Some(token),
            Some(serde_json::to_vec(body).unwrap()),
        )
        .await
    }

    pub async fn get(&self, token: Option<&str>, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }
}

/// A system-program transfer (no dependency on the interface crate for one
/// instruction).
pub fn transfer(
    from: &anchor_lang::prelude::Pubkey,
    to: &anchor_lang::prelude::Pubkey,
    lamports: u64,
) -> anchor_lang::solana_program::instruction::Instruction {
    use anchor_lang::solana_program::instruction::{AccountMeta, Instruction};
    let mut data = vec![2, 0, 0, 0];
    data.extend_from_slice(&lamports.to_le_bytes());
    Instruction {
        program_id: anchor_lang::prelude::Pubkey::default(),
        accounts: vec![AccountMeta::new(*from, true), AccountMeta::new(*to, false)],
        data,
    }
}

impl Service {
    /// Every pending request (all of one source and reference) committed as
    /// one batch with its award ids, as the worker's claim would, before
    /// anything is sent: a batch a test then sends or disturbs itself.
    pub async fn claim_all_as_one_batch(
        &self,
        store: &sparks_issuer::store::Store,
    ) -> sparks_issuer::store::batches::Batch {
        let pending = store.pending(&self.issuer, 1_000).await.unwrap();
        let on_chain = self
            .rpc
            .issuer(&self.issuer_keypair.pubkey())
            .await
            .unwrap()
            .unwrap();
        store
            .assign(
                &self.issuer,
                on_chain.next_award_id(),
                &[sparks_issuer::store::batches::PlannedBatch {
                    source: pending[0].source.clone(),
                    reference: pending[0].reference,
                    requests: pending.iter().map(|r| r.id).collect(),
                }],
            )
            .await
            .unwrap()
            .remove(0)
    }
}

pub fn wallet() -> String {
    Keypair::new().pubkey().to_string()
}

fn spawn(args: &[String], pg: &PgServer, chain: &Localnet) -> Child {
    Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", pg.url())
        .env("SPARKS_RPC_URL", chain.rpc_url())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}
