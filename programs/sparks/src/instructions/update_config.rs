use anchor_lang::prelude::*;

use crate::constants::MAX_BPS;
use crate::error::SparksError;
use crate::events::ConfigUpdated;
use crate::state::{quantity, Config};

/// The settings an admin chooses; totals and roles are not among them.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigParams {
    pub referral_trade_share_bps: u16,
    pub first_subscription_bonus: u64,
    pub max_award_per_ix: u64,
}

impl ConfigParams {
    pub fn validate(&self) -> Result<()> {
        require!(
            self.referral_trade_share_bps <= MAX_BPS,
            SparksError::InvalidBps
        );
        require!(self.max_award_per_ix > 0, SparksError::ZeroValue);
        quantity(self.first_subscription_bonus)?;
        quantity(self.max_award_per_ix)?;
        Ok(())
    }

    pub fn apply(&self, config: &mut Config) {
        config.referral_trade_share_bps = self.referral_trade_share_bps;
        config.first_subscription_bonus = self.first_subscription_bonus;
        config.max_award_per_ix = self.max_award_per_ix;
    }
}

/// Changes the Config's settings.
///
/// Accounts: `[signer]` admin, `[writable]` config, event authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct UpdateConfig<'info> {
    pub admin: Signer<'info>,
    #[account(mut, seeds = [Config::SEED], bump = config.bump, has_one = admin @ SparksError::Unauthorized)]
    pub config: Account<'info, Config>,
}

pub fn handle_update_config(ctx: Context<UpdateConfig>, params: ConfigParams) -> Result<()> {
    params.validate()?;

    let config = &mut ctx.accounts.config;
    params.apply(config);
    config.seq = config.seq.checked_add(1).ok_or(SparksError::MathOverflow)?;
    let config = (**config).clone();
    emit_cpi!(ConfigUpdated { config });
    Ok(())
}
