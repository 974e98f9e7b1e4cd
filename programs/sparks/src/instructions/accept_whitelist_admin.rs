use anchor_lang::prelude::*;

use crate::error::SparksError;
use crate::events::WhitelistAdminAccepted;
use crate::state::Whitelist;

/// The proposed admin takes the whitelist over.
///
/// Accounts: `[signer]` pending whitelist admin, `[writable]` whitelist,
/// event authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct AcceptWhitelistAdmin<'info> {
    pub new_admin: Signer<'info>,
    #[account(
        mut,
        seeds = [Whitelist::SEED, &whitelist.id.to_le_bytes()],
        bump = whitelist.bump,
        constraint = whitelist.pending_admin == Some(new_admin.key()) @ SparksError::NotPendingWhitelistAdmin,
    )]
    pub whitelist: Box<Account<'info, Whitelist>>,
}

pub fn handle_accept_whitelist_admin(ctx: Context<AcceptWhitelistAdmin>) -> Result<()> {
    let whitelist = &mut ctx.accounts.whitelist;
    let previous_admin = whitelist.admin;
    whitelist.admin = ctx.accounts.new_admin.key();
    whitelist.pending_admin = None;
    whitelist.seq = whitelist
        .seq
        .checked_add(1)
        .ok_or(SparksError::MathOverflow)?;
    let whitelist = Whitelist::clone(whitelist);
    emit_cpi!(WhitelistAdminAccepted {
        previous_admin,
        whitelist
    });
    Ok(())
}
