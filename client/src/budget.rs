//! Compute budget: every transaction the client builds says how many compute
//! units it may use and, optionally, what it pays per unit (the priority fee).
//!
//! The limits come from measurement: `idl/compute-units.json` holds what the
//! SBF VM metered for the committed bytecode (`sbf/deploy/sparks.so`), per
//! instruction in its worst measured case, and for `award` and
//! `award_batch` per part (a row, an account created, a bump tried). The
//! program tests measure them anew and fail when a figure moved or an
//! instruction used more than the limit this module sets
//! (`tests/tests/sparks/sbf/test_compute_units.rs`; `SPARKS_BLESS=1`
//! rewrites the file). A limit is the figure plus [`ComputeUnits::margin_percent`],
//! for what the measured cases do not cover: a platform-tools build of the
//! program makes different code, and PDAs whose bump takes more tries than
//! the measured ones cost more: `find_program_address` hashes once per try,
//! and where the client passes a bump (`award`, `award_batch`,
//! `grant_whitelist`: the accounts a stranger's wallet names) the program
//! checks each bump above it with a cheaper hash and point check. The
//! client counts every PDA's tries from the instruction's accounts.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use anchor_lang::{AnchorDeserialize, Discriminator};
use serde::{Deserialize, Serialize};
use solana_compute_budget_interface::ComputeBudgetInstruction;
use sparks::instruction as ixs;
use sparks::state::{Issuer, Perk, PerkClaim, SparkAccount, Whitelist, WhitelistEntry};

/// A transaction may not ask for more.
pub const MAX_UNITS: u32 = 1_400_000;
/// What the runtime gives an instruction when the transaction names no
/// limit: asked for another program's instruction (a lookup table's, a
/// transfer), which the figures do not cover.
pub const UNMEASURED_UNITS: u32 = 200_000;

/// What the SBF VM metered (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeUnits {
    /// What the file is (it is JSON: no comments).
    pub about: String,
    /// The bytecode the figures are for (`sbf/deploy/sparks.so`'s sha256).
    pub bytecode_sha256: String,
    /// Added to every figure to make a limit.
    pub margin_percent: u32,
    /// One more bump tried by `find_program_address`.
    pub bump_try: u32,
    /// One more bump checked by the program's `check_canonical_pda` (a
    /// bump the client passed for a new account: `award`, `award_batch`,
    /// `grant_whitelist`).
    pub bump_check: u32,
    pub award: AwardUnits,
    pub award_batch: BatchUnits,
    pub void_award_ids: VoidUnits,
    /// Every other instruction at its worst measured case (its searched PDAs
    /// at one try each), by its IDL name (`example_mint.mint_nft` for the
    /// example mint's).
    pub instructions: BTreeMap<String, u32>,
}

/// `award`, with a recipient whose SparkAccount's bump takes one try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwardUnits {
    pub existing_account: u32,
    pub new_account: u32,
    /// A new account whose address someone funded first (three system CPIs).
    pub new_account_prefunded: u32,
    /// An existing account whose referrer is paid a share.
    pub paying_referrer: u32,
}

/// `award_batch`: a base and each row, bumps taking one try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchUnits {
    pub base: u32,
    pub new_account_row: u32,
    /// A new account whose address someone funded first (three system
    /// CPIs): what the client counts for every row that may create one.
    pub new_account_prefunded_row: u32,
    pub existing_account_row: u32,
    /// A row paying the recipient's referrer (its account exists).
    pub referrer_row: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoidUnits {
    pub base: u32,
    pub per_id: u32,
}

/// The committed figures.
pub fn measured() -> &'static ComputeUnits {
    static MEASURED: OnceLock<ComputeUnits> = OnceLock::new();
    MEASURED.get_or_init(|| {
        serde_json::from_str(include_str!("../../idl/compute-units.json"))
            .expect("idl/compute-units.json is the committed ComputeUnits")
    })
}

