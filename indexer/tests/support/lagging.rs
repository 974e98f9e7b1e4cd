//! A load-balanced RPC provider in a box: every request goes, at random, to
//! the real node or to a view of it `lag` slots behind that answers the way
//! an agave node that far behind does, *successfully*:
//!
//! - `getSlot`: its own, older slot;
//! - `getSignaturesForAddress`: `[]` after a `before` it has not seen, the
//!   whole list when it does not know `until`, nothing newer than its slot,
//!   and `-32016` when `minContextSlot` is past its slot;
//! - `getSignatureStatuses`: `null` for what it has not seen;
//! - `getTransaction`: `null` for what it has not seen (at the asked commitment);
//! - `getBlock` / `getBlockTime`: `-32004 Block not available` past its slot.
//!
//! Both views apply `minContextSlot` as agave does (refuse, never filter);
//! surfpool behind them filters instead, so the proxy strips it once checked.
//! A listing is also cut at the view's slot at the asked commitment, so even
//! the real node's page is short when the tip has unconfirmed entries (the
//! way agave's page is short when its long-term store fails mid-listing).
//! Scripted answers reproduce the field reports exactly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// What the proxy did.
#[derive(Default, Debug)]
pub struct LagCounts {
    pub requests: AtomicU64,
    /// Listings that started at the tip (no `before`).
    pub listings_from_tip: AtomicU64,
    /// Requests the lagging view answered.
    pub stale: AtomicU64,
    /// Listings refused for `minContextSlot` (-32016).
    pub refused_min_context: AtomicU64,
    /// `before` pages answered `[]` because the view had not seen `before`.
    pub empty_before: AtomicU64,
    /// `until` bounds the view did not know (ignored, as agave does).
    pub unknown_until: AtomicU64,
    /// Statuses and transactions answered `null` by the view.
    pub nulls: AtomicU64,
    /// Listings that left out signatures newer than the view.
    pub short_pages: AtomicU64,
    /// Scripted answers given.
    pub scripted_empty_pages: AtomicU64,
    pub scripted_short_pages: AtomicU64,
    pub scripted_null_statuses: AtomicU64,
    pub scripted_null_transactions: AtomicU64,
    pub scripted_unavailable_blocks: AtomicU64,
}

impl LagCounts {
    pub fn get(n: &AtomicU64) -> u64 {
        n.load(Ordering::SeqCst)
    }

    pub fn summary(&self) -> String {
        let g = Self::get;
        format!(
            "requests {}, stale {}, -32016 {}, empty-before {}, unknown-until {}, nulls {}, \
             short pages {}, scripted: empty pages {}, short pages {}, null statuses {}, null transactions {}, unavailable blocks {}",
            g(&self.requests),
            g(&self.stale),
            g(&self.refused_min_context),
            g(&self.empty_before),
            g(&self.unknown_until),
            g(&self.nulls),
            g(&self.short_pages),
            g(&self.scripted_empty_pages),
            g(&self.scripted_short_pages),
            g(&self.scripted_null_statuses),
            g(&self.scripted_null_transactions),
            g(&self.scripted_unavailable_blocks),
        )
    }
}

pub struct Shared {
    upstream: String,
    http: reqwest::Client,
    rng: Mutex<StdRng>,
    /// Share of requests the lagging view answers, in millionths.
    stale_ppm: AtomicU64,
    pub lag: AtomicU64,
    /// Scripted: the next this-many listings that carry `before` get `[]`.
    pub empty_before_pages: AtomicU64,
    /// Scripted: the next this-many listings that carry `before` are
    /// answered normally before the two scripts below apply.
    pub pass_before_pages: AtomicU64,
    /// Scripted: the next this-many listings that carry `before` are
    /// answered `-32005 Node is behind` (a page failing for the whole
    /// retry budget).
    pub fail_before_pages: AtomicU64,
    /// Scripted: the next this-many listings get only the first half of the
    /// real page (agave, when its long-term store fails, returns what its
    /// own ledger has: a short page that is not the end of history).
    pub short_pages: AtomicU64,
    /// Scripted: every getSignatureStatuses answer is all `null`, and every
    /// getTransaction at `finalized` is `null`.
    pub null_statuses: AtomicBool,
    /// Scripted: when non-zero, getFirstAvailableBlock answers this slot
    /// (a node that pruned its ledger up to it).
    pub first_available_block: AtomicU64,
    /// Scripted: every getBlock is `-32004 Block not available`.
    pub unavailable_blocks: AtomicBool,
    slots_of: Mutex<HashMap<String, Option<u64>>>,
    pub counts: LagCounts,
}

