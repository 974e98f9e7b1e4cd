//! The delivery worker: expands the outbox's rows into deliveries (a task
//! of its own), claims due deliveries and sends them to their
//! subscriptions, signed the Standard Webhooks way, each body built from
//! its stored event.
//!
//! - **Order per wallet**: a delivery is claimed only when no older one of
//!   its (subscription, wallet) is still pending, so a receiver sees one
//!   wallet's events in chain order; different wallets go in parallel.
//! - **Bounded**: at most `max_in_flight` per subscription, and
//!   `concurrency` in all.
//! - **At least once**: a claim is a lease (the delivery stays `pending`,
//!   due again when the lease ends), so a killed worker's deliveries are
//!   sent again, under the same `webhook-id`.
//! - **Retries**: exponential backoff with jitter, or the receiver's
//!   `Retry-After`, for the subscription's `retry_for_seconds` (24 h by
//!   default); then the delivery is dead-lettered (`webhooks list --failed`).
//!   2xx is done; 410 disables the subscription.
//! - **Commitment**: a `finalized` subscription's deliveries wait until
//!   their transaction is final.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use sparks_client::events::SparksEvent;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use super::events::Placement;
use super::signing::{signature_header, SigningError};
use crate::names::CHANGED_CHANNEL;

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Deliveries in flight across all subscriptions.
    pub concurrency: usize,
    /// How long one request may take.
    pub timeout: Duration,
    /// How often due deliveries are looked for without a notification.
    pub poll_interval: Duration,
    /// A claimed delivery is due again after this (a worker died with it).
    pub lease: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            concurrency: 32,
            timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            max_backoff: Duration::from_secs(3600),
        }
    }
}

/// A claimed delivery, with what sending it needs.
#[derive(Debug, sqlx::FromRow)]
struct Claimed {
    id: i64,
    subscription_id: i64,
    message_id: String,
    event_type: String,
    /// Set for rollback notices only; the others are built from `payload`.
    body: Option<String>,
    signature: String,
    event_index: i32,
    slot: i64,
    attempts: i32,
    url: String,
    secret: String,
    previous_secret: Option<String>,
    /// Seconds left in the retry window (negative: past it).
    retry_left: f64,
    block_time: Option<i64>,
    /// The stored event (discriminator + borsh).
    payload: Option<Vec<u8>>,
}

impl Claimed {
    /// The JSON sent, from the stored event: the same bytes on every
    /// attempt unless a `reindex` rewrote the event meanwhile (then the
    /// corrected one, under the same id, if it is still the same type).
    fn body(&self) -> Result<String, Unsendable> {
        if let Some(body) = &self.body {
            return Ok(body.clone());
        }
        let missing = || Unsendable::Event(format!("{} #{}", self.signature, self.event_index));
        let event = self
            .payload
            .as_deref()
            .and_then(|payload| SparksEvent::from_log_data(payload).ok())
            .filter(|event| {
                super::events::notice(event).is_some_and(|n| n.event_type == self.event_type)
            })
            .ok_or_else(missing)?;
        let at = Placement {
            signature: &self.signature,
            event_index: self.event_index,
            slot: self.slot,
            block_time: self.block_time,
        };
        super::events::body(&event, &self.event_type, at).ok_or_else(missing)
    }
}

/// Why a delivery cannot be sent at all (it is dead-lettered at once).
#[derive(Debug, thiserror::Error)]
enum Unsendable {
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error("its event ({0}) is not stored, does not decode, or is no longer of its type")]
    Event(String),
}

