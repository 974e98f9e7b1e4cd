//! The handlers: parse and check input (4xx on anything wrong), one indexed
//! query each, shape the answer.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use base64::Engine as _;
use serde::Deserialize;

use super::error::ApiError;
use super::json::Json;
use super::model::*;
use super::reads::HistoryRead;
use super::AppState;
use crate::store::{LEADERBOARD_DEPTH, RANKINGS};

pub const DEFAULT_PAGE: i64 = 20;
pub const MAX_PAGE: i64 = 100;
/// The sources by the program's `Source` order: the store's per-source
/// rankings carry the same names.
const SOURCES: &[&str] = RANKINGS.split_at(1).1;

type Api<T> = Result<Json<T>, ApiError>;

pub(super) fn wallet(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(text) = path.map_err(|e| ApiError::bad("invalid_path", e.body_text()))?;
    parse_wallet(&text)
}

pub fn parse_wallet(text: &str) -> Result<String, ApiError> {
    // Base58 spells each byte string one way only, so a key that decodes is
    // already in canonical form (`base58_spells_a_key_one_way_only`).
    let mut key = [0u8; 33];
    match bs58::decode(text).onto(&mut key[..]) {
        Err(_) => Err(ApiError::bad(
            "invalid_wallet",
            format!("{text:?} is not base58 of at most 32 bytes"),
        )),
        Ok(32) => Ok(text.to_owned()),
        Ok(length) => Err(ApiError::bad(
            "invalid_wallet",
            format!("{text:?} decodes to {length} bytes; a public key is 32"),
        )),
    }
}

fn parse_id(text: &str, what: &'static str) -> Result<i64, ApiError> {
    text.parse::<u64>()
        .ok()
        .and_then(|id| i64::try_from(id).ok())
        .ok_or_else(|| {
            ApiError::bad(
                "invalid_id",
                format!("{what} id {text:?} is not a whole number"),
            )
        })
}

fn limit(text: Option<&str>, default: i64) -> Result<i64, ApiError> {
    let Some(text) = text else { return Ok(default) };
    match text.parse::<i64>() {
        Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        _ => Err(ApiError::bad(
            "invalid_limit",
            format!("limit {text:?} must be a whole number from 1 to {MAX_PAGE}"),
        )),
    }
}

fn source(text: Option<&str>) -> Result<Option<i16>, ApiError> {
    let Some(text) = text else { return Ok(None) };
    SOURCES
        .iter()
        .position(|s| *s == text)
        .map(|i| Some(i as i16))
        .ok_or_else(|| {
            ApiError::bad(
                "invalid_source",
                format!("source {text:?} is not one of {}", SOURCES.join(", ")),
            )
        })
}

fn source_name(index: Option<i16>) -> Option<&'static str> {
    index.and_then(|i| SOURCES.get(i as usize)).copied()
}

/// Opaque keyset cursors: base64url of "<tag>:<key>".
fn encode_cursor(tag: &str, key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{tag}:{key}"))
}

fn invalid_cursor() -> ApiError {
    ApiError::bad(
        "invalid_cursor",
        "cursor is not one this API returned for this list",
    )
}

fn decode_cursor(tag: &str, text: &str) -> Result<String, ApiError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| invalid_cursor())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid_cursor())?;
    text.strip_prefix(tag)
        .and_then(|rest| rest.strip_prefix(':'))
        .map(str::to_owned)
        .ok_or_else(invalid_cursor)
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad("invalid_query", e.body_text()))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[utoipa::path(get, path = "/v1/wallets/{wallet}/sparks", tag = "wallets",
    params(("wallet" = String, Path, description = "base58 public key", min_length = 32, max_length = 44, pattern = "^[1-9A-HJ-NP-Za-km-z]{32,44}$")),
    responses((status = 200, body = SparksSummary), (status = 400, body = super::error::ErrorBody), (status = 503, body = super::error::ErrorBody)))]
