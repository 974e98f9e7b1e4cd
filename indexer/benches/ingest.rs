//! Store-path throughput: decoded events of real program transactions
//! (the decoder fixtures: an award, an award paying a referral share, an
//! example-mint whitelist consumption, and 6-row batch awards built from the
//! award), replicated with fresh signatures and a pool of wallets whose
//! accounts change many times, committed through the indexer's
//! `store::Pipeline` (events + projections + ledger + cursor, one database
//! transaction per batch, `depth` of them in flight) into
//! a private Postgres with durable commits; then the same rows with a raw
//! `COPY` into the same tables of a second database, for the ratio; and
//! where the store path's database time went (pg_stat_statements).
//!
//! With `subscriptions` = 1, one webhook subscription for every event type
//! is added first: the outbox's cost on ingest (compare events/s with a run
//! without), then the delivery worker sends everything to a local receiver
//! (deliveries/s). With 2, the worker delivers during the store path (both
//! rates in the same run, sharing the machine).
//!
//! cargo bench -p sparks-indexer --bench ingest -- [transactions] [batch] [wallets] [depth] [subscriptions]

use std::collections::HashMap;
use std::time::Instant;

use anchor_lang::prelude::Pubkey;
use solana_transaction_status_client_types::EncodedConfirmedTransactionWithStatusMeta;
use sparks::state::SparkAccount;
use sparks_client::events::SparksEvent;
use sparks_indexer::decoder::{decode, DecodedEvent};
use sparks_indexer::store::rows::{BatchRows, Latest};
use sparks_indexer::store::{IndexedTransaction, Pipeline, Store};

mod common;

fn fixture(name: &str) -> Vec<SparksEvent> {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture");
    let tx: EncodedConfirmedTransactionWithStatusMeta =
        serde_json::from_str(&text).expect("fixture json");
    decode(&tx, &sparks::ID)
        .events
        .into_iter()
        .map(|e| e.event)
        .collect()
}

/// Per-wallet state the generator advances, so every event is a valid next state.
#[derive(Default)]
struct Wallets {
    seq: HashMap<Pubkey, (u64, u64)>,
}

impl Wallets {
    fn next(&mut self, wallet: Pubkey, delta: u64) -> (u64, u64) {
        let entry = self.seq.entry(wallet).or_default();
        entry.0 += 1;
        entry.1 += delta;
        *entry
    }
}

fn rewrite(event: &SparksEvent, wallet: Pubkey, wallets: &mut Wallets) -> SparksEvent {
    let mut event = event.clone();
    match &mut event {
        SparksEvent::SparksAwarded(e) => {
            let (seq, balance) = wallets.next(wallet, e.amount);
            e.account.owner = wallet;
            e.account.seq = seq;
            e.account.balance = balance;
            e.account.lifetime_earned = balance;
        }
        SparksEvent::WhitelistSpotConsumed(e) => {
            let (seq, _) = wallets.next(wallet, 0);
            e.entry.wallet = wallet;
            e.entry.seq = seq;
        }
        _ => {}
    }
    event
}

fn signature(n: u64) -> String {
    let mut bytes = [7u8; 64];
    bytes[..8].copy_from_slice(&n.to_le_bytes());
    bs58::encode(bytes).into_string()
}

