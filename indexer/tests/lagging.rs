//! The indexer against a provider that answers successfully with stale
//! data: nodes a few slots behind one URL (see `support::lagging`). Errors
//! are in `faults.rs`; here every answer is a 200 with a plausible body.
//!
//! `SPARKS_LAG_SEED=<n>` replays the random suite; `SPARKS_LAG_TRANSACTIONS`
//! sizes it (docs/RELIABILITY.md gives the on-demand size).

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sparks_indexer::indexer::{Indexer, IndexerConfig, IndexerError};
use sparks_indexer::source::{Source as ChainSource, SourceConfig, SourceError};
use sparks_indexer::store::Store;
use sparks_localnet::{BlockProduction, LocalnetConfig};
use support::faults::FaultProxy;
use support::lagging::{LagCounts, LaggingProxy};
use support::{award_more, awards_on_chain, count, logs, never, snapshot, Env};
use tokio::sync::watch;

fn seed() -> u64 {
    support::seed_from("SPARKS_LAG_SEED")
}

/// An indexer whose every RPC call goes through `rpc_url`.
fn indexer_via(rpc_url: &str, store: Store, page_size: usize, retry_for: Duration) -> Indexer {
    let mut source = SourceConfig::new(rpc_url, sparks::ID);
    // Short, so a request the fault proxy never answers is retried soon.
    source.request_timeout = Duration::from_secs(2);
    source.retry_for = retry_for;
    source.page_size = page_size;
    Indexer::new(
        ChainSource::new(source),
        store,
        IndexerConfig {
            concurrency: 8,
            batch_size: 100,
            poll_interval: Duration::from_millis(300),
            finality_interval: Duration::from_millis(200),
            ..IndexerConfig::default()
        },
    )
}

/// The slots of the chain's signatures the store lacks, and the cursor's.
async fn missing(env: &Env) -> String {
    let mut slots = Vec::new();
    for (signature, slot) in env.chain_signatures().await {
        let known = count(
            &env.store,
            &format!("SELECT count(*) FROM transactions WHERE signature = '{signature}'"),
        )
        .await;
        if known == 0 {
            slots.push(slot);
        }
    }
    let cursor = env.store.cursor().await.unwrap();
    format!(
        "missing at slots {slots:?}; cursor at slot {} (finalized {})",
        cursor.slot, cursor.finalized_slot
    )
}

