//! Helpers for programs that integrate with Sparks on-chain (e.g. NFT mints).
//!
//! A mint program that only needs to *check* eligibility can verify a
//! WhitelistEntry account it was handed with [`verify_whitelist_entry`],
//! without a CPI. To *use* a spot it calls `consume_whitelist_spot` through
//! this crate's `cpi` feature, signing as the whitelist's consumer PDA.

use anchor_lang::prelude::*;

use crate::error::SparksError;
use crate::state::WhitelistEntry;

/// The address of `wallet`'s entry in `whitelist`.
pub fn whitelist_entry_address(whitelist: &Pubkey, wallet: &Pubkey) -> (Pubkey, u8) {
    Pubkey::find_program_address(
        &[WhitelistEntry::SEED, whitelist.as_ref(), wallet.as_ref()],
        &crate::ID,
    )
}

/// Checks that `entry` is the Sparks WhitelistEntry of `wallet` in
/// `whitelist` (owned by this program, at its PDA, matching data) with at
/// least one spot left, and returns it. Reads only; consumes nothing.
pub fn verify_whitelist_entry(
    entry: &AccountInfo,
    whitelist: &Pubkey,
    wallet: &Pubkey,
) -> Result<WhitelistEntry> {
    require_keys_eq!(*entry.owner, crate::ID, SparksError::WrongAccountOwner);
    let data = entry.try_borrow_data()?;
    let decoded = WhitelistEntry::try_deserialize(&mut &data[..])?;
    let address = Pubkey::create_program_address(
        &[
            WhitelistEntry::SEED,
            whitelist.as_ref(),
            wallet.as_ref(),
            &[decoded.bump],
        ],
        &crate::ID,
    )
    .map_err(|_| SparksError::InvalidPda)?;
    require_keys_eq!(address, *entry.key, SparksError::InvalidPda);
    require!(
        decoded.whitelist == *whitelist && decoded.wallet == *wallet,
        SparksError::EntryMismatch
    );
    require!(decoded.spots_left() > 0, SparksError::NoSpotsLeft);
    Ok(decoded)
}
