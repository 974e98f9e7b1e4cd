use anchor_lang::prelude::*;

use crate::constants::{MAX_QUANTITY, SPARK_SEED};
use crate::error::SparksError;
use crate::state::Source;

/// A wallet's Sparks. Only the program moves its numbers; there is no transfer.
#[account]
#[derive(InitSpace, Debug, PartialEq, Eq)]
pub struct SparkAccount {
    pub owner: Pubkey,
    pub balance: u64,
    pub lifetime_earned: u64,
    pub lifetime_spent: u64,
    pub lifetime_revoked: u64,
    /// Indexed by [`Source::index`]; sums to `lifetime_earned`.
    pub earned_by_source: [u64; Source::COUNT],
    pub referrer: Option<Pubkey>,
    pub invitee_count: u32,
    /// Set once the referrer has been paid the first-subscription bonus.
    pub first_subscription_rewarded: bool,
    /// Grows by one on every change: the account's version, which events
    /// carry so an indexer keeps the newest state whatever the order.
    pub seq: u64,
    pub bump: u8,
}

impl SparkAccount {
    pub const SEED: &'static [u8] = SPARK_SEED;

    pub fn new(owner: Pubkey, bump: u8) -> Self {
        Self {
            owner,
            balance: 0,
            lifetime_earned: 0,
            lifetime_spent: 0,
            lifetime_revoked: 0,
            earned_by_source: [0; Source::COUNT],
            referrer: None,
            invitee_count: 0,
            first_subscription_rewarded: false,
            seq: 0,
            bump,
        }
    }

    /// Credits `amount` earned; what the wallet owes from a revoke that
    /// found its Sparks spent ([`Self::debt`]) is repaid first.
    pub fn credit(&mut self, source: Source, amount: u64) -> Result<()> {
        let repaid = amount.min(self.debt());
        self.balance = checked_add(self.balance, amount - repaid)?;
        self.lifetime_earned = checked_add(self.lifetime_earned, amount)?;
        let slot = &mut self.earned_by_source[source.index()];
        *slot = checked_add(*slot, amount)?;
        self.bump_seq()
    }

    pub fn spend(&mut self, amount: u64) -> Result<()> {
        self.balance = self
            .balance
            .checked_sub(amount)
            .ok_or(SparksError::InsufficientBalance)?;
        self.lifetime_spent = checked_add(self.lifetime_spent, amount)?;
        self.bump_seq()
    }

    /// Claws back `amount`: what the balance holds now, and the rest as a
    /// debt later credits repay first, so Sparks spent right after they
    /// were earned are still reached. All of it counts in
    /// `lifetime_revoked` (and so against whitelist thresholds). Never more
    /// than the wallet earned in all, net of earlier revocations.
    pub fn revoke(&mut self, amount: u64) -> Result<()> {
        let revoked = checked_add(self.lifetime_revoked, amount)?;
        require!(
            revoked <= self.lifetime_earned,
            SparksError::RevokeAboveEarned
        );
        self.balance -= amount.min(self.balance);
        self.lifetime_revoked = revoked;
        self.bump_seq()
    }

    /// What revocations could not take from the balance and later credits
    /// have not repaid yet: derived, as the balance is what was earned
    /// less what was spent and revoked, plus this debt.
    pub fn debt(&self) -> u64 {
        let held = u128::from(self.balance)
            + u128::from(self.lifetime_spent)
            + u128::from(self.lifetime_revoked);
        // At most what was spent, so it fits.
        held.saturating_sub(u128::from(self.lifetime_earned)) as u64
    }

    /// Sparks earned that were not clawed back: what whitelist thresholds
    /// count, so farmed Sparks that were revoked buy no eligibility.
    pub fn net_earned(&self) -> u64 {
        self.lifetime_earned.saturating_sub(self.lifetime_revoked)
    }

    pub fn bump_seq(&mut self) -> Result<()> {
        self.seq = checked_add(self.seq, 1)?;
        Ok(())
    }
}

/// `a + b`, refused above [`MAX_QUANTITY`] like any stored quantity.
pub(crate) fn checked_add(a: u64, b: u64) -> Result<u64> {
    quantity(a.checked_add(b).ok_or(SparksError::QuantityTooLarge)?)
}

/// `value` if the program may store it (at most [`MAX_QUANTITY`]).
pub(crate) fn quantity(value: u64) -> Result<u64> {
    require!(value <= MAX_QUANTITY, SparksError::QuantityTooLarge);
    Ok(value)
}
