//! Awards the issuer service accepted that the index does not show yet.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};

use super::*;
use crate::api::model::*;
use crate::api::AppState;

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
    responses((status = 200, body = PendingAwards), (status = 400, body = crate::api::error::ErrorBody), (status = 503, body = crate::api::error::ErrorBody)))]
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
