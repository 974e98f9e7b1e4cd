//! Creating and reading program accounts by hand.
//!
//! Anchor's `init` switches to `CreateAccountAllowPrefund` when the address
//! already holds lamports, and the system program of Agave 3.1 rejects that
//! instruction. Anyone can send lamports to a PDA that does not exist yet, so
//! `init` would let a stranger lock a wallet out of Sparks for the price of a
//! transfer. Every account this program creates goes through
//! [`create_pda_account`], which tops the account up, allocates and assigns it
//! — three instructions the system program accepts on a prefunded address.

use anchor_lang::prelude::*;
use anchor_lang::system_program::{self, Allocate, Assign, CreateAccount, Transfer};

use crate::error::SparksError;

/// Creates the PDA `target` with `space` bytes owned by this program, the
/// payer covering rent. Works whether or not `target` already holds lamports.
pub fn create_pda_account<'info>(
    payer: &AccountInfo<'info>,
    target: &AccountInfo<'info>,
    space: usize,
    signer_seeds: &[&[u8]],
) -> Result<()> {
    require_keys_eq!(
        *target.owner,
        system_program::ID,
        SparksError::AccountAlreadyInitialized
    );
    require!(
        target.data_is_empty(),
        SparksError::AccountAlreadyInitialized
    );

    let required = Rent::get()?.minimum_balance(space);
    let current = target.lamports();
    let signer = &[signer_seeds];
    if current == 0 {
        system_program::create_account(
            CpiContext::new_with_signer(
                system_program::ID,
                CreateAccount {
                    from: payer.clone(),
                    to: target.clone(),
                },
                signer,
            ),
            required,
            space as u64,
            &crate::ID,
        )?;
        return Ok(());
    }
    if required > current {
        system_program::transfer(
            CpiContext::new(
                system_program::ID,
                Transfer {
                    from: payer.clone(),
                    to: target.clone(),
                },
            ),
            required - current,
        )?;
    }
    system_program::allocate(
        CpiContext::new_with_signer(
            system_program::ID,
            Allocate {
                account_to_allocate: target.clone(),
            },
            signer,
        ),
        space as u64,
    )?;
    system_program::assign(
        CpiContext::new_with_signer(
            system_program::ID,
            Assign {
                account_to_assign: target.clone(),
            },
            signer,
        ),
        &crate::ID,
    )
}

/// Whether `info` still has to be created (system-owned and empty).
pub fn is_uninitialized(info: &AccountInfo) -> bool {
    *info.owner == system_program::ID && info.data_is_empty()
}

/// Reads a program account, checking owner and discriminator.
pub fn load<T: AccountDeserialize>(info: &AccountInfo) -> Result<T> {
    require_keys_eq!(*info.owner, crate::ID, SparksError::WrongAccountOwner);
    let data = info.try_borrow_data()?;
    T::try_deserialize(&mut &data[..])
}

/// Writes a program account (discriminator included). Accounts written by
/// hand (remaining accounts, unchecked ones) get no `mut` constraint from
/// Anchor, so writability is checked here: the SBF runtime would refuse the
/// write only after the instruction, and a native runtime drops it silently
/// (found by the fuzz test: a batch award to a read-only account credited
/// the supply but not the balance natively).
pub fn store<T: AccountSerialize>(info: &AccountInfo, value: &T) -> Result<()> {
    require!(
        info.is_writable,
        anchor_lang::error::ErrorCode::ConstraintMut
    );
    let mut data = info.try_borrow_mut_data()?;
    let mut writer: &mut [u8] = &mut data;
    value.try_serialize(&mut writer)
}

/// Account size including Anchor's 8-byte discriminator.
pub const fn space_of(init_space: usize) -> usize {
    8 + init_space
}

/// [`load_or_create_spark`] for an account whose address nothing has
/// checked yet, `claimed_bump` being the caller's word for its bump: an
/// existing account's data proves its address; a new one's address and bump
/// are checked (`pda::check_canonical_pda`) before it is created. Where a
/// stranger picks the wallet (an award), this costs what the client counts
/// from the wallet, never a search the stranger can make long.
pub fn load_or_create_spark_checked<'info>(
    payer: &AccountInfo<'info>,
    info: &AccountInfo<'info>,
    owner: Pubkey,
    claimed_bump: u8,
) -> Result<(crate::state::SparkAccount, bool)> {
    use crate::state::SparkAccount;
    if is_uninitialized(info) {
        crate::pda::check_canonical_pda(
            info.key,
            &[SparkAccount::SEED, owner.as_ref()],
            claimed_bump,
        )?;
    }
    load_or_create_spark(payer, info, owner, claimed_bump)
}

/// Loads `owner`'s SparkAccount, or creates it (rent from `payer`) when it
/// does not exist yet, `bump` being its checked bump. Returns the account
/// and whether it is new.
pub fn load_or_create_spark<'info>(
    payer: &AccountInfo<'info>,
    info: &AccountInfo<'info>,
    owner: Pubkey,
    bump: u8,
) -> Result<(crate::state::SparkAccount, bool)> {
    use crate::state::SparkAccount;
    if !is_uninitialized(info) {
        let account: SparkAccount = load(info)?;
        // Program-owned SparkAccount data only ever lives at its owner's PDA.
        require_keys_eq!(account.owner, owner, SparksError::InvalidPda);
        return Ok((account, false));
    }
    create_pda_account(
        payer,
        info,
        space_of(SparkAccount::INIT_SPACE),
        &[SparkAccount::SEED, owner.as_ref(), &[bump]],
    )?;
    Ok((SparkAccount::new(owner, bump), true))
}
