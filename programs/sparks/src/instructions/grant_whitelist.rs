use anchor_lang::prelude::*;

use crate::account_io::store;
use crate::error::SparksError;
use crate::events::WhitelistSpotGranted;
use crate::granting::{grant_spots, load_or_create_entry};
use crate::state::{GrantVia, Whitelist, WhitelistEntry};

/// The whitelist's admin grants `spots` to a wallet (creating its entry).
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
    /// CHECK: created or loaded by hand; address fixed by seeds.
    #[account(mut, seeds = [WhitelistEntry::SEED, whitelist.key().as_ref(), wallet.key().as_ref()], bump)]
    pub entry: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handle_grant_whitelist(ctx: Context<GrantWhitelist>, spots: u16) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let (mut entry, is_new) = load_or_create_entry(
        &ctx.accounts.admin.to_account_info(),
        &ctx.accounts.entry,
        ctx.accounts.whitelist.key(),
        ctx.accounts.wallet.key(),
        ctx.bumps.entry,
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
