use anchor_lang::prelude::*;

use crate::account_io::{is_uninitialized, store};
use crate::error::SparksError;
use crate::events::WhitelistSpotGranted;
use crate::granting::{grant_spots, load_or_create_entry};
use crate::state::{GrantVia, Whitelist, WhitelistEntry};

/// The whitelist's admin grants `spots` to a wallet (creating its entry).
/// `entry_bump` is the bump of the entry's PDA: checked when the grant
/// creates the entry (it must be the canonical one), unused otherwise, so a
/// wallet picked to make its PDA's search long costs the admin nothing more
/// than the client counts (see `pda`).
///
/// Accounts: `[writable, signer]` whitelist admin (pays rent), `[writable]`
/// whitelist, wallet, `[writable]` entry PDA, system program, event authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct GrantWhitelist<'info> {
    #[account(mut)]
    pub admin: Signer<'info>,
    #[account(
        mut,
        seeds = [Whitelist::SEED, &whitelist.id.to_le_bytes()],
        bump = whitelist.bump,
        has_one = admin @ SparksError::Unauthorized,
    )]
    pub whitelist: Box<Account<'info, Whitelist>>,
    /// CHECK: any wallet may be granted a spot.
    pub wallet: UncheckedAccount<'info>,
    /// CHECK: loaded by hand (its data proves its address) or created at the address `entry_bump` is checked to make.
    #[account(mut)]
    pub entry: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handle_grant_whitelist(
    ctx: Context<GrantWhitelist>,
    spots: u16,
    entry_bump: u8,
) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let whitelist_key = ctx.accounts.whitelist.key();
    let wallet_key = ctx.accounts.wallet.key();
    if is_uninitialized(&ctx.accounts.entry) {
        crate::pda::check_canonical_pda(
            ctx.accounts.entry.key,
            &[
                WhitelistEntry::SEED,
                whitelist_key.as_ref(),
                wallet_key.as_ref(),
            ],
            entry_bump,
        )?;
    }
    let (mut entry, is_new) = load_or_create_entry(
        &ctx.accounts.admin.to_account_info(),
        &ctx.accounts.entry,
        whitelist_key,
        wallet_key,
        entry_bump,
    )?;
    grant_spots(
        &mut ctx.accounts.whitelist,
        &mut entry,
        is_new,
        spots,
        GrantVia::Admin,
        now,
    )?;
    store(&ctx.accounts.entry, &entry)?;
    let whitelist = Whitelist::clone(&ctx.accounts.whitelist);
    emit_cpi!(WhitelistSpotGranted {
        via: GrantVia::Admin,
        spots,
        whitelist,
        entry,
    });
    Ok(())
}
