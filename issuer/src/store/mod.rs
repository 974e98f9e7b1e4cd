//! The outbox and the tokens, in Postgres (schema `issuer`, migrations in
//! `issuer/migrations`). A request is accepted only once its row is
//! committed; the same key again answers the first request's row.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};

use crate::auth;
use crate::model::{AwardRequest, AwardView};

pub mod batches;
pub mod lease;
pub mod lookup_tables;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The schema the service's tables live in.
pub const SCHEMA: &str = "issuer";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("no token with id {0}")]
    NoSuchToken(i64),
    #[error("no award request with key {key:?} for issuer {issuer}")]
    NoSuchRequest { issuer: String, key: String },
    #[error("request {key:?} is {state}: {why}")]
    WrongState {
        key: String,
        state: String,
        why: &'static str,
    },
}

/// A token as its bearer presents it, once found and not revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: i64,
    pub name: String,
    pub issuer: String,
    pub sources: Vec<String>,
    pub revoked: bool,
}

/// What `accept` did with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Committed now, or earlier under the same key with the same body.
    Award(Box<AwardView>),
    /// The key was used with another body.
    Conflict { key: String },
}

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

const AWARD_COLUMNS: &str = "key, wallet, source, amount, reference, state, award_id, signature, \
     slot, failure, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS created";

/// Locks an issuer's keys for the rest of the transaction, in the order of
/// their hashes (the subquery's order is the order the locks are taken).
const LOCK_KEYS: &str = "
    SELECT pg_advisory_xact_lock(h) FROM (
        SELECT DISTINCT hashtextextended($1 || ' ' || k, 0) AS h
        FROM unnest($2::text[]) AS k ORDER BY h
    ) AS hashes";

