use anchor_lang::prelude::*;

use crate::error::SparksError;
use crate::events::AdminAccepted;
use crate::state::Config;

/// Second step of the hand-over: the pending admin signs and becomes admin.
///
/// Accounts: `[signer]` new admin, `[writable]` config, event authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct AcceptAdmin<'info> {
    pub new_admin: Signer<'info>,
    #[account(
        mut,
        seeds = [Config::SEED],
        bump = config.bump,
        constraint = config.pending_admin == Some(new_admin.key()) @ SparksError::NotPendingAdmin,
    )]
    pub config: Account<'info, Config>,
}

pub fn handle_accept_admin(ctx: Context<AcceptAdmin>) -> Result<()> {
    let config = &mut ctx.accounts.config;
    let previous_admin = config.admin;
    config.admin = ctx.accounts.new_admin.key();
    config.pending_admin = None;
    config.seq = config.seq.checked_add(1).ok_or(SparksError::MathOverflow)?;
    let config = (**config).clone();
    emit_cpi!(AdminAccepted {
        previous_admin,
        config
    });
    Ok(())
}
