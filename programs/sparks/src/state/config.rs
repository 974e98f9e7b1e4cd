use anchor_lang::prelude::*;

use crate::constants::CONFIG_SEED;
use crate::error::SparksError;
use crate::state::checked_add;

/// Program-wide settings and the totals that back the supply invariant
/// `sum(SparkAccount.balance) == outstanding`.
#[account]
#[derive(InitSpace, Debug, PartialEq, Eq)]
pub struct Config {
    pub admin: Pubkey,
    /// Set by `propose_admin`; the hand-over completes only when it signs `accept_admin`.
    pub pending_admin: Option<Pubkey>,
    pub paused: bool,
    /// Share of a trading award credited to the invitee's referrer, in basis points.
    pub referral_trade_share_bps: u16,
    /// Credited to the referrer on an invitee's first subscription award.
    pub first_subscription_bonus: u64,
    /// Largest `amount` one award (or one batch row) may carry.
    pub max_award_per_ix: u64,
    /// Sparks in existence: awarded - spent - revoked.
    pub outstanding: u64,
    pub total_awarded: u64,
    pub total_spent: u64,
    pub total_revoked: u64,
    /// Bumped on every settings change (not on totals, which move with every
    /// award; the indexer derives those from SparkAccount events).
    pub seq: u64,
    pub bump: u8,
}

impl Config {
    pub const SEED: &'static [u8] = CONFIG_SEED;

    /// New Sparks entered circulation (an award and its referral credit).
    pub fn record_minted(&mut self, amount: u64) -> Result<()> {
        self.outstanding = checked_add(self.outstanding, amount)?;
        self.total_awarded = checked_add(self.total_awarded, amount)?;
        Ok(())
    }

    /// Sparks burned by a redemption.
    pub fn record_spent(&mut self, amount: u64) -> Result<()> {
        self.outstanding = self
            .outstanding
            .checked_sub(amount)
            .ok_or(SparksError::MathOverflow)?;
        self.total_spent = checked_add(self.total_spent, amount)?;
        Ok(())
    }

    /// Sparks clawed back by the admin.
    pub fn record_revoked(&mut self, amount: u64) -> Result<()> {
        self.outstanding = self
            .outstanding
            .checked_sub(amount)
            .ok_or(SparksError::MathOverflow)?;
        self.total_revoked = checked_add(self.total_revoked, amount)?;
        Ok(())
    }
}
