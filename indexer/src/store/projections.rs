//! The projections: each account type's row, upserted only when the
//! event's `seq` is newer than the stored one, so replays and batches out of
//! order converge to the chain's state. One step per table.

use sqlx::PgConnection;

use super::{key, u, update_leaderboard, BatchRows, StoreError};
use crate::names::perk_kind_name;

/// Every projection row of a batch, table by table in this order (a
/// rollback restores rows through the same steps).
pub(super) async fn write_projections(
    db: &mut PgConnection,
    rows: &BatchRows,
) -> Result<(), StoreError> {
    spark_accounts(db, rows).await?;
    config(db, rows).await?;
    issuers(db, rows).await?;
    perks(db, rows).await?;
    claims(db, rows).await?;
    whitelists(db, rows).await?;
    whitelist_entries(db, rows).await?;
    Ok(())
}

/// Spark accounts, column-wise in one statement, then the leaderboard their scores reach.
async fn spark_accounts(db: &mut PgConnection, rows: &BatchRows) -> Result<(), StoreError> {
    if !rows.spark_accounts.is_empty() {
        let n = rows.spark_accounts.len();
        let (mut wallet, mut balance, mut earned, mut spent, mut revoked) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut trading, mut subscription, mut campaign, mut referral) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut referrer, mut invitees, mut first_sub, mut seq, mut slot, mut block_time) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for (owner, a, seen) in rows.spark_accounts.iter() {
            wallet.push(key(owner));
            balance.push(u(a.balance, "balance")?);
            earned.push(u(a.lifetime_earned, "lifetime_earned")?);
            spent.push(u(a.lifetime_spent, "lifetime_spent")?);
            revoked.push(u(a.lifetime_revoked, "lifetime_revoked")?);
            trading.push(u(a.earned_by_source[0], "earned_trading")?);
            subscription.push(u(a.earned_by_source[1], "earned_subscription")?);
            campaign.push(u(a.earned_by_source[2], "earned_campaign")?);
            referral.push(u(a.earned_by_source[3], "earned_referral")?);
            referrer.push(a.referrer.as_ref().map(key));
            invitees.push(a.invitee_count as i32);
            first_sub.push(a.first_subscription_rewarded);
            seq.push(u(a.seq, "seq")?);
            slot.push(u(seen.slot, "slot")?);
            block_time.push(seen.block_time);
        }
        sqlx::query!(
            "INSERT INTO spark_accounts AS a (wallet, balance, lifetime_earned, lifetime_spent, lifetime_revoked,
                 earned_trading, earned_subscription, earned_campaign, earned_referral, referrer,
                 invitee_count, first_subscription_rewarded, seq, slot, block_time)
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[],
                 $7::int8[], $8::int8[], $9::int8[], $10::text[], $11::int4[], $12::bool[], $13::int8[],
                 $14::int8[], $15::int8[])
             ON CONFLICT (wallet) DO UPDATE SET
                 balance = excluded.balance, lifetime_earned = excluded.lifetime_earned,
                 lifetime_spent = excluded.lifetime_spent, lifetime_revoked = excluded.lifetime_revoked,
                 earned_trading = excluded.earned_trading, earned_subscription = excluded.earned_subscription,
                 earned_campaign = excluded.earned_campaign, earned_referral = excluded.earned_referral,
                 referrer = excluded.referrer, invitee_count = excluded.invitee_count,
                 first_subscription_rewarded = excluded.first_subscription_rewarded,
                 seq = excluded.seq, slot = excluded.slot, block_time = excluded.block_time
             WHERE a.seq < excluded.seq",
            &wallet,
            &balance,
            &earned,
            &spent,
            &revoked,
            &trading,
            &subscription,
            &campaign,
            &referral,
            &referrer as &[Option<String>],
            &invitees,
            &first_sub,
            &seq,
            &slot,
            &block_time as &[Option<i64>]
        )
        .execute(&mut *db)
        .await?;
        update_leaderboard(
            db,
            &wallet,
            [&earned, &trading, &subscription, &campaign, &referral],
        )
        .await?;
    }
    Ok(())
}