pub struct LaggingProxy {
    pub url: String,
    pub shared: Arc<Shared>,
}

type Reply = Result<Value, Value>;

fn node_error(code: i64, message: String) -> Value {
    json!({"code": code, "message": message})
}

impl LaggingProxy {
    /// `stale_share` of the requests see the node `lag` slots behind.
    pub async fn start(upstream: &str, stale_share: f64, lag: u64, seed: u64) -> Self {
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            http: reqwest::Client::new(),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            stale_ppm: AtomicU64::new((stale_share * 1e6) as u64),
            lag: AtomicU64::new(lag),
            empty_before_pages: AtomicU64::new(0),
            short_pages: AtomicU64::new(0),
            pass_before_pages: AtomicU64::new(0),
            fail_before_pages: AtomicU64::new(0),
            first_available_block: AtomicU64::new(0),
            null_statuses: AtomicBool::new(false),
            unavailable_blocks: AtomicBool::new(false),
            slots_of: Mutex::new(HashMap::new()),
            counts: LagCounts::default(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/", post(handle))
            .with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, shared }
    }

    pub fn counts(&self) -> &LagCounts {
        &self.shared.counts
    }

    pub fn set_stale_share(&self, share: f64) {
        self.shared
            .stale_ppm
            .store((share * 1e6) as u64, Ordering::SeqCst);
    }
}

async fn handle(State(shared): State<Arc<Shared>>, Json(request): Json<Value>) -> Json<Value> {
    shared.counts.requests.fetch_add(1, Ordering::SeqCst);
    let id = request["id"].clone();
    let method = request["method"].as_str().unwrap_or_default().to_owned();
    let params = request["params"].clone();
    if method == "getSignaturesForAddress" && !params[1]["before"].is_string() {
        shared
            .counts
            .listings_from_tip
            .fetch_add(1, Ordering::SeqCst);
    }
    let reply = match shared.scripted(&method, &params).await {
        Some(reply) => reply,
        None => {
            let stale = {
                let ppm = shared.stale_ppm.load(Ordering::SeqCst);
                shared.rng.lock().unwrap().gen_range(0..1_000_000) < ppm
            };
            let lag = if stale {
                shared.counts.stale.fetch_add(1, Ordering::SeqCst);
                shared.lag.load(Ordering::SeqCst)
            } else {
                0
            };
            shared.answer(&method, params, lag).await
        }
    };
    Json(match reply {
        Ok(result) => json!({"jsonrpc": "2.0", "result": result, "id": id}),
        Err(error) => json!({"jsonrpc": "2.0", "error": error, "id": id}),
    })
}

