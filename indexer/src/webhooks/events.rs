//! Which program events the app can subscribe to, and the JSON each one is
//! delivered as: the event's own figures and the account state after it,
//! in the Standard Webhooks envelope `{type, timestamp, data}`.

use anchor_lang::prelude::Pubkey;
use serde_json::{json, Value};
use sparks::state::{GrantVia, Perk, PerkClaim, Source, SparkAccount, Whitelist, WhitelistEntry};
use sparks_client::events::SparksEvent;

use crate::names::{perk_kind_name, RANKINGS};

/// Every event type a subscription may name.
pub const EVENT_TYPES: [&str; 8] = [
    "sparks.awarded",
    "sparks.revoked",
    "referrer.set",
    "perk.redeemed",
    "perk.created",
    "perk.updated",
    "whitelist.spot_granted",
    "whitelist.spot_consumed",
];

/// The suffix of the notice sent when an event a receiver may have acted
/// on (delivered, or attempted, at `confirmed`) was rolled back (its fork
/// was dropped).
pub const ROLLED_BACK: &str = ".rolled_back";

/// Perk kinds as subscriptions filter them (the API's names).
pub const PERK_KINDS: [&str; 6] = [
    "discord_role",
    "nft_whitelist",
    "traffic_boost",
    "event_ticket",
    "plan_upgrade",
    "custom",
];

/// An event the app can be told about: what the outbox needs to route and
/// order it. Its JSON is built at delivery, from the stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub event_type: &'static str,
    /// Whose event it is: deliveries of one wallet are sent in order.
    pub wallet: Option<String>,
    pub perk_kind: Option<&'static str>,
    pub perk_id: Option<i64>,
}

fn key(key: &Pubkey) -> String {
    key.to_string()
}

/// The store's and the API's name for `source`.
fn source_name(source: Source) -> &'static str {
    RANKINGS[1 + source.index()]
}

fn via_name(via: GrantVia) -> &'static str {
    match via {
        GrantVia::Admin => "admin",
        GrantVia::Join => "join",
        GrantVia::Perk => "perk",
    }
}

/// Quantities are strings: u64 does not fit a JSON number everywhere.
fn q(value: u64) -> Value {
    Value::String(value.to_string())
}

fn spark(account: &SparkAccount) -> Value {
    json!({
        "wallet": key(&account.owner),
        "balance": q(account.balance),
        "lifetime_earned": q(account.lifetime_earned),
        "lifetime_spent": q(account.lifetime_spent),
        "lifetime_revoked": q(account.lifetime_revoked),
        "referrer": account.referrer.as_ref().map(key),
        "invitee_count": account.invitee_count,
        "seq": q(account.seq),
    })
}

fn perk(perk: &Perk) -> Value {
    json!({
        "id": q(perk.id),
        "kind": perk_kind_name(perk.kind),
        "cost": q(perk.cost),
        "max_supply": q(perk.max_supply),
        "claimed": q(perk.claimed),
        "per_wallet_limit": perk.per_wallet_limit,
        "starts_at": perk.starts_at,
        "ends_at": perk.ends_at,
        "active": perk.active,
        "whitelist": perk.whitelist.as_ref().map(key),
        "uri": perk.uri,
        "seq": q(perk.seq),
    })
}

fn claim(claim: &PerkClaim) -> Value {
    json!({
        "perk": key(&claim.perk),
        "wallet": key(&claim.owner),
        "times_claimed": claim.times_claimed,
        "seq": q(claim.seq),
    })
}

fn whitelist(list: &Whitelist) -> Value {
    json!({
        "id": q(list.id),
        "consumer": key(&list.consumer),
        "capacity": list.capacity,
        "spots_granted": list.spots_granted,
        "spots_used": list.spots_used,
        "starts_at": list.starts_at,
        "ends_at": list.ends_at,
        "active": list.active,
        "seq": q(list.seq),
    })
}

fn entry(entry: &WhitelistEntry) -> Value {
    json!({
        "wallet": key(&entry.wallet),
        "spots_granted": entry.spots_granted,
        "spots_used": entry.spots_used,
        "seq": q(entry.seq),
    })
}

fn perk_id(perk: &Perk) -> Option<i64> {
    i64::try_from(perk.id).ok()
}

/// Whether a subscription can name `event` (checked for every event the
/// indexer stores, so it builds nothing).
pub fn is_notifiable(event: &SparksEvent) -> bool {
    matches!(
        event,
        SparksEvent::SparksAwarded(_)
            | SparksEvent::SparksRevoked(_)
            | SparksEvent::ReferrerSet(_)
            | SparksEvent::PerkRedeemed(_)
            | SparksEvent::PerkCreated(_)
            | SparksEvent::PerkUpdated(_)
            | SparksEvent::WhitelistSpotGranted(_)
            | SparksEvent::WhitelistSpotConsumed(_)
    )
}

