//! Live updates for the page: `GET /v1/wallets/{wallet}/stream`, a stream
//! of server-sent events carrying the wallet's summary each time it changes.
//!
//! Server-sent events rather than polling with ETags: an open page costs
//! nothing while nothing changes, and learns of a change within
//! milliseconds instead of a polling interval; rather than a websocket:
//! updates only flow one way, and SSE is plain HTTP (GET, CORS, proxies)
//! whose reconnection the browser does by itself.
//!
//! The indexer NOTIFYs [`CHANGED_CHANNEL`] in every transaction that changes
//! what the API reads (delivered only if it commits). One LISTEN connection
//! per API process turns these into a counter that every open stream
//! watches; a stream then reads its wallet's summary (through the batched
//! reader, so a thousand open streams cost a few queries) and sends it only
//! when it differs from the last one sent.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;

use super::error::ApiError;
use super::routes::{summary_view, wallet};
use super::AppState;
use crate::names::CHANGED_CHANNEL;

/// A stream reads its summary at least this often, so a missed notification
/// (the LISTEN connection down) delays an update, never loses it.
const REFRESH_EVERY: Duration = Duration::from_secs(15);

/// The LISTEN task; it stops when this is dropped (the last clone of the
/// API's state), so it never outlives the API nor keeps its connection.
pub struct Listening(tokio::task::AbortHandle);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the task that LISTENs for the indexer's changes; the counter it
/// returns moves on each notification and each reconnection (changes may
/// have been missed meanwhile).
pub fn watch_changes(pool: PgPool) -> (watch::Receiver<u64>, Listening) {
    let (sender, receiver) = watch::channel(0u64);
    let task = tokio::spawn(async move {
        let bump = |sender: &watch::Sender<u64>| sender.send_modify(|n| *n += 1);
        loop {
            let mut listener = match PgListener::connect_with(&pool).await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "stream updates: cannot connect to LISTEN; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(error) = listener.listen(CHANGED_CHANNEL).await {
                tracing::warn!(%error, "stream updates: LISTEN failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            bump(&sender);
            loop {
                match listener.try_recv().await {
                    Ok(Some(_)) => bump(&sender),
                    // The connection was lost; the next call reconnects.
                    Ok(None) => bump(&sender),
                    Err(error) => {
                        tracing::warn!(%error, "stream updates: LISTEN connection failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        bump(&sender);
                        break;
                    }
                }
            }
        }
    });
    (receiver, Listening(task.abort_handle()))
}

/// Counts open streams on `/metrics` while it lives.
struct Open;

impl Open {
    fn new() -> Self {
        metrics::gauge!("sparks_api_streams_open").increment(1.0);
        Self
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        metrics::gauge!("sparks_api_streams_open").decrement(1.0);
    }
}

struct StreamState {
    app: AppState,
    wallet: String,
    changes: watch::Receiver<u64>,
    last_sent: Option<String>,
    first: bool,
    _open: Open,
}

#[utoipa::path(get, path = "/v1/wallets/{wallet}/stream", tag = "wallets",
    params(("wallet" = String, Path, description = "base58 public key", min_length = 32, max_length = 44, pattern = "^[1-9A-HJ-NP-Za-km-z]{32,44}$")),
    responses(
        (status = 200, content_type = "text/event-stream",
         description = "A stream of server-sent events (text/event-stream), never one JSON document. Event `sparks`: `id` is the summary's `seq`, `data` one line of JSON, a `SparksSummary` as `/v1/wallets/{wallet}/sparks` answers it; sent at once and after each change to the wallet. Event `unavailable`: `data` is a plain-text message, sent while the database cannot be read (a `sparks` event follows once it can). Comment lines keep the connection alive.",
         body = String,
         example = json!("event: sparks\nid: 7\ndata: {\"wallet\":\"…\",\"balance\":120,…}\n\n")),
        (status = 400, body = super::error::ErrorBody)))]
pub async fn stream(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let wallet = wallet(path)?;
    let changes = app.changes.clone();
    let mut closing = app.closing.subscribe();
    let state = StreamState {
        app,
        wallet,
        changes,
        last_sent: None,
        first: true,
        _open: Open::new(),
    };
    let events = futures::stream::unfold(state, |mut state| async move {
        loop {
            if !state.first {
                // A change or the timeout (the safety net): read again.
                if let Ok(Err(_)) =
                    tokio::time::timeout(REFRESH_EVERY, state.changes.changed()).await
                {
                    // No feed any more: poll.
                    tokio::time::sleep(REFRESH_EVERY).await;
                }
            }
            state.first = false;
            let read = state.app.reads.summary(state.wallet.clone()).await;
            let event = match read {
                Ok(row) => {
                    let summary = summary_view(state.wallet.clone(), row);
                    let seq = summary.seq;
                    let json = match serde_json::to_string(&summary) {
                        Ok(json) => json,
                        Err(error) => {
                            tracing::error!(%error, "stream: cannot serialize a summary");
                            continue;
                        }
                    };
                    if state.last_sent.as_deref() == Some(json.as_str()) {
                        continue;
                    }
                    state.last_sent = Some(json.clone());
                    Event::default()
                        .event("sparks")
                        .id(seq.to_string())
                        .data(json)
                }
                Err(error) => {
                    state.last_sent = None;
                    Event::default()
                        .event("unavailable")
                        .data(error.to_string())
                }
            };
            return Some((Ok(event), state));
        }
    });
    let until_closing = async move {
        let _ = closing.wait_for(|closing| *closing).await;
    };
    Ok(Sse::new(events.take_until(until_closing)).keep_alive(KeepAlive::default()))
}
