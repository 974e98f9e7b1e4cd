//! The chain's Geyser events in the protocol's words, as a Yellowstone
//! plugin writes them (`yellowstone-grpc-proto`'s `solana.storage` messages).

use surfpool_core::types::TransactionWithStatusMeta;
use yellowstone_grpc_proto::prelude::{
    CompiledInstruction, InnerInstruction, InnerInstructions, Message, MessageAddressTableLookup,
    MessageHeader, ReturnData, SubscribeUpdateTransactionInfo, Transaction,
    TransactionError as ProtoTransactionError, TransactionStatusMeta,
};

/// A transaction as a subscriber filters it: its accounts (static and
/// loaded), whether it failed, and its update.
pub struct Converted {
    pub accounts: Vec<[u8; 32]>,
    pub signature: [u8; 64],
    pub failed: bool,
    pub info: SubscribeUpdateTransactionInfo,
}

/// `index` is the transaction's position in its slot.
pub fn transaction(tx: &TransactionWithStatusMeta, index: u64) -> Converted {
    let versioned = &tx.transaction;
    let message = &versioned.message;
    let meta = &tx.meta;
    let static_keys: Vec<[u8; 32]> = message
        .static_account_keys()
        .iter()
        .map(|key| key.to_bytes())
        .collect();
    let loaded_writable: Vec<[u8; 32]> = meta
        .loaded_addresses
        .writable
        .iter()
        .map(|k| k.to_bytes())
        .collect();
    let loaded_readonly: Vec<[u8; 32]> = meta
        .loaded_addresses
        .readonly
        .iter()
        .map(|k| k.to_bytes())
        .collect();
    let header = message.header();
    let signature: [u8; 64] = versioned
        .signatures
        .first()
        .map(|s| <[u8; 64]>::from(*s))
        .unwrap_or([0; 64]);
    let proto_message = Message {
        header: Some(MessageHeader {
            num_required_signatures: header.num_required_signatures.into(),
            num_readonly_signed_accounts: header.num_readonly_signed_accounts.into(),
            num_readonly_unsigned_accounts: header.num_readonly_unsigned_accounts.into(),
        }),
        account_keys: static_keys.iter().map(|k| k.to_vec()).collect(),
        recent_blockhash: message.recent_blockhash().to_bytes().to_vec(),
        instructions: message
            .instructions()
            .iter()
            .map(|ix| CompiledInstruction {
                program_id_index: ix.program_id_index.into(),
                accounts: ix.accounts.clone(),
                data: ix.data.clone(),
            })
            .collect(),
        versioned: message.address_table_lookups().is_some(),
        address_table_lookups: message
            .address_table_lookups()
            .unwrap_or_default()
            .iter()
            .map(|lookup| MessageAddressTableLookup {
                account_key: lookup.account_key.to_bytes().to_vec(),
                writable_indexes: lookup.writable_indexes.clone(),
                readonly_indexes: lookup.readonly_indexes.clone(),
            })
            .collect(),
        config: None,
    };
    let failed = meta.status.is_err();
    let proto_meta = TransactionStatusMeta {
        // As the Yellowstone plugin writes it: the error bincode-encoded.
        err: meta.status.as_ref().err().map(|err| ProtoTransactionError {
            err: bincode::serialize(err).unwrap_or_default(),
        }),
        fee: meta.fee,
        pre_balances: meta.pre_balances.clone(),
        post_balances: meta.post_balances.clone(),
        inner_instructions: meta
            .inner_instructions
            .iter()
            .flatten()
            .map(|group| InnerInstructions {
                index: group.index.into(),
                instructions: group
                    .instructions
                    .iter()
                    .map(|inner| InnerInstruction {
                        program_id_index: inner.instruction.program_id_index.into(),
                        accounts: inner.instruction.accounts.clone(),
                        data: inner.instruction.data.clone(),
                        stack_height: inner.stack_height,
                    })
                    .collect(),
            })
            .collect(),
        inner_instructions_none: meta.inner_instructions.is_none(),
        log_messages: meta.log_messages.clone().unwrap_or_default(),
        log_messages_none: meta.log_messages.is_none(),
        pre_token_balances: Vec::new(),
        post_token_balances: Vec::new(),
        rewards: Vec::new(),
        loaded_writable_addresses: loaded_writable.iter().map(|k| k.to_vec()).collect(),
        loaded_readonly_addresses: loaded_readonly.iter().map(|k| k.to_vec()).collect(),
        return_data: meta.return_data.as_ref().map(|data| ReturnData {
            program_id: data.program_id.to_bytes().to_vec(),
            data: data.data.clone(),
        }),
        return_data_none: meta.return_data.is_none(),
        compute_units_consumed: meta.compute_units_consumed,
        cost_units: meta.cost_units,
    };
    let mut accounts = static_keys;
    accounts.extend(loaded_writable);
    accounts.extend(loaded_readonly);
    Converted {
        accounts,
        signature,
        failed,
        info: SubscribeUpdateTransactionInfo {
            signature: signature.to_vec(),
            is_vote: false,
            transaction: Some(Transaction {
                signatures: versioned
                    .signatures
                    .iter()
                    .map(|s| <[u8; 64]>::from(*s).to_vec())
                    .collect(),
                message: Some(proto_message),
            }),
            meta: Some(proto_meta),
            index,
        },
    }
}
