//! The outbox: one row per stored batch with notifiable events, written in
//! the database transaction that stores them (so an event is never stored
//! without its notices, nor notified before it is stored), in the order
//! batches commit. The delivery worker expands each row into deliveries,
//! one per event and subscription that wants it, from the stored events,
//! and builds each body from its stored event when it sends it: storing a
//! batch costs one narrow row, whatever the subscriptions. Rollback notices
//! carry their body, as their event is gone.

use sparks_client::events::SparksEvent;
use sqlx::{PgConnection, PgPool};

use super::events::{body, notice, Placement, ROLLED_BACK};

/// The notifiable events of a batch, column by column (one UNNEST insert).
#[derive(Default)]
pub struct NoticeRows {
    pub signature: Vec<String>,
    pub event_index: Vec<i32>,
    pub slot: Vec<i64>,
    pub event_type: Vec<String>,
    pub wallet: Vec<Option<String>>,
    pub perk_kind: Vec<Option<String>>,
    pub perk_id: Vec<Option<i64>>,
}

impl NoticeRows {
    /// Adds `event` if the app can subscribe to it.
    pub fn add(&mut self, signature: &str, index: i32, slot: i64, event: &SparksEvent) {
        let Some(notice) = notice(event) else {
            return;
        };
        self.signature.push(signature.to_owned());
        self.event_index.push(index);
        self.slot.push(slot);
        self.event_type.push(notice.event_type.to_owned());
        self.wallet.push(notice.wallet);
        self.perk_kind.push(notice.perk_kind.map(str::to_owned));
        self.perk_id.push(notice.perk_id);
    }
}

/// The start both inserts share: each notice of `$1..$7` (a [`NoticeRows`]
/// as arrays) joined to the subscriptions that want it (its event types,
/// perk kinds and ids); each use adds which subscriptions and what a
/// conflict does.
macro_rules! deliveries_of_notices {
    ($subscriptions:literal) => {
        concat!(
            "INSERT INTO webhook_deliveries
                 (subscription_id, message_id, event_type, wallet, signature, event_index, slot)
             SELECT s.id, 'evt_' || r.signature || '_' || r.event_index, r.event_type, coalesce(r.wallet, ''),
                    r.signature, r.event_index, r.slot
             FROM UNNEST($1::text[], $2::int4[], $3::int8[], $4::text[], $5::text[], $6::text[],
                         $7::int8[])
                  AS r(signature, event_index, slot, event_type, wallet, perk_kind, perk_id)
             JOIN webhook_subscriptions s
               ON ",
            $subscriptions,
            "
              AND r.event_type = ANY (s.event_types)
              AND (s.perk_kinds IS NULL OR r.perk_kind = ANY (s.perk_kinds))
              AND (s.perk_ids IS NULL OR r.perk_id = ANY (s.perk_ids))"
        )
    };
}

/// One delivery per notice and live subscription that wants it, among
/// those that existed when the outbox row `$8` was written (a later one
/// starts with later events; `replay` sends earlier ones). A batch stored
/// again keeps the deliveries it already has; a cancelled one comes back.
const INSERT_DELIVERIES: &str = concat!(
    deliveries_of_notices!(
        "s.disabled_at IS NULL
         AND s.created_at <= (SELECT created_at FROM webhook_outbox WHERE id = $8)"
    ),
    "
     ON CONFLICT (signature, event_index, subscription_id, event_type) DO UPDATE
         SET state = 'pending', next_attempt_at = now()
         WHERE webhook_deliveries.state = 'cancelled'"
);

/// A replay: the notices of one subscription (`$8`), due again whatever
/// they came to before (delivered, dead-lettered, never created because the
/// subscription was disabled then).
const REPLAY_DELIVERIES: &str = concat!(
    deliveries_of_notices!("s.id = $8"),
    "
     ON CONFLICT (signature, event_index, subscription_id, event_type) DO UPDATE
         SET state = 'pending', next_attempt_at = now(), attempts = 0, created_at = now()"
);

/// `statement` with `rows` bound as `$1..$7`.
fn with_rows<'q>(
    statement: &'q str,
    rows: &'q NoticeRows,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(statement)
        .bind(&rows.signature)
        .bind(&rows.event_index)
        .bind(&rows.slot)
        .bind(&rows.event_type)
        .bind(&rows.wallet)
        .bind(&rows.perk_kind)
        .bind(&rows.perk_id)
}

/// Makes `rows` due again for `subscription` (see [`REPLAY_DELIVERIES`]);
/// returns how many.
pub async fn replay(
    db: &mut PgConnection,
    rows: &NoticeRows,
    subscription: i64,
) -> Result<u64, sqlx::Error> {
    if rows.signature.is_empty() {
        return Ok(0);
    }
    Ok(with_rows(REPLAY_DELIVERIES, rows)
        .bind(subscription)
        .execute(db)
        .await?
        .rows_affected())
}