/// Per live subscription with room (`$2`/`$3`: subscriptions with
/// deliveries in flight, and how many), its oldest deliveries that may go
/// now: pending and due, the oldest pending of their wallet, their
/// transaction final where the subscription asks for it; at most `$1` in
/// all, oldest first. Then the claim itself takes a lease on those still
/// free. The wallet and finality checks are scalar subqueries so they stay
/// one index probe per row walked whatever the planner's statistics say (a
/// NOT EXISTS was planned as a hash over the whole backlog when they were
/// stale: 218 ms per claim at 40,000 pending).
const CLAIM: &str = "
    WITH busy AS (
        SELECT * FROM UNNEST($2::int8[], $3::int4[]) AS b(subscription_id, in_flight)
    ), open AS (
        SELECT s.id, s.commitment, s.max_in_flight - coalesce(b.in_flight, 0) AS room
        FROM webhook_subscriptions s
        LEFT JOIN busy b ON b.subscription_id = s.id
        WHERE s.disabled_at IS NULL AND s.max_in_flight > coalesce(b.in_flight, 0)
    ), candidates AS (
        SELECT c.id FROM open o
        CROSS JOIN LATERAL (
            -- webhook_deliveries_due, in id order; webhook_deliveries_pending per row.
            SELECT d.id FROM webhook_deliveries d
            WHERE d.subscription_id = o.id AND d.state = 'pending' AND d.next_attempt_at <= now()
              AND d.id = (SELECT min(e.id) FROM webhook_deliveries e
                          WHERE e.subscription_id = d.subscription_id AND e.wallet = d.wallet
                            AND e.state = 'pending')
              AND (o.commitment = 'confirmed' OR d.event_type LIKE '%.rolled_back'
                   OR (SELECT t.finalized FROM transactions t WHERE t.signature = d.signature))
            ORDER BY d.id
            LIMIT o.room
        ) c
        ORDER BY c.id
        LIMIT $1
    ), chosen AS (
        SELECT d.id FROM webhook_deliveries d
        WHERE d.id IN (SELECT id FROM candidates)
          AND d.state = 'pending' AND d.next_attempt_at <= now()
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE webhook_deliveries d
        SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $4)
        FROM chosen, webhook_subscriptions s
        WHERE d.id = chosen.id AND s.id = d.subscription_id
        RETURNING d.id, d.subscription_id, d.message_id, d.event_type, d.body, d.signature,
                  d.event_index, d.slot, d.attempts, s.url, s.secret,
                  CASE WHEN s.previous_secret_until > now() THEN s.previous_secret END AS previous_secret,
                  extract(epoch FROM d.created_at + make_interval(secs => s.retry_for_seconds) - now())::float8
                      AS retry_left
    )
    -- The event each body is built from.
    SELECT c.*, e.block_time, e.payload
    FROM claimed c
    LEFT JOIN events e ON e.signature = c.signature AND e.event_index = c.event_index";

/// Every delivery that finished together, in one statement (`$1` ids,
/// `$2` statuses): a durable commit per delivery would bound deliveries/s.
const DELIVERED: &str = "UPDATE webhook_deliveries d
    SET state = 'delivered', delivered_at = now(), last_status = u.status, last_error = NULL
    FROM UNNEST($1::int8[], $2::int4[]) AS u(id, status) WHERE d.id = u.id AND d.state = 'pending'";
const RETRY: &str = "UPDATE webhook_deliveries
    SET next_attempt_at = now() + make_interval(secs => $2), last_status = $3, last_error = $4 WHERE id = $1";
const DEAD: &str = "UPDATE webhook_deliveries
    SET state = 'dead', last_status = $2, last_error = $3 WHERE id = $1 AND state = 'pending'";
/// 410 Gone: the receiver wants no more. The delivery stays pending (a
/// re-enabled subscription would send it); the subscription stops.
const GONE: &str = "WITH d AS (
        UPDATE webhook_deliveries SET next_attempt_at = now(), last_status = 410, last_error = $3
        WHERE id = $1)
    UPDATE webhook_subscriptions SET disabled_at = now(), disabled_reason = $3
    WHERE id = $2 AND disabled_at IS NULL";

/// Stops a task when dropped (the worker returning or being dropped).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A finished attempt: the delivery, its subscription, and how it went.
type Settled = (i64, i64, Result<(Outcome, Claimed), Unsendable>);

