//! `verify`: every program account on chain (getProgramAccounts) against
//! its projection row, field by field; and completeness: the program's
//! signatures on chain up to the cursor against the stored transactions,
//! and each stored transaction's events against its recorded event count.
//!
//! Both sides are rendered to the same shape (column name → JSON value) and
//! compared; where a row is missing on one side every field is reported.
//! Config's totals and Issuer's `total_minted` are not stored as such (they
//! move without a seq change), so they are checked against their sums.

use std::collections::{BTreeMap, BTreeSet};

use anchor_lang::prelude::Pubkey;
use serde_json::{json, Value};
use sparks::state::{Config, Issuer, Perk, PerkClaim, SparkAccount, Whitelist, WhitelistEntry};
use sparks_client::rpc::{RpcError, SparksRpc};

use crate::names::perk_kind_name;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("reading the chain: {0}")]
    Chain(#[from] RpcError),
    #[error("reading the store: {0}")]
    Store(#[from] sqlx::Error),
    #[error("a stored row is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the node listed an unparsable signature {0}")]
    Signature(String),
}

/// One field that differs between the chain and the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub table: &'static str,
    pub key: String,
    pub field: String,
    pub chain: String,
    pub store: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} .{}: chain {} / store {}",
            self.table, self.key, self.field, self.chain, self.store
        )
    }
}

/// Signatures per listing page (the most a node returns).
const SIGNATURE_PAGE: usize = 1_000;

/// The program's transactions on chain (at the RPC client's commitment)
/// from the cursor down against the stored ones: every listed transaction
/// must be stored, and every stored one below the cursor's slot listed (a
/// stored transaction the chain does not have is a dropped fork nobody
/// rolled back). Then each stored transaction's events against the count
/// the decoder recorded for it.
async fn completeness(
    rpc: &SparksRpc,
    store: &Store,
    report: &mut Report,
) -> Result<(), VerifyError> {
    use solana_client::rpc_client::GetConfirmedSignaturesForAddress2Config;
    let (cursor, cursor_slot): (Option<String>, i64) =
        sqlx::query_as("SELECT signature, slot FROM cursor")
            .fetch_one(store.pool())
            .await?;
    let mut listed = BTreeSet::new();
    if let Some(cursor) = &cursor {
        let (mut before, mut reached) = (None, false);
        loop {
            let page = rpc
                .client()
                .get_signatures_for_address_with_config(
                    &sparks::ID,
                    GetConfirmedSignaturesForAddress2Config {
                        before,
                        until: None,
                        limit: Some(SIGNATURE_PAGE),
                        commitment: Some(rpc.client().commitment()),
                    },
                )
                .await
                .map_err(RpcError::from)?;
            for status in &page {
                reached |= &status.signature == cursor;
                if reached {
                    listed.insert(status.signature.clone());
                }
            }
            match page.last() {
                Some(last) if page.len() == SIGNATURE_PAGE => {
                    before = Some(
                        last.signature
                            .parse()
                            .map_err(|_| VerifyError::Signature(last.signature.clone()))?,
                    );
                }
                _ => break,
            }
        }
        if !reached {
            report.differences.push(Difference {
                table: "cursor",
                key: cursor.clone(),
                field: "signature".into(),
                chain: "not listed".into(),
                store: format!("the cursor, at slot {cursor_slot}"),
            });
        }
    }
    let stored: Vec<(String, i64)> =
        sqlx::query_as("SELECT signature, slot FROM transactions WHERE slot <= $1")
            .bind(cursor_slot)
            .fetch_all(store.pool())
            .await?;
    let stored_set: BTreeSet<&String> = stored.iter().map(|(s, _)| s).collect();
    report.compared.insert("transactions", listed.len());
    for signature in listed.iter().filter(|s| !stored_set.contains(s)) {
        report.differences.push(Difference {
            table: "transactions",
            key: signature.clone(),
            field: "stored".into(),
            chain: "listed up to the cursor".into(),
            store: "missing".into(),
        });
    }
    for (signature, slot) in &stored {
        if *slot < cursor_slot && !listed.contains(signature) {
            report.differences.push(Difference {
                table: "transactions",
                key: signature.clone(),
                field: "stored".into(),
                chain: "not listed".into(),
                store: format!("stored at slot {slot}"),
            });
        }
    }
    let miscounted: Vec<(String, i32, i64)> =
        sqlx::query_as(EVENT_COUNTS).fetch_all(store.pool()).await?;
    for (signature, recorded, rows) in miscounted {
        report.differences.push(Difference {
            table: "events",
            key: signature,
            field: "count".into(),
            chain: format!("{recorded} decoded"),
            store: format!("{rows} stored"),
        });
    }
    Ok(())
}

/// Stored transactions whose event rows do not match the count the decoder
/// recorded with them.
const EVENT_COUNTS: &str = "
SELECT t.signature, t.event_count, coalesce(e.n, 0)
FROM transactions t
LEFT JOIN (SELECT signature, count(*) AS n FROM events GROUP BY signature) e USING (signature)
WHERE t.event_count <> coalesce(e.n, 0)";

