//! Program-derived addresses, from the seeds the program crate defines.

use anchor_lang::prelude::Pubkey;
use sparks::state::{Config, Issuer, Perk, PerkClaim, SparkAccount, Whitelist};

pub fn config() -> Pubkey {
    Pubkey::find_program_address(&[Config::SEED], &sparks::ID).0
}

pub fn issuer(authority: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[Issuer::SEED, authority.as_ref()], &sparks::ID).0
}

pub fn spark(owner: &Pubkey) -> Pubkey {
    spark_with_bump(owner).0
}

/// `owner`'s SparkAccount and its bump, which `award` and `award_batch` take
/// so the program checks it instead of searching (see the program's `pda`).
pub fn spark_with_bump(owner: &Pubkey) -> (Pubkey, u8) {
    Pubkey::find_program_address(&[SparkAccount::SEED, owner.as_ref()], &sparks::ID)
}

pub fn perk(id: u64) -> Pubkey {
    Pubkey::find_program_address(&[Perk::SEED, &id.to_le_bytes()], &sparks::ID).0
}

pub fn claim(perk: &Pubkey, owner: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(
        &[PerkClaim::SEED, perk.as_ref(), owner.as_ref()],
        &sparks::ID,
    )
    .0
}

pub fn whitelist(id: u64) -> Pubkey {
    Pubkey::find_program_address(&[Whitelist::SEED, &id.to_le_bytes()], &sparks::ID).0
}

pub fn whitelist_entry(whitelist: &Pubkey, wallet: &Pubkey) -> Pubkey {
    sparks::onchain::whitelist_entry_address(whitelist, wallet).0
}

/// The upgradeable loader's ProgramData of the Sparks program: where its
/// upgrade authority is kept (`initialize` checks it).
pub fn program_data() -> Pubkey {
    Pubkey::find_program_address(
        &[sparks::ID.as_ref()],
        &anchor_lang::solana_program::bpf_loader_upgradeable::ID,
    )
    .0
}

/// The PDA that signs `emit_cpi!` self-invocations.
pub fn event_authority() -> Pubkey {
    sparks::EVENT_AUTHORITY_AND_BUMP.0
}