/// The name the figures use for a Sparks instruction, by its discriminator.
pub fn instruction_name(data: &[u8]) -> Option<&'static str> {
    NAMES
        .iter()
        .find(|(discriminator, _)| data.starts_with(discriminator))
        .map(|(_, name)| *name)
}

const NAMES: &[(&[u8], &str)] = &[
    (ixs::Initialize::DISCRIMINATOR, "initialize"),
    (ixs::UpdateConfig::DISCRIMINATOR, "update_config"),
    (ixs::Pause::DISCRIMINATOR, "pause"),
    (ixs::Unpause::DISCRIMINATOR, "unpause"),
    (ixs::ProposeAdmin::DISCRIMINATOR, "propose_admin"),
    (ixs::AcceptAdmin::DISCRIMINATOR, "accept_admin"),
    (ixs::UpsertIssuer::DISCRIMINATOR, "upsert_issuer"),
    (ixs::DeactivateIssuer::DISCRIMINATOR, "deactivate_issuer"),
    (ixs::SetReferrer::DISCRIMINATOR, "set_referrer"),
    (ixs::Award::DISCRIMINATOR, "award"),
    (ixs::AwardBatch::DISCRIMINATOR, "award_batch"),
    (ixs::VoidAwardIds::DISCRIMINATOR, "void_award_ids"),
    (ixs::Revoke::DISCRIMINATOR, "revoke"),
    (ixs::CreatePerk::DISCRIMINATOR, "create_perk"),
    (ixs::UpdatePerk::DISCRIMINATOR, "update_perk"),
    (ixs::RedeemPerk::DISCRIMINATOR, "redeem_perk"),
    (ixs::CreateWhitelist::DISCRIMINATOR, "create_whitelist"),
    (ixs::UpdateWhitelist::DISCRIMINATOR, "update_whitelist"),
    (
        ixs::ProposeWhitelistAdmin::DISCRIMINATOR,
        "propose_whitelist_admin",
    ),
    (
        ixs::AcceptWhitelistAdmin::DISCRIMINATOR,
        "accept_whitelist_admin",
    ),
    (ixs::GrantWhitelist::DISCRIMINATOR, "grant_whitelist"),
    (ixs::JoinWhitelist::DISCRIMINATOR, "join_whitelist"),
    (
        ixs::ConsumeWhitelistSpot::DISCRIMINATOR,
        "consume_whitelist_spot",
    ),
];

/// The example mint's instruction, as the figures name it.
pub const EXAMPLE_MINT_NFT: &str = "example_mint.mint_nft";

/// Where the accounts the PDA searches read sit in each instruction's
/// account list (the order of its Accounts struct; a unit test checks them
/// against the IDL).
mod at {
    pub const AWARD_RECIPIENT: usize = 3;
    pub const AWARD_REFERRER_SPARK: usize = 5;
    /// `award_batch`'s named accounts, before the rows'.
    pub const BATCH_NAMED: usize = 6;
    pub const SET_REFERRER_INVITEE: usize = 0;
    pub const SET_REFERRER_REFERRER: usize = 4;
    pub const UPSERT_ISSUER_AUTHORITY: usize = 2;
    pub const REDEEM_OWNER: usize = 0;
    pub const REDEEM_PERK: usize = 3;
    pub const REDEEM_WHITELIST: usize = 6;
    pub const GRANT_WHITELIST: usize = 1;
    pub const GRANT_WALLET: usize = 2;
    pub const JOIN_OWNER: usize = 0;
    pub const JOIN_WHITELIST: usize = 3;
}

/// Bump tries `find_program_address` takes for `seeds` under the Sparks
/// program: one hash per try, from bump 255 down.
pub fn bump_tries(seeds: &[&[u8]]) -> u32 {
    let (_, bump) = Pubkey::find_program_address(seeds, &sparks::ID);
    256 - u32::from(bump)
}