impl Shared {
    async fn scripted(&self, method: &str, params: &Value) -> Option<Reply> {
        let take = |n: &AtomicU64| {
            n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        };
        if method == "getSignaturesForAddress" && params[1]["before"].is_string() {
            if take(&self.pass_before_pages) {
                return None;
            }
            if take(&self.fail_before_pages) {
                return Some(Err(node_error(-32005, "Node is behind by 42 slots".into())));
            }
        }
        match method {
            "getFirstAvailableBlock" if self.first_available_block.load(Ordering::SeqCst) > 0 => {
                Some(Ok(json!(self.first_available_block.load(Ordering::SeqCst))))
            }
            "getSignaturesForAddress"
                if params[1]["before"].is_string()
                    && self
                        .empty_before_pages
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok() =>
            {
                self.counts
                    .scripted_empty_pages
                    .fetch_add(1, Ordering::SeqCst);
                Some(Ok(json!([])))
            }
            "getSignaturesForAddress"
                if self
                    .short_pages
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok() =>
            {
                self.counts
                    .scripted_short_pages
                    .fetch_add(1, Ordering::SeqCst);
                let mut params = params.clone();
                if let Some(config) = params[1].as_object_mut() {
                    config.remove("minContextSlot");
                }
                Some(self.forward(method, params).await.map(|page| {
                    let mut page = page.as_array().cloned().unwrap_or_default();
                    page.truncate(page.len() / 2);
                    Value::Array(page)
                }))
            }
            "getSignatureStatuses" if self.null_statuses.load(Ordering::SeqCst) => {
                self.counts
                    .scripted_null_statuses
                    .fetch_add(1, Ordering::SeqCst);
                let n = params[0].as_array().map_or(0, Vec::len);
                let slot = self.slot("processed").await.unwrap_or(0);
                Some(Ok(
                    json!({"context": {"slot": slot}, "value": vec![Value::Null; n]}),
                ))
            }
            "getTransaction"
                if self.null_statuses.load(Ordering::SeqCst)
                    && params[1]["commitment"] == "finalized" =>
            {
                self.counts
                    .scripted_null_transactions
                    .fetch_add(1, Ordering::SeqCst);
                Some(Ok(Value::Null))
            }
            "getBlock" if self.unavailable_blocks.load(Ordering::SeqCst) => {
                self.counts
                    .scripted_unavailable_blocks
                    .fetch_add(1, Ordering::SeqCst);
                Some(Err(node_error(
                    -32004,
                    format!("Block not available for slot {}", params[0]),
                )))
            }
            _ => None,
        }
    }