pub async fn sparks(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Api<SparksSummary> {
    let wallet = wallet(path)?;
    let row = app.reads.summary(wallet.clone()).await?;
    Ok(Json(summary_view(wallet, row)))
}

/// The summary of `wallet` from its projection row (zeros before its first change).
pub fn summary_view(wallet: String, row: Option<super::reads::SummaryRow>) -> SparksSummary {
    match row {
        Some(r) => SparksSummary {
            wallet,
            exists: true,
            balance: r.balance,
            lifetime_earned: r.lifetime_earned,
            lifetime_spent: r.lifetime_spent,
            lifetime_revoked: r.lifetime_revoked,
            earned_by_source: BySource {
                trading: r.earned_trading,
                subscription: r.earned_subscription,
                campaign: r.earned_campaign,
                referral: r.earned_referral,
            },
            referrer: r.referrer,
            invitee_count: r.invitee_count,
            referral_earnings: r.earned_referral,
            seq: r.seq,
            last_update_slot: Some(r.slot),
            finalized: r.finalized,
        },
        None => SparksSummary {
            wallet,
            exists: false,
            balance: 0,
            lifetime_earned: 0,
            lifetime_spent: 0,
            lifetime_revoked: 0,
            earned_by_source: BySource {
                trading: 0,
                subscription: 0,
                campaign: 0,
                referral: 0,
            },
            referrer: None,
            invitee_count: 0,
            referral_earnings: 0,
            seq: 0,
            last_update_slot: None,
            finalized: true,
        },
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Rows per page, default 20.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// From the previous page's `next_cursor`.
    cursor: Option<String>,
    /// Only this source's awards.
    #[param(value_type = Option<SourceName>)]
    source: Option<String>,
}

#[utoipa::path(get, path = "/v1/wallets/{wallet}/history", tag = "wallets",
    params(("wallet" = String, Path, description = "base58 public key", min_length = 32, max_length = 44, pattern = "^[1-9A-HJ-NP-Za-km-z]{32,44}$"), HistoryQuery),
    responses((status = 200, body = HistoryPage), (status = 400, body = super::error::ErrorBody), (status = 503, body = super::error::ErrorBody)))]
pub async fn history(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    params: Result<Query<HistoryQuery>, QueryRejection>,
) -> Api<HistoryPage> {
    let wallet = wallet(path)?;
    let params = query(params)?;
    let limit = limit(params.limit.as_deref(), DEFAULT_PAGE)?;
    let source = source(params.source.as_deref())?;
    let before = match params.cursor.as_deref() {
        None => i64::MAX,
        Some(text) => decode_cursor("h", text)?
            .parse::<i64>()
            .map_err(|_| invalid_cursor())?,
    };
    let rows = app
        .reads
        .history(HistoryRead {
            wallet,
            before,
            source,
            fetch: limit + 1,
        })
        .await?;
    let more = rows.len() as i64 > limit;
    let entries: Vec<LedgerEntry> = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| LedgerEntry {
            signature: r.signature,
            event_index: r.event_index,
            slot: r.slot,
            block_time: r.block_time,
            kind: r.kind,
            source: source_name(r.source),
            amount: r.amount,
            balance_after: r.balance_after,
            seq: r.seq,
            counterparty: r.counterparty,
        })
        .collect();
    let next_cursor = more
        .then(|| {
            entries
                .last()
                .map(|e| encode_cursor("h", &e.seq.to_string()))
        })
        .flatten();
    Ok(Json(HistoryPage {
        entries,
        next_cursor,
    }))
}

fn via_names(bits: i16) -> Vec<&'static str> {
    [(1, "admin"), (2, "join"), (4, "perk")]
        .into_iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, name)| name)
        .collect()
}

#[utoipa::path(get, path = "/v1/wallets/{wallet}/whitelists", tag = "whitelists",
    params(("wallet" = String, Path, description = "base58 public key", min_length = 32, max_length = 44, pattern = "^[1-9A-HJ-NP-Za-km-z]{32,44}$")),
    responses((status = 200, body = WhitelistSpotList), (status = 400, body = super::error::ErrorBody), (status = 503, body = super::error::ErrorBody)))]
