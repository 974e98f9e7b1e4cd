//! Helpers for programs that integrate with Sparks on-chain (e.g. NFT mints).
//!
//! A mint program that only needs to *check* eligibility can verify the
//! accounts it was handed with [`verify_whitelist_entry`], without a CPI. To
//! *use* a spot it calls `consume_whitelist_spot` through this crate's `cpi`
//! feature, signing as the whitelist's consumer PDA.

use anchor_lang::prelude::*;

use crate::error::SparksError;
use crate::state::{Config, Whitelist, WhitelistEntry};

/// The address of `wallet`'s entry in `whitelist`.
pub fn whitelist_entry_address(whitelist: &Pubkey, wallet: &Pubkey) -> (Pubkey, u8) {
    Pubkey::find_program_address(
        &[WhitelistEntry::SEED, whitelist.as_ref(), wallet.as_ref()],
        &crate::ID,
    )
}

/// A Sparks account of type `T`, checked to be owned by this program.
fn read<T: AccountDeserialize>(info: &AccountInfo) -> Result<T> {
    require_keys_eq!(*info.owner, crate::ID, SparksError::WrongAccountOwner);
    let data = info.try_borrow_data()?;
    T::try_deserialize(&mut &data[..])
}

/// Checks, at unix time `now`, that `wallet` may use a spot of the
/// whitelist now through `consumer` (the calling mint program's PDA),
/// exactly as `consume_whitelist_spot` would judge it: the whitelist's
/// consumer is `consumer`, `entry` is the Sparks WhitelistEntry of `wallet`
/// in `whitelist` with a spot left, the whitelist is active and open
/// (`starts_at <= now < ends_at`), and the program is not paused (`config`
/// is the Sparks Config). Every account is checked to be the program's, at
/// its PDA. Returns the entry.
///
/// Reads only and consumes nothing: a mint that verifies and never calls
/// `consume_whitelist_spot` would let one spot mint without limit. Mint
/// with the CPI; use this for a clear error before it.
pub fn verify_whitelist_entry(
    entry: &AccountInfo,
    whitelist: &AccountInfo,
    config: &AccountInfo,
    wallet: &Pubkey,
    consumer: &Pubkey,
    now: i64,
) -> Result<WhitelistEntry> {
    let decoded_config: Config = read(config)?;
    let config_address =
        Pubkey::create_program_address(&[Config::SEED, &[decoded_config.bump]], &crate::ID)
            .map_err(|_| SparksError::InvalidPda)?;
    require_keys_eq!(config_address, *config.key, SparksError::InvalidPda);
    require!(!decoded_config.paused, SparksError::Paused);

    let decoded_whitelist: Whitelist = read(whitelist)?;
    let whitelist_address = Pubkey::create_program_address(
        &[
            Whitelist::SEED,
            &decoded_whitelist.id.to_le_bytes(),
            &[decoded_whitelist.bump],
        ],
        &crate::ID,
    )
    .map_err(|_| SparksError::InvalidPda)?;
    require_keys_eq!(whitelist_address, *whitelist.key, SparksError::InvalidPda);
    require_keys_eq!(
        decoded_whitelist.consumer,
        *consumer,
        SparksError::WrongConsumer
    );
    require!(decoded_whitelist.active, SparksError::WhitelistInactive);
    require!(decoded_whitelist.is_open(now), SparksError::OutsideWindow);

    let decoded: WhitelistEntry = read(entry)?;
    let address = Pubkey::create_program_address(
        &[
            WhitelistEntry::SEED,
            whitelist.key.as_ref(),
            wallet.as_ref(),
            &[decoded.bump],
        ],
        &crate::ID,
    )
    .map_err(|_| SparksError::InvalidPda)?;
    require_keys_eq!(address, *entry.key, SparksError::InvalidPda);
    require!(
        decoded.whitelist == *whitelist.key && decoded.wallet == *wallet,
        SparksError::EntryMismatch
    );
    require!(decoded.spots_left() > 0, SparksError::NoSpotsLeft);
    Ok(decoded)
}