async fn stored(store: &Store) -> usize {
    count(store, "SELECT count(*) FROM transactions").await as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_empty_page_during_a_long_backfill_skips_nothing() {
    // Arrange: the field report. More than one listing page of program
    // transactions, and one `before` page answered `[]` by a node behind.
    logs();
    let env = Env::start().await;
    awards_on_chain(&env, 1_300).await;
    let on_chain = env.signature_count().await;
    assert!(on_chain > 1_000, "{on_chain} transactions: two pages");
    let proxy = LaggingProxy::start(env.chain.rpc_url(), 0.0, 0, 1).await;
    proxy.shared.empty_before_pages.store(1, Ordering::SeqCst);
    let indexer = indexer_via(
        &proxy.url,
        env.store.clone(),
        1_000,
        Duration::from_secs(20),
    );
    // Act
    indexer.catch_up(&never()).await.expect("backfill");
    // Assert: the empty page was served, and taken for nothing.
    assert_eq!(LagCounts::get(&proxy.counts().scripted_empty_pages), 1);
    assert_eq!(
        stored(&env.store).await,
        on_chain,
        "every transaction stored"
    );
    env.assert_mirrors_chain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_page_is_not_taken_for_the_end_of_history() {
    // Arrange: three pages of history (pages of 25), and a provider whose
    // first two listings come back with half a page each, as agave's do
    // when its long-term store fails. Found by the random suite: a short
    // first page from the real node ended a backfill 45 transactions early.
    logs();
    let env = Env::start().await;
    awards_on_chain(&env, 60).await;
    let on_chain = env.signature_count().await;
    let proxy = LaggingProxy::start(env.chain.rpc_url(), 0.0, 0, 6).await;
    proxy.shared.short_pages.store(2, Ordering::SeqCst);
    let indexer = indexer_via(&proxy.url, env.store.clone(), 25, Duration::from_secs(20));
    // Act
    indexer.catch_up(&never()).await.expect("backfill");
    // Assert
    assert_eq!(
        stored(&env.store).await,
        on_chain,
        "every transaction stored"
    );
    assert_eq!(LagCounts::get(&proxy.counts().scripted_short_pages), 2);
    env.assert_mirrors_chain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_pages_during_a_catch_up_are_asked_again_not_taken_for_the_cursor() {
    // Arrange: a stored cursor, then four more pages of transactions (pages
    // of 25), and the next three `before` pages answered `[]`.
    logs();
    let env = Env::start().await;
    let issuer = awards_on_chain(&env, 10).await;
    env.indexer(IndexerConfig::default())
        .catch_up(&never())
        .await
        .unwrap();
    let cursor = env.store.cursor().await.unwrap();
    award_more(&env, &issuer, 100, Duration::ZERO).await;
    let proxy = LaggingProxy::start(env.chain.rpc_url(), 0.0, 0, 2).await;
    proxy.shared.empty_before_pages.store(3, Ordering::SeqCst);
    let indexer = indexer_via(&proxy.url, env.store.clone(), 25, Duration::from_secs(20));
    // Act
    indexer.catch_up(&never()).await.expect("catch-up");
    // Assert
    assert_eq!(LagCounts::get(&proxy.counts().scripted_empty_pages), 3);
    assert_eq!(stored(&env.store).await, env.signature_count().await);
    assert!(env.store.cursor().await.unwrap().slot > cursor.slot);
    env.assert_mirrors_chain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_that_never_reaches_the_cursor_stops_with_a_clear_error_and_moves_nothing() {
    // Arrange: a stored cursor, more than a page after it, and a provider
    // whose every `before` page is empty.
    logs();
    let env = Env::start().await;
    let issuer = awards_on_chain(&env, 5).await;
    env.indexer(IndexerConfig::default())
        .catch_up(&never())
        .await
        .unwrap();
    award_more(&env, &issuer, 40, Duration::ZERO).await;
    let before = snapshot(&env.store).await;
    let proxy = LaggingProxy::start(env.chain.rpc_url(), 0.0, 0, 3).await;
    proxy
        .shared
        .empty_before_pages
        .store(u64::MAX, Ordering::SeqCst);
    let indexer = indexer_via(&proxy.url, env.store.clone(), 25, Duration::from_secs(2));
    // Act
    let outcome = indexer.catch_up(&never()).await;
    // Assert: an error that names the cursor, and nothing written.
    let error = outcome.expect_err("the listing cannot prove it reached the cursor");
    assert!(
        matches!(
            error,
            IndexerError::Source(SourceError::ListingIncomplete { .. })
        ),
        "{error}"
    );
    let cursor = before["cursor"][0].clone();
    assert!(
        error.to_string().contains("did not reach the cursor"),
        "{error}"
    );
    assert!(!error.is_fatal(), "a later catch-up may succeed");
    assert_eq!(snapshot(&env.store).await, before, "cursor {cursor}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_older_than_the_nodes_ledger_stops_the_indexer_with_what_to_do() {
    // Arrange: a stored cursor, then more than a page of transactions, and
    // a node that pruned its ledger past the cursor: its listing ends
    // before reaching it, and it says its ledger starts after it.
    logs();
    let env = Env::start().await;
    let issuer = awards_on_chain(&env, 5).await;
    env.indexer(IndexerConfig::default())
        .catch_up(&never())
        .await
        .unwrap();
    let cursor = env.store.cursor().await.unwrap();
    award_more(&env, &issuer, 40, Duration::ZERO).await;
    let stored_then = stored(&env.store).await;
    let proxy = LaggingProxy::start(env.chain.rpc_url(), 0.0, 0, 9).await;
    proxy
        .shared
        .empty_before_pages
        .store(u64::MAX, Ordering::SeqCst);
    proxy
        .shared
        .first_available_block
        .store(cursor.slot + 1, Ordering::SeqCst);
    let indexer = indexer_via(&proxy.url, env.store.clone(), 25, Duration::from_secs(2));
    // Act: `run`, which retries what may pass and stops on what cannot.
    let (_stop, shutdown) = watch::channel(false);
    let outcome = tokio::time::timeout(Duration::from_secs(60), indexer.run(None, shutdown))
        .await
        .expect("run stops by itself");
    // Assert: stopped with the slots and what to do; nothing written.
    let error = outcome.expect_err("the cursor is before the node's ledger");
    assert!(
        matches!(
            error,
            IndexerError::Source(SourceError::CursorBeforeLedger { slot, first_available })
                if slot == cursor.slot && first_available == cursor.slot + 1
        ),
        "{error}"
    );
    assert!(error.is_fatal());
    let message = error.to_string();
    assert!(
        message.contains("archival") && message.contains("backfill --from"),
        "{message}"
    );
    // Nothing indexed past the cursor (`run`'s finality check may have
    // marked what was stored final meanwhile).
    assert_eq!(stored(&env.store).await, stored_then);
    assert_eq!(
        env.store.cursor().await.unwrap().signature,
        cursor.signature
    );
}

/// A clocked chain with 100 ms slots: what it lands is final only ~3 s
/// later, so a test has stored, not yet final transactions to work on even
/// when the machine is busy.
async fn slow_finality_env() -> Env {
    Env::start_with(LocalnetConfig {
        block_production: BlockProduction::Clock,
        slot_time_ms: 100,
        ..LocalnetConfig::default()
    })
    .await
}

/// Waits (polling `check_finality` through `indexer`) until the chain has
/// finalized past every stored transaction, then `rounds` more checks.
async fn finality_rounds(env: &Env, indexer: &Indexer, rounds: usize) -> usize {
    let newest: i64 = count(
        &env.store,
        "SELECT coalesce(max(slot), 0) FROM transactions",
    )
    .await;
    let direct = env.indexer(IndexerConfig::default());
    let started = Instant::now();
    let mut rolled_back = 0;
    let mut after = 0;
    while after < rounds {
        let (_, dropped) = indexer.check_finality().await.unwrap();
        rolled_back += dropped;
        if direct.source().finalized_slot().await.unwrap() > newest as u64 {
            after += 1;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the chain finalizes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rolled_back
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_statuses_and_transactions_roll_back_nothing() {
    // Arrange: the second field report. Landed transactions, stored but not
    // yet final; then a provider answering getSignatureStatuses with nulls
    // and getTransaction at finalized with null.
    logs();
    let env = slow_finality_env().await;
    awards_on_chain(&env, 30).await;
    env.indexer(IndexerConfig::default())
        .catch_up(&never())
        .await
        .unwrap();
    let landed = stored(&env.store).await;
    assert!(
        count(
            &env.store,
            "SELECT count(*) FROM transactions WHERE NOT finalized"
        )
        .await
            > 0,
        "stored transactions not yet final"
    );
    let proxy = LaggingProxy::start(env.chain.rpc_url(), 0.0, 0, 4).await;
    proxy.shared.null_statuses.store(true, Ordering::SeqCst);
    let indexer = indexer_via(&proxy.url, env.store.clone(), 1_000, Duration::from_secs(5));
    // Act
    let rolled_back = finality_rounds(&env, &indexer, 3).await;
    // Assert: nothing rolled back; the finalized blocks proved them final.
    assert!(LagCounts::get(&proxy.counts().scripted_null_statuses) > 0);
    assert_eq!(rolled_back, 0);
    assert_eq!(stored(&env.store).await, landed);
    assert_eq!(
        count(
            &env.store,
            "SELECT count(*) FROM transactions WHERE NOT finalized"
        )
        .await,
        0
    );
    env.assert_mirrors_chain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fate_nobody_can_prove_is_kept_and_never_reported_final() {
    // Arrange: null statuses and no block available either.
    logs();
    let env = slow_finality_env().await;
    awards_on_chain(&env, 10).await;
    env.indexer(IndexerConfig::default())
        .catch_up(&never())
        .await
        .unwrap();
    let landed = stored(&env.store).await;
    let oldest_open: i64 = count(
        &env.store,
        "SELECT coalesce(min(slot), -1) FROM transactions WHERE NOT finalized",
    )
    .await;
    assert!(oldest_open >= 0, "stored transactions not yet final");
    let proxy = LaggingProxy::start(env.chain.rpc_url(), 0.0, 0, 5).await;
    proxy.shared.null_statuses.store(true, Ordering::SeqCst);
    proxy
        .shared
        .unavailable_blocks
        .store(true, Ordering::SeqCst);
    let indexer = indexer_via(&proxy.url, env.store.clone(), 1_000, Duration::from_secs(2));
    // Act
    let rolled_back = finality_rounds(&env, &indexer, 3).await;
    // Assert: kept, unfinalized, and the finalized slot stops below them.
    assert_eq!(rolled_back, 0);
    assert_eq!(stored(&env.store).await, landed);
    let cursor = env.store.cursor().await.unwrap();
    assert!(
        (cursor.finalized_slot as i64) < oldest_open,
        "finalized slot {} reaches an open transaction at {oldest_open}",
        cursor.finalized_slot
    );
    // Once the provider answers again, they finalize.
    proxy.shared.null_statuses.store(false, Ordering::SeqCst);
    proxy
        .shared
        .unavailable_blocks
        .store(false, Ordering::SeqCst);
    finality_rounds(&env, &indexer, 1).await;
    assert_eq!(
        count(
            &env.store,
            "SELECT count(*) FROM transactions WHERE NOT finalized"
        )
        .await,
        0
    );
}

/// Watches the store while an indexer runs: the cursor's slot and the
/// number of stored transactions may only grow (a rollback would shrink it).
fn watch_monotonic(store: Store, stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let (mut slot, mut stored_then, mut samples) = (0i64, 0i64, 0usize);
        while !*stop.borrow() {
            let cursor: i64 = count(&store, "SELECT slot FROM cursor").await;
            let now = count(&store, "SELECT count(*) FROM transactions").await;
            assert!(
                cursor >= slot,
                "the cursor moved back from {slot} to {cursor}"
            );
            assert!(
                now >= stored_then,
                "stored transactions fell from {stored_then} to {now}"
            );
            (slot, stored_then, samples) = (cursor, now, samples + 1);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        samples
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_with_lagging_nodes_behind_one_url_loses_nothing() {
    // Arrange: a clocked chain with history, and a provider where 40% of the
    // requests reach a node 250 slots (~5 s) behind, 10% get an error
    // fault (SPARKS_LAG_FAULT_RATE), plus null statuses
    // for a while. Pages of 20, so the backfill spans many pages.
    logs();
    let seed = seed();
    let size: usize = std::env::var("SPARKS_LAG_TRANSACTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let env = Env::start_clocked().await;
    let issuer = awards_on_chain(&env, size / 2).await;
    let proxy = LaggingProxy::start(env.chain.rpc_url(), 0.4, 250, seed).await;
    // In front of it, the error faults of the fault suite: 429, 500, "node
    // is behind", slow and unanswered requests, resets.
    let fault_rate: f64 = std::env::var("SPARKS_LAG_FAULT_RATE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.1);
    let faults = FaultProxy::start(proxy.url.clone(), fault_rate, seed).await;
    let indexer = indexer_via(&faults.url, env.store.clone(), 20, Duration::from_secs(30));
    let (stop, shutdown) = watch::channel(false);
    let monitor = watch_monotonic(env.store.clone(), shutdown.clone());
    let running = tokio::spawn({
        let ws_url = env.chain.ws_url().to_owned();
        async move { indexer.run(Some(ws_url), shutdown).await }
    });
    // Act: the backfill runs while awards keep landing; for a stretch the
    // statuses come back null.
    // Spread over time, so the lagging view misses recent transactions.
    let spacing = Duration::from_millis(40);
    award_more(&env, &issuer, size / 4, spacing).await;
    proxy.shared.null_statuses.store(true, Ordering::SeqCst);
    award_more(&env, &issuer, size / 4, spacing).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.shared.null_statuses.store(false, Ordering::SeqCst);
    // Assert: everything stored and final, in order, nothing rolled back.
    let on_chain = env.signature_count().await;
    let started = Instant::now();
    while stored(&env.store).await < on_chain
        || count(
            &env.store,
            "SELECT count(*) FROM transactions WHERE NOT finalized",
        )
        .await
            > 0
    {
        if started.elapsed() > Duration::from_secs(120) {
            panic!(
                "stored {} of {on_chain}; {}; {}",
                stored(&env.store).await,
                missing(&env).await,
                proxy.counts().summary()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
    let samples = monitor.await.unwrap();
    let counts = proxy.counts();
    println!(
        "{on_chain} transactions; {}; {samples} store samples; faults: {}",
        counts.summary(),
        faults.counts.summary()
    );
    assert!(
        LagCounts::get(&counts.stale) > 0,
        "no request reached the lagging node"
    );
    assert!(
        LagCounts::get(&counts.empty_before)
            + LagCounts::get(&counts.refused_min_context)
            + LagCounts::get(&counts.nulls)
            + LagCounts::get(&counts.short_pages)
            > 0,
        "the lagging node never answered stale"
    );
    assert_eq!(stored(&env.store).await, on_chain);
    env.assert_mirrors_chain().await;
    // Requests stay bounded: a few per transaction, not a relisting per page.
    let per_transaction = LagCounts::get(&counts.requests) as f64 / on_chain as f64;
    assert!(
        per_transaction < 60.0,
        "{per_transaction:.1} requests per transaction"
    );
}