pub async fn wallet_whitelists(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Api<WhitelistSpotList> {
    let wallet = wallet(path)?;
    let rows = sqlx::query!(
        "SELECT w.id, w.address, e.spots_granted, e.spots_used, w.starts_at, w.ends_at, w.active, e.obtained_via
         FROM whitelist_entries e JOIN whitelists w ON w.address = e.whitelist
         WHERE e.wallet = $1 ORDER BY w.id",
        wallet
    )
    .fetch_all(&app.pool)
    .await?;
    let whitelists = rows
        .into_iter()
        .map(|r| WhitelistSpot {
            whitelist_id: r.id,
            whitelist: r.address,
            spots_granted: r.spots_granted,
            spots_used: r.spots_used,
            spots_left: (r.spots_granted - r.spots_used).max(0),
            window: Window {
                starts_at: r.starts_at,
                ends_at: r.ends_at,
            },
            active: r.active,
            obtained_via: via_names(r.obtained_via),
        })
        .collect();
    Ok(Json(WhitelistSpotList { whitelists }))
}

#[utoipa::path(get, path = "/v1/whitelists/{id}/entries/{wallet}", tag = "whitelists",
    params(("id" = u64, Path, description = "whitelist id", minimum = 0), ("wallet" = String, Path, description = "base58 public key", min_length = 32, max_length = 44, pattern = "^[1-9A-HJ-NP-Za-km-z]{32,44}$")),
    responses((status = 200, body = Eligibility), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody), (status = 503, body = super::error::ErrorBody)))]
pub async fn eligibility(
    State(app): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Api<Eligibility> {
    let Path((id, wallet)) = path.map_err(|e| ApiError::bad("invalid_path", e.body_text()))?;
    let id = parse_id(&id, "whitelist")?;
    let wallet = parse_wallet(&wallet)?;
    let list = sqlx::query!(
        "SELECT address, starts_at, ends_at, active, min_lifetime_sparks FROM whitelists WHERE id = $1",
        id
    )
    .fetch_optional(&app.pool)
    .await?
    .ok_or_else(|| ApiError::not_found("unknown_whitelist", format!("no whitelist with id {id}")))?;
    let entry = sqlx::query!(
        "SELECT spots_granted, spots_used FROM whitelist_entries WHERE whitelist = $1 AND wallet = $2",
        list.address,
        wallet
    )
    .fetch_optional(&app.pool)
    .await?;
    let (granted, used) = entry
        .as_ref()
        .map_or((0, 0), |e| (e.spots_granted, e.spots_used));
    let now = now();
    let reason = if !list.active {
        Some("inactive")
    } else if now < list.starts_at {
        Some("not_started")
    } else if now >= list.ends_at {
        Some("ended")
    } else if entry.is_none() {
        Some("no_entry")
    } else if used >= granted {
        Some("no_spots_left")
    } else {
        None
    };
    Ok(Json(Eligibility {
        whitelist_id: id,
        wallet,
        eligible: reason.is_none(),
        reason,
        spots_granted: granted,
        spots_used: used,
        spots_left: (granted - used).max(0),
        window: Window {
            starts_at: list.starts_at,
            ends_at: list.ends_at,
        },
        min_lifetime_sparks_to_join: list.min_lifetime_sparks,
    }))
}

struct PerkRow {
    id: i64,
    address: String,
    kind: String,
    cost: i64,
    max_supply: i64,
    claimed: i64,
    per_wallet_limit: i64,
    starts_at: i64,
    ends_at: i64,
    active: bool,
    whitelist: Option<String>,
    uri: String,
}

fn perk_view(r: PerkRow, now: i64) -> PerkView {
    let available = r.active
        && r.starts_at <= now
        && now < r.ends_at
        && (r.max_supply == 0 || r.claimed < r.max_supply);
    PerkView {
        id: r.id,
        address: r.address,
        kind: r.kind,
        cost: r.cost,
        max_supply: r.max_supply,
        claimed: r.claimed,
        per_wallet_limit: r.per_wallet_limit,
        window: Window {
            starts_at: r.starts_at,
            ends_at: r.ends_at,
        },
        active: r.active,
        available,
        whitelist: r.whitelist,
        uri: r.uri,
    }
}

#[utoipa::path(get, path = "/v1/perks", tag = "perks",
    responses((status = 200, body = PerkList), (status = 503, body = super::error::ErrorBody)))]
