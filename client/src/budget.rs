//! Compute budget: every transaction the client builds says how many compute
//! units it may use and, optionally, what it pays per unit (the priority fee).
//!
//! Natively (the program tests, the local chain) compute units are not
//! metered, so the limits come from an estimate of the work each instruction
//! does, not from a measurement: a base per instruction, and per award row
//! its account load and store, its event (a self-CPI), the account it may
//! create (a system CPI and a PDA derivation) and the referral credit's
//! event; voiding award ids by their count. Each figure is rounded up generously; confirm them against
//! `simulateTransaction`'s `unitsConsumed` on an SBF build before lowering
//! them (a transaction that runs out of units fails, and its award ids stay
//! open for a re-send).

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use anchor_lang::{AnchorDeserialize, Discriminator};
use solana_compute_budget_interface::ComputeBudgetInstruction;

/// Anchor's dispatch, account checks, and (de)serializing Config and Issuer.
pub const INSTRUCTION_UNITS: u32 = 30_000;
/// Loading, checking and storing one SparkAccount.
pub const ROW_UNITS: u32 = 6_000;
/// One event: a self-CPI (1,000 units to invoke, the callee's dispatch) and
/// the event's serialization.
pub const EVENT_UNITS: u32 = 6_000;
/// Creating an account: a PDA derivation (1,500 units per bump tried) and a
/// `create_account` CPI (three system CPIs on a prefunded address).
pub const CREATE_UNITS: u32 = 12_000;
/// Voiding award ids: per id, its check, its bit, and moving the floor.
pub const VOID_UNITS_PER_ID: u32 = 60;
/// Instructions other than awards (they create at most two accounts).
pub const OTHER_UNITS: u32 = 60_000;
/// A transaction may not ask for more.
pub const MAX_UNITS: u32 = 1_400_000;

/// Units an award row may need: `creates` its account, `pays_referral`.
pub fn row_units(creates: bool, pays_referral: bool) -> u32 {
    ROW_UNITS
        + EVENT_UNITS
        + if creates { CREATE_UNITS } else { 0 }
        + if pays_referral { EVENT_UNITS } else { 0 }
}

/// Units `instruction` may need, from its data alone (so rows are assumed to
/// create their accounts, and a passed referrer to be paid).
pub fn units_for(instruction: &Instruction) -> u32 {
    if instruction.program_id != sparks::ID {
        return OTHER_UNITS * 2;
    }
    let data = instruction.data.as_slice();
    if data.starts_with(sparks::instruction::AwardBatch::DISCRIMINATOR) {
        let mut args = &data[8..];
        if let Ok(batch) = sparks::instructions::AwardBatchArgs::deserialize(&mut args) {
            return batch
                .recipients
                .iter()
                .fold(INSTRUCTION_UNITS, |units, row| {
                    units.saturating_add(row_units(true, row.with_referrer))
                });
        }
    }
    if data.starts_with(sparks::instruction::VoidAwardIds::DISCRIMINATOR) {
        let mut args = &data[8..];
        if let Ok(void) = sparks::instruction::VoidAwardIds::deserialize(&mut args) {
            return INSTRUCTION_UNITS + VOID_UNITS_PER_ID * u32::from(void.count);
        }
    }
    if data.starts_with(sparks::instruction::Award::DISCRIMINATOR) {
        let referrer_passed = instruction
            .accounts
            .get(5)
            .is_some_and(|meta| meta.pubkey != sparks::ID);
        return INSTRUCTION_UNITS + row_units(true, referrer_passed);
    }
    OTHER_UNITS
}

/// `instructions` behind a compute-unit limit that covers them and, when
/// `micro_lamports_per_unit` is not zero, a price per unit.
pub fn with_compute_budget(
    instructions: &[Instruction],
    micro_lamports_per_unit: u64,
) -> Vec<Instruction> {
    let units = instructions
        .iter()
        .fold(0u32, |sum, i| sum.saturating_add(units_for(i)))
        .min(MAX_UNITS);
    let mut all = Vec::with_capacity(instructions.len() + 2);
    all.push(ComputeBudgetInstruction::set_compute_unit_limit(units));
    if micro_lamports_per_unit > 0 {
        all.push(ComputeBudgetInstruction::set_compute_unit_price(
            micro_lamports_per_unit,
        ));
    }
    all.extend_from_slice(instructions);
    all
}

/// Whether `instruction` is a compute-budget instruction.
pub fn is_budget_instruction(instruction: &Instruction) -> bool {
    instruction.program_id == COMPUTE_BUDGET_PROGRAM
}

const COMPUTE_BUDGET_PROGRAM: Pubkey =
    anchor_lang::pubkey!("ComputeBudget111111111111111111111111111111");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::{self as ix, BatchRow};
    use sparks::state::Source;

    fn row(referrer: bool) -> BatchRow {
        BatchRow {
            wallet: Pubkey::new_unique(),
            amount: 1,
            referrer: referrer.then(Pubkey::new_unique),
            creates_account: true,
            prefunded: false,
            pays_referral: referrer,
        }
    }

    #[test]
    fn a_batch_asks_for_its_rows_and_nothing_for_free() {
        let issuer = Pubkey::new_unique();
        let rows: Vec<BatchRow> = (0..20).map(|i| row(i % 2 == 0)).collect();
        let batch = ix::award_batch(&issuer, Source::Trading, [0; 32], 0, &rows);
        assert_eq!(
            units_for(&batch),
            INSTRUCTION_UNITS + 10 * row_units(true, true) + 10 * row_units(true, false)
        );
        let with = with_compute_budget(std::slice::from_ref(&batch), 0);
        assert_eq!(with.len(), 2, "no price instruction without a fee");
        assert!(is_budget_instruction(&with[0]));
        let with_fee = with_compute_budget(std::slice::from_ref(&batch), 5_000);
        assert_eq!(with_fee.len(), 3);
        assert_eq!(with_fee[2], batch);
    }

    #[test]
    fn a_single_award_with_a_referrer_asks_for_its_second_event() {
        let issuer = Pubkey::new_unique();
        let args = sparks::instructions::AwardArgs {
            source: Source::Trading,
            amount: 1,
            reference: [0; 32],
            award_id: 0,
        };
        let wallet = Pubkey::new_unique();
        let plain = ix::award(&issuer, &wallet, None, args);
        let referred = ix::award(&issuer, &wallet, Some(&Pubkey::new_unique()), args);
        assert_eq!(
            units_for(&plain),
            INSTRUCTION_UNITS + row_units(true, false)
        );
        assert_eq!(
            units_for(&referred),
            INSTRUCTION_UNITS + row_units(true, true)
        );
    }
}
