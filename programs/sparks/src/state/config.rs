use anchor_lang::prelude::*;

use crate::constants::CONFIG_SEED;

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
}
