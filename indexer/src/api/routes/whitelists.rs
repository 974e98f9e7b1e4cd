//! Whitelists: their terms, a wallet's spots, and the mint site's eligibility check.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};

use super::*;
use crate::api::model::*;
use crate::api::AppState;

fn via_names(bits: i16) -> Vec<&'static str> {
    [(1, "admin"), (2, "join"), (4, "perk")]
        .into_iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, name)| name)
        .collect()
}

#[utoipa::path(get, path = "/v1/wallets/{wallet}/whitelists", tag = "whitelists",
    params(("wallet" = String, Path, description = "base58 public key", min_length = 32, max_length = 44, pattern = "^[1-9A-HJ-NP-Za-km-z]{32,44}$")),
    responses((status = 200, body = WhitelistSpotList), (status = 400, body = crate::api::error::ErrorBody), (status = 503, body = crate::api::error::ErrorBody)))]
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
    responses((status = 200, body = Eligibility), (status = 400, body = crate::api::error::ErrorBody),
        (status = 404, body = crate::api::error::ErrorBody), (status = 503, body = crate::api::error::ErrorBody)))]
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

#[utoipa::path(get, path = "/v1/whitelists", tag = "whitelists",
    responses((status = 200, body = WhitelistList), (status = 503, body = crate::api::error::ErrorBody)))]
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