/// The notice for `event`, if it is one the app can subscribe to.
pub fn notice(event: &SparksEvent) -> Option<Notice> {
    let plain = |event_type, wallet: &Pubkey| Notice {
        event_type,
        wallet: Some(key(wallet)),
        perk_kind: None,
        perk_id: None,
    };
    let of_perk = |event_type, wallet: Option<&Pubkey>, changed: &Perk| Notice {
        event_type,
        wallet: wallet.map(key),
        perk_kind: Some(perk_kind_name(changed.kind)),
        perk_id: perk_id(changed),
    };
    Some(match event {
        SparksEvent::SparksAwarded(e) => plain("sparks.awarded", &e.account.owner),
        SparksEvent::SparksRevoked(e) => plain("sparks.revoked", &e.account.owner),
        SparksEvent::ReferrerSet(e) => plain("referrer.set", &e.invitee.owner),
        SparksEvent::PerkRedeemed(e) => of_perk("perk.redeemed", Some(&e.account.owner), &e.perk),
        SparksEvent::PerkCreated(e) => of_perk("perk.created", None, &e.perk),
        SparksEvent::PerkUpdated(e) => of_perk("perk.updated", None, &e.perk),
        SparksEvent::WhitelistSpotGranted(e) => plain("whitelist.spot_granted", &e.entry.wallet),
        SparksEvent::WhitelistSpotConsumed(e) => plain("whitelist.spot_consumed", &e.entry.wallet),
        _ => return None,
    })
}

/// The figures delivered for `event`: its own, and the accounts after it.
fn data(event: &SparksEvent) -> Option<Value> {
    Some(match event {
        SparksEvent::SparksAwarded(e) => json!({
            "wallet": key(&e.account.owner),
            "issuer": key(&e.issuer),
            "source": source_name(e.source),
            "amount": q(e.amount),
            "award_id": q(e.award_id),
            "reference": hex(&e.reference),
            "referral_from": e.referral_from.as_ref().map(key),
            "referral_unpaid": q(e.referral_unpaid),
            "account": spark(&e.account),
        }),
        SparksEvent::SparksRevoked(e) => json!({
            "wallet": key(&e.account.owner),
            "amount": q(e.amount),
            "reason": e.reason,
            "account": spark(&e.account),
        }),
        SparksEvent::ReferrerSet(e) => json!({
            "wallet": key(&e.invitee.owner),
            "referrer": key(&e.referrer.owner),
            "account": spark(&e.invitee),
            "referrer_account": spark(&e.referrer),
        }),
        SparksEvent::PerkRedeemed(e) => json!({
            "wallet": key(&e.account.owner),
            "perk": perk(&e.perk),
            "claim": claim(&e.claim),
            "account": spark(&e.account),
        }),
        SparksEvent::PerkCreated(e) => json!({ "perk": perk(&e.perk) }),
        SparksEvent::PerkUpdated(e) => json!({ "perk": perk(&e.perk) }),
        SparksEvent::WhitelistSpotGranted(e) => json!({
            "wallet": key(&e.entry.wallet),
            "via": via_name(e.via),
            "spots": e.spots,
            "whitelist": whitelist(&e.whitelist),
            "entry": entry(&e.entry),
        }),
        SparksEvent::WhitelistSpotConsumed(e) => json!({
            "wallet": key(&e.entry.wallet),
            "consumer": key(&e.consumer),
            "whitelist": whitelist(&e.whitelist),
            "entry": entry(&e.entry),
        }),
        _ => return None,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where an event is on chain, as its body tells the receiver.
#[derive(Debug, Clone, Copy)]
pub struct Placement<'a> {
    pub signature: &'a str,
    pub event_index: i32,
    pub slot: i64,
    pub block_time: Option<i64>,
}

/// The body delivered for `event` as `event_type` (its own type, or its
/// `.rolled_back` notice's): the envelope around its data, with the
/// transaction. None for an event no subscription can name.
pub fn body(event: &SparksEvent, event_type: &str, at: Placement<'_>) -> Option<String> {
    let mut data = data(event)?;
    if let Value::Object(map) = &mut data {
        map.insert(
            "transaction".into(),
            json!({
                "signature": at.signature,
                "event_index": at.event_index,
                "slot": at.slot,
                "block_time": at.block_time,
            }),
        );
    }
    Some(
        json!({
            "type": event_type,
            "timestamp": at.block_time.map(rfc3339),
            "data": data,
        })
        .to_string(),
    )
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_has_a_notice_and_the_rest_have_none() {
        let account = SparkAccount::new(Pubkey::new_unique(), 255);
        let awarded = SparksEvent::SparksAwarded(sparks::events::SparksAwarded {
            issuer: Pubkey::new_unique(),
            source: Source::Trading,
            amount: u64::MAX,
            reference: [7; 32],
            award_id: 3,
            referral_from: None,
            referral_unpaid: 0,
            account: account.clone(),
        });
        let notice = notice(&awarded).unwrap();
        assert_eq!(notice.event_type, "sparks.awarded");
        assert_eq!(notice.wallet, Some(account.owner.to_string()));
        let at = Placement {
            signature: "sig",
            event_index: 2,
            slot: 9,
            block_time: Some(0),
        };
        let body: Value =
            serde_json::from_str(&body(&awarded, notice.event_type, at).unwrap()).unwrap();
        assert_eq!(body["type"], "sparks.awarded");
        assert_eq!(body["timestamp"], "1970-01-01T00:00:00Z");
        assert_eq!(body["data"]["transaction"]["event_index"], 2);
        // u64 quantities survive JSON intact.
        assert_eq!(body["data"]["amount"], "18446744073709551615");
        let voided = SparksEvent::AwardIdsVoided(sparks::events::AwardIdsVoided {
            issuer: Pubkey::new_unique(),
            first_award_id: 0,
            count: 1,
            award_id_floor: 1,
        });
        assert!(super::notice(&voided).is_none());
        assert!(!is_notifiable(&voided) && is_notifiable(&awarded));
        assert!(super::body(&voided, "x", at).is_none());
    }
}
