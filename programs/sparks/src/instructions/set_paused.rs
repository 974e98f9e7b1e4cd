use anchor_lang::prelude::*;

use crate::error::SparksError;
use crate::events::PauseChanged;
use crate::state::Config;

/// `pause` and `unpause`: while paused, awards, redeems, joins and consumes
/// fail; admin instructions and reads keep working.
///
/// Accounts: `[signer]` admin, `[writable]` config, event authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct SetPaused<'info> {
    pub admin: Signer<'info>,
    #[account(mut, seeds = [Config::SEED], bump = config.bump, has_one = admin @ SparksError::Unauthorized)]
    pub config: Account<'info, Config>,
}

pub fn handle_set_paused(ctx: Context<SetPaused>, paused: bool) -> Result<()> {
    let config = &mut ctx.accounts.config;
    config.paused = paused;
    config.seq = config.seq.checked_add(1).ok_or(SparksError::MathOverflow)?;
    let config = (**config).clone();
    emit_cpi!(PauseChanged { config });
    Ok(())
}
