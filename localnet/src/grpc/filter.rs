//! A subscriber's request: which transactions, slots and block metas it
//! gets, and at which commitment. The subset of Yellowstone's filters the
//! local chain serves; a request for anything else is refused by name, so
//! nobody mistakes silence for "nothing happened".

use tonic::Status;
use yellowstone_grpc_proto::prelude::{
    CommitmentLevel, SlotStatus, SubscribeRequest, SubscribeRequestFilterTransactions,
};

use super::feed::TransactionItem;

/// Transaction filters a request may hold (a provider caps them too).
const MAX_FILTERS: usize = 16;

pub struct Filter {
    pub commitment: CommitmentLevel,
    transactions: Vec<(String, TransactionFilter)>,
    /// (name, only statuses at the commitment)
    slots: Vec<(String, bool)>,
    blocks_meta: Vec<String>,
}

struct TransactionFilter {
    vote: Option<bool>,
    failed: Option<bool>,
    signature: Option<[u8; 64]>,
    include: Vec<[u8; 32]>,
    exclude: Vec<[u8; 32]>,
    required: Vec<[u8; 32]>,
}

impl Filter {
    pub fn new(request: &SubscribeRequest) -> Result<Self, Status> {
        let unsupported = [
            ("accounts", request.accounts.is_empty()),
            (
                "transactions_status",
                request.transactions_status.is_empty(),
            ),
            ("blocks", request.blocks.is_empty()),
            ("entry", request.entry.is_empty()),
            ("block_footer", request.block_footer.is_empty()),
            (
                "accounts_data_slice",
                request.accounts_data_slice.is_empty(),
            ),
        ];
        if let Some((name, _)) = unsupported.iter().find(|(_, empty)| !empty) {
            return Err(Status::unimplemented(format!(
                "the local chain serves transactions, slots and blocks_meta filters; {name} is not implemented"
            )));
        }
        if request.transactions.len() > MAX_FILTERS {
            return Err(Status::invalid_argument(format!(
                "at most {MAX_FILTERS} transaction filters"
            )));
        }
        let commitment = match request.commitment {
            None => CommitmentLevel::Processed,
            Some(value) => CommitmentLevel::try_from(value)
                .map_err(|_| Status::invalid_argument(format!("unknown commitment {value}")))?,
        };
        let mut transactions = Vec::new();
        for (name, filter) in &request.transactions {
            transactions.push((name.clone(), TransactionFilter::new(filter)?));
        }
        Ok(Self {
            commitment,
            transactions,
            slots: request
                .slots
                .iter()
                .map(|(name, f)| (name.clone(), f.filter_by_commitment.unwrap_or(false)))
                .collect(),
            blocks_meta: request.blocks_meta.keys().cloned().collect(),
        })
    }

    /// Names of the transaction filters `tx` matches (empty: not sent).
    pub fn transaction(&self, tx: &TransactionItem) -> Vec<String> {
        self.transactions
            .iter()
            .filter(|(_, filter)| filter.matches(tx))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Names of the slot filters a status update goes to.
    pub fn slot(&self, status: SlotStatus) -> Vec<String> {
        let at_commitment = status == reached_at(self.commitment);
        self.slots
            .iter()
            .filter(|(_, by_commitment)| !by_commitment || at_commitment)
            .map(|(name, _)| name.clone())
            .collect()
    }

    pub fn blocks_meta(&self) -> Vec<String> {
        self.blocks_meta.clone()
    }
}

/// The slot status at which a commitment level is reached.
pub fn reached_at(commitment: CommitmentLevel) -> SlotStatus {
    match commitment {
        CommitmentLevel::Processed => SlotStatus::SlotProcessed,
        CommitmentLevel::Confirmed => SlotStatus::SlotConfirmed,
        CommitmentLevel::Finalized => SlotStatus::SlotFinalized,
    }
}

impl TransactionFilter {
    fn new(filter: &SubscribeRequestFilterTransactions) -> Result<Self, Status> {
        let keys = |list: &[String], what: &str| -> Result<Vec<[u8; 32]>, Status> {
            list.iter()
                .map(|text| {
                    bs58::decode(text)
                        .into_vec()
                        .ok()
                        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                        .ok_or_else(|| {
                            Status::invalid_argument(format!("{what}: {text:?} is not an address"))
                        })
                })
                .collect()
        };
        if filter.cuckoo_account_include.is_some() {
            return Err(Status::unimplemented(
                "cuckoo_account_include is not implemented by the local chain",
            ));
        }
        let signature = match &filter.signature {
            None => None,
            Some(text) => Some(
                bs58::decode(text)
                    .into_vec()
                    .ok()
                    .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
                    .ok_or_else(|| {
                        Status::invalid_argument(format!("signature {text:?} is not a signature"))
                    })?,
            ),
        };
        Ok(Self {
            vote: filter.vote,
            failed: filter.failed,
            signature,
            include: keys(&filter.account_include, "account_include")?,
            exclude: keys(&filter.account_exclude, "account_exclude")?,
            required: keys(&filter.account_required, "account_required")?,
        })
    }

    fn matches(&self, tx: &TransactionItem) -> bool {
        // The local chain has no vote transactions.
        let is_vote = false;
        let has = |key: &[u8; 32]| tx.accounts.contains(key);
        self.vote.is_none_or(|vote| vote == is_vote)
            && self.failed.is_none_or(|failed| failed == tx.failed)
            && self.signature.is_none_or(|s| s == tx.signature)
            && (self.include.is_empty() || self.include.iter().any(has))
            && !self.exclude.iter().any(has)
            && self.required.iter().all(has)
    }
}
