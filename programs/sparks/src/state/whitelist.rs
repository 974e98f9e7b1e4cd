use anchor_lang::prelude::*;

use crate::constants::{WHITELIST_ENTRY_SEED, WHITELIST_SEED};

/// An NFT whitelist. Spots are granted by its admin, by joining (enough lifetime
/// Sparks) or by redeeming a NftWhitelist perk; only `consumer` may use them.
#[account]
#[derive(InitSpace, Debug, PartialEq, Eq)]
pub struct Whitelist {
    pub id: u64,
    pub admin: Pubkey,
    /// Set by `propose_whitelist_admin`; takes over when it signs
    /// `accept_whitelist_admin`, so a mistyped key cannot lock the whitelist.
    pub pending_admin: Option<Pubkey>,
    /// The mint program's signer PDA allowed to consume spots.
    pub consumer: Pubkey,
    /// Most spots granted in total.
    pub capacity: u32,
    /// Wallets holding an entry.
    pub entries: u32,
    pub spots_granted: u32,
    pub spots_used: u32,
    pub spots_per_wallet: u16,
    /// Sparks a wallet must have earned (net of revocations) to
    /// `join_whitelist` by itself; 0 disables joining.
    pub min_lifetime_sparks: u64,
    /// Spots can be consumed from `starts_at` (inclusive) to `ends_at`
    /// (exclusive); spots can be granted any time before `ends_at`.
    pub starts_at: i64,
    pub ends_at: i64,
    pub active: bool,
    pub seq: u64,
    pub bump: u8,
}

impl Whitelist {
    pub const SEED: &'static [u8] = WHITELIST_SEED;

    pub fn is_open(&self, now: i64) -> bool {
        self.starts_at <= now && now < self.ends_at
    }
}

/// How a spot was obtained; an entry records each way as a bit in
/// `obtained_via`, by declaration order (never change it).
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum GrantVia {
    Admin,
    Join,
    Perk,
}

impl GrantVia {
    pub const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// One wallet's spots in one whitelist.
#[account]
#[derive(InitSpace, Debug, PartialEq, Eq)]
pub struct WhitelistEntry {
    pub whitelist: Pubkey,
    pub wallet: Pubkey,
    pub spots_granted: u16,
    pub spots_used: u16,
    /// Bit set of [`GrantVia::bit`].
    pub obtained_via: u8,
    pub seq: u64,
    pub bump: u8,
}

impl WhitelistEntry {
    pub const SEED: &'static [u8] = WHITELIST_ENTRY_SEED;

    pub fn spots_left(&self) -> u16 {
        self.spots_granted.saturating_sub(self.spots_used)
    }
}