/// Inside a batch's transaction, once the batch before it committed: the
/// transactions of `notifiable` that were written (`None`: all) go into
/// one outbox row.
pub async fn enqueue(
    db: &mut PgConnection,
    notifiable: &[String],
    written: Option<&[String]>,
) -> Result<(), sqlx::Error> {
    let signatures: Vec<&String> = match written {
        None => notifiable.iter().collect(),
        Some(written) => {
            let written: std::collections::HashSet<&String> = written.iter().collect();
            notifiable.iter().filter(|s| written.contains(s)).collect()
        }
    };
    if signatures.is_empty() {
        return Ok(());
    }
    // Nothing to tell while no subscription is live.
    sqlx::query(
        "INSERT INTO webhook_outbox (signatures)
         SELECT $1 WHERE EXISTS (SELECT 1 FROM webhook_subscriptions WHERE disabled_at IS NULL)",
    )
    .bind(signatures)
    .execute(db)
    .await?;
    Ok(())
}

/// Only one expansion at a time (any number of workers), so deliveries
/// are numbered in the outbox's order; rollbacks and replays take it too.
const EXPANDING_LOCK: i64 = 0x5350_4b57_4f42; // "SPKWOB"

/// Takes [`EXPANDING_LOCK`] until the caller's transaction ends.
pub async fn lock_expansion(db: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(EXPANDING_LOCK)
        .execute(db)
        .await?;
    Ok(())
}

/// The stored events of `$1`'s transactions, in their order.
const EVENTS_OF: &str = "
    SELECT e.signature, e.event_index, e.slot, e.payload
    FROM UNNEST($1::text[]) WITH ORDINALITY AS b(signature, n)
    JOIN events e ON e.signature = b.signature
    ORDER BY b.n, e.event_index";

/// A stored event: signature, index, slot, payload.
pub type StoredEvent = (String, i32, i64, Vec<u8>);

/// The notices of stored events (an event that no longer decodes, an older
/// program's, has none).
pub fn notices_of(events: Vec<StoredEvent>) -> NoticeRows {
    let mut notices = NoticeRows::default();
    for (signature, index, slot, payload) in events {
        if let Ok(event) = SparksEvent::from_log_data(&payload) {
            notices.add(&signature, index, slot, &event);
        }
    }
    notices
}

/// Turns up to `max_rows` of the oldest outbox rows into deliveries, in one
/// transaction. Returns how many rows it expanded.
pub async fn expand(pool: &PgPool, max_rows: i64) -> Result<usize, sqlx::Error> {
    let mut db = pool.begin().await?;
    lock_expansion(&mut db).await?;
    let rows: Vec<(i64, Vec<String>)> =
        sqlx::query_as("SELECT id, signatures FROM webhook_outbox ORDER BY id LIMIT $1")
            .bind(max_rows)
            .fetch_all(&mut *db)
            .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    // Row by row: each goes to the subscriptions that existed when it was
    // written. A transaction in two rows (a rollback's fork came back) once.
    let mut seen = std::collections::HashSet::new();
    for (id, signatures) in &rows {
        let signatures: Vec<&String> = signatures.iter().filter(|s| seen.insert(*s)).collect();
        let events: Vec<StoredEvent> = sqlx::query_as(EVENTS_OF)
            .bind(signatures)
            .fetch_all(&mut *db)
            .await?;
        let notices = notices_of(events);
        if !notices.signature.is_empty() {
            with_rows(INSERT_DELIVERIES, &notices)
                .bind(*id)
                .execute(&mut *db)
                .await?;
        }
    }
    let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
    sqlx::query("DELETE FROM webhook_outbox WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *db)
        .await?;
    db.commit().await?;
    Ok(rows.len())
}

/// Deliveries not delivered yet are cancelled (an attempt in flight then
/// stays cancelled when it ends). Waits for a claim in progress on any of
/// them, so `attempts` is what was sent.
const CANCEL_DELIVERIES: &str = "
    UPDATE webhook_deliveries SET state = 'cancelled'
    WHERE signature = ANY ($1::text[]) AND state = 'pending' AND event_type NOT LIKE '%' || $2
    RETURNING id, attempts";

/// Those the receiver may have acted on, with their stored events: the
/// delivered ones, and those attempted at all (`$3`: the ones just
/// cancelled after an attempt; dead letters), as an attempt that failed or
/// is in flight may have reached it. A `finalized` subscription never had
/// an attempt before finality. `wait`: a notice for an attempt that may
/// still be in flight waits for it (at most a default lease, 60 s), so it
/// does not overtake it.
const TOLD_OF: &str = "
    SELECT d.subscription_id, d.message_id, d.event_type, d.wallet, d.signature, d.event_index,
           d.slot, e.block_time, e.payload,
           CASE WHEN d.state = 'cancelled'
                THEN least(greatest(extract(epoch FROM d.next_attempt_at - now()), 0), 60)::float8
                ELSE 0 END AS wait
    FROM webhook_deliveries d
    JOIN events e ON e.signature = d.signature AND e.event_index = d.event_index
    WHERE d.signature = ANY ($1::text[]) AND d.event_type NOT LIKE '%' || $2
      AND (d.state = 'delivered' OR (d.state = 'dead' AND d.attempts > 0) OR d.id = ANY ($3::int8[]))
    ORDER BY d.id";

/// Rollback notices, with their bodies (their events are about to go).
const INSERT_ROLLED_BACK: &str = "
    INSERT INTO webhook_deliveries
        (subscription_id, message_id, event_type, wallet, signature, event_index, slot, body,
         next_attempt_at)
    SELECT r.subscription_id, r.message_id, r.event_type, r.wallet, r.signature, r.event_index,
           r.slot, r.body, now() + make_interval(secs => r.wait)
    FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int4[],
                $7::int8[], $8::text[], $9::float8[])
         AS r(subscription_id, message_id, event_type, wallet, signature, event_index, slot, body, wait)
    ON CONFLICT (signature, event_index, subscription_id, event_type) DO NOTHING";