/// The Config account.
async fn config(db: &mut PgConnection, rows: &BatchRows) -> Result<(), StoreError> {
    for (address, c, seen) in rows.config.iter() {
        sqlx::query!(
            "INSERT INTO config AS c (address, admin, pending_admin, paused, referral_trade_share_bps,
                 first_subscription_bonus, max_award_per_ix, seq, slot)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (address) DO UPDATE SET admin = excluded.admin, pending_admin = excluded.pending_admin,
                 paused = excluded.paused, referral_trade_share_bps = excluded.referral_trade_share_bps,
                 first_subscription_bonus = excluded.first_subscription_bonus,
                 max_award_per_ix = excluded.max_award_per_ix, seq = excluded.seq, slot = excluded.slot
             WHERE c.seq < excluded.seq",
            key(address),
            key(&c.admin),
            c.pending_admin.as_ref().map(key),
            c.paused,
            i32::from(c.referral_trade_share_bps),
            u(c.first_subscription_bonus, "first_subscription_bonus")?,
            u(c.max_award_per_ix, "max_award_per_ix")?,
            u(c.seq, "seq")?,
            u(seen.slot, "slot")?
        )
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// Issuer accounts.
async fn issuers(db: &mut PgConnection, rows: &BatchRows) -> Result<(), StoreError> {
    for (authority, i, seen) in rows.issuers.iter() {
        sqlx::query!(
            "INSERT INTO issuers AS i (authority, allowed_sources, cap_per_period, period_secs, active, seq, slot)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (authority) DO UPDATE SET allowed_sources = excluded.allowed_sources,
                 cap_per_period = excluded.cap_per_period, period_secs = excluded.period_secs,
                 active = excluded.active, seq = excluded.seq, slot = excluded.slot
             WHERE i.seq < excluded.seq",
            key(authority),
            i16::from(i.allowed_sources),
            u(i.cap_per_period, "cap_per_period")?,
            i64::from(i.period_secs),
            i.active,
            u(i.seq, "seq")?,
            u(seen.slot, "slot")?
        )
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// Perks.
async fn perks(db: &mut PgConnection, rows: &BatchRows) -> Result<(), StoreError> {
    for (address, p, seen) in rows.perks.iter() {
        sqlx::query!(
            "INSERT INTO perks AS p (address, id, kind, cost, max_supply, claimed, per_wallet_limit,
                 starts_at, ends_at, active, whitelist, uri, seq, slot)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (address) DO UPDATE SET kind = excluded.kind, cost = excluded.cost,
                 max_supply = excluded.max_supply, claimed = excluded.claimed,
                 per_wallet_limit = excluded.per_wallet_limit, starts_at = excluded.starts_at,
                 ends_at = excluded.ends_at, active = excluded.active, whitelist = excluded.whitelist,
                 uri = excluded.uri, seq = excluded.seq, slot = excluded.slot
             WHERE p.seq < excluded.seq",
            key(address),
            u(p.id, "perk id")?,
            perk_kind_name(p.kind),
            u(p.cost, "cost")?,
            u(p.max_supply, "max_supply")?,
            u(p.claimed, "claimed")?,
            i64::from(p.per_wallet_limit),
            p.starts_at,
            p.ends_at,
            p.active,
            p.whitelist.as_ref().map(key),
            &p.uri,
            u(p.seq, "seq")?,
            u(seen.slot, "slot")?
        )
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// Perk claims.
async fn claims(db: &mut PgConnection, rows: &BatchRows) -> Result<(), StoreError> {
    for (address, c, seen) in rows.claims.iter() {
        sqlx::query!(
            "INSERT INTO perk_claims AS c (address, perk, wallet, times_claimed, seq, slot)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (address) DO UPDATE SET times_claimed = excluded.times_claimed,
                 seq = excluded.seq, slot = excluded.slot
             WHERE c.seq < excluded.seq",
            key(address),
            key(&c.perk),
            key(&c.owner),
            i64::from(c.times_claimed),
            u(c.seq, "seq")?,
            u(seen.slot, "slot")?
        )
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// Whitelists.
async fn whitelists(db: &mut PgConnection, rows: &BatchRows) -> Result<(), StoreError> {
    for (address, w, seen) in rows.whitelists.iter() {
        sqlx::query!(
            "INSERT INTO whitelists AS w (address, id, admin, consumer, capacity, entries, spots_granted,
                 spots_used, spots_per_wallet, min_lifetime_sparks, starts_at, ends_at, active, seq, slot,
                 pending_admin)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
             ON CONFLICT (address) DO UPDATE SET admin = excluded.admin,
                 pending_admin = excluded.pending_admin, consumer = excluded.consumer,
                 capacity = excluded.capacity, entries = excluded.entries,
                 spots_granted = excluded.spots_granted, spots_used = excluded.spots_used,
                 spots_per_wallet = excluded.spots_per_wallet,
                 min_lifetime_sparks = excluded.min_lifetime_sparks, starts_at = excluded.starts_at,
                 ends_at = excluded.ends_at, active = excluded.active, seq = excluded.seq, slot = excluded.slot
             WHERE w.seq < excluded.seq",
            key(address),
            u(w.id, "whitelist id")?,
            key(&w.admin),
            key(&w.consumer),
            i64::from(w.capacity),
            i64::from(w.entries),
            i64::from(w.spots_granted),
            i64::from(w.spots_used),
            i32::from(w.spots_per_wallet),
            u(w.min_lifetime_sparks, "min_lifetime_sparks")?,
            w.starts_at,
            w.ends_at,
            w.active,
            u(w.seq, "seq")?,
            u(seen.slot, "slot")?,
            w.pending_admin.as_ref().map(key)
        )
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// Whitelist entries, column-wise in one statement.
async fn whitelist_entries(db: &mut PgConnection, rows: &BatchRows) -> Result<(), StoreError> {
    if !rows.entries.is_empty() {
        let n = rows.entries.len();
        let mut address = Vec::with_capacity(n);
        let mut whitelist = Vec::with_capacity(n);
        let mut wallet = Vec::with_capacity(n);
        let mut granted = Vec::with_capacity(n);
        let mut used = Vec::with_capacity(n);
        let mut via = Vec::with_capacity(n);
        let mut seq = Vec::with_capacity(n);
        let mut slot = Vec::with_capacity(n);
        for (entry_address, e, seen) in rows.entries.iter() {
            address.push(key(entry_address));
            whitelist.push(key(&e.whitelist));
            wallet.push(key(&e.wallet));
            granted.push(i32::from(e.spots_granted));
            used.push(i32::from(e.spots_used));
            via.push(i16::from(e.obtained_via));
            seq.push(u(e.seq, "seq")?);
            slot.push(u(seen.slot, "slot")?);
        }
        sqlx::query!(
            "INSERT INTO whitelist_entries AS e (address, whitelist, wallet, spots_granted, spots_used,
                 obtained_via, seq, slot)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int4[], $5::int4[], $6::int2[],
                 $7::int8[], $8::int8[])
             ON CONFLICT (address) DO UPDATE SET spots_granted = excluded.spots_granted,
                 spots_used = excluded.spots_used, obtained_via = excluded.obtained_via,
                 seq = excluded.seq, slot = excluded.slot
             WHERE e.seq < excluded.seq",
            &address,
            &whitelist,
            &wallet,
            &granted,
            &used,
            &via,
            &seq,
            &slot
        )
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}
