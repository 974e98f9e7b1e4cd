//! The fate of stored transactions, decided on evidence only.
//!
//! A node that is behind answers `getSignatureStatuses` with `null` for
//! transactions it has not seen, and `getTransaction` with `null` too: both
//! look exactly like a transaction that was dropped with its fork. So a
//! `null` is never a verdict. A transaction is dropped only when the
//! finalized chain shows it is not there: the finalized block at its slot,
//! fetched, does not list it, or the node reports that slot skipped on the
//! finalized chain (which it can only say once it has rooted past it).
//! Anything less is [`Fate::Unproven`]: a warning and a metric, and the
//! transaction stays, unfinalized, until a later check can tell.

use std::collections::HashMap;

use solana_client::rpc_config::RpcBlockConfig;
use solana_client::rpc_custom_error as code;
use solana_client::rpc_request::RpcRequest;
use solana_commitment_config::CommitmentConfig;
use solana_transaction_status_client_types::{
    TransactionConfirmationStatus, TransactionDetails, UiConfirmedBlock,
};

use super::error::rpc_code;
use super::{parse_signature, Source, SourceError, STATUS_PAGE};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Final at the slot it was stored with.
    Finalized,
    /// Known to the node, not final yet.
    Pending,
    /// Proven gone from its slot on the finalized chain.
    Dropped { evidence: String },
    /// The node could not tell (behind, or the block pruned): left as is.
    Unproven { reason: String },
}

/// What the finalized chain holds at one slot.
#[derive(Debug, Clone)]
enum FinalizedBlock {
    Signatures(Vec<String>),
    Skipped,
    Unknown(String),
}

impl Source {
    /// The fate of each stored `(signature, slot)`, all at or below the
    /// finalized slot.
    pub async fn fates(&self, stored: &[(String, u64)]) -> Result<Vec<Fate>, SourceError> {
        let mut blocks: HashMap<u64, FinalizedBlock> = HashMap::new();
        let mut fates = Vec::with_capacity(stored.len());
        for chunk in stored.chunks(STATUS_PAGE) {
            let signatures = chunk
                .iter()
                .map(|(s, _)| parse_signature(s))
                .collect::<Result<Vec<_>, _>>()?;
            let statuses = self
                .call("getSignatureStatuses", || async {
                    self.rpc
                        .get_signature_statuses_with_history(&signatures)
                        .await
                        .map(|response| response.value)
                })
                .await?;
            for ((signature, slot), status) in chunk.iter().zip(statuses) {
                let landed_elsewhere = match &status {
                    Some(status) if status.slot == *slot => {
                        let finalized = match &status.confirmation_status {
                            Some(level) => *level == TransactionConfirmationStatus::Finalized,
                            // Nodes that omit the level: no confirmation count means rooted.
                            None => status.confirmations.is_none(),
                        };
                        fates.push(if finalized {
                            Fate::Finalized
                        } else {
                            Fate::Pending
                        });
                        continue;
                    }
                    Some(status) => Some(status.slot),
                    None => None,
                };
                if !blocks.contains_key(slot) {
                    blocks.insert(*slot, self.finalized_block(*slot).await?);
                }
                fates.push(match &blocks[slot] {
                    FinalizedBlock::Signatures(listed) if listed.contains(signature) => {
                        Fate::Finalized
                    }
                    FinalizedBlock::Signatures(_) => Fate::Dropped {
                        evidence: format!(
                            "the finalized block at slot {slot} does not contain it{}",
                            elsewhere(landed_elsewhere)
                        ),
                    },
                    FinalizedBlock::Skipped => Fate::Dropped {
                        evidence: format!(
                            "slot {slot} was skipped by the finalized chain{}",
                            elsewhere(landed_elsewhere)
                        ),
                    },
                    FinalizedBlock::Unknown(reason) => Fate::Unproven {
                        reason: reason.clone(),
                    },
                });
            }
        }
        Ok(fates)
    }

    /// The finalized block at `slot`, as far as this node can tell now.
    async fn finalized_block(&self, slot: u64) -> Result<FinalizedBlock, SourceError> {
        let config = RpcBlockConfig {
            encoding: None,
            transaction_details: Some(TransactionDetails::Signatures),
            rewards: Some(false),
            commitment: Some(CommitmentConfig::finalized()),
            max_supported_transaction_version: Some(0),
        };
        let params = serde_json::json!([slot, config]);
        self.call("getBlock", || async {
            let answer = self
                .rpc
                .send::<Option<UiConfirmedBlock>>(RpcRequest::GetBlock, params.clone())
                .await;
            match answer {
                Ok(Some(block)) => Ok(FinalizedBlock::Signatures(
                    block.signatures.unwrap_or_default(),
                )),
                Ok(None) => Ok(FinalizedBlock::Unknown(format!(
                    "the node has no finalized block at slot {slot} yet"
                ))),
                Err(error) => match rpc_code(&error) {
                    Some(
                        code::JSON_RPC_SERVER_ERROR_SLOT_SKIPPED
                        | code::JSON_RPC_SERVER_ERROR_LONG_TERM_STORAGE_SLOT_SKIPPED,
                    ) => Ok(FinalizedBlock::Skipped),
                    // Not rooted there yet, or pruned: a later check may tell.
                    Some(
                        code::JSON_RPC_SERVER_ERROR_BLOCK_NOT_AVAILABLE
                        | code::JSON_RPC_SERVER_ERROR_BLOCK_CLEANED_UP
                        | code::JSON_RPC_SERVER_ERROR_BLOCK_STATUS_NOT_AVAILABLE_YET,
                    ) => Ok(FinalizedBlock::Unknown(format!("slot {slot}: {error}"))),
                    _ => Err(error),
                },
            }
        })
        .await
    }
}

fn elsewhere(slot: Option<u64>) -> String {
    slot.map(|s| format!(" (the node has it at slot {s})"))
        .unwrap_or_default()
}
