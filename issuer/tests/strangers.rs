//! What strangers can do to the accounts an issuer's awards touch, and
//! what the worker does about it: nothing they do stalls the issuer key.
//! Checked from chain state (the recipients' SparkAccounts, the Issuer's
//! award-id window), against a real local chain and Postgres.

mod support;

use std::time::{Duration, Instant};

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use serde_json::{json, Value};
use solana_address_lookup_table_interface::instruction::{
    create_lookup_table, extend_lookup_table,
};
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks_client::{pda, scenario};
use sparks_issuer::store::Store;
use sparks_issuer::worker::{Worker, WorkerConfig};
use support::{transfer, Service};

/// Waits until no request is pending or sending; the queue by state.
async fn settled(service: &Service, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        let (_, health) = service.get(None, "/health").await;
        let queue = &health["queue"];
        if queue.get("pending").is_none() && queue.get("sending").is_none() {
            return health;
        }
        assert!(
            started.elapsed() < within,
            "requests still open after {within:?}: {health}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_a_stranger_pushed_past_the_trace_limit_is_voided_split_and_lands() {
    // Arrange: 28 new recipients in one batch, as the worker packs them
    // when their addresses are in its lookup table (v0, 64 account locks:
    // 2 trace entries per new account, 59 in all). Then a stranger sends
    // lamports to every one of their SparkAccount addresses: creating a
    // prefunded account takes three system CPIs instead of one, so the same
    // batch needs 115 trace entries (64 allowed) on every send. Before the
    // worker bounded its retries, it sent this batch forever and the
    // issuer's award-id window stopped moving.
    let service = Service::start(false).await;
    let issuer = service.issuer_keypair.insecure_clone();
    let (_, token) = service.token("trading");
    let wallets: Vec<Pubkey> = (0..28).map(|_| Keypair::new().pubkey()).collect();
    let requests: Vec<Value> = wallets
        .iter()
        .enumerate()
        .map(|(n, w)| {
            json!({"key": format!("k-{n}"), "wallet": w.to_string(), "source": "trading",
                   "amount": 100 + n, "reference": "cd".repeat(32)})
        })
        .collect();
    let (status, _) = service.post(&token, &Value::Array(requests)).await;
    assert_eq!(status, 202);

    let store = Store::connect(&service.pg.url()).await.unwrap();
    let batch = service.claim_all_as_one_batch(&store).await;
    assert_eq!(batch.rows.len(), 28);
    let first_award_id = batch.first_award_id;

    // The worker's lookup table, holding the batch's accounts.
    let slot = service.rpc.client().get_slot().await.unwrap();
    let (create, table) = create_lookup_table(issuer.pubkey(), issuer.pubkey(), slot);
    store
        .add_lookup_table(&service.issuer, &table.to_string())
        .await
        .unwrap();
    service.rpc.send(&[create], &issuer, &[]).await.unwrap();
    let mut addresses = vec![
        pda::config(),
        pda::issuer(&issuer.pubkey()),
        pda::event_authority(),
        Pubkey::default(),
        sparks::ID,
    ];
    for wallet in &wallets {
        addresses.extend([*wallet, pda::spark(wallet)]);
    }
    for chunk in addresses.chunks(20) {
        let extend = extend_lookup_table(
            table,
            issuer.pubkey(),
            Some(issuer.pubkey()),
            chunk.to_vec(),
        );
        service.rpc.send(&[extend], &issuer, &[]).await.unwrap();
    }

    // The stranger.
    let stranger = Keypair::new();
    scenario::fund(&service.rpc, &[stranger.pubkey()], 10_000_000_000)
        .await
        .unwrap();
    for chunk in wallets.chunks(10) {
        let transfers: Vec<Instruction> = chunk
            .iter()
            .map(|w| transfer(&stranger.pubkey(), &pda::spark(w), 1_000_000))
            .collect();
        service.rpc.send(&transfers, &stranger, &[]).await.unwrap();
    }
    // The table's extensions are usable from the next slot.
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Act: the worker settles the batch it finds sending.
    let worker = Worker::new(
        store.clone(),
        sparks_client::rpc::SparksRpc::new(service.chain.rpc_url()),
        issuer.insecure_clone(),
        WorkerConfig {
            poll: Duration::from_millis(50),
            ..WorkerConfig::default()
        },
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));
    let health = settled(&service, Duration::from_secs(120)).await;
    stop.send(true).unwrap();
    running.await.unwrap();

    // Assert: every award paid exactly once, from chain state.
    assert_eq!(health["queue"].get("failed"), None, "{health}");
    for (n, wallet) in wallets.iter().enumerate() {
        let account = service.rpc.spark(wallet).await.unwrap().expect("paid");
        assert_eq!(account.balance, 100 + n as u64, "{wallet}");
    }
    // The first batch's ids were voided, the requests sent again in smaller
    // batches under new ids, and the window's floor moved past them all.
    let state: String = sqlx::query_scalar("SELECT state FROM issuer.award_batches WHERE id = $1")
        .bind(batch.id)
        .fetch_one(&sqlx::PgPool::connect(&service.pg.url()).await.unwrap())
        .await
        .unwrap();
    assert_eq!(state, "voided");
    let on_chain = service.rpc.issuer(&issuer.pubkey()).await.unwrap().unwrap();
    assert!(
        on_chain.award_id_floor >= first_award_id + 2 * 28,
        "floor {} (the voided batch's ids start at {first_award_id})",
        on_chain.award_id_floor
    );
    assert_eq!(health["batches"]["sending"], json!(0), "{health}");
}