pub async fn perks(State(app): State<AppState>) -> Api<PerkList> {
    let rows = sqlx::query_as!(
        PerkRow,
        "SELECT id, address, kind, cost, max_supply, claimed, per_wallet_limit, starts_at, ends_at, active,
                whitelist, uri
         FROM perks ORDER BY id LIMIT 1000"
    )
    .fetch_all(&app.pool)
    .await?;
    let now = now();
    Ok(Json(PerkList {
        perks: rows.into_iter().map(|r| perk_view(r, now)).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/perks/{id}", tag = "perks",
    params(("id" = u64, Path, description = "perk id", minimum = 0)),
    responses((status = 200, body = PerkView), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody), (status = 503, body = super::error::ErrorBody)))]
pub async fn perk(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Api<PerkView> {
    let Path(id) = path.map_err(|e| ApiError::bad("invalid_path", e.body_text()))?;
    let id = parse_id(&id, "perk")?;
    let row = sqlx::query_as!(
        PerkRow,
        "SELECT id, address, kind, cost, max_supply, claimed, per_wallet_limit, starts_at, ends_at, active,
                whitelist, uri
         FROM perks WHERE id = $1",
        id
    )
    .fetch_optional(&app.pool)
    .await?
    .ok_or_else(|| ApiError::not_found("unknown_perk", format!("no perk with id {id}")))?;
    Ok(Json(perk_view(row, now())))
}

/// A wallet's requests in the issuer service's outbox (schema `issuer`, same
/// database) that the index does not show yet: not landed, or landed at a
/// slot the indexer's cursor has not passed and not stored. Landed requests
/// older than a day are not looked at (they are indexed, or the indexer's
/// `/health` says why not), which bounds the scan for a busy wallet. The
/// oldest `PENDING_LISTED` are returned, each with the count and sum of all.
pub const PENDING_AWARDS: &str = "
    SELECT r.source, r.amount, CASE WHEN r.state = 'finalized' THEN 'landed' ELSE r.state END AS state,
           to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS accepted_at,
           count(*) OVER () AS total_count,
           least(sum(r.amount) OVER (), 9223372036854775807)::bigint AS total_amount
    FROM issuer.award_requests r
    WHERE r.wallet = $1
      AND (r.state IN ('pending', 'sending')
           OR (r.state IN ('landed', 'finalized')
               AND r.created_at > now() - interval '1 day'
               AND r.slot >= (SELECT slot FROM cursor)
               AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.signature = r.signature)))
    ORDER BY r.id
    LIMIT $2";

/// Pending awards listed one by one (the count and amount cover all).
const PENDING_LISTED: i64 = 100;

#[utoipa::path(get, path = "/v1/wallets/{wallet}/pending", tag = "sparks",
    params(("wallet" = String, Path, description = "base58 public key", min_length = 32, max_length = 44, pattern = "^[1-9A-HJ-NP-Za-km-z]{32,44}$")),
    responses((status = 200, body = PendingAwards), (status = 400, body = super::error::ErrorBody), (status = 503, body = super::error::ErrorBody)))]