/// What one attempt came to.
#[derive(Debug)]
enum Outcome {
    Delivered(u16),
    Gone,
    /// Try again; the receiver may say when.
    Failed {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("building the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

pub struct Deliverer {
    pool: PgPool,
    http: reqwest::Client,
    config: DeliveryConfig,
}

impl Deliverer {
    pub fn new(pool: PgPool, config: DeliveryConfig) -> Result<Self, DeliveryError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("sparks-webhooks/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { pool, http, config })
    }

    /// Delivers until `shutdown` turns true; deliveries in flight then are
    /// left to their lease (sent again later, under the same id).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), DeliveryError> {
        let mut listener = PgListener::connect_with(&self.pool).await.ok();
        if let Some(listener) = listener.as_mut() {
            if listener.listen(CHANGED_CHANNEL).await.is_err() {
                tracing::warn!("webhooks: LISTEN failed; polling only");
            }
        }
        let (wake_expander, expanded) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let expander = tokio::spawn(expand_outbox(
            self.pool.clone(),
            wake_expander.clone(),
            expanded.clone(),
            shutdown.clone(),
            self.config.poll_interval,
        ));
        let _stop_expander = AbortOnDrop(expander);
        let mut in_flight: JoinSet<Settled> = JoinSet::new();
        let mut per_subscription: HashMap<i64, i32> = HashMap::new();
        let mut tick = tokio::time::interval(self.config.poll_interval);
        let mut gauges = tokio::time::interval(Duration::from_secs(10));
        let mut claim_now = true;
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            let room = self.config.concurrency.saturating_sub(in_flight.len());
            // One claim per half of the room freed, not per finished
            // delivery: a claim is a query, a delivery a request.
            if room > 0
                && (in_flight.is_empty() || room * 2 >= self.config.concurrency)
                && claim_now
            {
                match self.claim(room, &per_subscription).await {
                    Ok(claimed) => {
                        // A full claim: more may be due at once.
                        claim_now = claimed.len() == room;
                        for delivery in claimed {
                            *per_subscription
                                .entry(delivery.subscription_id)
                                .or_default() += 1;
                            let http = self.http.clone();
                            in_flight.spawn(async move {
                                let outcome = send(&http, &delivery).await;
                                (
                                    delivery.id,
                                    delivery.subscription_id,
                                    outcome.map(|o| (o, delivery)),
                                )
                            });
                        }
                    }
                    Err(error) => {
                        claim_now = false;
                        tracing::warn!(%error, "webhooks: claiming deliveries failed");
                    }
                }
            }
            tokio::select! {
                _ = shutdown.changed() => {}
                _ = expanded.notified() => claim_now = true,
                _ = tick.tick() => claim_now = true,
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    // The ones that finished free room for their wallets' next.
                    claim_now = true;
                    let mut finished = vec![done];
                    while let Some(done) = in_flight.try_join_next() {
                        finished.push(done);
                    }
                    let finished: Vec<Settled> = finished.into_iter().filter_map(Result::ok).collect();
                    for (_, subscription, _) in &finished {
                        if let Some(n) = per_subscription.get_mut(subscription) {
                            *n -= 1;
                            if *n <= 0 {
                                per_subscription.remove(subscription);
                            }
                        }
                    }
                    if let Err(error) = self.settle(finished).await {
                        // The lease brings them back: sent again, same ids.
                        tracing::warn!(%error, "webhooks: recording deliveries failed");
                    }
                }
                _ = notified(listener.as_mut()) => {
                    wake_expander.notify_one();
                    claim_now = true;
                }
                _ = gauges.tick() => self.publish_gauges().await,
            }
        }
    }