/// Bump tries `find_program_address` takes for `wallet`'s SparkAccount.
/// Remembered: the issuer's packer asks for the same wallets many times.
pub fn spark_bump_tries(wallet: &Pubkey) -> u32 {
    const REMEMBERED: usize = 65_536;
    static TRIES: OnceLock<Mutex<HashMap<Pubkey, u32>>> = OnceLock::new();
    let tries = TRIES.get_or_init(Mutex::default);
    if let Some(known) = tries.lock().unwrap_or_else(|e| e.into_inner()).get(wallet) {
        return *known;
    }
    let found = bump_tries(&[SparkAccount::SEED, wallet.as_ref()]);
    let mut tries = tries.lock().unwrap_or_else(|e| e.into_inner());
    if tries.len() >= REMEMBERED {
        tries.clear();
    }
    tries.insert(*wallet, found);
    found
}

/// Bump tries beyond the first that an instruction's PDAs take, by how
/// the program goes through them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExtraTries {
    /// Searched by `find_program_address` (Anchor's `seeds` constraints
    /// without a stored bump): [`ComputeUnits::bump_try`] each.
    pub searched: u32,
    /// Checked above a bump the client passed (`check_canonical_pda`, for
    /// the accounts a stranger's wallet names): [`ComputeUnits::bump_check`]
    /// each.
    pub checked: u32,
}

/// The tries beyond the first taken by the PDAs `instruction` makes the
/// program search for or check, read from its accounts and data. Addresses
/// fixed for the program (Config, the event authority) cost the same every
/// time and are in the figures. A recipient of an award or a whitelist
/// grant is the one a stranger can pick to be costly, which is why those
/// bumps are passed and checked; the others are the signer's own choice.
pub fn extra_bump_tries(instruction: &Instruction) -> ExtraTries {
    let tries = searched_or_checked_tries(instruction);
    match instruction_name(&instruction.data) {
        _ if instruction.program_id != sparks::ID => ExtraTries::default(),
        Some("award" | "award_batch" | "grant_whitelist") => ExtraTries {
            searched: 0,
            checked: tries,
        },
        _ => ExtraTries {
            searched: tries,
            checked: 0,
        },
    }
}

fn searched_or_checked_tries(instruction: &Instruction) -> u32 {
    if instruction.program_id != sparks::ID {
        return 0;
    }
    let key = |index: usize| instruction.accounts.get(index).map(|meta| meta.pubkey);
    let extra = |seeds: &[&[u8]]| bump_tries(seeds) - 1;
    let spark = |wallet: Option<Pubkey>| wallet.map_or(0, |w| spark_bump_tries(&w) - 1);
    let entry = |whitelist: Option<Pubkey>, wallet: Option<Pubkey>| match (whitelist, wallet) {
        // An optional account left out is passed as the program's id.
        (Some(whitelist), Some(wallet)) if whitelist != sparks::ID => {
            extra(&[WhitelistEntry::SEED, whitelist.as_ref(), wallet.as_ref()])
        }
        _ => 0,
    };
    let data = instruction.data.as_slice();
    let args = data.get(8..).unwrap_or_default();
    match instruction_name(data) {
        Some("award") => spark(key(at::AWARD_RECIPIENT)),
        Some("award_batch") => {
            let Ok(batch) = ixs::AwardBatch::deserialize(&mut &args[..]) else {
                return 0;
            };
            // Remaining accounts after the named ones: per row its wallet,
            // its SparkAccount, and its referrer's when passed. A row with
            // a referrer has its account already: no search.
            let mut accounts = instruction.accounts.iter().skip(at::BATCH_NAMED);
            let mut tries = 0;
            for row in &batch.args.recipients {
                let wallet = accounts.next().map(|meta| meta.pubkey);
                accounts.next();
                if row.with_referrer {
                    accounts.next();
                } else {
                    tries += spark(wallet);
                }
            }
            tries
        }
        Some("set_referrer") => {
            spark(key(at::SET_REFERRER_INVITEE)) + spark(key(at::SET_REFERRER_REFERRER))
        }
        Some("upsert_issuer") => {
            key(at::UPSERT_ISSUER_AUTHORITY).map_or(0, |a| extra(&[Issuer::SEED, a.as_ref()]))
        }
        Some("redeem_perk") => {
            let claim = match (key(at::REDEEM_PERK), key(at::REDEEM_OWNER)) {
                (Some(perk), Some(owner)) => {
                    extra(&[PerkClaim::SEED, perk.as_ref(), owner.as_ref()])
                }
                _ => 0,
            };
            claim + entry(key(at::REDEEM_WHITELIST), key(at::REDEEM_OWNER))
        }
        Some("grant_whitelist") => entry(key(at::GRANT_WHITELIST), key(at::GRANT_WALLET)),
        Some("join_whitelist") => entry(key(at::JOIN_WHITELIST), key(at::JOIN_OWNER)),
        Some("create_perk") => match ixs::CreatePerk::deserialize(&mut &args[..]) {
            Ok(create) => extra(&[Perk::SEED, &create.params.id.to_le_bytes()]),
            Err(_) => 0,
        },
        Some("create_whitelist") => match ixs::CreateWhitelist::deserialize(&mut &args[..]) {
            Ok(create) => extra(&[Whitelist::SEED, &create.id.to_le_bytes()]),
            Err(_) => 0,
        },
        _ => 0,
    }
}

