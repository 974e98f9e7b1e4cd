//! The chain side: a Solana JSON-RPC node through solana-client.
//!
//! Every call is retried with exponential backoff and jitter (429s, 5xx,
//! timeouts, a node that has not caught up: all transient; the indexer never
//! skips a transaction because a call failed, it stops short of it and tries
//! again), and optionally held to a request rate for public endpoints.
//! Block times come from `getBlockTime`, which is right on every node (the
//! local chain's `getTransaction` blockTime is not), cached per slot.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anchor_lang::prelude::Pubkey;
use backoff::ExponentialBackoff;
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_client::rpc_client::GetConfirmedSignaturesForAddress2Config;
use solana_client::rpc_config::RpcTransactionConfig;
use solana_commitment_config::{CommitmentConfig, CommitmentLevel};
use solana_signature::Signature;
use solana_transaction_status_client_types::{
    TransactionConfirmationStatus, UiTransactionEncoding,
};
use tokio::sync::Mutex;

use crate::decoder::{decode, Problem};
use crate::store::IndexedTransaction;

/// getSignaturesForAddress returns at most this many per page.
pub const SIGNATURE_PAGE: usize = 1000;
/// getSignatureStatuses takes at most this many signatures.
pub const STATUS_PAGE: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{call} failed after retrying for {elapsed:?}: {message}")]
    Rpc {
        call: &'static str,
        elapsed: Duration,
        message: String,
    },
    #[error("the node returned an invalid signature {0:?}")]
    BadSignature(String),
}

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub rpc_url: String,
    pub program: Pubkey,
    pub commitment: CommitmentLevel,
    /// Requests per second across all calls; `None` = unlimited.
    pub requests_per_second: Option<u32>,
    pub request_timeout: Duration,
    /// How long one call is retried before the error surfaces.
    pub retry_for: Duration,
}

impl SourceConfig {
    pub fn new(rpc_url: impl Into<String>, program: Pubkey) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            program,
            commitment: CommitmentLevel::Confirmed,
            requests_per_second: None,
            request_timeout: Duration::from_secs(30),
            retry_for: Duration::from_secs(60),
        }
    }
}

/// A signature of the program as getSignaturesForAddress lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureInfo {
    pub signature: String,
    pub slot: u64,
    /// The transaction's error, when it failed (no need to fetch it).
    pub error: Option<String>,
    /// Block time as the signature list gave it (validators do; the local chain does not).
    pub block_time: Option<i64>,
    /// Confirmation status the node reported; `None` is taken as merely
    /// processed (the local chain reports processed that way).
    pub status: Option<TransactionConfirmationStatus>,
}

impl SignatureInfo {
    pub fn finalized(&self) -> bool {
        self.status == Some(TransactionConfirmationStatus::Finalized)
    }

    fn reached(&self, wanted: CommitmentLevel) -> bool {
        use TransactionConfirmationStatus as Status;
        match (wanted, &self.status) {
            (CommitmentLevel::Processed, _) => true,
            (CommitmentLevel::Confirmed, Some(status)) => *status != Status::Processed,
            (CommitmentLevel::Finalized, Some(status)) => *status == Status::Finalized,
            (_, None) => false,
        }
    }
}

pub struct Source {
    rpc: RpcClient,
    config: SourceConfig,
    limiter: Option<Mutex<tokio::time::Interval>>,
    block_times: Mutex<HashMap<u64, Option<i64>>>,
}

/// Slots whose block time is kept (the cache is cleared beyond this).
const BLOCK_TIME_CACHE: usize = 100_000;

impl Source {
    pub fn new(config: SourceConfig) -> Arc<Self> {
        let rpc = RpcClient::new_with_timeout_and_commitment(
            config.rpc_url.clone(),
            config.request_timeout,
            CommitmentConfig {
                commitment: config.commitment,
            },
        );
        let limiter = config
            .requests_per_second
            .filter(|rps| *rps > 0)
            .map(|rps| {
                let mut interval = tokio::time::interval(Duration::from_secs(1) / rps);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                Mutex::new(interval)
            });
        Arc::new(Self {
            rpc,
            config,
            limiter,
            block_times: Mutex::new(HashMap::new()),
        })
    }

