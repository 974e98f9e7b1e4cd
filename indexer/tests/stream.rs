//! The API's live parts: `/v1/wallets/{wallet}/stream` pushes a wallet's
//! summary when the indexer commits a change to it (Postgres NOTIFY → SSE),
//! ends when the server shuts down, and `/v1/config`, which the page builds
//! on (`/v1/whitelists` is exercised by the page test).

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::state::Source;
use sparks_client::instructions::{self as ix, BatchRow};
use sparks_client::scenario;
use sparks_indexer::api::{self, ApiConfig, AppState};
use support::{run_live, Env};

/// Reads server-sent events off a streaming response.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    /// The next event's name and data; `None` if none came `within`.
    async fn next(&mut self, within: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim_start().to_owned())
                };
                // Keep-alive comments carry no event.
                if let (Some(event), Some(data)) = (field("event:"), field("data:")) {
                    return Some((
                        event,
                        serde_json::from_str(&data).unwrap_or(Value::String(data)),
                    ));
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .unwrap()
                .expect("the stream stays open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_pushes_a_wallets_summary_when_the_indexer_commits_a_change() {
    let env = Env::start().await;
    let (admin, issuer) = (Keypair::new(), Keypair::new());
    scenario::deploy(&env.rpc, &admin, &issuer).await.unwrap();
    let (stop, indexing) = run_live(&env, env.chain.ws_url().to_owned()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::new(
        api::connect(&env.pg.url()).await.unwrap(),
        ApiConfig {
            rpc_url: Some(env.chain.rpc_url().to_owned()),
            public_rpc_url: Some("https://rpc.example/public".into()),
            cluster: "solana:devnet".into(),
            ..ApiConfig::default()
        },
    );
    let (shut_down, shutdown) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(api::serve(listener, state, async move {
        let _ = shutdown.await;
    }));
    let http = reqwest::Client::new();

    // What the page needs to check the API against the chain.
    let config: Value = http
        .get(format!("{base}/v1/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["program_id"], sparks::ID.to_string());
    assert_eq!(config["rpc_url"], "https://rpc.example/public");
    assert_eq!(config["cluster"], "solana:devnet");

    let wallet = Keypair::new().pubkey();
    let response = http
        .get(format!("{base}/v1/wallets/{wallet}/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut events = Events {
        response,
        buffer: String::new(),
    };
    // At once: the summary as it is (nothing yet).
    let (name, first) = events
        .next(Duration::from_secs(5))
        .await
        .expect("the first event");
    assert_eq!(name, "sparks");
    assert_eq!(
        (first["exists"].as_bool(), first["seq"].as_i64()),
        (Some(false), Some(0))
    );

    // Each award lands, is indexed, and is pushed, in order.
    let first_id = env
        .rpc
        .reserve_award_ids(&issuer.pubkey(), 3, true)
        .await
        .unwrap();
    for (i, amount) in [40u64, 2, 7].into_iter().enumerate() {
        let row = BatchRow {
            wallet,
            amount,
            referrer: None,
            creates_account: i == 0,
            prefunded: false,
            pays_referral: false,
        };
        let award = ix::award_batch(
            &issuer.pubkey(),
            Source::Campaign,
            [3; 32],
            first_id + i as u64,
            &[row],
        );
        let sent = Instant::now();
        env.rpc.send(&[award], &issuer, &[]).await.unwrap();
        let (name, summary) = events
            .next(Duration::from_secs(10))
            .await
            .expect("an event");
        println!("award {i}: pushed {:?} after it was sent", sent.elapsed());
        assert_eq!(name, "sparks");
        assert_eq!(summary["seq"].as_i64(), Some(i as i64 + 1), "{summary}");
    }
    let last: Value = http
        .get(format!("{base}/v1/wallets/{wallet}/sparks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(last["balance"], 49);

    // A wallet nothing happens to hears nothing after its first event.
    let quiet = Keypair::new().pubkey();
    let response = http
        .get(format!("{base}/v1/wallets/{quiet}/stream"))
        .send()
        .await
        .unwrap();
    let mut quiet_events = Events {
        response,
        buffer: String::new(),
    };
    quiet_events
        .next(Duration::from_secs(5))
        .await
        .expect("the first event");
    let someone = Keypair::new().pubkey();
    let row = BatchRow {
        wallet: someone,
        amount: 1,
        referrer: None,
        creates_account: true,
        prefunded: false,
        pays_referral: false,
    };
    let id = env
        .rpc
        .reserve_award_ids(&issuer.pubkey(), 1, true)
        .await
        .unwrap();
    env.rpc
        .send(
            &[ix::award_batch(
                &issuer.pubkey(),
                Source::Campaign,
                [3; 32],
                id,
                &[row],
            )],
            &issuer,
            &[],
        )
        .await
        .unwrap();
    let heard = quiet_events.next(Duration::from_secs(2)).await;
    assert!(
        heard.is_none(),
        "an unchanged wallet was sent an event: {heard:?}"
    );

    // Bad input is a 4xx with a JSON body, as everywhere.
    let bad = http
        .get(format!("{base}/v1/wallets/not-a-wallet/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.json::<Value>().await.unwrap()["error"].is_string());

    // Shutting down with streams open: they end, and the server stops.
    let open = http
        .get(format!("{base}/v1/wallets/{quiet}/stream"))
        .send()
        .await
        .unwrap();
    let mut open = Events {
        response: open,
        buffer: String::new(),
    };
    open.next(Duration::from_secs(5))
        .await
        .expect("the first event");
    shut_down.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("the server stops with streams open")
        .unwrap()
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(5), open.response.chunk()).await;
    assert!(matches!(ended, Ok(Ok(None))), "the stream ended: {ended:?}");

    stop.send(true).unwrap();
    indexing.await.unwrap().unwrap();
}