    /// Per subscription on /metrics: pending, retrying, dead, oldest pending age.
    async fn publish_gauges(&self) {
        // Stored batches not yet expanded into deliveries (a failing
        // expansion shows here, not in any subscription's pending).
        match sqlx::query_as::<_, (i64, f64)>(
            "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
             FROM webhook_outbox",
        )
        .fetch_one(&self.pool)
        .await
        {
            Ok((rows, oldest)) => {
                metrics::gauge!("sparks_webhook_outbox_rows").set(rows as f64);
                metrics::gauge!("sparks_webhook_outbox_oldest_seconds").set(oldest);
            }
            Err(error) => tracing::warn!(%error, "webhooks: reading the outbox failed"),
        }
        let stats = match super::subscriptions::stats(&self.pool).await {
            Ok(stats) => stats,
            Err(error) => return tracing::warn!(%error, "webhooks: reading delivery stats failed"),
        };
        for s in stats {
            let sub = s.id.to_string();
            metrics::gauge!("sparks_webhook_pending", "subscription" => sub.clone())
                .set(s.pending as f64);
            metrics::gauge!("sparks_webhook_retrying", "subscription" => sub.clone())
                .set(s.retrying as f64);
            metrics::gauge!("sparks_webhook_dead", "subscription" => sub.clone())
                .set(s.dead as f64);
            metrics::gauge!("sparks_webhook_oldest_pending_seconds", "subscription" => sub.clone())
                .set(s.oldest_pending_seconds.unwrap_or(0.0));
            metrics::gauge!("sparks_webhook_disabled", "subscription" => sub)
                .set(f64::from(u8::from(s.disabled)));
        }
    }

    async fn claim(
        &self,
        room: usize,
        busy: &HashMap<i64, i32>,
    ) -> Result<Vec<Claimed>, sqlx::Error> {
        let (ids, counts): (Vec<i64>, Vec<i32>) = busy.iter().map(|(k, v)| (*k, *v)).unzip();
        sqlx::query_as::<_, Claimed>(CLAIM)
            .bind(room as i64)
            .bind(&ids)
            .bind(&counts)
            .bind(self.config.lease.as_secs_f64())
            .fetch_all(&self.pool)
            .await
    }