fn main() {
    let transactions = common::arg(0, 100_000);
    let batch = common::arg(1, 1_000) as usize;
    let pool = common::arg(2, 20_000);
    let depth = common::arg(3, 2) as usize;
    let subscribed = common::arg(4, 0);

    let award = fixture("award");
    let referral = fixture("award_with_referral");
    let mint = fixture("example_mint");
    let batch_award: Vec<SparksEvent> = std::iter::repeat_n(award[0].clone(), 6).collect();
    let wallets_pool: Vec<Pubkey> = (0..pool).map(|_| Pubkey::new_unique()).collect();
    let mut wallets = Wallets::default();
    let mut next_wallet = 0usize;
    let mut generated = Vec::with_capacity(transactions as usize);
    for n in 0..transactions {
        // Mix: 55% awards, 25% awards with a referral share, 15% 6-row batches, 5% mints.
        let template = match n % 20 {
            0..=10 => &award,
            11..=15 => &referral,
            16..=18 => &batch_award,
            _ => &mint,
        };
        let events = template
            .iter()
            .enumerate()
            .map(|(index, event)| {
                let wallet = wallets_pool[next_wallet % wallets_pool.len()];
                next_wallet += 1;
                DecodedEvent {
                    index: index as u32,
                    origin: sparks_indexer::decoder::Origin::InnerInstruction,
                    event: rewrite(event, wallet, &mut wallets),
                }
            })
            .collect();
        generated.push(IndexedTransaction {
            signature: signature(n),
            slot: 1_000 + n,
            block_time: Some(1_760_000_000 + n as i64),
            finalized: false,
            events,
            problems: Vec::new(),
        });
    }
    let events: usize = generated.iter().map(|t| t.events.len()).sum();
    // The CPU share: turning decoded transactions into rows, no database.
    let started = Instant::now();
    for chunk in generated.chunks(batch) {
        std::hint::black_box(sparks_indexer::store::BatchRows::build(chunk).unwrap());
    }
    let build_secs = started.elapsed().as_secs_f64();
    println!(
        "rows only (no database): {build_secs:.2} s = {:.0} events/s",
        events as f64 / build_secs
    );

    let pg = common::durable_postgres(&[("shared_preload_libraries", "pg_stat_statements")]);
    let store_db = pg.create_database("store_path").unwrap();
    let copy_db = pg.create_database("copy").unwrap();
    common::runtime().block_on(async {
        // 1. The store path, batch by batch, as the indexer commits.
        let store = common::migrated_store(&store_db).await;
        sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query("SELECT pg_stat_statements_reset()")
            .execute(store.pool())
            .await
            .unwrap();
        let received = (subscribed > 0).then(|| std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)));
        let mut stop = None;
        if let Some(received) = &received {
            subscribe(&store, received.clone()).await;
            if subscribed == 2 {
                stop = Some(deliver(&store));
            }
        }
        let started = Instant::now();
        let mut pipeline = Pipeline::new(store.clone(), depth, Some(None));
        for chunk in generated.chunks(batch) {
            let newest = chunk.last().unwrap();
            let newest = (newest.signature.clone(), newest.slot);
            pipeline.push(chunk.to_vec(), newest).await.unwrap();
        }
        pipeline.finish().await.unwrap();
        let store_secs = started.elapsed().as_secs_f64();
        println!(
            "store path: {transactions} transactions, {events} events, batch {batch}, {pool} wallets, \
             {depth} commits in flight, durable commits: {store_secs:.2} s = {:.0} events/s ({:.0} tx/s)",
            events as f64 / store_secs,
            transactions as f64 / store_secs
        );
        if let Some(received) = received {
            // One delivery per notifiable event: the subscription wants every type.
            let deliveries = generated
                .iter()
                .flat_map(|t| &t.events)
                .filter(|e| sparks_indexer::webhooks::events::is_notifiable(&e.event))
                .count() as i64;
            let during = received.load(std::sync::atomic::Ordering::SeqCst);
            let delivering = Instant::now();
            let stop = stop.unwrap_or_else(|| deliver(&store));
            while (received.load(std::sync::atomic::Ordering::SeqCst) as i64) < deliveries {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            let secs = delivering.elapsed().as_secs_f64();
            let _ = stop.send(true);
            println!(
                "webhooks: 1 subscription to every event type, {deliveries} deliveries (one outbox row \
                 per batch, written with its events); {during} delivered during the store path ({:.0}/s), the rest in {secs:.2} s \
                 ({:.0}/s)",
                during as f64 / store_secs,
                (deliveries as f64 - during as f64) / secs
            );
        }
        print_breakdown(&store).await;

        // 2. The same rows with COPY into the same (empty, indexed) tables:
        // append-only tables in full, each account's final state once.
        let copy = common::migrated_store(&copy_db).await;
        let rows: Vec<BatchRows> = generated
            .chunks(batch)
            .map(|chunk| BatchRows::build(chunk).unwrap())
            .collect();
        let accounts = BatchRows::build(&generated).unwrap().spark_accounts;
        // COPY's input is prepared before the clock starts: only the
        // database's share is timed.
        let mut copies: Vec<(&str, String)> = rows.iter().flat_map(copy_rows).collect();
        copies.push(copy_accounts(&accounts));
        let started = Instant::now();
        let mut db = copy.pool().begin().await.unwrap();
        for (statement, data) in &copies {
            let mut copy = db.copy_in_raw(statement).await.unwrap();
            copy.send(data.as_bytes()).await.unwrap();
            copy.finish().await.unwrap();
        }
        db.commit().await.unwrap();
        let copy_secs = started.elapsed().as_secs_f64();
        println!(
            "raw COPY of the same rows: {copy_secs:.2} s = {:.0} events/s",
            events as f64 / copy_secs
        );
        println!(
            "store path / COPY: {:.0}%",
            100.0 * copy_secs / store_secs
        );
    });
}

