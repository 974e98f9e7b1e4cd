//! The HTTP API: `POST /v1/awards`, `GET /v1/awards/{key}`,
//! `GET /v1/wallets/{wallet}/awards`, `/health`, `/metrics`. Every route
//! but the last two needs a bearer token; every error is JSON.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sparks_client::address_pattern::ExactAddresses;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use crate::auth;
use crate::error::{ApiError, ErrorBody};
use crate::model::{parse_body, AwardBatch, AwardRequestBody, AwardRequests, AwardView};
use crate::store::{Accepted, Store, StoreError, Token};

/// Largest `POST /v1/awards` body (a full batch of long keys fits).
pub const MAX_BODY_BYTES: usize = 1 << 20;

const STATES: [&str; 5] = ["pending", "sending", "landed", "finalized", "failed"];

pub struct AppState {
    pub store: Store,
    /// The program's limit per award (`Config::max_award_per_ix`).
    pub max_amount: u64,
    pub metrics: Option<PrometheusHandle>,
    /// The issuer key the worker sends with; `None`: only the API runs, and
    /// requests stay pending.
    pub sender: Option<String>,
    /// Whether the worker holds its key's sender lease now (another service
    /// on the same key and database may hold it: this one then waits).
    pub holding_lease: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Database(error) => ApiError::Database(error),
            StoreError::NoSuchRequest { .. } => {
                ApiError::NotFound("unknown_key", error.to_string())
            }
            // Operator paths (tokens, retry, cancel, migrations): no route
            // meets them, but one that did would be our failure, not the
            // caller's.
            other => ApiError::Store(other.to_string()),
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Sparks issuer API", description = "Award Sparks exactly once: the app's back end posts award requests; the service lands them on chain."),
    paths(post_awards, get_award, wallet_awards, health),
    components(schemas(AwardRequests, AwardBatch, AwardRequestBody, AwardView, AwardsAccepted, WalletAwards, ErrorBody)),
    modifiers(&BearerAuth, &ExactAddresses),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// The requests of a `POST /v1/awards`, in the order sent.
#[derive(Serialize, ToSchema)]
pub struct AwardsAccepted {
    pub awards: Vec<AwardView>,
}

/// A wallet's award requests, newest first.
#[derive(Serialize, ToSchema)]
pub struct WalletAwards {
    pub wallet: String,
    pub awards: Vec<AwardView>,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .route("/v1/awards", post(post_awards))
        .route("/v1/awards/{key}", get(get_award))
        .route("/v1/wallets/{wallet}/awards", get(wallet_awards))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::NotFound("not_found", "no such endpoint".into()) })
        .method_not_allowed_fallback(|| async {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                Json(json!({"error": "method_not_allowed", "message": "this endpoint does not take that method"})),
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Token, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::Unauthorized("an `Authorization: Bearer spk_…` header is required".into())
        })?;
    let presented = auth::bearer(header).ok_or_else(|| {
        ApiError::Unauthorized("the Authorization header is not `Bearer spk_…`".into())
    })?;
    state
        .store
        .token(presented)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("unknown or revoked token".into()))
}

#[utoipa::path(post, path = "/v1/awards", tag = "awards",
    request_body(content = AwardRequests, description = "one award request, or an array of 1 to 1,000"),
    responses(
        (status = 202, body = AwardsAccepted, description = "committed to the outbox (or already there under these keys)"),
        (status = 400, body = ErrorBody, description = "malformed JSON or a bad field, named"),
        (status = 401, body = ErrorBody, description = "no, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "a source the token may not use"),
        (status = 409, body = ErrorBody, description = "a key already used with another body; nothing accepted"),
        (status = 413, body = ErrorBody, description = "body over 1 MiB"),
        (status = 503, body = ErrorBody, description = "the database could not answer; retry with the same keys"),
    ))]
async fn post_awards(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let token = authenticate(&state, &headers).await?;
    let body = body.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(_) => {
            ApiError::TooLarge(format!("the body is over {MAX_BODY_BYTES} bytes"))
        }
        other => ApiError::bad("invalid_body", other.body_text()),
    })?;
    let value: Value = crate::model::parse_json(&body).map_err(|e| {
        ApiError::bad(
            "invalid_json",
            format!("the body is not JSON with each field once: {e}"),
        )
    })?;
    let requests = parse_body(&value, state.max_amount)?;
    if let Some(refused) = requests
        .iter()
        .find(|r| !token.sources.iter().any(|s| s == r.source))
    {
        return Err(ApiError::Forbidden(format!(
            "token {:?} may not award source {:?} (it may: {})",
            token.name,
            refused.source,
            token.sources.join(", ")
        )));
    }
    let outcomes = state.store.accept(&token, &requests).await?;
    let conflicts: Vec<&str> = outcomes
        .iter()
        .filter_map(|o| match o {
            Accepted::Conflict { key } => Some(key.as_str()),
            Accepted::Award(_) => None,
        })
        .collect();
    if !conflicts.is_empty() {
        return Err(ApiError::Conflict(format!(
            "key {} already used with another body; nothing in this call was accepted",
            conflicts.join(", ")
        )));
    }
    metrics::counter!("sparks_issuer_requests_accepted_total").increment(outcomes.len() as u64);
    let awards: Vec<AwardView> = outcomes
        .into_iter()
        .filter_map(|o| match o {
            Accepted::Award(view) => Some(*view),
            Accepted::Conflict { .. } => None,
        })
        .collect();
    Ok((StatusCode::ACCEPTED, Json(AwardsAccepted { awards })).into_response())
}

