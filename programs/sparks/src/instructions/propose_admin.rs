use anchor_lang::prelude::*;

use crate::error::SparksError;
use crate::events::AdminProposed;
use crate::state::Config;

/// First step of the admin hand-over: names the next admin, who must accept.
/// Proposing `None` cancels a pending hand-over.
///
/// Accounts: `[signer]` admin, `[writable]` config, event authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct ProposeAdmin<'info> {
    pub admin: Signer<'info>,
    #[account(mut, seeds = [Config::SEED], bump = config.bump, has_one = admin @ SparksError::Unauthorized)]
    pub config: Account<'info, Config>,
}

pub fn handle_propose_admin(ctx: Context<ProposeAdmin>, new_admin: Option<Pubkey>) -> Result<()> {
    let config = &mut ctx.accounts.config;
    config.pending_admin = new_admin;
    config.seq = config.seq.checked_add(1).ok_or(SparksError::MathOverflow)?;
    let config = (**config).clone();
    emit_cpi!(AdminProposed { config });
    Ok(())
}