type Rows = BTreeMap<String, BTreeMap<String, Value>>;

/// Columns that record where the mirror saw a state, not the state itself.
const BOOKKEEPING: [&str; 2] = ["slot", "block_time"];

/// What a verification compared and found.
#[derive(Debug, Default)]
pub struct Report {
    /// Accounts compared per table.
    pub compared: BTreeMap<&'static str, usize>,
    pub differences: Vec<Difference>,
}

pub async fn verify(rpc: &SparksRpc, store: &Store) -> Result<Report, VerifyError> {
    let mut report = Report::default();
    let configs = rpc.all::<Config>("Config").await?;
    let issuers = rpc.all::<Issuer>("Issuer").await?;
    let sparks = rpc.all::<SparkAccount>("SparkAccount").await?;
    let perks = rpc.all::<Perk>("Perk").await?;
    let claims = rpc.all::<PerkClaim>("PerkClaim").await?;
    let whitelists = rpc.all::<Whitelist>("Whitelist").await?;
    let entries = rpc.all::<WhitelistEntry>("WhitelistEntry").await?;

    let tables: [(&'static str, &'static str, Rows); 7] = [
        (
            "config",
            "address",
            rows(&configs, |a, c| (a.to_string(), config_row(c))),
        ),
        (
            "issuers",
            "authority",
            rows(&issuers, |_, i| (i.authority.to_string(), issuer_row(i))),
        ),
        (
            "spark_accounts",
            "wallet",
            rows(&sparks, |_, s| (s.owner.to_string(), spark_row(s))),
        ),
        (
            "perks",
            "address",
            rows(&perks, |a, p| (a.to_string(), perk_row(p))),
        ),
        (
            "perk_claims",
            "address",
            rows(&claims, |a, c| (a.to_string(), claim_row(c))),
        ),
        (
            "whitelists",
            "address",
            rows(&whitelists, |a, w| (a.to_string(), whitelist_row(w))),
        ),
        (
            "whitelist_entries",
            "address",
            rows(&entries, |a, e| (a.to_string(), entry_row(e))),
        ),
    ];
    for (table, key, chain) in tables {
        let stored = stored_rows(store, table, key).await?;
        report.compared.insert(table, chain.len());
        compare(table, &chain, &stored, &mut report.differences);
    }
    completeness(rpc, store, &mut report).await?;

    // Derived totals: the store's view against the same sums over the
    // accounts on chain (Config keeps no totals; awards never write it).
    let totals: (i64, i64, i64, i64) = sqlx::query_as(SUPPLY_TOTALS)
        .fetch_one(store.pool())
        .await?;
    let chain = sparks
        .iter()
        .fold([0u128; 4], |[out, earned, spent, revoked], (_, s)| {
            [
                out + u128::from(s.balance),
                earned + u128::from(s.lifetime_earned),
                spent + u128::from(s.lifetime_spent),
                revoked + u128::from(s.lifetime_revoked),
            ]
        });
    let stored = [totals.0, totals.1, totals.2, totals.3];
    for ((field, chain), stored) in [
        "outstanding",
        "total_awarded",
        "total_spent",
        "total_revoked",
    ]
    .into_iter()
    .zip(chain)
    .zip(stored)
    {
        if chain != u128::try_from(stored).unwrap_or(u128::MAX) {
            report.differences.push(Difference {
                table: "supply_totals",
                key: "config".into(),
                field: field.into(),
                chain: chain.to_string(),
                store: stored.to_string(),
            });
        }
    }
    // What the issuers minted is what the accounts earned.
    let minted_on_chain: u128 = issuers
        .iter()
        .map(|(_, i)| u128::from(i.total_minted))
        .sum();
    if minted_on_chain != chain[1] {
        report.differences.push(Difference {
            table: "issuers",
            key: "all".into(),
            field: "sum(total_minted) vs sum(lifetime_earned) on chain".into(),
            chain: minted_on_chain.to_string(),
            store: chain[1].to_string(),
        });
    }
    let minted: Vec<(String, i64)> = sqlx::query_as(MINTED_BY_ISSUER)
        .fetch_all(store.pool())
        .await?;
    let minted: BTreeMap<String, i64> = minted.into_iter().collect();
    for (_, issuer) in &issuers {
        let key = issuer.authority.to_string();
        let stored = minted.get(&key).copied().unwrap_or(0);
        if i128::from(issuer.total_minted) != i128::from(stored) {
            report.differences.push(Difference {
                table: "ledger",
                key,
                field: "sum(amount) as total_minted".into(),
                chain: issuer.total_minted.to_string(),
                store: stored.to_string(),
            });
        }
    }
    Ok(report)
}

const SUPPLY_TOTALS: &str =
    "SELECT outstanding, total_awarded, total_spent, total_revoked FROM supply_totals";
const MINTED_BY_ISSUER: &str =
    "SELECT issuer, sum(amount)::bigint FROM ledger WHERE issuer IS NOT NULL GROUP BY issuer";