    pub fn config(&self) -> &SourceConfig {
        &self.config
    }

    fn commitment(&self) -> CommitmentConfig {
        CommitmentConfig {
            commitment: self.config.commitment,
        }
    }

    /// Runs `call` with rate limiting and retries.
    async fn call<T, F, Fut>(&self, name: &'static str, call: F) -> Result<T, SourceError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, String>>,
    {
        let policy = ExponentialBackoff {
            initial_interval: Duration::from_millis(50),
            max_interval: Duration::from_secs(5),
            max_elapsed_time: Some(self.config.retry_for),
            ..ExponentialBackoff::default()
        };
        let started = std::time::Instant::now();
        backoff::future::retry_notify(
            policy,
            || async {
                if let Some(limiter) = &self.limiter {
                    limiter.lock().await.tick().await;
                }
                call().await.map_err(backoff::Error::transient)
            },
            |error: String, wait: Duration| {
                tracing::debug!(call = name, %error, ?wait, "retrying RPC call");
            },
        )
        .await
        .map_err(|message| SourceError::Rpc {
            call: name,
            elapsed: started.elapsed(),
            message,
        })
    }

    /// The program's signatures newer than `until` (all of them when
    /// `None`), oldest first, cut before the first one that has not reached
    /// the configured commitment so nothing after a gap is taken.
    pub async fn signatures_since(
        &self,
        until: Option<&str>,
    ) -> Result<Vec<SignatureInfo>, SourceError> {
        let until = until.map(parse_signature).transpose()?;
        let mut newest_first = Vec::new();
        let mut before: Option<Signature> = None;
        loop {
            let page = self.signature_page(before, until).await?;
            let full = page.len() == SIGNATURE_PAGE;
            if let Some(last) = page.last() {
                before = Some(parse_signature(&last.signature)?);
            }
            newest_first.extend(page);
            if !full {
                break;
            }
        }
        newest_first.reverse();
        Ok(committed_prefix(newest_first, self.config.commitment))
    }

    /// The program's signatures in slots `from..=until`, oldest first.
    pub async fn signatures_in_slots(
        &self,
        from: u64,
        until: u64,
    ) -> Result<Vec<SignatureInfo>, SourceError> {
        let mut newest_first = Vec::new();
        let mut before: Option<Signature> = None;
        loop {
            let page = self.signature_page(before, None).await?;
            let full = page.len() == SIGNATURE_PAGE;
            let reached_start = page.last().is_some_and(|last| last.slot < from);
            if let Some(last) = page.last() {
                before = Some(parse_signature(&last.signature)?);
            }
            newest_first.extend(
                page.into_iter()
                    .filter(|s| (from..=until).contains(&s.slot)),
            );
            if !full || reached_start {
                break;
            }
        }
        newest_first.reverse();
        Ok(committed_prefix(newest_first, self.config.commitment))
    }

    async fn signature_page(
        &self,
        before: Option<Signature>,
        until: Option<Signature>,
    ) -> Result<Vec<SignatureInfo>, SourceError> {
        let page = self
            .call("getSignaturesForAddress", || async {
                self.rpc
                    .get_signatures_for_address_with_config(
                        &self.config.program,
                        GetConfirmedSignaturesForAddress2Config {
                            before,
                            until,
                            limit: Some(SIGNATURE_PAGE),
                            commitment: Some(self.commitment()),
                        },
                    )
                    .await
                    .map_err(|e| e.to_string())
            })
            .await?;
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

    /// Fetches and decodes one transaction (a failed one is not fetched:
    /// its signature entry already says it changed nothing).
    pub async fn transaction(
        &self,
        info: &SignatureInfo,
    ) -> Result<IndexedTransaction, SourceError> {
        if let Some(error) = &info.error {
            return Ok(IndexedTransaction {
                signature: info.signature.clone(),
                slot: info.slot,
                block_time: self.time_of(info).await?,
                finalized: info.finalized(),
                events: Vec::new(),
                problems: vec![Problem::Failed(error.clone())],
            });
        }
        let signature = parse_signature(&info.signature)?;
        let fetch = self.call("getTransaction", || async {
            self.get_transaction(&signature, self.commitment())
                .await
                .map_err(|e| e.to_string())
        });
        let (encoded, block_time) = tokio::try_join!(fetch, self.time_of(info))?;
        let decoded = decode(&encoded, &self.config.program);
        Ok(IndexedTransaction {
            signature: info.signature.clone(),
            slot: info.slot,
            block_time,
            finalized: info.finalized(),
            events: decoded.events,
            problems: decoded.problems,
        })
    }

    /// The signature list's block time when the node gave one, else getBlockTime.
    async fn time_of(&self, info: &SignatureInfo) -> Result<Option<i64>, SourceError> {
        match info.block_time {
            Some(time) => Ok(Some(time)),
            None => self.block_time(info.slot).await,
        }
    }

    /// One getTransaction as the decoder needs it (binary, v0 included).
    async fn get_transaction(
        &self,
        signature: &Signature,
        commitment: CommitmentConfig,
    ) -> solana_client::client_error::Result<
        solana_transaction_status_client_types::EncodedConfirmedTransactionWithStatusMeta,
    > {
        self.rpc
            .get_transaction_with_config(
                signature,
                RpcTransactionConfig {
                    encoding: Some(UiTransactionEncoding::Base64),
                    commitment: Some(commitment),
                    max_supported_transaction_version: Some(0),
                },
            )
            .await
    }

    pub async fn block_time(&self, slot: u64) -> Result<Option<i64>, SourceError> {
        if let Some(time) = self.block_times.lock().await.get(&slot) {
            return Ok(*time);
        }
        let time = self
            .call("getBlockTime", || async {
                match self.rpc.get_block_time(slot).await {
                    Ok(time) => Ok(Some(time)),
                    // A node without the block's time (pruned, or none recorded) is not retried.
                    Err(e) if e.to_string().contains("not available") => Ok(None),
                    Err(e) => Err(e.to_string()),
                }
            })
            .await?;
        let mut cache = self.block_times.lock().await;
        if cache.len() >= BLOCK_TIME_CACHE {
            cache.clear();
        }
        cache.insert(slot, time);
        Ok(time)
    }

    /// The chain's slot at the configured commitment.
    pub async fn slot(&self) -> Result<u64, SourceError> {
        self.call("getSlot", || async {
            self.rpc
                .get_slot_with_commitment(self.commitment())
                .await
                .map_err(|e| e.to_string())
        })
        .await
    }

    pub async fn finalized_slot(&self) -> Result<u64, SourceError> {
        self.call("getSlot", || async {
            self.rpc
                .get_slot_with_commitment(CommitmentConfig::finalized())
                .await
                .map_err(|e| e.to_string())
        })
        .await
    }

    /// Finality of each signature: `Some(true)` finalized, `Some(false)`
    /// known but not final yet, `None` unknown to the node.
    pub async fn finality(&self, signatures: &[String]) -> Result<Vec<Option<bool>>, SourceError> {
        let parsed = signatures
            .iter()
            .map(|s| parse_signature(s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(signatures.len());
        for chunk in parsed.chunks(STATUS_PAGE) {
            let statuses = self
                .call("getSignatureStatuses", || async {
                    self.rpc
                        .get_signature_statuses_with_history(chunk)
                        .await
                        .map(|response| response.value)
                        .map_err(|e| e.to_string())
                })
                .await?;
            out.extend(statuses.into_iter().map(|status| {
                status.map(|s| match s.confirmation_status {
                    Some(level) => level == TransactionConfirmationStatus::Finalized,
                    // Nodes that omit the level: no confirmation count means rooted.
                    None => s.confirmations.is_none(),
                })
            }));
        }
        Ok(out)
    }

    /// Whether the node still has the transaction at finalized commitment.
    pub async fn exists_finalized(&self, signature: &str) -> Result<bool, SourceError> {
        let signature = parse_signature(signature)?;
        self.call("getTransaction", || async {
            match self
                .get_transaction(&signature, CommitmentConfig::finalized())
                .await
            {
                Ok(_) => Ok(true),
                Err(e) if e.to_string().contains("invalid type: null") => Ok(false),
                Err(e) => Err(e.to_string()),
            }
        })
        .await
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

fn parse_signature(text: &str) -> Result<Signature, SourceError> {
    Signature::from_str(text).map_err(|_| SourceError::BadSignature(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use TransactionConfirmationStatus as Status;

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