impl ComputeUnits {
    /// `figure` plus the margin, rounded up.
    pub fn with_margin(&self, figure: u32) -> u32 {
        figure
            .saturating_mul(100 + self.margin_percent)
            .div_ceil(100)
    }

    /// The figure an instruction's limit is made from: the worst case its
    /// data allows (an award's recipient, and every batch row that can
    /// create its account, assumed new at an address a stranger prefunded),
    /// its searched PDAs at one try each, plus the tries they take beyond
    /// one.
    pub fn figure_for(&self, instruction: &Instruction) -> u32 {
        let extra = extra_bump_tries(instruction);
        let tries = self
            .bump_try
            .saturating_mul(extra.searched)
            .saturating_add(self.bump_check.saturating_mul(extra.checked));
        self.base_figure(instruction).saturating_add(tries)
    }

    /// [`Self::figure_for`] with every searched PDA at one try.
    pub fn base_figure(&self, instruction: &Instruction) -> u32 {
        if instruction.program_id == example_mint::ID {
            return self
                .instructions
                .get(EXAMPLE_MINT_NFT)
                .copied()
                .unwrap_or(MAX_UNITS);
        }
        if instruction.program_id != sparks::ID {
            return UNMEASURED_UNITS;
        }
        let data = instruction.data.as_slice();
        let args = data.get(8..).unwrap_or_default();
        match instruction_name(data) {
            Some("award") => {
                let referrer_passed = instruction
                    .accounts
                    .get(at::AWARD_REFERRER_SPARK)
                    .is_some_and(|meta| meta.pubkey != sparks::ID);
                let referral = if referrer_passed {
                    self.award
                        .paying_referrer
                        .saturating_sub(self.award.existing_account)
                } else {
                    0
                };
                self.award.new_account_prefunded.saturating_add(referral)
            }
            Some("award_batch") => match ixs::AwardBatch::deserialize(&mut &args[..]) {
                Ok(batch) => {
                    batch
                        .args
                        .recipients
                        .iter()
                        .fold(self.award_batch.base, |units, row| {
                            // A recipient with a referrer has an account already.
                            units.saturating_add(if row.with_referrer {
                                self.award_batch.referrer_row
                            } else {
                                self.award_batch.new_account_prefunded_row
                            })
                        })
                }
                Err(_) => MAX_UNITS,
            },
            Some("void_award_ids") => match ixs::VoidAwardIds::deserialize(&mut &args[..]) {
                Ok(void) => self
                    .void_award_ids
                    .base
                    .saturating_add(self.void_award_ids.per_id * u32::from(void.count)),
                Err(_) => MAX_UNITS,
            },
            Some(name) => self.instructions.get(name).copied().unwrap_or(MAX_UNITS),
            None => MAX_UNITS,
        }
    }

