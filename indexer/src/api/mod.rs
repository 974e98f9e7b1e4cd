//! The HTTP API behind the app's Settings → Account page (axum).
//!
//! Reads only the store's projections; every query is served by an index
//! (checked with EXPLAIN in the tests). Bad input is a 4xx with `{error,
//! message}`; `/openapi.json` is generated from the handlers; `/metrics` is
//! Prometheus text; `/account` is the settings page (a static file).

pub mod coalesce;
pub mod error;
pub mod json;
pub mod kept;
pub mod model;
pub mod reads;
pub mod routes;
pub mod stream;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, Redirect, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sparks_client::address_pattern::ExactAddresses;
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;
use tokio::sync::Mutex;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi;

use error::ApiError;
use json::Json;

#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Origins allowed by CORS (`*` for any); empty: same-origin only.
    pub cors_origins: Vec<String>,
    /// A JSON-RPC URL to read the chain tip for /health's lag in slots.
    pub rpc_url: Option<String>,
    /// The JSON-RPC URL pages and apps read the chain through (`/v1/config`).
    /// A public endpoint, never one with a secret key in it; when unset,
    /// `rpc_url` only if it is on loopback (a local chain), else none.
    pub public_rpc_url: Option<String>,
    /// The Wallet Standard chain pages ask wallets to sign for
    /// (`solana:mainnet`, `solana:devnet`, `solana:localnet`).
    pub cluster: String,
    /// The Sparks program the mirror follows.
    pub program_id: String,
    /// /health reports `lagging` beyond this many seconds since the mirror was complete.
    pub max_lag_seconds: f64,
    /// Most concurrent summary requests answered by one query; 1: one query each.
    pub max_batch: usize,
    /// The same for history pages.
    pub history_max_batch: usize,
    /// Batched queries of one kind in flight at once. Few: the fewer
    /// run at once, the more requests queue behind them and the larger
    /// (cheaper per request) the next batch (docs/BENCHMARKS.md).
    pub batch_workers: usize,
}

pub const DEFAULT_MAX_BATCH: u16 = 32;
pub const DEFAULT_BATCH_WORKERS: u16 = 2;

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            cors_origins: Vec::new(),
            rpc_url: None,
            public_rpc_url: None,
            cluster: "solana:localnet".into(),
            program_id: sparks::ID.to_string(),
            max_lag_seconds: 30.0,
            max_batch: DEFAULT_MAX_BATCH.into(),
            history_max_batch: DEFAULT_MAX_BATCH.into(),
            batch_workers: DEFAULT_BATCH_WORKERS.into(),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub config: Arc<ApiConfig>,
    reads: Arc<reads::WalletReads>,
    tip: Arc<Option<TipReader>>,
    /// Moves whenever the indexer committed a change (see [`stream`]).
    changes: tokio::sync::watch::Receiver<u64>,
    /// Set when the server shuts down: open streams end.
    closing: Arc<tokio::sync::watch::Sender<bool>>,
    /// Stops the LISTEN task when the last clone of the state goes.
    _listening: Arc<stream::Listening>,
}

/// The chain's slot, read at most once a second.
struct TipReader {
    rpc: solana_client::nonblocking::rpc_client::RpcClient,
    last: Mutex<Option<(Instant, u64)>>,
}

impl AppState {
    /// Starts the batched readers' tasks: call inside a Tokio runtime.
    pub fn new(pool: PgPool, config: ApiConfig) -> Self {
        // The batch workers take their metric handles when they start.
        metrics_handle();
        let reads = reads::WalletReads::new(
            pool.clone(),
            config.batch_workers,
            config.max_batch,
            config.history_max_batch,
        );
        let tip = config.rpc_url.clone().map(|url| TipReader {
            rpc: solana_client::nonblocking::rpc_client::RpcClient::new_with_timeout(
                url,
                Duration::from_secs(2),
            ),
            last: Mutex::new(None),
        });
        let (changes, listening) = stream::watch_changes(pool.clone());
        Self {
            pool,
            config: Arc::new(config),
            reads: Arc::new(reads),
            tip: Arc::new(tip),
            changes,
            closing: Arc::new(tokio::sync::watch::channel(false).0),
            _listening: Arc::new(listening),
        }
    }