pub async fn pending(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Api<PendingAwards> {
    use sqlx::Row as _;
    let wallet = wallet(path)?;
    let rows = match sqlx::query(PENDING_AWARDS)
        .bind(&wallet)
        .bind(PENDING_LISTED)
        .fetch_all(&app.pool)
        .await
    {
        Ok(rows) => rows,
        // No issuer service here: nothing is pending.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => {
            return Ok(Json(PendingAwards {
                wallet,
                count: 0,
                amount: 0,
                issuer_service: false,
                awards: Vec::new(),
            }))
        }
        Err(e) => return Err(e.into()),
    };
    let (count, amount) = match rows.first() {
        Some(row) => (row.try_get("total_count")?, row.try_get("total_amount")?),
        None => (0, 0),
    };
    let awards = rows
        .iter()
        .map(|row| {
            Ok(PendingAward {
                source: row.try_get("source")?,
                amount: row.try_get("amount")?,
                state: row.try_get("state")?,
                accepted_at: row.try_get("accepted_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Json(PendingAwards {
        wallet,
        count,
        amount,
        issuer_service: true,
        awards,
    }))
}

#[utoipa::path(get, path = "/v1/wallets/{wallet}/claims", tag = "perks",
    params(("wallet" = String, Path, description = "base58 public key", min_length = 32, max_length = 44, pattern = "^[1-9A-HJ-NP-Za-km-z]{32,44}$")),
    responses((status = 200, body = ClaimList), (status = 400, body = super::error::ErrorBody), (status = 503, body = super::error::ErrorBody)))]
pub async fn claims(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Api<ClaimList> {
    let wallet = wallet(path)?;
    let rows = sqlx::query!(
        "SELECT p.id, p.address, p.kind, c.times_claimed, c.slot
         FROM perk_claims c JOIN perks p ON p.address = c.perk
         WHERE c.wallet = $1 ORDER BY p.id",
        wallet
    )
    .fetch_all(&app.pool)
    .await?;
    Ok(Json(ClaimList {
        claims: rows
            .into_iter()
            .map(|r| Claim {
                perk_id: r.id,
                perk: r.address,
                kind: r.kind,
                times_claimed: r.times_claimed,
                slot: r.slot,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeaderboardQuery {
    /// Rows, default 20.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Rank by one source's earnings instead of lifetime earned.
    #[param(value_type = Option<SourceName>)]
    source: Option<String>,
}

/// The top wallets by lifetime earned, or by one source's earnings; a
/// wallet that earned nothing there is not listed.
#[utoipa::path(get, path = "/v1/leaderboard", tag = "wallets", params(LeaderboardQuery),
    responses((status = 200, body = Leaderboard), (status = 400, body = super::error::ErrorBody), (status = 503, body = super::error::ErrorBody)))]
pub async fn leaderboard(
    State(app): State<AppState>,
    params: Result<Query<LeaderboardQuery>, QueryRejection>,
) -> Api<Leaderboard> {
    let params = query(params)?;
    let limit = limit(params.limit.as_deref(), DEFAULT_PAGE)?;
    let source = source(params.source.as_deref())?;
    let ranking = RANKINGS[source.map_or(0, |i| 1 + i as usize)];
    let rows = sqlx::query!(
        "SELECT l.wallet, l.earned, a.balance FROM leaderboard l JOIN spark_accounts a USING (wallet)
         WHERE l.ranking = $1 ORDER BY l.earned DESC, l.wallet LIMIT $2",
        ranking,
        limit
    )
    .fetch_all(&app.pool)
    .await?;
    Ok(Json(Leaderboard {
        source: source_name(source),
        rows: rows
            .into_iter()
            .enumerate()
            .map(|(i, row)| LeaderboardRow {
                rank: i as i64 + 1,
                wallet: row.wallet,
                earned: row.earned,
                balance: row.balance,
            })
            .collect(),
    }))
}

// The store keeps each ranking this deep.
const _: () = assert!(MAX_PAGE <= LEADERBOARD_DEPTH);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows per page, default 20.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// From the previous page's `next_cursor`.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/wallets/{wallet}/invitees", tag = "wallets",
    params(("wallet" = String, Path, description = "the referrer's base58 public key", min_length = 32, max_length = 44, pattern = "^[1-9A-HJ-NP-Za-km-z]{32,44}$"), PageQuery),
    responses((status = 200, body = InviteePage), (status = 400, body = super::error::ErrorBody), (status = 503, body = super::error::ErrorBody)))]
pub async fn invitees(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    params: Result<Query<PageQuery>, QueryRejection>,
) -> Api<InviteePage> {
    let referrer = wallet(path)?;
    let params = query(params)?;
    let limit = limit(params.limit.as_deref(), DEFAULT_PAGE)?;
    // Oldest first by (slot, invitee).
    let (after_slot, after_invitee) = match params.cursor.as_deref() {
        None => (-1, String::new()),
        Some(text) => {
            let key = decode_cursor("i", text)?;
            key.split_once('/')
                .and_then(|(slot, invitee)| Some((slot.parse::<i64>().ok()?, invitee.to_owned())))
                .ok_or_else(invalid_cursor)?
        }
    };
    let rows = sqlx::query!(
        "SELECT r.invitee, r.slot, r.block_time, coalesce(s.lifetime_earned, 0) AS \"lifetime_earned!\"
         FROM referrals r LEFT JOIN spark_accounts s ON s.wallet = r.invitee
         WHERE r.referrer = $1 AND (r.slot, r.invitee) > ($2, $3)
         ORDER BY r.slot, r.invitee LIMIT $4",
        referrer,
        after_slot,
        after_invitee,
        limit + 1
    )
    .fetch_all(&app.pool)
    .await?;
    let more = rows.len() as i64 > limit;
    let invitees: Vec<Invitee> = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| Invitee {
            wallet: r.invitee,
            since_slot: r.slot,
            since_time: r.block_time,
            lifetime_earned: r.lifetime_earned,
        })
        .collect();
    let next_cursor = more
        .then(|| {
            invitees
                .last()
                .map(|i| encode_cursor("i", &format!("{}/{}", i.since_slot, i.wallet)))
        })
        .flatten();
    Ok(Json(InviteePage {
        invitees,
        next_cursor,
    }))
}

#[utoipa::path(get, path = "/v1/whitelists", tag = "whitelists",
    responses((status = 200, body = WhitelistList), (status = 503, body = super::error::ErrorBody)))]
