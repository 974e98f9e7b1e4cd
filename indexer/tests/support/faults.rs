//! A JSON-RPC proxy that answers a share of the requests with a fault
//! (429, 500, "node is behind", slow, no answer, reset) instead of the
//! node's answer.
#![allow(dead_code)] // each test binary uses its own part

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the fault proxy did to each request.
#[derive(Default, Debug)]
pub struct FaultCounts {
    pub forwarded: AtomicU64,
    pub throttled: AtomicU64,
    pub server_errors: AtomicU64,
    pub node_behind: AtomicU64,
    pub slow: AtomicU64,
    pub stalled: AtomicU64,
    pub reset: AtomicU64,
}

impl FaultCounts {
    pub fn summary(&self) -> String {
        let get = |n: &AtomicU64| n.load(Ordering::SeqCst);
        format!(
            "forwarded {}, 429 {}, 500 {}, node-behind {}, slow {}, stalled {}, reset {}",
            get(&self.forwarded),
            get(&self.throttled),
            get(&self.server_errors),
            get(&self.node_behind),
            get(&self.slow),
            get(&self.stalled),
            get(&self.reset)
        )
    }
}

/// A loopback HTTP/1.1 proxy in front of a JSON-RPC node that answers a
/// share of the requests with a fault instead of the node's answer.
pub struct FaultProxy {
    pub url: String,
    pub counts: Arc<FaultCounts>,
}

impl FaultProxy {
    /// `fault_rate` of the requests get a fault, drawn evenly from the kinds.
    pub async fn start(upstream: String, fault_rate: f64, seed: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let counts = Arc::new(FaultCounts::default());
        let http = reqwest::Client::new();
        tokio::spawn({
            let counts = counts.clone();
            async move {
                for connection in 0u64.. {
                    let Ok((client, _)) = listener.accept().await else {
                        return;
                    };
                    let rng = StdRng::seed_from_u64(seed ^ connection.wrapping_mul(0x9e37_79b9));
                    tokio::spawn(serve_connection(
                        client,
                        upstream.clone(),
                        http.clone(),
                        fault_rate,
                        rng,
                        counts.clone(),
                    ));
                }
            }
        });
        Self { url, counts }
    }
}

async fn serve_connection(
    client: TcpStream,
    upstream: String,
    http: reqwest::Client,
    fault_rate: f64,
    mut rng: StdRng,
    counts: Arc<FaultCounts>,
) {
    let mut client = BufReader::new(client);
    loop {
        let Some(body) = read_request(&mut client).await else {
            return;
        };
        let fault = rng.gen_bool(fault_rate).then(|| rng.gen_range(0..6));
        let reply = match fault {
            Some(0) => {
                counts.throttled.fetch_add(1, Ordering::SeqCst);
                (429, b"Too many requests for a specific RPC call".to_vec())
            }
            Some(1) => {
                counts.server_errors.fetch_add(1, Ordering::SeqCst);
                (500, b"Internal Server Error".to_vec())
            }
            Some(2) => {
                // A JSON-RPC error in a 200: what a lagging node answers.
                counts.node_behind.fetch_add(1, Ordering::SeqCst);
                let id = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("id").cloned())
                    .unwrap_or(serde_json::Value::Null);
                let error = serde_json::json!({
                    "jsonrpc": "2.0",
                    "error": {"code": -32005, "message": "Node is behind by 42 slots"},
                    "id": id,
                });
                (200, error.to_string().into_bytes())
            }
            Some(3) => {
                // Never answers: the client's request timeout must fire.
                counts.stalled.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(120)).await;
                return;
            }
            Some(4) => {
                counts.reset.fetch_add(1, Ordering::SeqCst);
                let _ = client.get_ref().set_zero_linger();
                return; // dropped with linger 0: the peer sees a reset
            }
            slow => {
                if slow.is_some() {
                    counts.slow.fetch_add(1, Ordering::SeqCst);
                    let delay = rng.gen_range(100..600);
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                } else {
                    counts.forwarded.fetch_add(1, Ordering::SeqCst);
                }
                let Ok(response) = http
                    .post(&upstream)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                else {
                    return;
                };
                let status = response.status().as_u16();
                let Ok(bytes) = response.bytes().await else {
                    return;
                };
                (status, bytes.to_vec())
            }
        };
        let (status, body) = reply;
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let stream = client.get_mut();
        if stream.write_all(head.as_bytes()).await.is_err()
            || stream.write_all(&body).await.is_err()
        {
            return;
        }
    }
}

/// One HTTP/1.1 request's body (Content-Length framed); `None` at EOF.
async fn read_request(client: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if client.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    client.read_exact(&mut body).await.ok()?;
    Some(body)
}
