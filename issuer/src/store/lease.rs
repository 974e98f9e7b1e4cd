//! One sender per issuer key: the worker sends only while it holds a
//! Postgres advisory lock named after the key, on a connection of its own.
//! A second service on the same key and database (a rolling deploy) waits
//! for it; when the holder stops, or its connection to Postgres breaks,
//! Postgres releases the lock and the waiting one takes over, settling
//! every batch left `sending` with the same award ids.

use sqlx::{Connection, PgConnection};

use super::{Store, StoreError};

/// The lock's key: the issuer key, hashed the way Postgres hashes text.
const LOCK: &str =
    "SELECT pg_try_advisory_lock(hashtextextended('sparks-issuer sender ' || $1, 0))";

/// The held lock. Dropping it closes its connection, which releases it.
pub struct SenderLease {
    connection: PgConnection,
}

impl SenderLease {
    /// Whether the lock is still held: its connection still answers.
    pub async fn alive(&mut self) -> bool {
        sqlx::query("SELECT 1")
            .execute(&mut self.connection)
            .await
            .is_ok()
    }

    /// Releases the lock now.
    pub async fn release(self) {
        let _ = self.connection.close().await;
    }
}

impl Store {
    /// Takes the sender lock of `issuer` if no one holds it.
    pub async fn try_lease_sender(&self, issuer: &str) -> Result<Option<SenderLease>, StoreError> {
        // Detached: a pooled connection would go back to the pool, lock and all.
        let mut connection = self.pool.acquire().await?.detach();
        let taken: bool = sqlx::query_scalar(LOCK)
            .bind(issuer)
            .fetch_one(&mut connection)
            .await?;
        if taken {
            Ok(Some(SenderLease { connection }))
        } else {
            let _ = connection.close().await;
            Ok(None)
        }
    }
}