/// Inserts a request unless its key is taken; returns the row either way,
/// with whether the stored body is this one.
const INSERT_REQUEST: &str = "
    WITH inserted AS (
        INSERT INTO award_requests
            (issuer, key, wallet, source, amount, reference, body_sha256, token_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (issuer, key) DO NOTHING
        RETURNING *
    )
    SELECT *, true AS same FROM inserted
    UNION ALL
    SELECT *, body_sha256 = $7 AS same FROM award_requests
    WHERE issuer = $1 AND key = $2 AND NOT EXISTS (SELECT 1 FROM inserted)";

impl Store {
    /// Connects with the service's schema first on the search path, creating
    /// the schema if needed, and applies the migrations.
    pub async fn connect(database_url: &str) -> Result<Self, StoreError> {
        let options: PgConnectOptions = database_url.parse()?;
        let bootstrap = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
            .execute(&bootstrap)
            .await?;
        bootstrap.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options.options([("search_path", SCHEMA)]))
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates a token for `issuer` and `sources`; returns its id and the
    /// token itself, which is shown this once and stored only as a digest.
    pub async fn create_token(
        &self,
        name: &str,
        issuer: &str,
        sources: &[String],
    ) -> Result<(i64, String), StoreError> {
        let token = auth::new_token();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (name, token_sha256, issuer, sources)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(auth::digest(&token))
        .bind(issuer)
        .bind(sources)
        .fetch_one(&self.pool)
        .await?;
        Ok((id, token))
    }

    pub async fn revoke_token(&self, id: i64) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NoSuchToken(id));
        }
        Ok(())
    }

    pub async fn tokens(&self) -> Result<Vec<Token>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, issuer, sources, revoked_at IS NOT NULL AS revoked
             FROM api_tokens ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token).collect()
    }

    /// The live token whose digest is `presented`'s, if any.
    pub async fn token(&self, presented: &str) -> Result<Option<Token>, StoreError> {
        let digest = auth::digest(presented);
        let row = sqlx::query(
            "SELECT id, name, issuer, sources, revoked_at IS NOT NULL AS revoked, token_sha256
             FROM api_tokens WHERE token_sha256 = $1",
        )
        .bind(&digest)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let stored: Vec<u8> = row.try_get("token_sha256")?;
        let found = token(&row)?;
        Ok((auth::matches(&stored, &digest) && !found.revoked).then_some(found))
    }

    /// Commits `requests` for `token`'s issuer in one transaction: all are
    /// accepted, or none (a key used with another body makes the whole
    /// call a conflict).
    pub async fn accept(
        &self,
        token: &Token,
        requests: &[AwardRequest],
    ) -> Result<Vec<Accepted>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Every key is locked first, in one order whatever the call's: two
        // calls that share new keys then wait for each other instead of each
        // holding a key the other needs (a deadlock Postgres breaks by
        // failing one). The rows still go in in the call's order.
        let keys: Vec<&str> = requests.iter().map(|r| r.key.as_str()).collect();
        sqlx::query(LOCK_KEYS)
            .bind(&token.issuer)
            .bind(&keys)
            .execute(&mut *tx)
            .await?;
        let mut outcomes = Vec::with_capacity(requests.len());
        for request in requests {
            // A concurrent call committing the same key after this statement's
            // snapshot makes it return nothing: the next attempt sees it.
            let mut row = None;
            for _ in 0..3 {
                row = sqlx::query(INSERT_REQUEST)
                    .bind(&token.issuer)
                    .bind(&request.key)
                    .bind(request.wallet.to_string())
                    .bind(request.source)
                    .bind(request.amount as i64)
                    .bind(request.reference.as_slice())
                    .bind(request.body_digest())
                    .bind(token.id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if row.is_some() {
                    break;
                }
            }
            let row = row.ok_or(sqlx::Error::RowNotFound)?;
            let same: bool = row.try_get("same")?;
            outcomes.push(if same {
                let key = request.key.clone();
                Accepted::Award(Box::new(self.view_in(&mut tx, &token.issuer, &key).await?))
            } else {
                Accepted::Conflict {
                    key: request.key.clone(),
                }
            });
        }
        if outcomes
            .iter()
            .any(|o| matches!(o, Accepted::Conflict { .. }))
        {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(outcomes)
    }

    async fn view_in(
        &self,
        tx: &mut sqlx::PgConnection,
        issuer: &str,
        key: &str,
    ) -> Result<AwardView, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {AWARD_COLUMNS} FROM award_requests WHERE issuer = $1 AND key = $2"
        ))
        .bind(issuer)
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
        view(&row)
    }

    /// The request `key` of `issuer`.
    pub async fn award(&self, issuer: &str, key: &str) -> Result<Option<AwardView>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {AWARD_COLUMNS} FROM award_requests WHERE issuer = $1 AND key = $2"
        ))
        .bind(issuer)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(view).transpose()
    }

    /// `issuer`'s requests for `wallet`, newest first, in `state` if given.
    pub async fn wallet_awards(
        &self,
        issuer: &str,
        wallet: &str,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AwardView>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {AWARD_COLUMNS} FROM award_requests
             WHERE wallet = $1 AND issuer = $2 AND ($3::text IS NULL OR state = $3)
             ORDER BY created_at DESC, id DESC LIMIT $4"
        ))
        .bind(wallet)
        .bind(issuer)
        .bind(state)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(view).collect()
    }

    /// An operator's retry of a failed request: its ids were voided, so it
    /// goes back to `pending` and gets new ones.
    pub async fn retry(&self, issuer: &str, key: &str) -> Result<(), StoreError> {
        self.operate(
            issuer,
            key,
            "failed",
            "only a failed request can be retried",
            "UPDATE award_requests SET state = 'pending', award_id = NULL, batch_id = NULL,
                    signature = NULL, slot = NULL, failure = NULL, updated_at = now()
             WHERE issuer = $1 AND key = $2 AND state = 'failed'",
        )
        .await
    }

    /// An operator's cancel of a request that provably never landed: one
    /// still `pending` has no award id and was never sent.
    pub async fn cancel(&self, issuer: &str, key: &str) -> Result<(), StoreError> {
        self.operate(
            issuer,
            key,
            "pending",
            "only a pending request (never sent) can be cancelled; a sent one ends landed or \
             failed on its own",
            "UPDATE award_requests SET state = 'failed', failure = 'cancelled by an operator',
                    updated_at = now()
             WHERE issuer = $1 AND key = $2 AND state = 'pending'",
        )
        .await
    }

    async fn operate(
        &self,
        issuer: &str,
        key: &str,
        wanted: &str,
        why: &'static str,
        update: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(update)
            .bind(issuer)
            .bind(key)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM award_requests WHERE issuer = $1 AND key = $2")
                .bind(issuer)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        match state {
            None => Err(StoreError::NoSuchRequest {
                issuer: issuer.to_owned(),
                key: key.to_owned(),
            }),
            Some(state) => {
                debug_assert_ne!(state, wanted);
                Err(StoreError::WrongState {
                    key: key.to_owned(),
                    state,
                    why,
                })
            }
        }
    }

    /// Requests per state, for `/metrics` and `sparks-issuer queue`.
    pub async fn queue(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT state, count(*) AS n FROM award_requests GROUP BY state ORDER BY state",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("state")?, row.try_get("n")?)))
            .collect()
    }
}

fn token(row: &sqlx::postgres::PgRow) -> Result<Token, StoreError> {
    Ok(Token {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        issuer: row.try_get("issuer")?,
        sources: row.try_get("sources")?,
        revoked: row.try_get("revoked")?,
    })
}

fn view(row: &sqlx::postgres::PgRow) -> Result<AwardView, StoreError> {
    let reference: Vec<u8> = row.try_get("reference")?;
    Ok(AwardView {
        key: row.try_get("key")?,
        wallet: row.try_get("wallet")?,
        source: row.try_get("source")?,
        amount: row.try_get::<i64, _>("amount")? as u64,
        reference: hex::encode(reference),
        state: row.try_get("state")?,
        award_id: row.try_get::<Option<i64>, _>("award_id")?.map(|v| v as u64),
        signature: row.try_get("signature")?,
        slot: row.try_get::<Option<i64>, _>("slot")?.map(|v| v as u64),
        failure: row.try_get("failure")?,
        created_at: row.try_get("created")?,
    })
}