/// Wallets whose SparkAccount PDA takes the most bump tries found in a
/// minute of search on this 2-core machine
/// (`cargo run --release -p sparks-client --example grind_bumps -- 60`:
/// 12,987,000 wallets searched on 2 threads, 2026-12-07).
const GROUND_WALLETS: [&str; 2] = [
    "JCqqWdUckZ7CkJ9arVHVngHKK1bzErvPHK7tpgpWX3PB", // 24 tries
    "CxJJrW6DSwDzt7LuYmv43K1nwk2EjCHHyVCLqv4B4A1s", // 23 tries
];

/// A number from the environment, or `default`.
fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_prefunding_recipients_and_ground_wallets_never_stall_the_key() {
    // Arrange: awards to recipients at random, some of them wallets whose
    // PDA takes the most bump tries a minute of search found, while a
    // stranger sends lamports to new recipients' SparkAccount addresses at
    // random moments. `SPARKS_STRANGER_AWARDS` / `_RECIPIENTS` (default 400
    // to 100; the run: 2,000 to 500).
    use rand::{Rng, SeedableRng};
    let awards = env_or("SPARKS_STRANGER_AWARDS", 400);
    let recipients = env_or("SPARKS_STRANGER_RECIPIENTS", 100);
    let service = Service::start(true).await;
    let issuer = service.issuer_keypair.pubkey();
    let (_, token) = service.token("trading");
    let mut wallets: Vec<Pubkey> = GROUND_WALLETS.iter().map(|w| w.parse().unwrap()).collect();
    wallets.extend((wallets.len()..recipients).map(|_| Keypair::new().pubkey()));
    let floor_before = service
        .rpc
        .issuer(&issuer)
        .await
        .unwrap()
        .unwrap()
        .award_id_floor;

    let stranger = Keypair::new();
    scenario::fund(&service.rpc, &[stranger.pubkey()], 1_000_000_000_000)
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let prefunding = {
        let rpc = sparks_client::rpc::SparksRpc::new(service.chain.rpc_url());
        let wallets = wallets.clone();
        tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(11);
            let mut prefunded = 0usize;
            while !*stopped.borrow() {
                // A few new recipients' addresses, at a random moment.
                let picked: Vec<Pubkey> = (0..10)
                    .map(|_| pda::spark(&wallets[rng.gen_range(0..wallets.len())]))
                    .collect();
                let accounts = rpc.client().get_multiple_accounts(&picked).await;
                let new: Vec<Instruction> = picked
                    .iter()
                    .zip(accounts.unwrap_or_default())
                    .filter(|(_, account)| account.is_none())
                    .map(|(address, _)| transfer(&stranger.pubkey(), address, 1_000_000))
                    .collect();
                if !new.is_empty() && rpc.send(&new, &stranger, &[]).await.is_ok() {
                    prefunded += new.len();
                }
                let pause = rng.gen_range(0..10);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            prefunded
        })
    };

    // Act: the app's awards, 20 per call.
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let requests: Vec<(String, Pubkey, u64)> = (0..awards)
        .map(|n| {
            let to = wallets[rng.gen_range(0..wallets.len())];
            (format!("s-{n}"), to, 1 + rng.gen_range(0..1_000))
        })
        .collect();
    let started = Instant::now();
    for chunk in requests.chunks(20) {
        let body: Vec<Value> = chunk
            .iter()
            .map(|(key, to, amount)| {
                json!({"key": key, "wallet": to.to_string(), "source": "trading",
                       "amount": amount})
            })
            .collect();
        let (status, answer) = service.post(&token, &Value::Array(body)).await;
        assert_eq!(status, 202, "{answer}");
        // As an app's traffic comes: the stranger acts in between.
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..30))).await;
    }
    let health = settled(&service, Duration::from_secs(300)).await;
    let settle_time = started.elapsed();
    stop.send(true).unwrap();
    let prefunded = prefunding.await.unwrap();

    // Assert: each request finalized or failed with a reason; what paid is
    // exactly what the finalized requests say, from chain state.
    let pool = sqlx::PgPool::connect(&service.pg.url()).await.unwrap();
    let rows: Vec<(String, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT wallet, state, amount, failure FROM issuer.award_requests ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), awards);
    let mut paid: std::collections::HashMap<String, u64> = Default::default();
    let mut failed = 0;
    for (wallet, state, amount, failure) in &rows {
        match state.as_str() {
            "landed" | "finalized" => *paid.entry(wallet.clone()).or_default() += *amount as u64,
            "failed" => {
                failed += 1;
                assert!(failure.as_deref().is_some_and(|f| !f.is_empty()));
            }
            other => panic!("a request ended {other}"),
        }
    }
    for wallet in &wallets {
        let balance = service
            .rpc
            .spark(wallet)
            .await
            .unwrap()
            .map_or(0, |a| a.balance);
        assert_eq!(
            balance,
            paid.get(&wallet.to_string()).copied().unwrap_or(0),
            "{wallet}: paid once per finalized request, never more"
        );
    }
    let batches: Vec<(String, i64)> = sqlx::query_as(
        "SELECT state, count(*) FROM issuer.award_batches GROUP BY state ORDER BY state",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    println!(
        "{awards} awards to {} recipients settled in {:.1} s: {failed} failed; \
         {prefunded} addresses prefunded by the stranger; batches by state {batches:?}",
        wallets.len(),
        settle_time.as_secs_f64()
    );
    // The key keeps awarding, and its window's floor moved over every id.
    let after: Vec<Value> = (0..5)
        .map(|n| {
            json!({"key": format!("after-{n}"), "wallet": wallets[n].to_string(),
                        "source": "trading", "amount": 1})
        })
        .collect();
    assert_eq!(service.post(&token, &Value::Array(after)).await.0, 202);
    settled(&service, Duration::from_secs(60)).await;
    let on_chain = service.rpc.issuer(&issuer).await.unwrap().unwrap();
    assert!(on_chain.award_id_floor > floor_before);
    assert_eq!(
        on_chain.award_id_floor,
        on_chain.next_award_id(),
        "every id the worker gave out is used: none holds the floor"
    );
    assert_eq!(health["batches"]["voiding"], json!(0), "{health}");
}
