//! A wallet's Sparks: its summary, its history, its invitees; the leaderboard.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::Deserialize;

use super::*;
use crate::api::model::*;
use crate::api::reads::HistoryRead;
use crate::api::AppState;
use crate::store::LEADERBOARD_DEPTH;

#[utoipa::path(get, path = "/v1/wallets/{wallet}/sparks", tag = "wallets",
    params(("wallet" = String, Path, description = "base58 public key", min_length = 32, max_length = 44, pattern = "^[1-9A-HJ-NP-Za-km-z]{32,44}$")),
    responses((status = 200, body = SparksSummary), (status = 400, body = crate::api::error::ErrorBody), (status = 503, body = crate::api::error::ErrorBody)))]
pub async fn sparks(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Api<SparksSummary> {
    let wallet = wallet(path)?;
    let row = app.reads.summary(wallet.clone()).await?;
    Ok(Json(summary_view(wallet, row)))
}

/// The summary of `wallet` from its projection row (zeros before its first change).
pub fn summary_view(wallet: String, row: Option<crate::api::reads::SummaryRow>) -> SparksSummary {
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
    /// The previous page's `next_cursor`, as it was; absent or empty: the newest page.
    #[param(pattern = "^(h(0|[1-9][0-9]{0,17}))?$")]
    cursor: Option<String>,
    /// Only this source's awards.
    #[param(value_type = Option<SourceName>)]
    source: Option<String>,
}

#[utoipa::path(get, path = "/v1/wallets/{wallet}/history", tag = "wallets",
    params(("wallet" = String, Path, description = "base58 public key", min_length = 32, max_length = 44, pattern = "^[1-9A-HJ-NP-Za-km-z]{32,44}$"), HistoryQuery),
    responses((status = 200, body = HistoryPage), (status = 400, body = crate::api::error::ErrorBody), (status = 503, body = crate::api::error::ErrorBody)))]
pub async fn history(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    params: Result<Query<HistoryQuery>, QueryRejection>,
) -> Api<HistoryPage> {
    let wallet = wallet(path)?;
    let params = query(params)?;
    let limit = limit(params.limit.as_deref(), DEFAULT_PAGE)?;
    let source = source(params.source.as_deref())?;
    let before = history_cursor(params.cursor.as_deref())?.unwrap_or(i64::MAX);
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
        .then(|| entries.last().map(|e| history_cursor_of(e.seq)))
        .flatten();
    Ok(Json(HistoryPage {
        entries,
        next_cursor,
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
    responses((status = 200, body = Leaderboard), (status = 400, body = crate::api::error::ErrorBody), (status = 503, body = crate::api::error::ErrorBody)))]
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
    /// The previous page's `next_cursor`, as it was; absent or empty: the first page.
    #[param(pattern = "^(i(0|[1-9][0-9]{0,17})\\.[0-9a-f]{64})?$")]
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/wallets/{wallet}/invitees", tag = "wallets",
    params(("wallet" = String, Path, description = "the referrer's base58 public key", min_length = 32, max_length = 44, pattern = "^[1-9A-HJ-NP-Za-km-z]{32,44}$"), PageQuery),
    responses((status = 200, body = InviteePage), (status = 400, body = crate::api::error::ErrorBody), (status = 503, body = crate::api::error::ErrorBody)))]
pub async fn invitees(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    params: Result<Query<PageQuery>, QueryRejection>,
) -> Api<InviteePage> {
    let referrer = wallet(path)?;
    let params = query(params)?;
    let limit = limit(params.limit.as_deref(), DEFAULT_PAGE)?;
    // Oldest first by (slot, invitee).
    let (after_slot, after_invitee) =
        invitees_cursor(params.cursor.as_deref())?.unwrap_or((-1, String::new()));
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
                .map(|i| invitees_cursor_of(i.since_slot, &i.wallet))
        })
        .flatten();
    Ok(Json(InviteePage {
        invitees,
        next_cursor,
    }))
}
