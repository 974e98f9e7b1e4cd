//! The chain side: a Solana JSON-RPC node through solana-client.
//!
//! Every call is retried with exponential backoff and jitter while its
//! failure is transient (429s, 5xx, timeouts, a node behind); a permanent or
//! fatal answer surfaces at once (see [`error`]). The indexer never skips a
//! transaction because a call failed: it stops short of it and tries again.
//! A node that answers *successfully with stale data* is the other hazard of
//! load-balanced providers: [`listing`] only trusts a signature list that
//! provably reached the cursor, and [`finality`] only rolls back on proof.
//! Block times come from the signature list when it has them, else from
//! `getBlockTime` (cached per slot); a reindex keeps the time stored.

pub mod error;
pub mod finality;
pub mod listing;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anchor_lang::prelude::Pubkey;
use backoff::ExponentialBackoff;
use solana_client::client_error::ClientError;
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_client::rpc_config::RpcTransactionConfig;
use solana_client::rpc_request::RpcRequest;
use solana_commitment_config::{CommitmentConfig, CommitmentLevel};
use solana_signature::Signature;
use solana_transaction_status_client_types::{
    TransactionConfirmationStatus, UiTransactionEncoding,
};
use tokio::sync::Mutex;

use crate::decoder::{decode, Problem};
use crate::store::IndexedTransaction;
pub use error::{ErrorClass, SourceError};
pub use finality::Fate;
pub use listing::{ListingStop, SIGNATURE_PAGE};