#[utoipa::path(get, path = "/v1/awards/{key}", tag = "awards",
    params(("key" = String, Path, description = "the request's idempotency key")),
    responses(
        (status = 200, body = AwardView),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no request with this key for the token's issuer"),
        (status = 503, body = ErrorBody, description = "the database could not answer; ask again"),
    ))]
async fn get_award(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Json<AwardView>, ApiError> {
    let token = authenticate(&state, &headers).await?;
    state
        .store
        .award(&token.issuer, &key)
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::NotFound("unknown_key", format!("no award request with key {key:?}"))
        })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct WalletQuery {
    /// Only requests in this state.
    #[param(pattern = "^(pending|sending|landed|finalized|failed)$")]
    state: Option<String>,
    /// At most this many, 1 to 100 (50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

#[utoipa::path(get, path = "/v1/wallets/{wallet}/awards", tag = "awards",
    params(("wallet" = String, Path, description = "base58 public key", pattern = "^[1-9A-HJ-NP-Za-km-z]{32,44}$"), WalletQuery),
    responses(
        (status = 200, body = WalletAwards),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "the database could not answer; ask again"),
    ))]
async fn wallet_awards(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(wallet): Path<String>,
    query: Result<Query<WalletQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<WalletAwards>, ApiError> {
    let token = authenticate(&state, &headers).await?;
    let Query(query) = query.map_err(|e| ApiError::bad("invalid_query", e.body_text()))?;
    let valid_wallet = bs58::decode(&wallet)
        .into_vec()
        .is_ok_and(|bytes| bytes.len() == 32);
    if !valid_wallet {
        return Err(ApiError::bad(
            "invalid_wallet",
            format!("{wallet:?} is not a base58 public key"),
        ));
    }
    if let Some(s) = &query.state {
        if !STATES.contains(&s.as_str()) {
            return Err(ApiError::bad(
                "invalid_state",
                format!("state {s:?} is not one of {}", STATES.join(", ")),
            ));
        }
    }
    let limit = match &query.limit {
        None => 50,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| {
                ApiError::bad("invalid_limit", "limit is a whole number from 1 to 100")
            })?,
    };
    let awards = state
        .store
        .wallet_awards(&token.issuer, &wallet, query.state.as_deref(), limit)
        .await?;
    Ok(Json(WalletAwards { wallet, awards }))
}

#[utoipa::path(get, path = "/health", tag = "operations", security(()),
    responses((status = 200, description = "up, with the queue by state, the open batches (being sent, having their ids voided, the oldest one's age in seconds, the most sends an open batch had fail or expire), the issuer key the worker sends with (null: none) and whether it holds that key's sender lease now (null: no worker; false: another service on the key sends, this one waits)"), (status = 503, body = ErrorBody)))]
async fn health(State(state): State<Arc<AppState>>) -> Response {
    let read = async {
        let queue = state.store.queue().await?;
        let batches = state.store.open_batches().await?;
        Ok::<_, crate::store::StoreError>((queue, batches))
    };
    match read.await {
        Ok((queue, batches)) => {
            let queue: serde_json::Map<String, Value> =
                queue.into_iter().map(|(s, n)| (s, json!(n))).collect();
            Json(json!({
                "status": "ok",
                "queue": queue,
                "batches": batches,
                "sender": state.sender,
                "holds_sender_lease": state
                    .holding_lease
                    .as_ref()
                    .map(|held| held.load(std::sync::atomic::Ordering::Relaxed)),
            }))
            .into_response()
        }
        Err(error) => ApiError::from(error).into_response(),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    if let Ok(queue) = state.store.queue().await {
        for (s, n) in queue {
            metrics::gauge!("sparks_issuer_requests", "state" => s).set(n as f64);
        }
    }
    if let Ok(open) = state.store.open_batches().await {
        metrics::gauge!("sparks_issuer_batches_open", "state" => "sending")
            .set(open.sending as f64);
        metrics::gauge!("sparks_issuer_batches_open", "state" => "voiding")
            .set(open.voiding as f64);
        metrics::gauge!("sparks_issuer_oldest_open_batch_seconds").set(open.oldest_seconds);
    }
    match &state.metrics {
        Some(handle) => handle.render().into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "not_found", "message": "metrics are off"})),
        )
            .into_response(),
    }
}
