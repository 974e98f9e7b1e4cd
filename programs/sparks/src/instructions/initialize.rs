use anchor_lang::prelude::*;

use crate::account_io::{create_pda_account, space_of};
use crate::events::ConfigInitialized;
use crate::instructions::update_config::ConfigParams;
use crate::state::Config;

/// Creates the Config; the signer becomes the admin.
///
/// Accounts: `[writable, signer]` admin (pays rent), `[writable]` config PDA,
/// system program, event authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct Initialize<'info> {
    #[account(mut)]
    pub admin: Signer<'info>,
    /// CHECK: created here through `create_pda_account`; address fixed by seeds.
    #[account(mut, seeds = [Config::SEED], bump)]
    pub config: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handle_initialize(ctx: Context<Initialize>, params: ConfigParams) -> Result<()> {
    // Guards.
    params.validate()?;

    // State change.
    let bump = ctx.bumps.config;
    create_pda_account(
        &ctx.accounts.admin,
        &ctx.accounts.config,
        space_of(Config::INIT_SPACE),
        &[Config::SEED, &[bump]],
    )?;
    let mut config = Config {
        admin: ctx.accounts.admin.key(),
        pending_admin: None,
        paused: false,
        referral_trade_share_bps: 0,
        first_subscription_bonus: 0,
        max_award_per_ix: 0,
        outstanding: 0,
        total_awarded: 0,
        total_spent: 0,
        total_revoked: 0,
        seq: 1,
        bump,
    };
    params.apply(&mut config);
    crate::account_io::store(&ctx.accounts.config, &config)?;
    emit_cpi!(ConfigInitialized { config });
    Ok(())
}