    /// What `instruction` needs with the margin, even past what a
    /// transaction may ask for (the packer refuses such a batch).
    pub fn requested_units(&self, instruction: &Instruction) -> u32 {
        if instruction.program_id != sparks::ID && instruction.program_id != example_mint::ID {
            return UNMEASURED_UNITS;
        }
        self.with_margin(self.figure_for(instruction))
    }

    /// Units `instruction` may use: [`Self::requested_units`], at most what
    /// a transaction may ask for.
    pub fn units_for(&self, instruction: &Instruction) -> u32 {
        self.requested_units(instruction).min(MAX_UNITS)
    }
}

/// [`ComputeUnits::figure_for`] with the committed figures.
pub fn figure_for(instruction: &Instruction) -> u32 {
    measured().figure_for(instruction)
}

/// [`ComputeUnits::requested_units`] with the committed figures.
pub fn requested_units(instruction: &Instruction) -> u32 {
    measured().requested_units(instruction)
}

/// [`ComputeUnits::units_for`] with the committed figures: what the client
/// asks for an instruction.
pub fn units_for(instruction: &Instruction) -> u32 {
    measured().units_for(instruction)
}

/// What a compute-budget instruction itself uses.
pub const BUDGET_INSTRUCTION_UNITS: u32 = 150;

