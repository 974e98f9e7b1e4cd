//! A listing longer than `spill_after` is kept in Postgres page by page
//! (`store::listing`): a catch-up stopped while listing or while storing it
//! resumes where it got to, and the result is the same mirror.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use sparks_indexer::indexer::{Indexer, IndexerConfig, IndexerError};
use sparks_indexer::source::{Source as ChainSource, SourceConfig, SourceError};
use sparks_indexer::store::Store;
use support::lagging::{LagCounts, LaggingProxy};
use support::{awards_on_chain, count, logs, never, Env};
use tokio::sync::watch;

/// Pages of 20, a listing kept past 30 signatures, batches of 10.
fn indexer_via(rpc_url: &str, store: Store) -> Indexer {
    let mut source = SourceConfig::new(rpc_url, sparks::ID);
    source.retry_for = Duration::from_secs(2);
    source.page_size = 20;
    Indexer::new(
        ChainSource::new(source),
        store,
        IndexerConfig {
            batch_size: 10,
            spill_after: 30,
            ..IndexerConfig::default()
        },
    )
}

async fn kept(store: &Store) -> (i64, i64) {
    (
        count(store, "SELECT count(*) FROM listing").await,
        count(store, "SELECT count(*) FROM pending_signatures").await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_that_fails_midway_is_resumed_where_it_got_to() {
    // Arrange: 5 pages of history; a provider that answers two pages and
    // then fails every page after them, so the listing gives up with two
    // pages kept.
    logs();
    let env = Env::start().await;
    awards_on_chain(&env, 90).await;
    let on_chain = env.signature_count().await;
    let failing = LaggingProxy::start(env.chain.rpc_url(), 0.0, 0, 7).await;
    failing.shared.pass_before_pages.store(1, Ordering::SeqCst);
    failing
        .shared
        .fail_before_pages
        .store(u64::MAX, Ordering::SeqCst);
    let first = indexer_via(&failing.url, env.store.clone());
    // Act 1
    let error = first
        .catch_up(&never())
        .await
        .expect_err("the listing cannot finish");
    // Assert 1: two pages kept, nothing stored, the cursor where it was.
    assert!(
        matches!(error, IndexerError::Source(SourceError::Rpc { .. })) && !error.is_fatal(),
        "{error}"
    );
    assert_eq!(kept(&env.store).await, (1, 40));
    assert_eq!(
        count(&env.store, "SELECT count(*) FROM transactions").await,
        0
    );
    assert_eq!(env.store.cursor().await.unwrap().signature, None);
    // Act 2: a healthy provider.
    let healthy = LaggingProxy::start(env.chain.rpc_url(), 0.0, 0, 8).await;
    indexer_via(&healthy.url, env.store.clone())
        .catch_up(&never())
        .await
        .expect("resumed");
    // Assert 2: resumed below the kept pages (never from the tip again),
    // everything stored once, the kept listing gone.
    assert_eq!(LagCounts::get(&healthy.counts().listings_from_tip), 0);
    assert_eq!(
        count(&env.store, "SELECT count(*) FROM transactions").await as usize,
        on_chain
    );
    assert_eq!(kept(&env.store).await, (0, 0));
    env.assert_mirrors_chain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_stopped_while_storing_a_kept_listing_resumes_from_the_cursor() {
    // Arrange
    logs();
    let env = Env::start().await;
    awards_on_chain(&env, 90).await;
    let on_chain = env.signature_count().await;
    let indexer = indexer_via(env.chain.rpc_url(), env.store.clone());
    let (stop, shutdown) = watch::channel(false);
    // Stop as soon as the first batches are stored.
    let watcher = tokio::spawn({
        let store = env.store.clone();
        async move {
            while count(&store, "SELECT count(*) FROM transactions").await == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            stop.send(true).unwrap();
        }
    });
    // Act 1
    indexer.catch_up(&shutdown).await.expect("stops cleanly");
    watcher.await.unwrap();
    // Assert 1: part stored, the rest still kept, the cursor on a kept one.
    let stored = count(&env.store, "SELECT count(*) FROM transactions").await as usize;
    assert!(
        stored > 0 && stored < on_chain,
        "stored {stored} of {on_chain}"
    );
    let (listings, pending) = kept(&env.store).await;
    assert_eq!(listings, 1);
    assert!(pending as usize >= on_chain - stored, "{pending} kept");
    // Act 2
    indexer.catch_up(&never()).await.expect("resumed");
    // Assert 2
    assert_eq!(
        count(&env.store, "SELECT count(*) FROM transactions").await as usize,
        on_chain
    );
    assert_eq!(kept(&env.store).await, (0, 0));
    env.assert_mirrors_chain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_listing_is_never_written_to_the_store() {
    // Arrange: a catch-up under the threshold (the live steady state).
    logs();
    let env = Env::start().await;
    awards_on_chain(&env, 10).await;
    // Act
    indexer_via(env.chain.rpc_url(), env.store.clone())
        .catch_up(&never())
        .await
        .unwrap();
    // Assert: stored, and no listing was kept on the way (a table written
    // to keeps its pages until vacuumed, deleted rows or not).
    let bytes: i64 = count(
        &env.store,
        "SELECT pg_relation_size('pending_signatures') + pg_relation_size('listing')",
    )
    .await;
    assert_eq!(bytes, 0, "the pending listing tables were written");
    assert_eq!(kept(&env.store).await, (0, 0));
    env.assert_mirrors_chain().await;
}
