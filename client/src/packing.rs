//! Packing award rows into as few `award_batch` transactions as the chain
//! accepts.
//!
//! A batch transaction must stay within every limit a validator enforces:
//! the 1,232-byte packet (with or without address lookup tables), 64
//! account locks, the 64-entry instruction trace (each row adds its event, an
//! account creation when the recipient is new (three CPIs when its address
//! was prefunded), and a referral credit's event), the compute units the
//! budget asks for, and the program's own row limit. The SBF heap is not among them: the program's heap per row is
//! measured well under what the trace already allows (docs/BENCHMARKS.md).

use std::ops::Range;

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use solana_message::{v0, AddressLookupTableAccount, Message, VersionedMessage};
use sparks::constants::MAX_BATCH_RECIPIENTS;
use sparks::state::Source;

use crate::budget::requested_units;
use crate::budget::{with_compute_budget, MAX_UNITS};
use crate::instructions::{self as ix, BatchRow};

/// Largest serialized transaction a validator accepts.
pub const PACKET_DATA_SIZE: usize = 1232;
/// Most accounts one transaction may lock on mainnet-beta: 64 until the
/// feature gate `increase_tx_account_lock_limit` (128) activates there. The
/// local chain and the program tests run mainnet's features, so they refuse
/// a 65th account (`TooManyAccountLocks`) as mainnet does.
pub const MAX_ACCOUNT_LOCKS: usize = 64;
/// Most instructions one transaction may run, CPIs included.
pub const MAX_INSTRUCTION_TRACE: usize = 64;

/// One `award_batch` and the rows (and award ids) it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedBatch {
    /// The batch, without its compute-budget instructions.
    pub instruction: Instruction,
    pub rows: Range<usize>,
    pub first_award_id: u64,
}

/// How the batches will be sent.
#[derive(Debug, Clone, Copy)]
pub struct Sending<'a> {
    /// The fee payer (the issuer, or another signer).
    pub payer: &'a Pubkey,
    /// Lookup tables for v0 transactions; none: legacy transactions.
    pub lookup_tables: &'a [AddressLookupTableAccount],
    /// The priority fee, in micro-lamports per compute unit.
    pub micro_lamports_per_unit: u64,
}

/// Why a candidate batch does not fit a transaction, if it does not.
pub fn does_not_fit(
    instruction: &Instruction,
    rows: &[BatchRow],
    sending: Sending,
) -> Option<String> {
    if rows.len() > MAX_BATCH_RECIPIENTS {
        return Some(format!(
            "{} rows (at most {MAX_BATCH_RECIPIENTS})",
            rows.len()
        ));
    }
    let with_budget = with_compute_budget(
        std::slice::from_ref(instruction),
        sending.micro_lamports_per_unit,
    );
    let trace = with_budget.len() + rows.iter().map(BatchRow::trace_entries).sum::<usize>();
    if trace > MAX_INSTRUCTION_TRACE {
        return Some(format!(
            "{trace} trace entries (at most {MAX_INSTRUCTION_TRACE})"
        ));
    }
    let units = requested_units(instruction);
    if units > MAX_UNITS {
        return Some(format!("{units} compute units (at most {MAX_UNITS})"));
    }
    match transaction_shape(&with_budget, sending) {
        Err(reason) => Some(reason),
        Ok((size, _)) if size > PACKET_DATA_SIZE => {
            Some(format!("{size} bytes (at most {PACKET_DATA_SIZE})"))
        }
        Ok((_, locks)) if locks > MAX_ACCOUNT_LOCKS => {
            Some(format!("{locks} accounts (at most {MAX_ACCOUNT_LOCKS})"))
        }
        Ok(_) => None,
    }
}

/// Serialized size and account count of a transaction of `instructions`.
pub fn transaction_shape(
    instructions: &[Instruction],
    sending: Sending,
) -> Result<(usize, usize), String> {
    if sending.lookup_tables.is_empty() {
        let message = Message::new(instructions, Some(sending.payer));
        let signatures = usize::from(message.header.num_required_signatures);
        // shortvec length (1 byte below 128) + signatures + message
        let size = 1 + 64 * signatures + message.serialize().len();
        return Ok((size, message.account_keys.len()));
    }
    let message = v0::Message::try_compile(
        sending.payer,
        instructions,
        sending.lookup_tables,
        solana_hash::Hash::default(),
    )
    .map_err(|e| format!("cannot compile a v0 message: {e}"))?;
    let signatures = usize::from(message.header.num_required_signatures);
    let locks = message.account_keys.len()
        + message
            .address_table_lookups
            .iter()
            .map(|l| l.writable_indexes.len() + l.readonly_indexes.len())
            .sum::<usize>();
    let size = 1 + 64 * signatures + VersionedMessage::V0(message).serialize().len();
    Ok((size, locks))
}