async fn stored_rows(store: &Store, table: &str, key: &str) -> Result<Rows, VerifyError> {
    // Table and key names come from the fixed list above, never from input.
    let sql = format!("SELECT row_to_json(t)::text FROM {table} t");
    let texts: Vec<String> = sqlx::query_scalar(&sql).fetch_all(store.pool()).await?;
    let mut rows = Rows::new();
    for text in texts {
        let mut row: BTreeMap<String, Value> = serde_json::from_str(&text)?;
        for column in BOOKKEEPING {
            row.remove(column);
        }
        let id = row
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        rows.insert(id, row);
    }
    Ok(rows)
}

fn compare(table: &'static str, chain: &Rows, stored: &Rows, out: &mut Vec<Difference>) {
    let empty = BTreeMap::new();
    let keys: BTreeSet<&String> = chain.keys().chain(stored.keys()).collect();
    for key in keys {
        let on_chain = chain.get(key);
        let in_store = stored.get(key);
        let fields: BTreeSet<&String> = on_chain
            .unwrap_or(&empty)
            .keys()
            .chain(in_store.unwrap_or(&empty).keys())
            .collect();
        for field in fields {
            let render = |row: Option<&BTreeMap<String, Value>>| match row {
                None => "(no row)".to_owned(),
                Some(row) => row
                    .get(field)
                    .map_or("(no field)".to_owned(), Value::to_string),
            };
            let (a, b) = (render(on_chain), render(in_store));
            if a != b {
                out.push(Difference {
                    table,
                    key: key.clone(),
                    field: field.clone(),
                    chain: a,
                    store: b,
                });
            }
        }
    }
}

fn rows<T>(accounts: &[(Pubkey, T)], row: impl Fn(&Pubkey, &T) -> (String, Value)) -> Rows {
    accounts
        .iter()
        .map(|(address, account)| {
            let (key, value) = row(address, account);
            let Value::Object(map) = value else {
                unreachable!("rows are objects")
            };
            (key, map.into_iter().collect())
        })
        .collect()
}

fn key(key: &Pubkey) -> String {
    key.to_string()
}

fn config_row(c: &Config) -> Value {
    json!({
        "address": sparks_client::pda::config().to_string(),
        "admin": key(&c.admin),
        "pending_admin": c.pending_admin.as_ref().map(key),
        "paused": c.paused,
        "referral_trade_share_bps": c.referral_trade_share_bps,
        "first_subscription_bonus": c.first_subscription_bonus,
        "max_award_per_ix": c.max_award_per_ix,
        "seq": c.seq,
    })
}

fn issuer_row(i: &Issuer) -> Value {
    json!({
        "authority": key(&i.authority),
        "allowed_sources": i.allowed_sources,
        "cap_per_period": i.cap_per_period,
        "period_secs": i.period_secs,
        "active": i.active,
        "seq": i.seq,
    })
}

fn spark_row(s: &SparkAccount) -> Value {
    json!({
        "wallet": key(&s.owner),
        "balance": s.balance,
        "lifetime_earned": s.lifetime_earned,
        "lifetime_spent": s.lifetime_spent,
        "lifetime_revoked": s.lifetime_revoked,
        "earned_trading": s.earned_by_source[0],
        "earned_subscription": s.earned_by_source[1],
        "earned_campaign": s.earned_by_source[2],
        "earned_referral": s.earned_by_source[3],
        "referrer": s.referrer.as_ref().map(key),
        "invitee_count": s.invitee_count,
        "first_subscription_rewarded": s.first_subscription_rewarded,
        "seq": s.seq,
    })
}

fn perk_row(p: &Perk) -> Value {
    json!({
        "address": sparks_client::pda::perk(p.id).to_string(),
        "id": p.id,
        "kind": perk_kind_name(p.kind),
        "cost": p.cost,
        "max_supply": p.max_supply,
        "claimed": p.claimed,
        "per_wallet_limit": p.per_wallet_limit,
        "starts_at": p.starts_at,
        "ends_at": p.ends_at,
        "active": p.active,
        "whitelist": p.whitelist.as_ref().map(key),
        "uri": p.uri,
        "seq": p.seq,
    })
}

fn claim_row(c: &PerkClaim) -> Value {
    json!({
        "address": sparks_client::pda::claim(&c.perk, &c.owner).to_string(),
        "perk": key(&c.perk),
        "wallet": key(&c.owner),
        "times_claimed": c.times_claimed,
        "seq": c.seq,
    })
}

fn whitelist_row(w: &Whitelist) -> Value {
    json!({
        "address": sparks_client::pda::whitelist(w.id).to_string(),
        "id": w.id,
        "admin": key(&w.admin),
        "pending_admin": w.pending_admin.as_ref().map(key),
        "consumer": key(&w.consumer),
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

fn entry_row(e: &WhitelistEntry) -> Value {
    json!({
        "address": sparks_client::pda::whitelist_entry(&e.whitelist, &e.wallet).to_string(),
        "whitelist": key(&e.whitelist),
        "wallet": key(&e.wallet),
        "spots_granted": e.spots_granted,
        "spots_used": e.spots_used,
        "obtained_via": e.obtained_via,
        "seq": e.seq,
    })
}