    /// Records how each finished attempt went: retries, dead letters and
    /// 410s one by one, the delivered ones together in one statement.
    async fn settle(&self, finished: Vec<Settled>) -> Result<(), sqlx::Error> {
        let (mut ids, mut statuses) = (Vec::new(), Vec::new());
        for (id, subscription, result) in finished {
            match self.settle_one(id, subscription, result).await {
                Ok(Some(status)) => {
                    ids.push(id);
                    statuses.push(status);
                }
                Ok(None) => {}
                // The lease brings it back: sent again, same id.
                Err(error) => tracing::warn!(%error, id, "webhooks: recording a delivery failed"),
            }
        }
        if !ids.is_empty() {
            sqlx::query(DELIVERED)
                .bind(&ids)
                .bind(&statuses)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Records one attempt, except a delivered one: its status is returned
    /// for `settle` to record with the others.
    async fn settle_one(
        &self,
        id: i64,
        subscription: i64,
        result: Result<(Outcome, Claimed), Unsendable>,
    ) -> Result<Option<i32>, sqlx::Error> {
        let sub = subscription.to_string();
        let (outcome, delivery) = match result {
            Ok(done) => done,
            Err(error) => {
                // A secret that cannot sign (nothing can be sent until it is
                // rotated) or an event gone: dead-letter it so it is visible.
                metrics::counter!("sparks_webhook_deliveries_total", "subscription" => sub, "outcome" => "dead")
                    .increment(1);
                sqlx::query(DEAD)
                    .bind(id)
                    .bind(None::<i32>)
                    .bind(error.to_string())
                    .execute(&self.pool)
                    .await?;
                return Ok(None);
            }
        };
        match outcome {
            Outcome::Delivered(status) => {
                metrics::counter!("sparks_webhook_deliveries_total", "subscription" => sub, "outcome" => "delivered")
                    .increment(1);
                return Ok(Some(i32::from(status)));
            }
            Outcome::Gone => {
                tracing::warn!(subscription, url = %delivery.url, "webhooks: 410 Gone; subscription disabled");
                metrics::counter!("sparks_webhook_deliveries_total", "subscription" => sub, "outcome" => "gone")
                    .increment(1);
                sqlx::query(GONE)
                    .bind(id)
                    .bind(subscription)
                    .bind("the receiver answered 410 Gone")
                    .execute(&self.pool)
                    .await?;
            }
            Outcome::Failed {
                status,
                error,
                retry_after,
            } => {
                let wait = retry_after
                    .unwrap_or_else(|| backoff(delivery.attempts, self.config.max_backoff));
                let status = status.map(i32::from);
                if delivery.retry_left <= wait.as_secs_f64() {
                    tracing::warn!(subscription, message = %delivery.message_id, %error,
                        "webhooks: retries exhausted; dead-lettered");
                    metrics::counter!("sparks_webhook_deliveries_total", "subscription" => sub, "outcome" => "dead")
                        .increment(1);
                    sqlx::query(DEAD)
                        .bind(id)
                        .bind(status)
                        .bind(error)
                        .execute(&self.pool)
                        .await?;
                } else {
                    metrics::counter!("sparks_webhook_deliveries_total", "subscription" => sub, "outcome" => "retry")
                        .increment(1);
                    sqlx::query(RETRY)
                        .bind(id)
                        .bind(wait.as_secs_f64())
                        .bind(status)
                        .bind(error)
                        .execute(&self.pool)
                        .await?;
                }
            }
        }
        Ok(None)
    }
}

/// Turns outbox rows into deliveries, beside the sending loop (so a backfill
/// storing batches fast does not hold up claims), until `shutdown`: woken
/// by the sending loop's notifications, or every `poll`; `expanded` tells
/// the sending loop there is more to claim.
async fn expand_outbox(
    pool: PgPool,
    wake: Arc<Notify>,
    expanded: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
    poll: Duration,
) {
    const ROWS: i64 = 4;
    while !*shutdown.borrow() {
        match super::outbox::expand(&pool, ROWS).await {
            Ok(0) => {}
            Ok(rows) => {
                expanded.notify_one();
                if rows as i64 == ROWS {
                    continue;
                }
            }
            Err(error) => tracing::warn!(%error, "webhooks: expanding the outbox failed"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Resolves on the next notification (a batch committed);
/// never, without a listener.
async fn notified(listener: Option<&mut PgListener>) {
    match listener {
        Some(listener) => {
            if listener.try_recv().await.is_err() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        None => std::future::pending().await,
    }
}

/// 1 s, 2 s, 4 s … up to `max`, each between half and one and a half of
/// itself so receivers coming back are not hit by every sender at once.
fn backoff(attempts: i32, max: Duration) -> Duration {
    let exponent = attempts.clamp(1, 30) - 1;
    let base = Duration::from_secs(1u64 << exponent).min(max);
    base.mul_f64(rand::thread_rng().gen_range(0.5..1.5))
        .min(max)
}

/// `Retry-After` in seconds or as an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value.trim()).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

async fn send(http: &reqwest::Client, delivery: &Claimed) -> Result<Outcome, Unsendable> {
    let body = delivery.body()?;
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = signature_header(
        &delivery.secret,
        delivery.previous_secret.as_deref(),
        &delivery.message_id,
        timestamp,
        body.as_bytes(),
    )?;
    let response = http
        .post(&delivery.url)
        .header("content-type", "application/json")
        .header("webhook-id", &delivery.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .header("sparks-event-type", &delivery.event_type)
        .body(body)
        .send()
        .await;
    Ok(match response {
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                Outcome::Delivered(status.as_u16())
            } else if status == reqwest::StatusCode::GONE {
                Outcome::Gone
            } else {
                Outcome::Failed {
                    status: Some(status.as_u16()),
                    error: format!("the receiver answered {status}"),
                    retry_after: retry_after(response.headers()),
                }
            }
        }
        Err(error) => Outcome::Failed {
            status: None,
            error: format!("no answer: {error}"),
            retry_after: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_up_to_its_cap() {
        let max = Duration::from_secs(3600);
        for attempts in 1..40 {
            let wait = backoff(attempts, max);
            let base = Duration::from_secs(1u64 << (attempts.clamp(1, 30) - 1)).min(max);
            assert!(
                wait >= base.mul_f64(0.5) && wait <= max,
                "{attempts}: {wait:?}"
            );
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        let later = std::time::SystemTime::now() + Duration::from_secs(120);
        headers.insert(
            "retry-after",
            httpdate::fmt_http_date(later).parse().unwrap(),
        );
        let wait = retry_after(&headers).unwrap();
        assert!(
            wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );
        headers.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }
}