/// Splits `rows` into as few batches as fit, each as full as it fits, in order; batch
/// `k` gets reference `reference(k)` and the next award ids from
/// `first_award_id`. A row that fits no transaction alone still gets its
/// own batch (the send then reports why).
pub fn pack_award_batches(
    issuer: &Pubkey,
    source: Source,
    reference: impl Fn(usize) -> [u8; 32],
    first_award_id: u64,
    rows: &[BatchRow],
    sending: Sending,
) -> Vec<PackedBatch> {
    let mut packed = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let first = first_award_id + start as u64;
        let build = |end: usize| {
            ix::award_batch(
                issuer,
                source,
                reference(packed.len()),
                first,
                &rows[start..end],
            )
        };
        // Fitting only gets harder with more rows (bytes, accounts, trace
        // and units all grow), so the largest batch that fits is found by
        // bisection: a few message compilations per batch instead of one
        // per row.
        let (mut end, mut over) = (start + 1, rows.len().min(start + MAX_BATCH_RECIPIENTS));
        while end < over {
            let mid = (end + over).div_ceil(2);
            if does_not_fit(&build(mid), &rows[start..mid], sending).is_none() {
                end = mid;
            } else {
                over = mid - 1;
            }
        }
        packed.push(PackedBatch {
            instruction: build(end),
            rows: start..end,
            first_award_id: first,
        });
        start = end;
    }
    packed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(creates: bool, referrer: bool) -> BatchRow {
        BatchRow {
            wallet: Pubkey::new_unique(),
            amount: 1,
            referrer: referrer.then(Pubkey::new_unique),
            creates_account: creates,
            prefunded: false,
            pays_referral: referrer,
        }
    }

    fn table(rows: &[BatchRow], issuer: &Pubkey) -> AddressLookupTableAccount {
        let mut addresses = vec![
            crate::pda::config(),
            crate::pda::issuer(issuer),
            crate::pda::event_authority(),
            anchor_lang::system_program::ID,
        ];
        for row in rows {
            addresses.push(row.wallet);
            addresses.push(crate::pda::spark(&row.wallet));
            if let Some(referrer) = row.referrer {
                addresses.push(crate::pda::spark(&referrer));
            }
        }
        AddressLookupTableAccount {
            key: Pubkey::new_unique(),
            addresses,
        }
    }

    fn check(packed: &[PackedBatch], rows: &[BatchRow], sending: Sending) {
        let mut next = 0;
        for batch in packed {
            assert_eq!(batch.rows.start, next, "rows in order, each once");
            assert_eq!(batch.first_award_id, 100 + next as u64);
            next = batch.rows.end;
            assert_eq!(
                does_not_fit(&batch.instruction, &rows[batch.rows.clone()], sending),
                None
            );
        }
        assert_eq!(next, rows.len());
    }

    #[test]
    fn legacy_batches_fill_the_packet() {
        let issuer = Pubkey::new_unique();
        let rows: Vec<_> = (0..40).map(|i| row(true, i % 3 == 0)).collect();
        let sending = Sending {
            payer: &issuer,
            lookup_tables: &[],
            micro_lamports_per_unit: 0,
        };
        let packed = pack_award_batches(&issuer, Source::Trading, |_| [0; 32], 100, &rows, sending);
        check(&packed, &rows, sending);
        for batch in &packed[..packed.len() - 1] {
            assert!(
                batch.rows.len() >= 6,
                "a batch of {} left room",
                batch.rows.len()
            );
        }
    }

    /// Every batch but the last is full: its next row would not fit, for
    /// `reason`.
    fn full_for(packed: &[PackedBatch], rows: &[BatchRow], sending: Sending, reason: &str) {
        let issuer = sending.payer;
        for batch in &packed[..packed.len() - 1] {
            let over = batch.rows.start..batch.rows.end + 1;
            let instruction =
                ix::award_batch(issuer, Source::Trading, [0; 32], 0, &rows[over.clone()]);
            let why = does_not_fit(&instruction, &rows[over], sending)
                .expect("one more row does not fit");
            assert!(why.contains(reason), "{why}");
        }
    }

    #[test]
    fn with_a_lookup_table_the_account_locks_bind() {
        // New recipients (2 accounts, 2 trace entries) and recipients paying
        // their referrer (3 accounts, 2 trace entries), alternating.
        let issuer = Pubkey::new_unique();
        let rows: Vec<_> = (0..90).map(|i| row(i % 2 == 0, i % 2 == 1)).collect();
        let tables = [table(&rows, &issuer)];
        let sending = Sending {
            payer: &issuer,
            lookup_tables: &tables,
            micro_lamports_per_unit: 1,
        };
        let packed = pack_award_batches(&issuer, Source::Trading, |_| [0; 32], 100, &rows, sending);
        check(&packed, &rows, sending);
        full_for(&packed, &rows, sending, "accounts");
        // 7 fixed accounts (issuer, program, compute budget program, config,
        // Issuer, system program, event authority) + 12 x 2 + 11 x 3 = 64.
        assert_eq!(packed[0].rows.len(), 23);
    }

    #[test]
    fn a_prefunded_new_recipient_is_counted_as_three_system_calls() {
        let issuer = Pubkey::new_unique();
        let rows: Vec<_> = (0..40)
            .map(|_| BatchRow {
                prefunded: true,
                ..row(true, false)
            })
            .collect();
        let tables = [table(&rows, &issuer)];
        let sending = Sending {
            payer: &issuer,
            lookup_tables: &tables,
            micro_lamports_per_unit: 1,
        };
        let packed = pack_award_batches(&issuer, Source::Trading, |_| [0; 32], 100, &rows, sending);
        check(&packed, &rows, sending);
        // 3 + 15 rows x 4 entries = 63.
        assert_eq!(packed[0].rows.len(), 15);
    }

    #[test]
    fn existing_recipients_without_referrers_fill_the_account_locks() {
        // One trace entry each, but still two accounts.
        let issuer = Pubkey::new_unique();
        let rows: Vec<_> = (0..120).map(|_| row(false, false)).collect();
        let tables = [table(&rows, &issuer)];
        let sending = Sending {
            payer: &issuer,
            lookup_tables: &tables,
            micro_lamports_per_unit: 0,
        };
        let packed =
            pack_award_batches(&issuer, Source::Campaign, |_| [0; 32], 100, &rows, sending);
        check(&packed, &rows, sending);
        full_for(&packed, &rows, sending, "accounts");
        // (64 - 7 fixed accounts) / 2.
        assert_eq!(packed[0].rows.len(), 28, "{:?}", packed[0].rows);
    }
}