/// `instructions` behind a compute-unit limit that covers them (and the
/// budget instructions themselves) and, when `micro_lamports_per_unit` is
/// not zero, a price per unit.
pub fn with_compute_budget(
    instructions: &[Instruction],
    micro_lamports_per_unit: u64,
) -> Vec<Instruction> {
    let budget_instructions = if micro_lamports_per_unit > 0 { 2 } else { 1 };
    let units = instructions
        .iter()
        .fold(BUDGET_INSTRUCTION_UNITS * budget_instructions, |sum, i| {
            sum.saturating_add(units_for(i))
        })
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
    fn every_instruction_of_the_idl_has_a_figure() {
        let idl: serde_json::Value =
            serde_json::from_str(include_str!("../../idl/sparks.json")).unwrap();
        let m = measured();
        for instruction in idl["instructions"].as_array().unwrap() {
            let name = instruction["name"].as_str().unwrap();
            let discriminator: Vec<u8> = instruction["discriminator"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_u64().unwrap() as u8)
                .collect();
            assert_eq!(instruction_name(&discriminator), Some(name));
            let modelled = ["award", "award_batch", "void_award_ids"].contains(&name);
            // consume_whitelist_spot only runs inside a mint program's
            // instruction, which carries its figure.
            let inner = name == "consume_whitelist_spot";
            assert!(
                modelled || inner || m.instructions.contains_key(name),
                "{name} has no figure"
            );
        }
        assert!(m.instructions.contains_key(EXAMPLE_MINT_NFT));
    }

    #[test]
    fn a_batch_asks_for_its_rows_and_its_bump_tries() {
        let m = measured();
        let issuer = Pubkey::new_unique();
        let rows: Vec<BatchRow> = (0..20).map(|i| row(i % 2 == 0)).collect();
        let batch = ix::award_batch(&issuer, Source::Trading, [0; 32], 0, &rows);
        let tries: u32 = rows
            .iter()
            .filter(|r| r.referrer.is_none())
            .map(|r| (spark_bump_tries(&r.wallet) - 1) * m.bump_check)
            .sum();
        let extra = extra_bump_tries(&batch);
        assert_eq!(extra.searched, 0, "a batch passes its bumps");
        assert_eq!(extra.checked * m.bump_check, tries);
        assert_eq!(
            figure_for(&batch),
            m.award_batch.base
                + 10 * m.award_batch.referrer_row
                + 10 * m.award_batch.new_account_prefunded_row
                + tries
        );
        assert_eq!(units_for(&batch), m.with_margin(figure_for(&batch)));
        let with = with_compute_budget(std::slice::from_ref(&batch), 0);
        assert_eq!(with.len(), 2, "no price instruction without a fee");
        assert_eq!(
            with[0],
            ComputeBudgetInstruction::set_compute_unit_limit(
                units_for(&batch) + BUDGET_INSTRUCTION_UNITS
            )
        );
        assert!(is_budget_instruction(&with[0]));
        let with_fee = with_compute_budget(std::slice::from_ref(&batch), 5_000);
        assert_eq!(with_fee.len(), 3);
        assert_eq!(with_fee[2], batch);
    }

    #[test]
    fn an_award_counts_its_referrer_and_its_recipients_bump() {
        let m = measured();
        let issuer = Pubkey::new_unique();
        let args = sparks::instructions::AwardArgs {
            source: Source::Trading,
            amount: 1,
            reference: [0; 32],
            award_id: 0,
        };
        let wallet = Pubkey::new_unique();
        let tries = (spark_bump_tries(&wallet) - 1) * m.bump_check;
        let plain = ix::award(&issuer, &wallet, None, args);
        let referred = ix::award(&issuer, &wallet, Some(&Pubkey::new_unique()), args);
        assert_eq!(figure_for(&plain), m.award.new_account_prefunded + tries);
        assert_eq!(
            figure_for(&referred) - figure_for(&plain),
            m.award.paying_referrer - m.award.existing_account
        );
    }

    #[test]
    fn what_is_past_a_transactions_limit_is_asked_for_as_the_limit_and_known_as_more() {
        // 65,535 ids voided: more than 1.4M units with the margin.
        let void = ix::void_award_ids(&Pubkey::new_unique(), 0, u16::MAX);
        assert!(requested_units(&void) > MAX_UNITS);
        assert_eq!(units_for(&void), MAX_UNITS);
    }

    #[test]
    fn the_accounts_the_pda_searches_read_are_where_the_idl_puts_them() {
        let idl: serde_json::Value =
            serde_json::from_str(include_str!("../../idl/sparks.json")).unwrap();
        let account = |instruction: &str, index: usize| -> String {
            idl["instructions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["name"] == instruction)
                .unwrap_or_else(|| panic!("{instruction} in the IDL"))["accounts"][index]["name"]
                .as_str()
                .unwrap_or_else(|| panic!("{instruction} has an account {index}"))
                .to_owned()
        };
        for (instruction, index, name) in [
            ("award", at::AWARD_RECIPIENT, "recipient"),
            ("award", at::AWARD_REFERRER_SPARK, "referrer_spark"),
            ("set_referrer", at::SET_REFERRER_INVITEE, "invitee"),
            ("set_referrer", at::SET_REFERRER_REFERRER, "referrer"),
            ("upsert_issuer", at::UPSERT_ISSUER_AUTHORITY, "authority"),
            ("redeem_perk", at::REDEEM_OWNER, "owner"),
            ("redeem_perk", at::REDEEM_PERK, "perk"),
            ("redeem_perk", at::REDEEM_WHITELIST, "whitelist"),
            ("grant_whitelist", at::GRANT_WHITELIST, "whitelist"),
            ("grant_whitelist", at::GRANT_WALLET, "wallet"),
            ("join_whitelist", at::JOIN_OWNER, "owner"),
            ("join_whitelist", at::JOIN_WHITELIST, "whitelist"),
        ] {
            assert_eq!(account(instruction, index), name, "{instruction}[{index}]");
        }
        let named = idl["instructions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == "award_batch")
            .unwrap()["accounts"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(named, at::BATCH_NAMED);
    }
}
