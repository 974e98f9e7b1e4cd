//! Granting whitelist spots, shared by `grant_whitelist`, `join_whitelist` and
//! `redeem_perk` (NftWhitelist perks).

use anchor_lang::prelude::*;

use crate::account_io::{create_pda_account, is_uninitialized, load, space_of};
use crate::error::SparksError;
use crate::state::{GrantVia, Whitelist, WhitelistEntry};

/// Loads the wallet's entry, or creates it (rent from `payer`) when missing.
/// Returns the entry and whether it is new.
pub fn load_or_create_entry<'info>(
    payer: &AccountInfo<'info>,
    entry_info: &AccountInfo<'info>,
    whitelist: Pubkey,
    wallet: Pubkey,
    bump: u8,
) -> Result<(WhitelistEntry, bool)> {
    if !is_uninitialized(entry_info) {
        let entry: WhitelistEntry = load(entry_info)?;
        require!(
            entry.whitelist == whitelist && entry.wallet == wallet,
            SparksError::EntryMismatch
        );
        return Ok((entry, false));
    }
    create_pda_account(
        payer,
        entry_info,
        space_of(WhitelistEntry::INIT_SPACE),
        &[
            WhitelistEntry::SEED,
            whitelist.as_ref(),
            wallet.as_ref(),
            &[bump],
        ],
    )?;
    let entry = WhitelistEntry {
        whitelist,
        wallet,
        spots_granted: 0,
        spots_used: 0,
        obtained_via: 0,
        seq: 0,
        bump,
    };
    Ok((entry, true))
}

/// Grants `spots` to `entry` within the whitelist's limits.
pub fn grant_spots(
    whitelist: &mut Whitelist,
    entry: &mut WhitelistEntry,
    is_new: bool,
    spots: u16,
    via: GrantVia,
    now: i64,
) -> Result<()> {
    require!(spots > 0, SparksError::ZeroValue);
    require!(whitelist.active, SparksError::WhitelistInactive);
    require!(now < whitelist.ends_at, SparksError::OutsideWindow);

    let wallet_spots = entry
        .spots_granted
        .checked_add(spots)
        .ok_or(SparksError::MathOverflow)?;
    require!(
        wallet_spots <= whitelist.spots_per_wallet,
        SparksError::WalletSpotLimitReached
    );
    let granted = whitelist
        .spots_granted
        .checked_add(u32::from(spots))
        .ok_or(SparksError::MathOverflow)?;
    require!(granted <= whitelist.capacity, SparksError::WhitelistFull);

    entry.spots_granted = wallet_spots;
    entry.obtained_via |= via.bit();
    entry.seq = entry.seq.checked_add(1).ok_or(SparksError::MathOverflow)?;
    whitelist.spots_granted = granted;
    if is_new {
        whitelist.entries = whitelist
            .entries
            .checked_add(1)
            .ok_or(SparksError::MathOverflow)?;
    }
    whitelist.seq = whitelist
        .seq
        .checked_add(1)
        .ok_or(SparksError::MathOverflow)?;
    Ok(())
}