    /// The answer of a node `lag` slots behind the real one (0: the real one,
    /// with agave's `minContextSlot` semantics).
    async fn answer(&self, method: &str, mut params: Value, lag: u64) -> Reply {
        match method {
            "getSlot" => {
                let commitment = params[0]["commitment"].as_str().unwrap_or("finalized");
                Ok(json!(self.slot(commitment).await?.saturating_sub(lag)))
            }
            "getSignaturesForAddress" => self.signatures(params, lag).await,
            "getSignatureStatuses" => {
                let mut answer = self.forward(method, params).await?;
                let view = self.slot("processed").await?.saturating_sub(lag);
                if lag > 0 {
                    if let Some(values) = answer["value"].as_array_mut() {
                        for value in values {
                            if value["slot"].as_u64().is_some_and(|slot| slot > view) {
                                *value = Value::Null;
                                self.counts.nulls.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }
                    answer["context"]["slot"] = json!(view);
                }
                Ok(answer)
            }
            "getTransaction" => {
                let commitment = params[1]["commitment"]
                    .as_str()
                    .unwrap_or("finalized")
                    .to_owned();
                let answer = self.forward(method, params).await?;
                let view = self.slot(&commitment).await?.saturating_sub(lag);
                if lag > 0 && answer["slot"].as_u64().is_some_and(|slot| slot > view) {
                    self.counts.nulls.fetch_add(1, Ordering::SeqCst);
                    return Ok(Value::Null);
                }
                Ok(answer)
            }
            "getBlock" | "getBlockTime" => {
                let slot = params[0].as_u64().unwrap_or(0);
                let commitment = params[1]["commitment"].as_str().unwrap_or("finalized");
                let view = self.slot(commitment).await?.saturating_sub(lag);
                if lag > 0 && slot > view {
                    return Err(node_error(
                        -32004,
                        format!("Block not available for slot {slot}"),
                    ));
                }
                if let Some(config) = params.get_mut(1) {
                    if let Some(config) = config.as_object_mut() {
                        config.remove("minContextSlot");
                    }
                }
                self.forward(method, params).await
            }
            _ => self.forward(method, params).await,
        }
    }

    async fn signatures(&self, params: Value, lag: u64) -> Reply {
        let commitment = params[1]["commitment"]
            .as_str()
            .unwrap_or("finalized")
            .to_owned();
        let view = self.slot(&commitment).await?.saturating_sub(lag);
        let config = params[1].as_object().cloned().unwrap_or_default();
        if let Some(min) = config.get("minContextSlot").and_then(Value::as_u64) {
            if min > view {
                self.counts
                    .refused_min_context
                    .fetch_add(1, Ordering::SeqCst);
                return Err(json!({
                    "code": -32016,
                    "message": "Minimum context slot has not been reached",
                    "data": {"contextSlot": view},
                }));
            }
        }
        let mut config = config;
        config.remove("minContextSlot");
        if lag > 0 {
            if let Some(before) = config.get("before").and_then(Value::as_str) {
                if self.slot_of(before).await?.is_none_or(|slot| slot > view) {
                    self.counts.empty_before.fetch_add(1, Ordering::SeqCst);
                    return Ok(json!([]));
                }
            }
            if let Some(until) = config.get("until").and_then(Value::as_str) {
                if self.slot_of(until).await?.is_none_or(|slot| slot > view) {
                    self.counts.unknown_until.fetch_add(1, Ordering::SeqCst);
                    config.remove("until");
                }
            }
        }
        let limit = config.get("limit").and_then(Value::as_u64).unwrap_or(1000) as usize;
        // The view's list: the real one without what is newer than the
        // view, filled to `limit` from further down as the view would be.
        let mut out = Vec::new();
        let mut left_out = false;
        loop {
            let page = self
                .forward(
                    "getSignaturesForAddress",
                    json!([params[0].clone(), Value::Object(config.clone())]),
                )
                .await?;
            let page = page.as_array().cloned().unwrap_or_default();
            let real_len = page.len();
            let last = page.last().cloned();
            out.extend(page.into_iter().filter(|s| {
                let seen = s["slot"].as_u64().is_some_and(|slot| slot <= view);
                left_out |= !seen;
                seen
            }));
            if out.len() >= limit || real_len < limit || lag == 0 {
                break;
            }
            let Some(last) = last else { break };
            config.insert("before".into(), last["signature"].clone());
        }
        out.truncate(limit);
        tracing::debug!(
            upstream = self.upstream,
            lag,
            view,
            n = out.len(),
            first = out.first().and_then(|s| s["slot"].as_u64()),
            last = out.last().and_then(|s| s["slot"].as_u64()),
            "lagging proxy: signatures"
        );
        if left_out {
            self.counts.short_pages.fetch_add(1, Ordering::SeqCst);
        }
        Ok(Value::Array(out))
    }

    /// The real node's slot at `commitment`.
    async fn slot(&self, commitment: &str) -> Result<u64, Value> {
        let slot = self
            .forward("getSlot", json!([{"commitment": commitment}]))
            .await?;
        Ok(slot.as_u64().unwrap_or(0))
    }

    /// The slot the real node has `signature` at, if any.
    async fn slot_of(&self, signature: &str) -> Result<Option<u64>, Value> {
        if let Some(Some(slot)) = self.slots_of.lock().unwrap().get(signature) {
            return Ok(Some(*slot));
        }
        let answer = self
            .forward(
                "getSignatureStatuses",
                json!([[signature], {"searchTransactionHistory": true}]),
            )
            .await?;
        let slot = answer["value"][0]["slot"].as_u64();
        self.slots_of
            .lock()
            .unwrap()
            .insert(signature.to_owned(), slot);
        Ok(slot)
    }

    async fn forward(&self, method: &str, params: Value) -> Reply {
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let response = self
            .http
            .post(&self.upstream)
            .json(&request)
            .send()
            .await
            .map_err(|e| node_error(-32603, format!("proxy: {e}")))?;
        let mut body: Value = response
            .json()
            .await
            .map_err(|e| node_error(-32603, format!("proxy: {e}")))?;
        match body.get("error") {
            Some(error) if !error.is_null() => Err(error.clone()),
            _ => Ok(body["result"].take()),
        }
    }
}