    async fn chain_tip(&self) -> Option<u64> {
        let reader = self.tip.as_ref().as_ref()?;
        let mut last = reader.last.lock().await;
        if let Some((at, slot)) = *last {
            if at.elapsed() < Duration::from_secs(1) {
                return Some(slot);
            }
        }
        let slot = reader.rpc.get_slot().await.ok()?;
        *last = Some((Instant::now(), slot));
        Some(slot)
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sparks API",
        description = "A wallet's Sparks, history, whitelist spots and perks, from the indexer's mirror of the Sparks program."
    ),
    paths(
        routes::sparks,
        routes::history,
        routes::wallet_whitelists,
        routes::eligibility,
        routes::perks,
        routes::perk,
        routes::claims,
        routes::pending,
        stream::stream,
        routes::whitelists,
        routes::config,
        routes::leaderboard,
        routes::invitees,
        routes::health
    ),
    modifiers(&ExactAddresses)
)]
pub struct ApiDoc;

/// The API's own pool of connections: a burst of reads cannot take the
/// connections the indexer writes with (nor the reverse). Plans are generic:
/// the batched reads take arrays, whose custom plans are costed for the exact
/// batch and so always look cheaper than a generic one, which would have
/// Postgres plan every query afresh (it doubled the cost of a summary).
pub async fn connect(database_url: &str) -> Result<PgPool, sqlx::Error> {
    let options = database_url
        .parse::<PgConnectOptions>()?
        .options([("plan_cache_mode", "force_generic_plan")]);
    crate::store::pool_options().connect_with(options).await
}

/// The process-wide Prometheus recorder (installed once).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                ])
                .expect("static buckets")
                .set_buckets_for_metric(
                    Matcher::Full("sparks_api_batch_size".into()),
                    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1000.0],
                )
                .expect("static buckets")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests); then ours only renders.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub fn router(state: AppState) -> Router {
    let handle = metrics_handle();
    let cors = cors(&state.config.cors_origins);
    Router::new()
        .route("/v1/wallets/{wallet}/sparks", get(routes::sparks))
        .route("/v1/wallets/{wallet}/history", get(routes::history))
        .route(
            "/v1/wallets/{wallet}/whitelists",
            get(routes::wallet_whitelists),
        )
        .route("/v1/wallets/{wallet}/claims", get(routes::claims))
        .route("/v1/wallets/{wallet}/pending", get(routes::pending))
        .route("/v1/wallets/{wallet}/stream", get(stream::stream))
        .route("/v1/config", get(routes::config))
        .route("/v1/wallets/{wallet}/invitees", get(routes::invitees))
        .route(
            "/v1/whitelists/{id}/entries/{wallet}",
            get(routes::eligibility),
        )
        .route("/v1/whitelists", get(routes::whitelists))
        .route("/v1/perks", get(routes::perks))
        .route("/v1/perks/{id}", get(routes::perk))
        .route("/v1/leaderboard", get(routes::leaderboard))
        .route("/health", get(routes::health))
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .route("/metrics", get(move || async move { handle.render() }))
        .route("/", get(|| async { Redirect::temporary("/account") }))
        .route(
            "/account",
            get(|| async { (PAGE_HEADERS, Html(ACCOUNT_PAGE)) }),
        )
        .fallback(|| async { ApiError::not_found("not_found", "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                Json(error::ErrorBody {
                    error: "method_not_allowed",
                    message: "this endpoint only answers GET".into(),
                }),
            )
        })
        .layer(axum::middleware::from_fn(record_metrics))
        .layer(cors)
        .with_state(state)
}

/// The Settings → Account page: one HTML file with its script and styles
/// inlined, built by Vite from `indexer/web` (committed; a test rebuilds it).
pub const ACCOUNT_PAGE: &str = include_str!("../../static/account.html");

/// The page's buttons ask a wallet to sign: no other site may frame it (and
/// trick a click). Its URL names a wallet: requests to other origins (the
/// RPC provider) carry only the page's origin as referrer, which providers
/// may check a key against. No `script-src`: wallet extensions inject their
/// scripts into the page.
const PAGE_HEADERS: [(header::HeaderName, &str); 4] = [
    (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
];

fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET])
        .allow_headers([header::CONTENT_TYPE]);
    if origins.iter().any(|o| o == "*") {
        layer.allow_origin(AllowOrigin::any())
    } else {
        let list: Vec<HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
        layer.allow_origin(AllowOrigin::list(list))
    }
}

async fn record_metrics(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("sparks_api_requests_total", "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("sparks_api_request_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Serves the API on `listener` until `shutdown` resolves. Open event
/// streams end then too: a graceful shutdown waits for every connection,
/// and a stream would otherwise keep it waiting until its browser left.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let closing = state.closing.clone();
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            closing.send_replace(true);
        })
        .await
}
