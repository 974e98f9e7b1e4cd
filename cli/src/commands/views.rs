//! JSON views of accounts and events (program types carry no serde).

use serde_json::{json, Value};
use sparks::state::*;
use sparks_client::events::SparksEvent;

pub fn source_name(source: Source) -> &'static str {
    match source {
        Source::Trading => "trading",
        Source::Subscription => "subscription",
        Source::Campaign => "campaign",
        Source::Referral => "referral",
    }
}

pub fn reference_text(reference: &[u8; 32]) -> String {
    let trimmed: Vec<u8> = reference.iter().copied().take_while(|b| *b != 0).collect();
    match std::str::from_utf8(&trimmed) {
        Ok(text) if reference[trimmed.len()..].iter().all(|b| *b == 0) && !text.is_empty() => {
            text.to_string()
        }
        _ if reference.iter().all(|b| *b == 0) => String::new(),
        _ => hex::encode(reference),
    }
}

pub fn config(c: &Config) -> Value {
    json!({
        "admin": c.admin.to_string(),
        "pending_admin": c.pending_admin.map(|k| k.to_string()),
        "paused": c.paused,
        "referral_trade_share_bps": c.referral_trade_share_bps,
        "first_subscription_bonus": c.first_subscription_bonus,
        "max_award_per_ix": c.max_award_per_ix,
        "seq": c.seq,
    })
}

/// `now`: unix time, for what the cap window holds now.
pub fn issuer(i: &Issuer, now: i64) -> Value {
    let sources: Vec<&str> = Source::ALL
        .iter()
        .filter(|s| i.allows(**s))
        .map(|s| source_name(*s))
        .collect();
    json!({
        "authority": i.authority.to_string(),
        "active": i.active,
        "sources": sources,
        "cap_per_period": i.cap_per_period,
        "period_secs": i.period_secs,
        "minted_in_window": i.minted_in_window(now),
        "total_minted": i.total_minted,
        "award_id_floor": i.award_id_floor,
        "next_award_id": i.next_award_id(),
        "seq": i.seq,
    })
}

pub fn spark(a: &SparkAccount) -> Value {
    let by_source: serde_json::Map<String, Value> = Source::ALL
        .iter()
        .map(|s| {
            (
                source_name(*s).to_string(),
                json!(a.earned_by_source[s.index()]),
            )
        })
        .collect();
    json!({
        "wallet": a.owner.to_string(),
        "balance": a.balance,
        "lifetime_earned": a.lifetime_earned,
        "lifetime_spent": a.lifetime_spent,
        "lifetime_revoked": a.lifetime_revoked,
        "earned_by_source": by_source,
        "referrer": a.referrer.map(|k| k.to_string()),
        "invitee_count": a.invitee_count,
        "seq": a.seq,
    })
}

pub fn perk(p: &Perk) -> Value {
    json!({
        "id": p.id,
        "kind": format!("{:?}", p.kind),
        "cost": p.cost,
        "max_supply": p.max_supply,
        "claimed": p.claimed,
        "per_wallet_limit": p.per_wallet_limit,
        "starts_at": p.starts_at,
        "ends_at": p.ends_at,
        "active": p.active,
        "whitelist": p.whitelist.map(|k| k.to_string()),
        "uri": p.uri,
        "seq": p.seq,
    })
}

pub fn whitelist(w: &Whitelist) -> Value {
    json!({
        "id": w.id,
        "admin": w.admin.to_string(),
        "pending_admin": w.pending_admin.map(|k| k.to_string()),
        "consumer": w.consumer.to_string(),
        "capacity": w.capacity,
        "entries": w.entries,
        "spots_granted": w.spots_granted,
        "spots_used": w.spots_used,
        "spots_per_wallet": w.spots_per_wallet,
        "min_lifetime_sparks": w.min_lifetime_sparks,
        "starts_at": w.starts_at,
        "ends_at": w.ends_at,
        "active": w.active,
        "seq": w.seq,
    })
}

pub fn entry(e: &WhitelistEntry) -> Value {
    json!({
        "wallet": e.wallet.to_string(),
        "spots_granted": e.spots_granted,
        "spots_used": e.spots_used,
        "spots_left": e.spots_left(),
        "seq": e.seq,
    })
}

/// A history line for one wallet; `None` when the event is not about it.
pub fn history_line(event: &SparksEvent, wallet: &anchor_lang::prelude::Pubkey) -> Option<Value> {
    Some(match event {
        SparksEvent::SparksAwarded(e) if e.account.owner == *wallet => json!({
            "kind": "award",
            "source": source_name(e.source),
            "amount": e.amount as i128,
            "reference": reference_text(&e.reference),
            "award_id": e.award_id,
            "balance_after": e.account.balance,
        }),
        SparksEvent::SparksRevoked(e) if e.account.owner == *wallet => json!({
            "kind": "revoke",
            "amount": -(e.amount as i128),
            "reason": e.reason,
            "balance_after": e.account.balance,
        }),
        SparksEvent::PerkRedeemed(e) if e.account.owner == *wallet => json!({
            "kind": "redeem",
            "perk": e.perk.id,
            "amount": -(e.perk.cost as i128),
            "balance_after": e.account.balance,
        }),
        SparksEvent::ReferrerSet(e) if e.invitee.owner == *wallet => json!({
            "kind": "referrer_set",
            "referrer": e.referrer.owner.to_string(),
        }),
        SparksEvent::ReferrerSet(e) if e.referrer.owner == *wallet => json!({
            "kind": "invitee_joined",
            "invitee": e.invitee.owner.to_string(),
        }),
        _ => return None,
    })
}
