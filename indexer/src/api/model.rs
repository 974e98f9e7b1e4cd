//! What the API returns. Amounts are JSON numbers (u64 on chain, held as
//! bigint, so at most 2^63−1: exact in JSON parsers that use 64-bit ints;
//! browsers are exact up to 2^53).

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct BySource {
    pub trading: i64,
    pub subscription: i64,
    pub campaign: i64,
    pub referral: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SparksSummary {
    pub wallet: String,
    /// False when the wallet has no SparkAccount yet (all figures 0).
    pub exists: bool,
    pub balance: i64,
    pub lifetime_earned: i64,
    pub lifetime_spent: i64,
    pub lifetime_revoked: i64,
    pub earned_by_source: BySource,
    pub referrer: Option<String>,
    pub invitee_count: i32,
    /// Sparks earned as a referrer (shares of invitees' trades, first-subscription bonuses).
    pub referral_earnings: i64,
    pub seq: i64,
    /// Slot of the last change.
    pub last_update_slot: Option<i64>,
    /// Whether the last change is finalized (else confirmed).
    pub finalized: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntry {
    pub signature: String,
    pub event_index: i32,
    pub slot: i64,
    /// Unix seconds.
    pub block_time: Option<i64>,
    /// award, referral_share, revoke or redeem.
    pub kind: String,
    /// trading, subscription, campaign or referral (earnings only).
    #[schema(value_type = Option<SourceName>)]
    pub source: Option<&'static str>,
    /// Signed: + earned, − spent or revoked.
    pub amount: i64,
    pub balance_after: i64,
    pub seq: i64,
    /// The invitee of a referral share, the perk of a redemption, the admin of a revocation.
    pub counterparty: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    pub entries: Vec<LedgerEntry>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Window {
    pub starts_at: i64,
    pub ends_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WhitelistSpot {
    pub whitelist_id: i64,
    pub whitelist: String,
    pub spots_granted: i32,
    pub spots_used: i32,
    pub spots_left: i32,
    pub window: Window,
    pub active: bool,
    /// admin, join, perk (how the spots were obtained; several possible).
    pub obtained_via: Vec<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Eligibility {
    pub whitelist_id: i64,
    pub wallet: String,
    pub eligible: bool,
    /// Why not, when not: no_entry, no_spots_left, not_started, ended, inactive.
    pub reason: Option<&'static str>,
    pub spots_granted: i32,
    pub spots_used: i32,
    pub spots_left: i32,
    pub window: Window,
    /// Lifetime Sparks needed to join (0: joining disabled).
    pub min_lifetime_sparks_to_join: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PerkView {
    pub id: i64,
    pub address: String,
    #[schema(value_type = PerkKindName)]
    pub kind: String,
    pub cost: i64,
    /// 0: unlimited.
    pub max_supply: i64,
    pub claimed: i64,
    pub per_wallet_limit: i64,
    pub window: Window,
    pub active: bool,
    /// Whether a wallet could redeem it now (active, in its window, supply left).
    pub available: bool,
    pub whitelist: Option<String>,
    pub uri: String,
}

/// A whitelist's terms and how full it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhitelistView {
    pub id: i64,
    pub address: String,
    /// The mint program's signer allowed to consume spots.
    pub consumer: String,
    pub capacity: i64,
    pub spots_granted: i64,
    pub spots_used: i64,
    pub spots_per_wallet: i32,
    /// Sparks earned net of revocations a wallet needs to join by itself;
    /// 0: joining is by grant only.
    pub min_lifetime_sparks_to_join: i64,
    pub window: Window,
    pub active: bool,
    /// Whether a qualified wallet could join now (active, not ended, room
    /// left; a spot taken before the start is usable from the start on).
    pub open: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WhitelistList {
    pub whitelists: Vec<WhitelistView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PerkList {
    pub perks: Vec<PerkView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Claim {
    pub perk_id: i64,
    pub perk: String,
    #[schema(value_type = PerkKindName)]
    pub kind: String,
    pub times_claimed: i64,
    pub slot: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimList {
    pub claims: Vec<Claim>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WhitelistSpotList {
    pub whitelists: Vec<WhitelistSpot>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LeaderboardRow {
    pub rank: i64,
    pub wallet: String,
    /// Lifetime earned, overall or from the requested source.
    pub earned: i64,
    pub balance: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Leaderboard {
    #[schema(value_type = Option<SourceName>)]
    pub source: Option<&'static str>,
    pub rows: Vec<LeaderboardRow>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Invitee {
    pub wallet: String,
    pub since_slot: i64,
    pub since_time: Option<i64>,
    pub lifetime_earned: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InviteePage {
    pub invitees: Vec<Invitee>,
    pub next_cursor: Option<String>,
}

/// What a page or app needs to check the API's figures against the chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientConfig {
    /// The Sparks program the mirror follows.
    pub program_id: String,
    /// A JSON-RPC endpoint to read the chain through (absent: none public).
    pub rpc_url: Option<String>,
    /// The Wallet Standard chain to sign for, e.g. `solana:devnet`.
    pub cluster: String,
    /// How far behind the chain the mirror may fall before /health says `lagging`.
    pub max_lag_seconds: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// ok, or lagging when the mirror is behind by more than the threshold.
    pub status: &'static str,
    pub database: bool,
    /// Newest indexed transaction's slot.
    pub last_indexed_slot: i64,
    /// The chain slot the mirror was last complete up to.
    pub caught_up_slot: i64,
    pub finalized_slot: i64,
    /// Chain tip minus caught_up_slot (when the API knows the chain).
    pub lag_slots: Option<i64>,
    /// Seconds since the mirror was last complete.
    pub lag_seconds: Option<f64>,
    /// Each webhook subscription's state and deliveries.
    pub webhooks: Vec<WebhookHealth>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookHealth {
    pub subscription: i64,
    /// active, or disabled (by an operator, or by the receiver's 410).
    pub state: &'static str,
    pub disabled_reason: Option<String>,
    pub pending: i64,
    /// Pending after a failed attempt.
    pub retrying: i64,
    /// Dead-lettered (`sparks-indexer webhooks list --failed`).
    pub dead: i64,
    pub oldest_pending_seconds: Option<f64>,
}

/// Awards the issuer service accepted for a wallet that the index does not
/// show yet: not landed, or landed past what the indexer has stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingAwards {
    pub wallet: String,
    /// Requests pending (at most `awards.len()` are listed).
    pub count: i64,
    /// Their Sparks, added to the balance once indexed.
    pub amount: i64,
    /// False when no issuer service keeps its outbox in this database.
    pub issuer_service: bool,
    /// Oldest first, at most 100.
    pub awards: Vec<PendingAward>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PendingAward {
    #[schema(value_type = SourceName)]
    pub source: String,
    pub amount: i64,
    /// `pending`, `sending` or `landed` (`finalized` counts as landed).
    pub state: String,
    /// RFC 3339, when the issuer service accepted it.
    pub accepted_at: String,
}

/// An award source, as the API names it (in queries and answers).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceName {
    Trading,
    Subscription,
    Campaign,
    Referral,
}

/// A perk's kind, as the API names it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PerkKindName {
    DiscordRole,
    NftWhitelist,
    TrafficBoost,
    EventTicket,
    PlanUpgrade,
    Custom,
}
