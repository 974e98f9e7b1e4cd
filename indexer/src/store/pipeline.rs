//! Committing a stream of batches with several database transactions in
//! flight.
//!
//! One Postgres backend writes one batch on one core; while it writes a
//! batch's projections and commits, the next batch's rows are built and its
//! transactions, events and ledger rows written on another. Those rows are
//! the batch's own (keyed by its signatures), so they never wait on another
//! batch. The rows batches share (projections, referrals) are written one
//! batch at a time: a batch writes them, moves the cursor and commits only
//! after the batch before it committed, and is refused
//! ([`StoreError::EarlierBatchFailed`]) if it did not. The earlier batch never
//! waits on a later one, so there is no deadlock, and the mirror's state
//! moves batch by batch in chain order exactly as with one writer.

use std::collections::VecDeque;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Applied, CursorMove, IndexedTransaction, Store, StoreError};

/// How a batch in flight ended, as the batch after it sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Pending,
    Committed,
    Failed,
}

impl Outcome {
    /// Waits for the batch to end; one whose task ended without saying
    /// counts as failed.
    pub(super) async fn of(mut batch: watch::Receiver<Outcome>) -> Outcome {
        match batch.wait_for(|o| *o != Outcome::Pending).await {
            Ok(outcome) => *outcome,
            Err(_) => Outcome::Failed,
        }
    }
}

/// Batches committed in order, at most `depth` at a time.
pub struct Pipeline {
    store: Store,
    depth: usize,
    /// Where the next batch moves the cursor from; `None` leaves it alone.
    cursor: Option<Option<String>>,
    in_flight: VecDeque<JoinHandle<Result<Applied, StoreError>>>,
    /// How the newest batch ends.
    last: Option<watch::Receiver<Outcome>>,
}

impl Pipeline {
    /// `advance_from` is the cursor as it was when the batches' signatures
    /// were listed (each batch moves it on), or `None` to leave it alone.
    pub fn new(store: Store, depth: usize, advance_from: Option<Option<String>>) -> Self {
        Self {
            store,
            depth: depth.max(1),
            cursor: advance_from,
            in_flight: VecDeque::new(),
            last: None,
        }
    }

    /// Starts committing `transactions`, covering the chain up to `newest`
    /// (signature, slot). With `depth` batches already in flight, first
    /// waits for the oldest: returns what it wrote, or its error (the
    /// batches after a failed one are refused). The batches must not share
    /// a transaction.
    pub async fn push(
        &mut self,
        transactions: Vec<IndexedTransaction>,
        newest: (String, u64),
    ) -> Result<Option<Applied>, StoreError> {
        let done = if self.in_flight.len() >= self.depth {
            self.next().await?
        } else {
            None
        };
        let store = self.store.clone();
        let from = self.cursor.clone();
        if let Some(cursor) = self.cursor.as_mut() {
            *cursor = Some(newest.0.clone());
        }
        let earlier = self.last.take();
        let (outcome, seen) = watch::channel(Outcome::Pending);
        self.last = Some(seen);
        self.in_flight.push_back(tokio::spawn(async move {
            let (to, slot) = newest;
            let cursor = from.as_ref().map(|from| CursorMove {
                from: from.as_deref(),
                to: &to,
                slot,
            });
            let applied = store.apply_after(&transactions, cursor, earlier).await;
            outcome.send_replace(if applied.is_ok() {
                Outcome::Committed
            } else {
                Outcome::Failed
            });
            applied
        }));
        Ok(done)
    }

    /// Waits for every batch in flight; returns what they wrote together, or
    /// the first error.
    pub async fn finish(mut self) -> Result<Applied, StoreError> {
        let mut total = Applied::default();
        let mut first_error = None;
        while !self.in_flight.is_empty() {
            match self.next().await {
                Ok(Some(applied)) => {
                    total.transactions += applied.transactions;
                    total.events += applied.events;
                }
                Ok(None) => {}
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(total), Err)
    }

    async fn next(&mut self) -> Result<Option<Applied>, StoreError> {
        let Some(oldest) = self.in_flight.pop_front() else {
            return Ok(None);
        };
        match oldest.await {
            Ok(applied) => applied.map(Some),
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(_) => Err(StoreError::Interrupted),
        }
    }
}
