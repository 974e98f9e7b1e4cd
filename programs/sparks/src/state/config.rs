use anchor_lang::prelude::*;

use crate::constants::CONFIG_SEED;

/// Program-wide settings. Awards only read it: global totals would make
/// every award of every issuer write one account, which mainnet's scheduler
/// serialises. The indexer derives the totals from SparkAccount events.
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
    /// Bumped on every change.
    pub seq: u64,
    pub bump: u8,
}

impl Config {
    pub const SEED: &'static [u8] = CONFIG_SEED;
}