/// getSignatureStatuses takes at most this many signatures.
pub const STATUS_PAGE: usize = 256;

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
    /// Signatures per getSignaturesForAddress page (the node's maximum by default).
    pub page_size: usize,
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
            page_size: SIGNATURE_PAGE,
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

    /// Whether the node reported it at `wanted` or above.
    pub fn reached(&self, wanted: CommitmentLevel) -> bool {
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
    /// Requests sent, by RPC method (retries included): what a provider bills.
    calls: std::sync::Mutex<HashMap<&'static str, u64>>,
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
            calls: std::sync::Mutex::new(HashMap::new()),
        })
    }

    pub fn config(&self) -> &SourceConfig {
        &self.config
    }

    /// Requests sent so far for RPC method `name` (retries included).
    pub fn calls(&self, name: &str) -> u64 {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.get(name).copied().unwrap_or(0)
    }

    /// Requests sent so far, every method together.
    pub fn total_calls(&self) -> u64 {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.values().sum()
    }

    fn count(&self, name: &'static str) {
        *self
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name)
            .or_default() += 1;
        metrics::counter!("sparks_rpc_calls_total", "method" => name).increment(1);
    }

    fn commitment(&self) -> CommitmentConfig {
        CommitmentConfig {
            commitment: self.config.commitment,
        }
    }

    fn retry_policy(&self) -> ExponentialBackoff {
        ExponentialBackoff {
            initial_interval: Duration::from_millis(50),
            max_interval: Duration::from_secs(5),
            max_elapsed_time: Some(self.config.retry_for),
            ..ExponentialBackoff::default()
        }
    }

    async fn pace(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.lock().await.tick().await;
        }
    }

    /// Runs `call` with rate limiting, retrying it while its failure is
    /// transient (see [`error::classify`]).
    async fn call<T, F, Fut>(&self, name: &'static str, call: F) -> Result<T, SourceError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let started = std::time::Instant::now();
        let outcome = backoff::future::retry_notify(
            self.retry_policy(),
            || async {
                self.pace().await;
                self.count(name);
                call().await.map_err(|error| match error::classify(&error) {
                    ErrorClass::Transient => backoff::Error::transient(error),
                    _ => backoff::Error::permanent(error),
                })
            },
            |error: ClientError, wait: Duration| {
                tracing::debug!(call = name, %error, ?wait, "retrying RPC call");
            },
        )
        .await;
        outcome.map_err(|error| {
            let message = error.to_string();
            match error::classify(&error) {
                ErrorClass::Transient => SourceError::Rpc {
                    call: name,
                    elapsed: started.elapsed(),
                    message,
                },
                ErrorClass::Permanent => SourceError::Permanent {
                    call: name,
                    message,
                },
                ErrorClass::Fatal => SourceError::Fatal {
                    call: name,
                    message,
                },
            }
        })
    }

    /// Fetches and decodes one transaction (a failed one is not fetched:
    /// its signature entry already says it changed nothing). A node that
    /// refuses it for good (a transaction version this client cannot read)
    /// gets it recorded with that problem, so the rest goes on and
    /// `sparks-indexer reindex --problems` can fetch it again later.
    pub async fn transaction(
        &self,
        info: &SignatureInfo,
    ) -> Result<IndexedTransaction, SourceError> {
        let mut indexed = IndexedTransaction {
            signature: info.signature.clone(),
            slot: info.slot,
            block_time: None,
            finalized: info.finalized(),
            events: Vec::new(),
            problems: Vec::new(),
        };
        if let Some(error) = &info.error {
            indexed.block_time = self.time_of(info).await?;
            indexed.problems.push(Problem::Failed(error.clone()));
            return Ok(indexed);
        }
        let signature = parse_signature(&info.signature)?;
        let fetch = self.call("getTransaction", || {
            self.get_transaction(&signature, self.commitment())
        });
        let (encoded, block_time) = tokio::join!(fetch, self.time_of(info));
        indexed.block_time = block_time?;
        match encoded {
            Ok(encoded) => {
                let decoded = decode(&encoded, &self.config.program);
                indexed.events = decoded.events;
                indexed.problems = decoded.problems;
            }
            Err(SourceError::Permanent { message, .. }) => {
                metrics::counter!("sparks_unfetchable_transactions_total").increment(1);
                tracing::error!(signature = %info.signature, %message, "the node refuses this transaction for good; recorded as a problem");
                indexed.problems.push(Problem::Unfetchable(message));
            }
            Err(other) => return Err(other),
        }
        Ok(indexed)
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
    ) -> Result<
        solana_transaction_status_client_types::EncodedConfirmedTransactionWithStatusMeta,
        ClientError,
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

    /// The block's time. `null` from the node is its answer (no time was
    /// recorded); a node that does not have the block yet is retried, and
    /// after the retry budget the time is left empty rather than stopping
    /// the indexer over a column that is informational.
    pub async fn block_time(&self, slot: u64) -> Result<Option<i64>, SourceError> {
        if let Some(time) = self.block_times.lock().await.get(&slot) {
            return Ok(*time);
        }
        let answer = self
            .call("getBlockTime", || async {
                self.rpc
                    .send::<Option<i64>>(RpcRequest::GetBlockTime, serde_json::json!([slot]))
                    .await
            })
            .await;
        let time = match answer {
            Ok(time) => time,
            Err(SourceError::Rpc { message, .. } | SourceError::Permanent { message, .. }) => {
                metrics::counter!("sparks_block_time_missing_total").increment(1);
                tracing::warn!(slot, %message, "no block time for this slot; stored without one");
                return Ok(None);
            }
            Err(other) => return Err(other),
        };
        let mut cache = self.block_times.lock().await;
        if cache.len() >= BLOCK_TIME_CACHE {
            cache.clear();
        }
        cache.insert(slot, time);
        Ok(time)
    }

    /// The chain's slot at the configured commitment.
    pub async fn slot(&self) -> Result<u64, SourceError> {
        self.call("getSlot", || {
            self.rpc.get_slot_with_commitment(self.commitment())
        })
        .await
    }

    /// The newest slot the node has processed (any commitment).
    pub async fn processed_slot(&self) -> Result<u64, SourceError> {
        self.call("getSlot", || {
            self.rpc
                .get_slot_with_commitment(CommitmentConfig::processed())
        })
        .await
    }

    pub async fn finalized_slot(&self) -> Result<u64, SourceError> {
        self.call("getSlot", || {
            self.rpc
                .get_slot_with_commitment(CommitmentConfig::finalized())
        })
        .await
    }

    /// The oldest slot the node still has (0 on an archival node).
    pub async fn first_available_block(&self) -> Result<u64, SourceError> {
        self.call("getFirstAvailableBlock", || {
            self.rpc.get_first_available_block()
        })
        .await
    }
}

pub(crate) fn parse_signature(text: &str) -> Result<Signature, SourceError> {
    Signature::from_str(text).map_err(|_| SourceError::BadSignature(text.to_owned()))
}