/// A receiver answering 204 on a local port (counting into `received`),
/// and a subscription of it to every event type.
async fn subscribe(store: &Store, received: std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use sparks_indexer::webhooks::subscriptions::{self, NewSubscription};
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move || {
            let received = received.clone();
            async move {
                received.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let subscription = NewSubscription {
        url,
        event_types: sparks_indexer::webhooks::events::EVENT_TYPES
            .iter()
            .map(|t| t.to_string())
            .collect(),
        perk_kinds: Vec::new(),
        perk_ids: Vec::new(),
        commitment: "confirmed".into(),
        retry_for: std::time::Duration::from_secs(86_400),
        max_in_flight: 32,
    };
    subscriptions::add(store.pool(), &subscription)
        .await
        .unwrap();
}

/// The delivery worker, running until the returned switch is set.
fn deliver(store: &Store) -> tokio::sync::watch::Sender<bool> {
    use sparks_indexer::webhooks::worker::{Deliverer, DeliveryConfig};
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let deliverer = Deliverer::new(store.pool().clone(), DeliveryConfig::default()).unwrap();
    tokio::spawn(deliverer.run(shutdown));
    stop
}

/// Where the store path's database time went (pg_stat_statements).
async fn print_breakdown(store: &Store) {
    let rows: Vec<(String, f64, i64)> = sqlx::query_as(
        r"SELECT left(regexp_replace(query, '\s+', ' ', 'g'), 60), total_exec_time, rows
         FROM pg_stat_statements WHERE query ~* '^\s*(insert|update|delete|with)'
         ORDER BY total_exec_time DESC LIMIT 8",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    for (query, ms, count) in rows {
        println!("  {ms:>9.0} ms {count:>9} rows  {query}");
    }
}

/// COPY text format: `\N` for NULL, `\\x..` for bytea; our text has no tabs,
/// newlines or backslashes (base58, kinds, URIs of fixtures).
fn field(out: &mut String, value: Option<&str>) {
    match value {
        Some(v) => out.push_str(v),
        None => out.push_str("\\N"),
    }
}

fn bytes(value: &[u8]) -> String {
    let mut text = String::from("\\\\x");
    for b in value {
        text.push_str(&format!("{b:02x}"));
    }
    text
}

fn copy_text(lines: Vec<Vec<Option<String>>>) -> String {
    let mut data = String::new();
    for line in lines {
        for (i, value) in line.iter().enumerate() {
            if i > 0 {
                data.push('\t');
            }
            field(&mut data, value.as_deref());
        }
        data.push('\n');
    }
    data
}

fn some<T: ToString>(value: T) -> Option<String> {
    Some(value.to_string())
}

/// COPY statements and their input for one batch's append-only rows.
fn copy_rows(rows: &BatchRows) -> Vec<(&'static str, String)> {
    let t = &rows.transactions;
    let lines = (0..t.signature.len())
        .map(|i| {
            vec![
                some(&t.signature[i]),
                some(t.slot[i]),
                t.block_time[i].map(|v| v.to_string()),
                some(t.failed[i]),
                some(t.event_count[i]),
                some(t.finalized[i]),
            ]
        })
        .collect();
    let transactions = (
        "COPY transactions (signature, slot, block_time, failed, event_count, finalized) FROM STDIN",
        copy_text(lines),
    );
    let e = &rows.events;
    let lines = (0..e.signature.len())
        .map(|i| {
            vec![
                some(&e.signature[i]),
                some(e.event_index[i]),
                some(e.slot[i]),
                e.block_time[i].map(|v| v.to_string()),
                some(&e.kind[i]),
                e.wallet[i].clone(),
                some(&e.origin[i]),
                Some(bytes(&e.payload[i])),
            ]
        })
        .collect();
    let events = (
        "COPY events (signature, event_index, slot, block_time, kind, wallet, origin, payload) FROM STDIN",
        copy_text(lines),
    );
    let l = &rows.ledger;
    let lines = (0..l.signature.len())
        .map(|i| {
            vec![
                some(&l.signature[i]),
                some(l.event_index[i]),
                some(&l.wallet[i]),
                some(l.seq[i]),
                some(l.slot[i]),
                l.block_time[i].map(|v| v.to_string()),
                some(&l.kind[i]),
                l.source[i].map(|v| v.to_string()),
                some(l.amount[i]),
                some(l.balance_after[i]),
                l.issuer[i].clone(),
                l.reference[i].as_deref().map(bytes),
                l.counterparty[i].clone(),
            ]
        })
        .collect();
    let ledger = (
        "COPY ledger (signature, event_index, wallet, seq, slot, block_time, kind, source, amount, \
         balance_after, issuer, reference, counterparty) FROM STDIN",
        copy_text(lines),
    );
    vec![transactions, events, ledger]
}

fn copy_accounts(accounts: &Latest<Pubkey, SparkAccount>) -> (&'static str, String) {
    let lines = accounts
        .iter()
        .map(|(owner, a, seen)| {
            vec![
                some(owner),
                some(a.balance),
                some(a.lifetime_earned),
                some(a.lifetime_spent),
                some(a.lifetime_revoked),
                some(a.earned_by_source[0]),
                some(a.earned_by_source[1]),
                some(a.earned_by_source[2]),
                some(a.earned_by_source[3]),
                a.referrer.as_ref().map(ToString::to_string),
                some(a.invitee_count),
                some(a.first_subscription_rewarded),
                some(a.seq),
                some(seen.slot),
                seen.block_time.map(|v| v.to_string()),
            ]
        })
        .collect();
    (
        "COPY spark_accounts (wallet, balance, lifetime_earned, lifetime_spent, lifetime_revoked, \
         earned_trading, earned_subscription, earned_campaign, earned_referral, referrer, \
         invitee_count, first_subscription_rewarded, seq, slot, block_time) FROM STDIN",
        copy_text(lines),
    )
}
