//! Perks and a wallet's redemptions of them.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};

use super::*;
use crate::api::model::*;
use crate::api::AppState;

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
    responses((status = 200, body = PerkList), (status = 503, body = crate::api::error::ErrorBody)))]
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
    responses((status = 200, body = PerkView), (status = 400, body = crate::api::error::ErrorBody),
        (status = 404, body = crate::api::error::ErrorBody), (status = 503, body = crate::api::error::ErrorBody)))]
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

#[utoipa::path(get, path = "/v1/wallets/{wallet}/claims", tag = "perks",
    params(("wallet" = String, Path, description = "base58 public key", min_length = 32, max_length = 44, pattern = "^[1-9A-HJ-NP-Za-km-z]{32,44}$")),
    responses((status = 200, body = ClaimList), (status = 400, body = crate::api::error::ErrorBody), (status = 503, body = crate::api::error::ErrorBody)))]
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
