//! A streamed transaction into what the store keeps, through the same
//! decoder as a `getTransaction` answer ([`decoder::decode_parts`]).

use anchor_lang::prelude::Pubkey;
use solana_transaction_error::TransactionError;
use sparks_client::rpc::InnerData;
use yellowstone_grpc_proto::prelude::SubscribeUpdateTransactionInfo;

use crate::decoder::{self, DecodedTransaction, Parts, Problem};
use crate::store::IndexedTransaction;

/// The streamed transaction, or `None` when it has no usable signature
/// (nothing to record it under; counted and logged by the caller).
pub fn indexed(
    info: &SubscribeUpdateTransactionInfo,
    slot: u64,
    block_time: Option<i64>,
    program: &Pubkey,
) -> Option<IndexedTransaction> {
    if info.signature.len() != 64 {
        return None;
    }
    let signature = bs58::encode(&info.signature).into_string();
    let mut decoded = DecodedTransaction {
        slot,
        events: Vec::new(),
        problems: Vec::new(),
    };
    match (&info.meta, &info.transaction) {
        (None, _) => decoded
            .problems
            .push(Problem::Malformed("no status meta".into())),
        (Some(meta), _) if meta.err.is_some() => {
            // The filter asks for successful ones only; a stream that sends
            // a failed one anyway gets it recorded as failed.
            let bytes = meta
                .err
                .as_ref()
                .map(|e| e.err.as_slice())
                .unwrap_or_default();
            let reason = match bincode::deserialize::<TransactionError>(bytes) {
                Ok(err) => format!("{err:?}"),
                Err(_) => format!("undecodable error {}", bs58::encode(bytes).into_string()),
            };
            decoded.problems.push(Problem::Failed(reason));
        }
        (Some(_), None) => decoded
            .problems
            .push(Problem::Malformed("no transaction".into())),
        (Some(meta), Some(transaction)) => {
            let static_keys = transaction
                .message
                .as_ref()
                .map(|m| m.account_keys.as_slice())
                .unwrap_or_default();
            let keys: Vec<Pubkey> = static_keys
                .iter()
                .chain(&meta.loaded_writable_addresses)
                .chain(&meta.loaded_readonly_addresses)
                .filter_map(|key| Pubkey::try_from(key.as_slice()).ok())
                .collect();
            let listed = static_keys.len()
                + meta.loaded_writable_addresses.len()
                + meta.loaded_readonly_addresses.len();
            if keys.len() != listed {
                // Indexes past a bad key would name the wrong accounts.
                decoded.problems.push(Problem::Malformed(format!(
                    "{} of {listed} account keys are not 32 bytes",
                    listed - keys.len()
                )));
                return Some(IndexedTransaction {
                    signature,
                    slot,
                    block_time,
                    finalized: false,
                    events: Vec::new(),
                    problems: decoded.problems,
                });
            }
            let inner = meta
                .inner_instructions
                .iter()
                .flat_map(|group| &group.instructions)
                .map(|ix| (ix.program_id_index as usize, InnerData::Bytes(&ix.data)))
                .collect();
            decoded = decoder::decode_parts(
                Parts {
                    keys,
                    inner,
                    logs: &meta.log_messages,
                },
                program,
                decoded,
            );
        }
    }
    Some(IndexedTransaction {
        signature,
        slot,
        block_time,
        finalized: false,
        events: decoded.events,
        problems: decoded.problems,
    })
}
