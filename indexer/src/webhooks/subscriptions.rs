//! Subscriptions, as `sparks-indexer webhooks add|list|disable|rotate-secret|replay`
//! manages them: checked input, clear refusals.

use std::time::Duration;

use sqlx::PgPool;

use super::events::{EVENT_TYPES, PERK_KINDS};
use super::outbox;
use super::signing::new_secret;

#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("{0:?} is not an http(s) URL: {1}")]
    BadUrl(String, String),
    #[error("unknown event type {0:?}; the types are: {types}", types = EVENT_TYPES.join(", "))]
    UnknownEventType(String),
    #[error("unknown perk kind {0:?}; the kinds are: {kinds}", kinds = PERK_KINDS.join(", "))]
    UnknownPerkKind(String),
    #[error("name at least one event type ({types})", types = EVENT_TYPES.join(", "))]
    NoEventTypes,
    #[error("commitment must be confirmed or finalized, not {0:?}")]
    BadCommitment(String),
    #[error(
        "a live subscription to {0} exists already (#{1}): disable it first, or change that one"
    )]
    Duplicate(String, i64),
    #[error("no subscription #{0}")]
    NotFound(i64),
    #[error("{0} must be greater than zero")]
    NotPositive(&'static str),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// What `webhooks add` takes.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub url: String,
    pub event_types: Vec<String>,
    pub perk_kinds: Vec<String>,
    pub perk_ids: Vec<i64>,
    pub commitment: String,
    pub retry_for: Duration,
    pub max_in_flight: i32,
}

/// A subscription as `webhooks list` shows it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Subscription {
    pub id: i64,
    pub url: String,
    pub event_types: Vec<String>,
    pub perk_kinds: Option<Vec<String>>,
    pub perk_ids: Option<Vec<i64>>,
    pub commitment: String,
    pub retry_for_seconds: i64,
    pub max_in_flight: i32,
    pub disabled_reason: Option<String>,
    pub disabled: bool,
    pub pending: i64,
    pub delivered: i64,
    pub dead: i64,
    pub oldest_pending_seconds: Option<f64>,
}

/// A dead-lettered delivery (`webhooks list --failed`).
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct FailedDelivery {
    pub id: i64,
    pub subscription_id: i64,
    pub message_id: String,
    pub event_type: String,
    /// '' for events of no wallet.
    pub wallet: String,
    pub slot: i64,
    pub attempts: i32,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
}

fn check_url(url: &str) -> Result<(), SubscriptionError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| SubscriptionError::BadUrl(url.into(), e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(SubscriptionError::BadUrl(
            url.into(),
            "only http and https URLs with a host".into(),
        ));
    }
    Ok(())
}

/// Checks `new` and stores it; returns its id and signing secret (shown once).
pub async fn add(pool: &PgPool, new: &NewSubscription) -> Result<(i64, String), SubscriptionError> {
    check_url(&new.url)?;
    if new.event_types.is_empty() {
        return Err(SubscriptionError::NoEventTypes);
    }
    if let Some(bad) = new
        .event_types
        .iter()
        .find(|t| !EVENT_TYPES.contains(&t.as_str()))
    {
        return Err(SubscriptionError::UnknownEventType(bad.clone()));
    }
    if let Some(bad) = new
        .perk_kinds
        .iter()
        .find(|k| !PERK_KINDS.contains(&k.as_str()))
    {
        return Err(SubscriptionError::UnknownPerkKind(bad.clone()));
    }
    if !matches!(new.commitment.as_str(), "confirmed" | "finalized") {
        return Err(SubscriptionError::BadCommitment(new.commitment.clone()));
    }
    if new.retry_for.is_zero() {
        return Err(SubscriptionError::NotPositive("the retry period"));
    }
    if new.max_in_flight <= 0 {
        return Err(SubscriptionError::NotPositive("max in flight"));
    }
    let existing: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM webhook_subscriptions WHERE url = $1 AND disabled_at IS NULL",
    )
    .bind(&new.url)
    .fetch_optional(pool)
    .await?;
    if let Some(id) = existing {
        return Err(SubscriptionError::Duplicate(new.url.clone(), id));
    }
    let secret = new_secret();
    let mut types = new.event_types.clone();
    types.sort();
    types.dedup();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO webhook_subscriptions
             (url, event_types, perk_kinds, perk_ids, commitment, secret, retry_for_seconds, max_in_flight)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(&new.url)
    .bind(&types)
    .bind((!new.perk_kinds.is_empty()).then_some(&new.perk_kinds))
    .bind((!new.perk_ids.is_empty()).then_some(&new.perk_ids))
    .bind(&new.commitment)
    .bind(&secret)
    .bind(new.retry_for.as_secs().max(1) as i64)
    .bind(new.max_in_flight)
    .fetch_one(pool)
    .await
    .map_err(|e| match &e {
        // Another `add` of the same URL won the race.
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            SubscriptionError::Duplicate(new.url.clone(), 0)
        }
        _ => SubscriptionError::Database(e),
    })?;
    Ok((id, secret))
}

