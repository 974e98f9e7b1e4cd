//! Names the store writes into Postgres and its readers (the API, webhooks,
//! verify) read back, kept below all of them so none reaches into another.

use sparks::state::PerkKind;

/// The rankings of `leaderboard` as stored: lifetime earned, then one per
/// source in the program's `Source` order (`RANKINGS[1 + source]`), the
/// order the store takes their scores in.
pub const RANKINGS: [&str; 5] = [
    "lifetime",
    "trading",
    "subscription",
    "campaign",
    "referral",
];

/// The channel the store notifies when a commit changes what the API reads;
/// the API's streams and the webhook worker listen on it.
pub const CHANGED_CHANNEL: &str = "sparks_changed";

/// A perk kind as the API, the webhooks and the `perks` table name it.
pub fn perk_kind_name(kind: PerkKind) -> &'static str {
    match kind {
        PerkKind::DiscordRole => "discord_role",
        PerkKind::NftWhitelist => "nft_whitelist",
        PerkKind::TrafficBoost => "traffic_boost",
        PerkKind::EventTicket => "event_ticket",
        PerkKind::PlanUpgrade => "plan_upgrade",
        PerkKind::Custom => "custom",
    }
}
