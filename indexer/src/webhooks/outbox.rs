//! The outbox: delivery rows written inside the database transaction that
//! stores their events (so an event is never stored without its deliveries,
//! nor delivered before it is stored), and the notices a rollback owes.

use sqlx::PgConnection;

use super::events::{body, notice, ROLLED_BACK};
use crate::decoder::DecodedEvent;

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
    pub body: Vec<String>,
}

impl NoticeRows {
    /// Adds `decoded` if the app can subscribe to it.
    pub fn add(
        &mut self,
        signature: &str,
        slot: i64,
        block_time: Option<i64>,
        decoded: &DecodedEvent,
    ) {
        let Some(notice) = notice(&decoded.event) else {
            return;
        };
        let index = decoded.index as i32;
        self.signature.push(signature.to_owned());
        self.event_index.push(index);
        self.slot.push(slot);
        self.event_type.push(notice.event_type.to_owned());
        self.wallet.push(notice.wallet);
        self.perk_kind.push(notice.perk_kind.map(str::to_owned));
        self.perk_id.push(notice.perk_id);
        self.body.push(body(
            notice.event_type,
            &notice.data,
            signature,
            index,
            slot,
            block_time,
        ));
    }
}

/// The start both inserts share: each notice of `$1..$8` (a [`NoticeRows`]
/// as arrays) joined to the subscriptions that want it (its event types,
/// perk kinds and ids); each use adds which subscriptions and what a
/// conflict does.
macro_rules! deliveries_of_notices {
    ($subscriptions:literal) => {
        concat!(
            "INSERT INTO webhook_deliveries
                 (subscription_id, message_id, event_type, wallet, signature, event_index, slot, body)
             SELECT s.id, 'evt_' || r.signature || '_' || r.event_index, r.event_type, coalesce(r.wallet, ''),
                    r.signature, r.event_index, r.slot, r.body
             FROM UNNEST($1::text[], $2::int4[], $3::int8[], $4::text[], $5::text[], $6::text[],
                         $7::int8[], $8::text[])
                  AS r(signature, event_index, slot, event_type, wallet, perk_kind, perk_id, body)
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

/// One delivery per notice and live subscription that wants it. `$9`
/// (`only`): just these signatures (a batch stored again keeps the
/// deliveries it already has; a cancelled one comes back).
const INSERT_DELIVERIES: &str = concat!(
    deliveries_of_notices!("s.disabled_at IS NULL"),
    "
     WHERE $9::text[] IS NULL OR r.signature = ANY ($9::text[])
     ON CONFLICT (subscription_id, message_id) DO UPDATE
         SET state = 'pending', next_attempt_at = now()
         WHERE webhook_deliveries.state = 'cancelled'"
);

/// A replay: the notices of one subscription (`$9`), due again whatever
/// they came to before (delivered, dead-lettered, never created because the
/// subscription was disabled then).
const REPLAY_DELIVERIES: &str = concat!(
    deliveries_of_notices!("s.id = $9"),
    "
     ON CONFLICT (subscription_id, message_id) DO UPDATE
         SET state = 'pending', next_attempt_at = now(), attempts = 0, created_at = now()"
);

/// `statement` with `rows` bound as `$1..$8`.
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
        .bind(&rows.body)
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

/// Writes the deliveries of `rows` inside the caller's transaction.
pub async fn insert(
    db: &mut PgConnection,
    rows: &NoticeRows,
    only: Option<&[String]>,
) -> Result<(), sqlx::Error> {
    if rows.signature.is_empty() {
        return Ok(());
    }
    with_rows(INSERT_DELIVERIES, rows)
        .bind(only)
        .execute(db)
        .await?;
    Ok(())
}

/// Deliveries not sent yet are cancelled; each one already delivered (at
/// `confirmed`: a `finalized` subscription never had it) owes its receiver
/// a `<type>.rolled_back` notice carrying the same data.
const ROLL_BACK_DELIVERIES: &str = "
    WITH cancelled AS (
        UPDATE webhook_deliveries SET state = 'cancelled'
        WHERE signature = ANY ($1::text[]) AND state = 'pending' AND event_type NOT LIKE '%' || $2
    )
    INSERT INTO webhook_deliveries
        (subscription_id, message_id, event_type, wallet, signature, event_index, slot, body)
    SELECT subscription_id, message_id || '_rolled_back', event_type || $2, wallet,
           signature, event_index, slot,
           jsonb_set(body::jsonb, '{type}', to_jsonb(event_type || $2))::text
    FROM webhook_deliveries
    WHERE signature = ANY ($1::text[]) AND state = 'delivered' AND event_type NOT LIKE '%' || $2
    ON CONFLICT (subscription_id, message_id) DO NOTHING";

/// Inside a rollback's transaction (a dropped fork, not a reindex).
pub async fn roll_back(db: &mut PgConnection, signatures: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query(ROLL_BACK_DELIVERIES)
        .bind(signatures)
        .bind(ROLLED_BACK)
        .execute(db)
        .await?;
    Ok(())
}
