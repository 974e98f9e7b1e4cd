//! What strangers can do to the accounts an issuer's awards touch, and
//! what the worker does about it: nothing they do stalls the issuer key.
//! Checked from chain state (the recipients' SparkAccounts, the Issuer's
//! award-id window), against a real local chain and Postgres.

mod support;

use std::time::{Duration, Instant};

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::{AccountMeta, Instruction};
use serde_json::{json, Value};
use solana_address_lookup_table_interface::instruction::{
    create_lookup_table, extend_lookup_table,
};
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks_client::{pda, scenario};
use sparks_issuer::store::batches::PlannedBatch;
use sparks_issuer::store::Store;
use sparks_issuer::worker::{Worker, WorkerConfig};
use support::Service;

/// A system-program transfer (no dependency on the interface crate for one
/// instruction).
fn transfer(from: &Pubkey, to: &Pubkey, lamports: u64) -> Instruction {
    let mut data = vec![2, 0, 0, 0];
    data.extend_from_slice(&lamports.to_le_bytes());
    Instruction {
        program_id: Pubkey::default(),
        accounts: vec![AccountMeta::new(*from, true), AccountMeta::new(*to, false)],
        data,
    }
}

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
    let pending = store.pending(&service.issuer, 100).await.unwrap();
    assert_eq!(pending.len(), 28);
    let on_chain = service.rpc.issuer(&issuer.pubkey()).await.unwrap().unwrap();
    let batches = store
        .assign(
            &service.issuer,
            on_chain.next_award_id(),
            &[PlannedBatch {
                source: "trading".into(),
                reference: pending[0].reference,
                requests: pending.iter().map(|r| r.id).collect(),
            }],
        )
        .await
        .unwrap();
    let first_award_id = batches[0].first_award_id;

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
        .bind(batches[0].id)
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