/// A notice the receiver may have acted on.
#[derive(sqlx::FromRow)]
struct Told {
    subscription_id: i64,
    message_id: String,
    event_type: String,
    wallet: String,
    signature: String,
    event_index: i32,
    slot: i64,
    block_time: Option<i64>,
    payload: Vec<u8>,
    wait: f64,
}

/// Inside a rollback's transaction (a dropped fork, not a reindex), before
/// its events are removed: each notice the receiver may have acted on owes
/// it a `<type>.rolled_back` notice with the same data, and those not
/// delivered are cancelled. Holds the expansion lock, so an outbox row
/// expanded meanwhile is either seen here or finds its events gone.
pub async fn roll_back(db: &mut PgConnection, signatures: &[String]) -> Result<(), sqlx::Error> {
    lock_expansion(db).await?;
    let cancelled: Vec<(i64, i32)> = sqlx::query_as(CANCEL_DELIVERIES)
        .bind(signatures)
        .bind(ROLLED_BACK)
        .fetch_all(&mut *db)
        .await?;
    let attempted: Vec<i64> = cancelled
        .into_iter()
        .filter(|(_, attempts)| *attempts > 0)
        .map(|(id, _)| id)
        .collect();
    let told: Vec<Told> = sqlx::query_as(TOLD_OF)
        .bind(signatures)
        .bind(ROLLED_BACK)
        .bind(&attempted)
        .fetch_all(&mut *db)
        .await?;
    let mut rows = RolledBackRows::default();
    for told in told {
        // Stored events were decoded once already.
        let Ok(event) = SparksEvent::from_log_data(&told.payload) else {
            continue;
        };
        let event_type = format!("{}{ROLLED_BACK}", told.event_type);
        let at = Placement {
            signature: &told.signature,
            event_index: told.event_index,
            slot: told.slot,
            block_time: told.block_time,
        };
        let Some(body) = body(&event, &event_type, at) else {
            continue;
        };
        rows.subscription.push(told.subscription_id);
        rows.message_id
            .push(format!("{}_rolled_back", told.message_id));
        rows.event_type.push(event_type);
        rows.wallet.push(told.wallet);
        rows.signature.push(told.signature);
        rows.event_index.push(told.event_index);
        rows.slot.push(told.slot);
        rows.body.push(body);
        rows.wait.push(told.wait);
    }
    if rows.subscription.is_empty() {
        return Ok(());
    }
    sqlx::query(INSERT_ROLLED_BACK)
        .bind(&rows.subscription)
        .bind(&rows.message_id)
        .bind(&rows.event_type)
        .bind(&rows.wallet)
        .bind(&rows.signature)
        .bind(&rows.event_index)
        .bind(&rows.slot)
        .bind(&rows.body)
        .bind(&rows.wait)
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// Rollback notices, column by column.
#[derive(Default)]
struct RolledBackRows {
    subscription: Vec<i64>,
    message_id: Vec<String>,
    event_type: Vec<String>,
    wallet: Vec<String>,
    signature: Vec<String>,
    event_index: Vec<i32>,
    slot: Vec<i64>,
    body: Vec<String>,
    wait: Vec<f64>,
}
