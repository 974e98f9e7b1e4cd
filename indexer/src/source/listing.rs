//! Listing the program's signatures so that nothing is ever skipped.
//!
//! A provider puts many nodes behind one URL, and a node a few slots behind
//! does not fail: it answers successfully with what it has. Asked for the
//! signatures before one it has not seen yet, it answers `[]`; asked to
//! stop at (`until`) a signature it does not know, it ignores the bound.
//! So a page is trusted only on proof:
//!
//! - **Down to the cursor**, the listing must *show* the cursor's own
//!   signature (`until` is a stored signature older than it, so a node that
//!   knows the bound stops just past the cursor, and one that does not still
//!   lists it). A full page without it means "more before it"; a short or
//!   empty page without it means "this node is not there yet": it is asked
//!   again with backoff and, past the retry budget, the catch-up stops with
//!   [`SourceError::ListingIncomplete`] and the cursor stays put. Every page
//!   carries `minContextSlot` = the cursor's slot, so a node behind the
//!   cursor refuses instead of answering. (Only that slot: surfpool, the
//!   local chain, filters the list by `minContextSlot` instead of refusing,
//!   which is harmless at the cursor's slot and would cut history above it.)
//! - **Down to the start of history** (an empty store) or **to a slot** (a
//!   range backfill), only an empty page ends the listing: a short page is
//!   followed by the page after its last entry (a node may list less than
//!   it has: agave answers with its own ledger when its long-term store
//!   fails), and an empty page after `before` is the end only when a node
//!   that has reached `before`'s slot (`minContextSlot`) says so too.
//!
//! A node whose ledger starts after the cursor (pruned) cannot list what
//! came after it: [`SourceError::CursorBeforeLedger`] says so and what to do.

use std::time::{Duration, Instant};

use backoff::backoff::Backoff;
use solana_client::rpc_config::RpcSignaturesForAddressConfig;
use solana_client::rpc_request::RpcRequest;
use solana_client::rpc_response::RpcConfirmedTransactionStatusWithSignature;
use solana_commitment_config::CommitmentLevel;

use super::{SignatureInfo, Source, SourceError};

/// getSignaturesForAddress returns at most this many per page.
pub const SIGNATURE_PAGE: usize = 1000;

/// Where a listing ends (it always starts at the node's tip).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListingStop {
    /// Everything newer than the cursor, which the listing must reach.
    Cursor {
        signature: String,
        slot: u64,
        /// A stored signature older than the cursor, as `until`: bounds the
        /// answer of a node that knows it.
        older: Option<String>,
    },
    /// The program's whole history.
    Start,
    /// Down to (and including) this slot.
    Slot(u64),
}

/// One page as the listing accepted it.
struct Page {
    /// Newest first, already cut at the stop.
    entries: Vec<SignatureInfo>,
    done: bool,
}

enum Answer {
    Proven(Page),
    /// Not proof of anything yet; why, for the error if it persists.
    NotYet(&'static str),
}

/// A listing read a page at a time, newest first, so that the caller can
/// keep it somewhere other than memory ([`crate::store::listing`]) and
/// resume it from where it got to.
pub struct Listing<'a> {
    source: &'a Source,
    stop: ListingStop,
    /// The oldest signature listed so far: the next page is the one before it.
    reached: Option<SignatureInfo>,
    done: bool,
}

impl Listing<'_> {
    /// The next page, newest first and cut at the stop, or `None` once the
    /// listing has provably reached it. Entries below the configured
    /// commitment are included; the caller must not take anything newer
    /// than one of them (see [`committed_prefix`]).
    pub async fn next_page(&mut self) -> Result<Option<Vec<SignatureInfo>>, SourceError> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .source
            .next_page(self.reached.as_ref(), &self.stop)
            .await?;
        self.done = page.done;
        if let Some(last) = page.entries.last() {
            self.reached = Some(last.clone());
        }
        let mut entries = page.entries;
        if let ListingStop::Slot(from) = self.stop {
            entries.retain(|s| s.slot >= from);
        }
        Ok(Some(entries))
    }

    /// The oldest signature listed so far.
    pub fn reached(&self) -> Option<&SignatureInfo> {
        self.reached.as_ref()
    }
}

