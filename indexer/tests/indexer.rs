//! The indexer end to end: the local chain over JSON-RPC + websocket, a
//! private Postgres, the real source, decoder and store.

mod support;

use std::time::{Duration, Instant};

use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::state::Source;
use sparks_client::rpc::SparksRpc;
use sparks_client::scenario;
use sparks_indexer::indexer::IndexerConfig;
use sparks_indexer::store::{CursorMove, Store, StoreError};
use sparks_indexer::verify::verify;
use sparks_localnet::{Localnet, LocalnetConfig};
use sparks_pglocal::PgServer;
use support::{count, never, run_live, snapshot, wait_for, CuttableProxy, Env};
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instruction_is_mirrored_exactly_once() {
    // Arrange
    let env = Env::start().await;
    let outcome = scenario::every_instruction(&env.rpc)
        .await
        .expect("scenario runs");
    let indexer = env.indexer(IndexerConfig::default());
    // Act
    let progress = indexer.catch_up(&never()).await.expect("catch-up");
    // Assert: projections equal the chain.
    env.assert_mirrors_chain().await;
    // Every event of every transaction, once, in emission order.
    let mut expected_events = 0;
    for signature in &outcome.signatures {
        let on_chain = env.rpc.events_of_signature(signature).await.unwrap();
        let stored: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT payload FROM events WHERE signature = $1 ORDER BY event_index",
        )
        .bind(signature.to_string())
        .fetch_all(env.store.pool())
        .await
        .unwrap();
        let on_chain: Vec<Vec<u8>> = on_chain.iter().map(|e| e.to_log_data()).collect();
        assert_eq!(stored, on_chain, "events of {signature}");
        expected_events += on_chain.len() as u64;
    }
    assert_eq!(progress.events, expected_events);
    let kinds = count(&env.store, "SELECT count(DISTINCT kind) FROM events").await;
    assert_eq!(kinds, 17, "every event kind is exercised");
    // The failed transaction is recorded and skipped.
    let reason: String =
        sqlx::query_scalar("SELECT reason FROM skipped_transactions WHERE signature = $1")
            .bind(outcome.failed.to_string())
            .fetch_one(env.store.pool())
            .await
            .expect("failed transaction recorded");
    assert_eq!(reason, "failed");
    // The ledger tells each wallet's story down to its balance.
    for wallet in &outcome.wallets {
        let account = env.rpc.spark(&wallet.pubkey()).await.unwrap().unwrap();
        let (sum, last): (i64, i64) = sqlx::query_as(
            "SELECT sum(amount)::bigint, (array_agg(balance_after ORDER BY seq DESC))[1] FROM ledger WHERE wallet = $1",
        )
        .bind(wallet.pubkey().to_string())
        .fetch_one(env.store.pool())
        .await
        .unwrap();
        assert_eq!(sum as u64, account.balance);
        assert_eq!(last as u64, account.balance);
    }
    // Indexing again finds nothing new.
    let again = indexer.catch_up(&never()).await.unwrap();
    assert_eq!((again.transactions, again.events), (0, 0));
    // verify compared every kind of account, and sees a tampered field.
    let report = verify(&env.rpc, &env.store).await.unwrap();
    for (table, compared) in &report.compared {
        assert!(*compared > 0, "verify compared no {table}");
    }
    let a = outcome.wallets[0].pubkey().to_string();
    sqlx::query("UPDATE spark_accounts SET balance = balance + 1 WHERE wallet = $1")
        .bind(&a)
        .execute(env.store.pool())
        .await
        .unwrap();
    let report = verify(&env.rpc, &env.store).await.unwrap();
    let fields: Vec<(String, String)> = report
        .differences
        .iter()
        .map(|d| (d.key.clone(), d.field.clone()))
        .collect();
    assert_eq!(
        fields,
        [
            (a.clone(), "balance".to_string()),
            ("config".into(), "outstanding".into())
        ]
    );
}