pub async fn whitelists(State(app): State<AppState>) -> Api<WhitelistList> {
    let rows = sqlx::query!(
        "SELECT id, address, consumer, capacity, spots_granted, spots_used, spots_per_wallet,
                min_lifetime_sparks, starts_at, ends_at, active
         FROM whitelists ORDER BY id"
    )
    .fetch_all(&app.pool)
    .await?;
    let now = now();
    let whitelists = rows
        .into_iter()
        .map(|r| WhitelistView {
            // Spots are granted any time before the end (they are used
            // from the start on), so a whitelist not started yet is open.
            open: r.active && now < r.ends_at && r.spots_granted < r.capacity,
            id: r.id,
            address: r.address,
            consumer: r.consumer,
            capacity: r.capacity,
            spots_granted: r.spots_granted,
            spots_used: r.spots_used,
            spots_per_wallet: r.spots_per_wallet,
            min_lifetime_sparks_to_join: r.min_lifetime_sparks,
            window: Window {
                starts_at: r.starts_at,
                ends_at: r.ends_at,
            },
            active: r.active,
        })
        .collect();
    Ok(Json(WhitelistList { whitelists }))
}

/// Whether `url`'s host is this machine (`localhost`, 127.0.0.0/8, `::1`).
fn is_loopback_url(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[utoipa::path(get, path = "/v1/config", tag = "operations",
    responses((status = 200, body = ClientConfig)))]
pub async fn config(State(app): State<AppState>) -> Api<ClientConfig> {
    let config = &app.config;
    Ok(Json(ClientConfig {
        program_id: config.program_id.clone(),
        // The indexer's own URL may carry a provider's key: it is offered
        // only when it points at this machine (a local chain).
        rpc_url: config
            .public_rpc_url
            .clone()
            .or_else(|| config.rpc_url.clone().filter(|url| is_loopback_url(url))),
        cluster: config.cluster.clone(),
        max_lag_seconds: config.max_lag_seconds,
    }))
}

#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = super::error::ErrorBody)))]
pub async fn health(State(app): State<AppState>) -> Api<Health> {
    let cursor = sqlx::query!(
        "SELECT slot, caught_up_slot, finalized_slot,
                extract(epoch FROM now() - caught_up_at)::float8 AS lag_seconds
         FROM cursor"
    )
    .fetch_one(&app.pool)
    .await
    .map_err(|e| ApiError::Unavailable(format!("database unreachable: {e}")))?;
    let tip = app.chain_tip().await;
    let lag_slots = tip.map(|tip| (tip as i64 - cursor.caught_up_slot).max(0));
    if let Some(lag) = lag_slots {
        metrics::gauge!("sparks_indexing_lag_slots").set(lag as f64);
    }
    if let Some(lag) = cursor.lag_seconds {
        metrics::gauge!("sparks_indexing_lag_seconds").set(lag);
    }
    let lagging = cursor
        .lag_seconds
        .is_none_or(|s| s > app.config.max_lag_seconds);
    let webhooks = crate::webhooks::subscriptions::stats(&app.pool)
        .await
        .map_err(|e| ApiError::Unavailable(format!("database unreachable: {e}")))?
        .into_iter()
        .map(|s| WebhookHealth {
            subscription: s.id,
            state: if s.disabled { "disabled" } else { "active" },
            disabled_reason: s.disabled_reason,
            pending: s.pending,
            retrying: s.retrying,
            dead: s.dead,
            oldest_pending_seconds: s.oldest_pending_seconds,
        })
        .collect();
    Ok(Json(Health {
        webhooks,
        status: if lagging { "lagging" } else { "ok" },
        database: true,
        last_indexed_slot: cursor.slot,
        caught_up_slot: cursor.caught_up_slot,
        finalized_slot: cursor.finalized_slot,
        lag_slots,
        lag_seconds: cursor.lag_seconds,
    }))
}

#[cfg(test)]
mod tests {
    use anchor_lang::prelude::Pubkey;
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn only_loopback_urls_are_offered_as_the_public_rpc_url() {
        for url in [
            "http://127.0.0.1:8899",
            "http://localhost:8899/",
            "http://[::1]:8899",
            "http://127.0.0.2",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [
            "https://mainnet.helius-rpc.com/?api-key=secret",
            "https://api.devnet.solana.com",
            "http://127.0.0.1.example.com",
            "http://user@10.0.0.1:8899",
            "127.0.0.1:8899",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }

    #[test]
    fn base58_spells_a_key_one_way_only() {
        const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
        let mut rng = rand::rngs::StdRng::seed_from_u64(58);
        let mut keys = 0;
        for _ in 0..30_000 {
            let length = rng.gen_range(42..=45);
            let mut text: String = (0..length)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect();
            // Leading '1's are leading zero bytes: the likeliest place for a second spelling.
            let ones = rng.gen_range(0..4);
            text.replace_range(..ones, &"1".repeat(ones));
            if let Ok(wallet) = parse_wallet(&text) {
                keys += 1;
                let bytes = bs58::decode(&text).into_vec().unwrap();
                assert_eq!(bs58::encode(&bytes).into_string(), text);
                assert_eq!(
                    Pubkey::try_from(bytes.as_slice()).unwrap().to_string(),
                    wallet
                );
            }
        }
        assert!(keys > 5_000, "only {keys} random strings were keys");
        for text in ["", "0OIl", "1", "11111111111111111111111111111111111"] {
            assert!(parse_wallet(text).is_err(), "{text:?}");
        }
        assert!(parse_wallet("11111111111111111111111111111111").is_ok());
    }
}