impl Source {
    /// A listing of the program's signatures newer than `stop` (see
    /// [`ListingStop`]), from the tip or, resumed, from before `reached`
    /// (signature and slot), the oldest signature an earlier run listed.
    pub fn listing(
        &self,
        stop: ListingStop,
        reached: Option<(String, u64)>,
    ) -> Result<Listing<'_>, SourceError> {
        if self.config.commitment == CommitmentLevel::Processed {
            return Err(SourceError::Config(
                "commitment `processed` cannot be indexed: nodes refuse getTransaction below \
                 `confirmed`; use confirmed or finalized"
                    .into(),
            ));
        }
        Ok(Listing {
            source: self,
            stop,
            reached: reached.map(|(signature, slot)| SignatureInfo {
                signature,
                slot,
                error: None,
                block_time: None,
                status: None,
            }),
            done: false,
        })
    }

    /// The program's signatures newer than `stop` (see [`ListingStop`]),
    /// oldest first, cut before the first one that has not reached the
    /// configured commitment so the cursor can never pass it. Held in memory
    /// whole: the indexer's catch-up keeps long listings in the store instead.
    pub async fn signatures(&self, stop: &ListingStop) -> Result<Vec<SignatureInfo>, SourceError> {
        let mut listing = self.listing(stop.clone(), None)?;
        let mut newest_first: Vec<SignatureInfo> = Vec::new();
        while let Some(page) = listing.next_page().await? {
            newest_first.extend(page);
        }
        newest_first.reverse();
        let listed = newest_first.len();
        let committed = committed_prefix(newest_first, self.config.commitment);
        if committed.len() < listed {
            tracing::debug!(
                listed,
                committed = committed.len(),
                "listing cut at the first signature below the commitment"
            );
        }
        Ok(committed)
    }

    /// The program's signatures in slots `from..=until`, oldest first.
    pub async fn signatures_in_slots(
        &self,
        from: u64,
        until: u64,
    ) -> Result<Vec<SignatureInfo>, SourceError> {
        let mut listed = self.signatures(&ListingStop::Slot(from)).await?;
        listed.retain(|s| s.slot <= until);
        Ok(listed)
    }

    /// The page after `before`, asked again until the answer proves itself.
    async fn next_page(
        &self,
        before: Option<&SignatureInfo>,
        stop: &ListingStop,
    ) -> Result<Page, SourceError> {
        let started = Instant::now();
        let mut backoff = self.retry_policy();
        backoff.reset();
        loop {
            match self.try_page(before, stop).await? {
                Answer::Proven(page) => return Ok(page),
                Answer::NotYet(reason) => {
                    metrics::counter!("sparks_listing_unproven_pages_total").increment(1);
                    let Some(wait) = backoff.next_backoff() else {
                        return Err(self.incomplete(stop, started.elapsed(), reason).await);
                    };
                    tracing::debug!(reason, ?wait, "signature page not proven; asking again");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn try_page(
        &self,
        before: Option<&SignatureInfo>,
        stop: &ListingStop,
    ) -> Result<Answer, SourceError> {
        let full = self.config.page_size;
        match stop {
            ListingStop::Cursor {
                signature,
                slot,
                older,
            } => {
                let page = self
                    .signature_page(before, older.as_deref(), Some(*slot))
                    .await?;
                if let Some(at) = page.iter().position(|s| &s.signature == signature) {
                    let mut entries = page;
                    entries.truncate(at);
                    return Ok(Answer::Proven(Page {
                        entries,
                        done: true,
                    }));
                }
                if page.iter().any(|s| s.slot < *slot) {
                    return Ok(Answer::NotYet(
                        "the node listed past the cursor's slot without the cursor",
                    ));
                }
                if page.len() >= full {
                    return Ok(Answer::Proven(Page {
                        entries: page,
                        done: false,
                    }));
                }
                Ok(Answer::NotYet(if page.is_empty() {
                    "an empty page before reaching the cursor"
                } else {
                    "a short page before reaching the cursor"
                }))
            }
            ListingStop::Start | ListingStop::Slot(_) => {
                let below = |page: &[SignatureInfo]| match stop {
                    ListingStop::Slot(from) => page.last().is_some_and(|s| s.slot < *from),
                    _ => false,
                };
                // A short page is not the end: a node lists what its own
                // ledger holds (agave, when its long-term store fails,
                // answers a short page and no error). Only an empty page
                // after the last entry ends the listing.
                let page = self.signature_page(before, None, None).await?;
                if !page.is_empty() {
                    let done = below(&page);
                    return Ok(Answer::Proven(Page {
                        entries: page,
                        done,
                    }));
                }
                // Nothing at all: no history yet, or none this node has seen;
                // the next listing looks again, and nothing moves meanwhile.
                let Some(before) = before else {
                    return Ok(Answer::Proven(Page {
                        entries: page,
                        done: true,
                    }));
                };
                // Empty after `before`: the end of history, or a node that has
                // not seen `before` yet. Only a node at its slot may say which.
                let page = self
                    .signature_page(Some(before), None, Some(before.slot))
                    .await?;
                let done = page.is_empty() || below(&page);
                Ok(Answer::Proven(Page {
                    entries: page,
                    done,
                }))
            }
        }
    }

    /// Why the listing gave up, with what to do about it.
    async fn incomplete(&self, stop: &ListingStop, elapsed: Duration, reason: &str) -> SourceError {
        let (cursor, slot) = match stop {
            ListingStop::Cursor {
                signature, slot, ..
            } => (signature.clone(), *slot),
            _ => (String::from("(none)"), 0),
        };
        // Only a cursor can lie before the node's ledger; a listing from the
        // start or of a slot range has none.
        if matches!(stop, ListingStop::Cursor { .. }) {
            if let Ok(first_available) = self.first_available_block().await {
                if first_available > slot {
                    return SourceError::CursorBeforeLedger {
                        slot,
                        first_available,
                    };
                }
            }
        }
        SourceError::ListingIncomplete {
            cursor,
            slot,
            elapsed,
            reason: reason.to_owned(),
        }
    }

    /// One getSignaturesForAddress page, newest first.
    async fn signature_page(
        &self,
        before: Option<&SignatureInfo>,
        until: Option<&str>,
        min_context_slot: Option<u64>,
    ) -> Result<Vec<SignatureInfo>, SourceError> {
        let config = RpcSignaturesForAddressConfig {
            before: before.map(|s| s.signature.clone()),
            until: until.map(str::to_owned),
            limit: Some(self.config.page_size),
            commitment: Some(self.commitment()),
            min_context_slot,
        };
        let params = serde_json::json!([self.config.program.to_string(), config]);
        let page = self
            .call("getSignaturesForAddress", || {
                self.rpc
                    .send::<Vec<RpcConfirmedTransactionStatusWithSignature>>(
                        RpcRequest::GetSignaturesForAddress,
                        params.clone(),
                    )
            })
            .await?;
        tracing::debug!(
            url = self.rpc.url(),
            before = before.map(|s| s.slot),
            until = until.is_some(),
            min_context_slot,
            len = page.len(),
            first = page.first().map(|s| s.slot),
            last = page.last().map(|s| s.slot),
            "signature page"
        );
        Ok(page
            .into_iter()
            .map(|s| SignatureInfo {
                status: s.confirmation_status,
                block_time: s.block_time,
                error: s.err.map(|e| format!("{e:?}")),
                signature: s.signature,
                slot: s.slot,
            })
            .collect())
    }
}

/// The signatures (oldest first) up to, not including, the first one below
/// the wanted commitment: nothing after a not-yet-confirmed one is taken, so
/// the cursor can never pass it.
fn committed_prefix(
    mut oldest_first: Vec<SignatureInfo>,
    wanted: CommitmentLevel,
) -> Vec<SignatureInfo> {
    let take = oldest_first
        .iter()
        .position(|s| !s.reached(wanted))
        .unwrap_or(oldest_first.len());
    oldest_first.truncate(take);
    oldest_first
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_transaction_status_client_types::TransactionConfirmationStatus as Status;

    fn info(name: &str, status: Option<Status>) -> SignatureInfo {
        SignatureInfo {
            signature: name.into(),
            slot: 1,
            error: None,
            block_time: None,
            status,
        }
    }

    fn names(list: &[SignatureInfo]) -> Vec<&str> {
        list.iter().map(|s| s.signature.as_str()).collect()
    }

    #[test]
    fn nothing_after_an_unconfirmed_signature_is_taken() {
        let list = vec![
            info("a", Some(Status::Finalized)),
            info("b", Some(Status::Confirmed)),
            info("c", Some(Status::Processed)),
            info("d", Some(Status::Confirmed)),
        ];
        assert_eq!(
            names(&committed_prefix(list.clone(), CommitmentLevel::Confirmed)),
            ["a", "b"]
        );
        assert_eq!(
            names(&committed_prefix(list.clone(), CommitmentLevel::Finalized)),
            ["a"]
        );
        assert_eq!(
            names(&committed_prefix(list, CommitmentLevel::Processed)),
            ["a", "b", "c", "d"]
        );
    }

    #[test]
    fn a_missing_status_counts_as_processed() {
        let list = vec![info("a", Some(Status::Confirmed)), info("b", None)];
        assert_eq!(
            names(&committed_prefix(list, CommitmentLevel::Confirmed)),
            ["a"]
        );
        assert!(!info("x", None).finalized());
    }
}