/// A chain with `transactions` batch awards of 3 new wallets each.
async fn busy_chain(transactions: usize) -> Env {
    let env = Env::start().await;
    let (admin, issuer) = (Keypair::new(), Keypair::new());
    scenario::deploy(&env.rpc, &admin, &issuer).await.unwrap();
    let wallets: Vec<_> = (0..transactions * 3)
        .map(|_| Keypair::new().pubkey())
        .collect();
    scenario::bulk_awards(&env.rpc, &issuer, &wallets, 3, 10)
        .await
        .unwrap();
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_backfill_resumes_and_a_replay_changes_nothing() {
    // Arrange
    let env = busy_chain(40).await;
    let indexer = env.indexer(IndexerConfig {
        batch_size: 4,
        concurrency: 2,
        ..IndexerConfig::default()
    });
    // Act: stop after the first batch (the shutdown flag is already raised).
    let (stop, stopped) = watch::channel(true);
    let first = indexer.catch_up(&stopped).await.unwrap();
    drop(stop);
    // Assert: one batch committed, the cursor on its newest transaction.
    assert_eq!(first.transactions, 4);
    let cursor = env.store.cursor().await.unwrap();
    let newest_stored: String =
        sqlx::query_scalar("SELECT signature FROM transactions ORDER BY slot DESC LIMIT 1")
            .fetch_one(env.store.pool())
            .await
            .unwrap();
    assert_eq!(cursor.signature.as_deref(), Some(newest_stored.as_str()));
    // Act: start again.
    let rest = indexer.catch_up(&never()).await.unwrap();
    // Assert: everything, once (42 transactions: initialize, issuer, 40 batches).
    assert_eq!(first.transactions + rest.transactions, 42);
    assert_eq!(
        count(&env.store, "SELECT count(*) FROM transactions").await,
        42
    );
    assert_eq!(
        count(&env.store, "SELECT count(*) FROM spark_accounts").await,
        120
    );
    env.assert_mirrors_chain().await;
    // Act: replay the whole range.
    let before = snapshot(&env.store).await;
    let slot = env.rpc.client().get_slot().await.unwrap();
    let replay = indexer.backfill_slots(0, slot, &never()).await.unwrap();
    // Assert: nothing new, tables identical.
    assert_eq!((replay.transactions, replay.events), (0, 0));
    sqlx::query("DELETE FROM transactions WHERE signature IN (SELECT signature FROM transactions ORDER BY slot LIMIT 10)")
        .execute(env.store.pool())
        .await
        .unwrap();
    let refetched = indexer.backfill_slots(0, slot, &never()).await.unwrap();
    assert_eq!(
        (refetched.transactions, refetched.events),
        (10, 0),
        "events insert once"
    );
    let after = snapshot(&env.store).await;
    for (table, rows) in &before {
        if *table != "transactions" {
            assert_eq!(rows, &after[table], "table {table} after replay");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffled_batches_converge_to_the_same_state() {
    // Arrange: a chain whose accounts change many times (same wallets awarded repeatedly).
    let env = Env::start().await;
    let outcome = scenario::every_instruction(&env.rpc).await.unwrap();
    let wallets: Vec<_> = outcome.wallets.iter().map(|w| w.pubkey()).collect();
    for round in 0..5u64 {
        let rows = env
            .rpc
            .batch_rows(
                Source::Trading,
                &wallets.iter().map(|w| (*w, 10 + round)).collect::<Vec<_>>(),
            )
            .await
            .unwrap();
        let first = env
            .rpc
            .reserve_award_ids(&outcome.issuer.pubkey(), rows.len() as u64, round == 0)
            .await
            .unwrap();
        env.rpc
            .send(
                &[sparks_client::instructions::award_batch(
                    &outcome.issuer.pubkey(),
                    Source::Trading,
                    [round as u8; 32],
                    first,
                    &rows,
                )],
                &outcome.issuer,
                &[],
            )
            .await
            .unwrap();
    }
    let in_order = env.indexer(IndexerConfig::default());
    in_order.catch_up(&never()).await.unwrap();
    env.assert_mirrors_chain().await;
    let expected = snapshot(&env.store).await;
    // Act: the same transactions into a second database, in shuffled batches.
    let pg = PgServer::start().unwrap();
    let shuffled_store = Store::connect(&pg.url()).await.unwrap();
    shuffled_store.migrate().await.unwrap();
    let mut transactions = env.transactions().await;
    // A fixed permutation (deterministic): reverse, then interleave halves.
    transactions.reverse();
    let half = transactions.len() / 2;
    let (front, back) = transactions.split_at(half);
    let mixed: Vec<_> = back
        .iter()
        .zip(front)
        .flat_map(|(a, b)| [a.clone(), b.clone()])
        .chain(back[front.len()..].iter().cloned())
        .collect();
    assert_eq!(mixed.len(), transactions.len());
    for batch in mixed.chunks(3) {
        shuffled_store.apply(batch, None).await.unwrap();
    }
    // Assert
    let actual = snapshot(&shuffled_store).await;
    for (table, rows) in &expected {
        if !["transactions", "cursor"].contains(table) {
            assert_eq!(rows, &actual[table], "table {table}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_transaction_is_stored_within_a_second() {
    // Arrange: polling is off (60 s), so only the websocket can wake the indexer.
    let env = Env::start().await;
    let (admin, issuer) = (Keypair::new(), Keypair::new());
    scenario::deploy(&env.rpc, &admin, &issuer).await.unwrap();
    let (stop, running) = run_live(&env, env.chain.ws_url().to_owned()).await;
    // Act
    let wallet = Keypair::new().pubkey();
    env.rpc
        .award(&issuer, &wallet, Source::Trading, 42, [1; 32])
        .await
        .unwrap();
    let sent = Instant::now();
    // Assert
    let query = format!("SELECT count(*) FROM spark_accounts WHERE wallet = '{wallet}'");
    wait_for(&env.store, &query, 1, Duration::from_secs(1)).await;
    println!("visible {:?} after confirmation", sent.elapsed());
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_websocket_loses_nothing() {
    // Arrange: the indexer's websocket goes through a proxy we can cut.
    let env = Env::start().await;
    let (admin, issuer) = (Keypair::new(), Keypair::new());
    scenario::deploy(&env.rpc, &admin, &issuer).await.unwrap();
    let proxy = CuttableProxy::start(env.chain.ws_url().to_owned()).await;
    let (stop, running) = run_live(&env, proxy.url.clone()).await;
    let before = Keypair::new().pubkey();
    env.rpc
        .award(&issuer, &before, Source::Trading, 1, [1; 32])
        .await
        .unwrap();
    wait_for(
        &env.store,
        "SELECT count(*) FROM spark_accounts",
        1,
        Duration::from_secs(2),
    )
    .await;
    // Act: cut the websocket and keep it down while awards land.
    proxy.set_up(false);
    let during: Vec<_> = (0..5).map(|_| Keypair::new().pubkey()).collect();
    for wallet in &during {
        env.rpc
            .award(&issuer, wallet, Source::Campaign, 7, [2; 32])
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.set_up(true);
    // Assert: the reconnect's catch-up finds all of them.
    wait_for(
        &env.store,
        "SELECT count(*) FROM spark_accounts",
        6,
        Duration::from_secs(15),
    )
    .await;
    let reconnecting = Instant::now();
    while proxy.connections() < 2 {
        assert!(
            reconnecting.elapsed() < Duration::from_secs(10),
            "the indexer reconnects"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Live again: the next award arrives through the new subscription.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    env.rpc
        .award(
            &issuer,
            &Keypair::new().pubkey(),
            Source::Trading,
            3,
            [3; 32],
        )
        .await
        .unwrap();
    wait_for(
        &env.store,
        "SELECT count(*) FROM spark_accounts",
        7,
        // well under the 60 s poll: only a live subscription delivers it this fast
        Duration::from_secs(5),
    )
    .await;
    env.assert_mirrors_chain().await;
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finality_is_tracked_without_rolling_back_what_the_chain_kept() {
    // Arrange: a clock-driven chain, so the finalized slot moves on its own.
    let chain = Localnet::start(LocalnetConfig {
        block_production: sparks_localnet::BlockProduction::Clock,
        slot_time_ms: 20,
        ..LocalnetConfig::default()
    })
    .unwrap();
    let pg = PgServer::start().unwrap();
    let store = Store::connect(&pg.url()).await.unwrap();
    store.migrate().await.unwrap();
    let env = Env {
        rpc: SparksRpc::new(chain.rpc_url()),
        chain,
        pg,
        store,
    };
    let (admin, issuer) = (Keypair::new(), Keypair::new());
    scenario::deploy(&env.rpc, &admin, &issuer).await.unwrap();
    let indexer = env.indexer(IndexerConfig::default());
    indexer.catch_up(&never()).await.unwrap();
    // Act: wait for the chain to finalize past them.
    let started = Instant::now();
    loop {
        let (_, rolled_back) = indexer.check_finality().await.unwrap();
        assert_eq!(rolled_back, 0, "nothing the chain kept is rolled back");
        if count(
            &env.store,
            "SELECT count(*) FROM transactions WHERE NOT finalized",
        )
        .await
            == 0
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "transactions finalize"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Assert
    let cursor = env.store.cursor().await.unwrap();
    assert!(cursor.finalized_slot > 0);
    env.assert_mirrors_chain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_transaction_leaves_the_state_as_if_never_seen() {
    // Arrange: the scenario's transactions, fetched once.
    let env = Env::start().await;
    let outcome = scenario::every_instruction(&env.rpc).await.unwrap();
    let transactions = env.transactions().await;
    // The last successful transaction (a redemption: perk, claim, account, whitelist, entry).
    let dropped = outcome.signatures.last().unwrap().to_string();
    let without: Vec<_> = transactions
        .iter()
        .filter(|t| t.signature != dropped)
        .cloned()
        .collect();
    assert_eq!(without.len() + 1, transactions.len());
    let pg = PgServer::start().unwrap();
    let expected_store = Store::connect(&pg.url()).await.unwrap();
    expected_store.migrate().await.unwrap();
    expected_store.apply(&without, None).await.unwrap();
    // Act: index everything, then roll the transaction back.
    env.store.apply(&transactions, None).await.unwrap();
    env.store
        .roll_back(std::slice::from_ref(&dropped))
        .await
        .unwrap();
    // Assert
    let (expected, actual) = (snapshot(&expected_store).await, snapshot(&env.store).await);
    for (table, rows) in &expected {
        if !["transactions", "cursor"].contains(table) {
            assert_eq!(rows, &actual[table], "table {table}");
        }
    }
    let gone = count(
        &env.store,
        &format!("SELECT count(*) FROM events WHERE signature = '{dropped}'"),
    )
    .await;
    assert_eq!(gone, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_refused_when_the_cursor_moved_underneath_it() {
    // Arrange: the first half stored with the cursor on its newest transaction.
    let env = busy_chain(6).await;
    let transactions = env.transactions().await;
    let (first, second) = transactions.split_at(4);
    let newest = |batch: &[sparks_indexer::store::IndexedTransaction]| {
        let last = batch.last().unwrap();
        (last.signature.clone(), last.slot)
    };
    let (first_newest, first_slot) = newest(first);
    env.store
        .apply(
            first,
            Some(CursorMove {
                from: None,
                to: &first_newest,
                slot: first_slot,
            }),
        )
        .await
        .unwrap();
    let before = snapshot(&env.store).await;
    // Act: a batch that still believes the cursor is unset (a catch-up that
    // started before the first commit, or after the database lost it).
    let (second_newest, second_slot) = newest(second);
    let stale = env
        .store
        .apply(
            second,
            Some(CursorMove {
                from: None,
                to: &second_newest,
                slot: second_slot,
            }),
        )
        .await;
    // Assert: refused, and none of its rows were written.
    assert!(
        matches!(stale, Err(StoreError::CursorMoved { expected: None })),
        "{stale:?}"
    );
    assert_eq!(snapshot(&env.store).await, before);
    // From the right place it goes through.
    env.store
        .apply(
            second,
            Some(CursorMove {
                from: Some(&first_newest),
                to: &second_newest,
                slot: second_slot,
            }),
        )
        .await
        .unwrap();
    assert_eq!(
        env.store.cursor().await.unwrap().signature,
        Some(second_newest)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_a_transaction_missing_from_the_store_and_a_lost_event() {
    // Arrange: everything indexed; then one transaction's rows vanish
    // (its accounts' projections still right, so only completeness shows
    // it), and one event row of another.
    let env = Env::start().await;
    scenario::every_instruction(&env.rpc).await.unwrap();
    env.indexer(IndexerConfig::default())
        .catch_up(&never())
        .await
        .unwrap();
    env.assert_mirrors_chain().await;
    let with_events: Vec<String> = sqlx::query_scalar(
        "SELECT signature FROM transactions WHERE event_count > 1 ORDER BY slot LIMIT 2",
    )
    .fetch_all(env.store.pool())
    .await
    .unwrap();
    let (gone, short) = (&with_events[0], &with_events[1]);
    for statement in [
        "DELETE FROM ledger WHERE signature = $1",
        "DELETE FROM events WHERE signature = $1",
        "DELETE FROM transactions WHERE signature = $1",
    ] {
        sqlx::query(statement)
            .bind(gone)
            .execute(env.store.pool())
            .await
            .unwrap();
    }
    sqlx::query("DELETE FROM events WHERE signature = $1 AND event_index = 0")
        .bind(short)
        .execute(env.store.pool())
        .await
        .unwrap();
    // Act
    let report = verify(&env.rpc, &env.store).await.unwrap();
    // Assert
    let found: Vec<(&str, String, String)> = report
        .differences
        .iter()
        .map(|d| (d.table, d.key.clone(), d.field.clone()))
        .collect();
    assert!(
        found.contains(&("transactions", gone.clone(), "stored".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&("events", short.clone(), "count".into())),
        "{found:?}"
    );
    assert!(report.compared["transactions"] > 2);
}
