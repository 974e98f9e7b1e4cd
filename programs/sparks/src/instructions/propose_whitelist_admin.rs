use anchor_lang::prelude::*;

use crate::error::SparksError;
use crate::events::WhitelistAdminProposed;
use crate::state::Whitelist;

/// The whitelist's admin names its successor, or with `None` cancels a
/// proposal. Nothing changes hands until the successor signs
/// `accept_whitelist_admin`, so a mistyped key cannot lock the whitelist.
///
/// Accounts: `[signer]` whitelist admin, `[writable]` whitelist, event authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct ProposeWhitelistAdmin<'info> {
    pub admin: Signer<'info>,
    #[account(
        mut,
        seeds = [Whitelist::SEED, &whitelist.id.to_le_bytes()],
        bump = whitelist.bump,
        has_one = admin @ SparksError::Unauthorized,
    )]
    pub whitelist: Box<Account<'info, Whitelist>>,
}

pub fn handle_propose_whitelist_admin(
    ctx: Context<ProposeWhitelistAdmin>,
    new_admin: Option<Pubkey>,
) -> Result<()> {
    let whitelist = &mut ctx.accounts.whitelist;
    whitelist.pending_admin = new_admin;
    whitelist.seq = whitelist
        .seq
        .checked_add(1)
        .ok_or(SparksError::MathOverflow)?;
    let whitelist = Whitelist::clone(whitelist);
    emit_cpi!(WhitelistAdminProposed { whitelist });
    Ok(())
}
