//! Storing what the stream proved: confirmed slots in one database
//! transaction with the cursor, and finality as the stream reports it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::convert;
use super::slots::ConfirmedSlot;
use super::{Ended, Follower};
use crate::indexer::IndexerError;
use crate::store::{CursorMove, IndexedTransaction};

impl Follower<'_> {
    /// Stores confirmed slots in one database transaction, moving the cursor.
    pub(super) async fn store(
        &mut self,
        slots: Vec<ConfirmedSlot>,
        through: u64,
    ) -> Result<(), Ended> {
        let program = self.indexer.source().config().program;
        let finalized_through = self.finalized_slot;
        let mut transactions: Vec<IndexedTransaction> = Vec::new();
        for slot in slots {
            let block_time = match slot.block_time {
                Some(time) => Some(time),
                None if slot.transactions.is_empty() => None,
                None => self
                    .indexer
                    .source()
                    .block_time(slot.slot)
                    .await
                    .map_err(IndexerError::from)?,
            };
            for info in &slot.transactions {
                match convert::indexed(info, slot.slot, block_time, &program) {
                    Some(mut tx) => {
                        tx.finalized = slot.slot <= finalized_through;
                        transactions.push(tx);
                    }
                    None => {
                        metrics::counter!("sparks_stream_malformed_total").increment(1);
                        tracing::error!(
                            slot = slot.slot,
                            "a streamed transaction without a signature; skipped"
                        );
                    }
                }
            }
        }
        // Once each: a duplicate may arrive after its slot was taken.
        let mut seen = HashSet::new();
        transactions.retain(|t| seen.insert(t.signature.clone()));
        let names: Vec<String> = transactions.iter().map(|t| t.signature.clone()).collect();
        let known = self
            .indexer
            .store()
            .known(&names)
            .await
            .map_err(IndexerError::from)?;
        transactions.retain(|t| !known.contains(&t.signature));
        if !transactions.is_empty() {
            let newest = transactions.last().map(|t| (t.signature.clone(), t.slot));
            let movement = newest
                .as_ref()
                .filter(|(_, slot)| *slot >= self.cursor_slot)
                .map(|(signature, slot)| CursorMove {
                    from: self.cursor.as_deref(),
                    to: signature,
                    slot: *slot,
                });
            let applied = self
                .indexer
                .store()
                .apply(&transactions, movement)
                .await
                .map_err(IndexerError::from)?;
            if let Some((signature, slot)) = newest.filter(|(_, slot)| *slot >= self.cursor_slot) {
                self.cursor = Some(signature);
                self.cursor_slot = slot;
            }
            metrics::counter!("sparks_indexed_events_total").increment(applied.events);
            metrics::counter!("sparks_indexed_transactions_total").increment(applied.transactions);
            for tx in transactions.iter().filter(|t| !t.finalized) {
                self.unfinal
                    .entry(tx.slot)
                    .or_default()
                    .push(tx.signature.clone());
            }
        }
        // Only when it moved: a finalized old slot reports the extent too.
        if through > self.caught_up {
            self.indexer
                .store()
                .mark_caught_up(through)
                .await
                .map_err(IndexerError::from)?;
            self.caught_up = through;
        }
        Ok(())
    }

    /// Marks stored transactions of finalized slots final, and moves the
    /// mirror's finalized slot (at most once a second when nothing became
    /// final with it).
    pub(super) async fn finalize(&mut self) -> Result<(), Ended> {
        if self.finalized_slot <= self.marked_final {
            return Ok(());
        }
        let newly: Vec<u64> = self
            .unfinal
            .range(..=self.finalized_slot)
            .map(|(slot, _)| *slot)
            .collect();
        if newly.is_empty() && self.last_final_mark.elapsed() < Duration::from_secs(1) {
            return Ok(());
        }
        let signatures: Vec<String> = newly
            .iter()
            .filter_map(|slot| self.unfinal.remove(slot))
            .flatten()
            .collect();
        self.indexer
            .store()
            .mark_finalized(&signatures, self.finalized_slot)
            .await
            .map_err(IndexerError::from)?;
        self.marked_final = self.finalized_slot;
        self.last_final_mark = Instant::now();
        Ok(())
    }
}