/// Every subscription with its delivery counts.
pub async fn list(pool: &PgPool) -> Result<Vec<Subscription>, SubscriptionError> {
    Ok(sqlx::query_as::<_, Subscription>(
        "SELECT s.id, s.url, s.event_types, s.perk_kinds, s.perk_ids, s.commitment,
                s.retry_for_seconds, s.max_in_flight, s.disabled_reason,
                s.disabled_at IS NOT NULL AS disabled,
                count(*) FILTER (WHERE d.state = 'pending') AS pending,
                count(*) FILTER (WHERE d.state = 'delivered') AS delivered,
                count(*) FILTER (WHERE d.state = 'dead') AS dead,
                extract(epoch FROM now() - min(d.created_at) FILTER (WHERE d.state = 'pending'))::float8
                    AS oldest_pending_seconds
         FROM webhook_subscriptions s
         LEFT JOIN webhook_deliveries d ON d.subscription_id = s.id
         GROUP BY s.id ORDER BY s.id",
    )
    .fetch_all(pool)
    .await?)
}

/// Per subscription: its state and deliveries, for /health and /metrics.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryStats {
    pub id: i64,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub pending: i64,
    /// Pending after at least one failed attempt.
    pub retrying: i64,
    pub dead: i64,
    pub oldest_pending_seconds: Option<f64>,
}

/// Served by the partial indexes: only pending and dead rows are counted.
pub async fn stats(pool: &PgPool) -> Result<Vec<DeliveryStats>, sqlx::Error> {
    sqlx::query_as::<_, DeliveryStats>(
        "SELECT s.id, s.disabled_at IS NOT NULL AS disabled, s.disabled_reason,
                (SELECT count(*) FROM webhook_deliveries d
                 WHERE d.subscription_id = s.id AND d.state = 'pending') AS pending,
                (SELECT count(*) FROM webhook_deliveries d
                 WHERE d.subscription_id = s.id AND d.state = 'pending' AND d.last_error IS NOT NULL) AS retrying,
                (SELECT count(*) FROM webhook_deliveries d
                 WHERE d.subscription_id = s.id AND d.state = 'dead') AS dead,
                (SELECT extract(epoch FROM now() - min(d.created_at))::float8 FROM webhook_deliveries d
                 WHERE d.subscription_id = s.id AND d.state = 'pending') AS oldest_pending_seconds
         FROM webhook_subscriptions s ORDER BY s.id",
    )
    .fetch_all(pool)
    .await
}

/// Dead-lettered deliveries, newest first (at most `limit`).
pub async fn failed(pool: &PgPool, limit: i64) -> Result<Vec<FailedDelivery>, SubscriptionError> {
    Ok(sqlx::query_as::<_, FailedDelivery>(
        "SELECT id, subscription_id, message_id, event_type, wallet, slot, attempts, last_status, last_error
         FROM webhook_deliveries WHERE state = 'dead' ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub async fn disable(pool: &PgPool, id: i64, reason: &str) -> Result<(), SubscriptionError> {
    let updated = sqlx::query(
        "UPDATE webhook_subscriptions SET disabled_at = coalesce(disabled_at, now()), disabled_reason = $2
         WHERE id = $1",
    )
    .bind(id)
    .bind(reason)
    .execute(pool)
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(SubscriptionError::NotFound(id));
    }
    Ok(())
}

/// A new secret; the old one keeps signing too for `grace` (receivers
/// switch over meanwhile). Returns the new secret.
pub async fn rotate_secret(
    pool: &PgPool,
    id: i64,
    grace: Duration,
) -> Result<String, SubscriptionError> {
    let secret = new_secret();
    let updated = sqlx::query(
        "UPDATE webhook_subscriptions
         SET previous_secret = secret, secret = $2,
             previous_secret_until = now() + make_interval(secs => $3)
         WHERE id = $1",
    )
    .bind(id)
    .bind(&secret)
    .bind(grace.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(SubscriptionError::NotFound(id));
    }
    Ok(secret)
}

/// Sends the subscription's notices of slots `from..=to` again, built from
/// the stored events: delivered and dead-lettered ones under their own
/// ids, and those it never had (it was disabled then, or created later).
/// Re-enables the subscription. Returns how many are due.
pub async fn replay(
    pool: &PgPool,
    id: i64,
    from_slot: i64,
    to_slot: i64,
) -> Result<u64, SubscriptionError> {
    let mut db = pool.begin().await?;
    // Not beside a rollback: a notice it cancels stays cancelled.
    outbox::lock_expansion(&mut db).await?;
    let found = sqlx::query(
        "UPDATE webhook_subscriptions SET disabled_at = NULL, disabled_reason = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *db)
    .await?
    .rows_affected();
    if found == 0 {
        return Err(SubscriptionError::NotFound(id));
    }
    let events: Vec<outbox::StoredEvent> = sqlx::query_as(
        "SELECT signature, event_index, slot, payload FROM events
         WHERE slot BETWEEN $1 AND $2 ORDER BY slot, signature, event_index",
    )
    .bind(from_slot)
    .bind(to_slot)
    .fetch_all(&mut *db)
    .await?;
    let notices = outbox::notices_of(events);
    let due = outbox::replay(&mut db, &notices, id).await?;
    db.commit().await?;
    Ok(due)
}
