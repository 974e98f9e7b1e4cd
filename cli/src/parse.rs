//! Values typed on the command line (sources, perk kinds, references) as
//! the program takes them; shared by the commands, below all of them.

use anyhow::bail;
use sparks::state::{PerkKind, Source};

pub fn parse_source(s: &str) -> anyhow::Result<Source> {
    Ok(match s.trim().to_ascii_lowercase().as_str() {
        "trading" | "trade" => Source::Trading,
        "subscription" => Source::Subscription,
        "campaign" => Source::Campaign,
        "referral" => Source::Referral,
        other => bail!("unknown source {other:?} (trading, subscription, campaign, referral)"),
    })
}

pub fn parse_sources(s: &str) -> anyhow::Result<u8> {
    if s.trim() == "all" {
        return Ok(Source::ALL_BITS);
    }
    s.split(',')
        .try_fold(0u8, |bits, name| Ok(bits | parse_source(name)?.bit()))
}

pub fn parse_kind(s: &str) -> anyhow::Result<PerkKind> {
    Ok(
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "discord-role" => PerkKind::DiscordRole,
            "nft-whitelist" => PerkKind::NftWhitelist,
            "traffic-boost" => PerkKind::TrafficBoost,
            "event-ticket" => PerkKind::EventTicket,
            "plan-upgrade" => PerkKind::PlanUpgrade,
            "custom" => PerkKind::Custom,
            other => bail!("unknown perk kind {other:?}"),
        },
    )
}

/// Unix time now, for views of what an issuer's cap window holds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A reference as the program stores it: up to 32 bytes verbatim (zero
/// padded), longer strings by their SHA-256.
pub fn reference_bytes(reference: &str) -> [u8; 32] {
    use sha2::Digest;
    let bytes = reference.as_bytes();
    let mut out = [0u8; 32];
    if bytes.len() <= 32 {
        out[..bytes.len()].copy_from_slice(bytes);
    } else {
        out.copy_from_slice(&sha2::Sha256::digest(bytes));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_by_name_and_all() {
        assert_eq!(parse_sources("trading,campaign").unwrap(), 0b101);
        assert_eq!(parse_sources("all").unwrap(), 0b1111);
        assert!(parse_sources("trading,gifts").is_err());
    }

    #[test]
    fn references_keep_short_ids_and_hash_long_ones() {
        assert_eq!(&reference_bytes("trade-1")[..7], b"trade-1");
        assert_eq!(reference_bytes("trade-1")[7..], [0; 25]);
        let long = "x".repeat(40);
        assert_ne!(reference_bytes(&long), reference_bytes(&"x".repeat(41)));
    }
}
