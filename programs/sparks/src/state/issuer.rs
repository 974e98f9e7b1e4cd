use anchor_lang::prelude::*;

use crate::constants::ISSUER_SEED;
use crate::error::SparksError;
use crate::state::Source;

/// A key the app's back end awards with. Its cap bounds what a stolen key can mint.
#[account]
#[derive(InitSpace, Debug, PartialEq, Eq)]
pub struct Issuer {
    pub authority: Pubkey,
    /// Bit set of [`Source::bit`].
    pub allowed_sources: u8,
    /// Most Sparks (awards plus referral credits) the issuer may mint per period.
    pub cap_per_period: u64,
    pub period_secs: u32,
    /// Unix time the current period began.
    pub period_start: i64,
    pub used_in_period: u64,
    /// All Sparks this issuer ever minted, referral credits included.
    pub total_minted: u64,
    pub active: bool,
    /// Bumped on settings changes (upsert, deactivate), not on usage.
    pub seq: u64,
    pub bump: u8,
}

impl Issuer {
    pub const SEED: &'static [u8] = ISSUER_SEED;

    pub fn allows(&self, source: Source) -> bool {
        self.allowed_sources & source.bit() != 0
    }

    /// Charges `minted` Sparks against the cap, rolling the period forward first.
    pub fn charge(&mut self, minted: u64, now: i64) -> Result<()> {
        let period = i64::from(self.period_secs);
        if now >= self.period_start.saturating_add(period) {
            // Align to the period grid so a cap cannot be stretched by timing.
            let elapsed = now.saturating_sub(self.period_start);
            self.period_start = now - elapsed % period.max(1);
            self.used_in_period = 0;
        }
        let used = self
            .used_in_period
            .checked_add(minted)
            .ok_or(SparksError::MathOverflow)?;
        require!(used <= self.cap_per_period, SparksError::IssuerCapExceeded);
        self.used_in_period = used;
        self.total_minted = self
            .total_minted
            .checked_add(minted)
            .ok_or(SparksError::MathOverflow)?;
        Ok(())
    }
}
