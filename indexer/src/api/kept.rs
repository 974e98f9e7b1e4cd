//! Connections the summary and history reads keep between queries.
//!
//! sqlx's pool tests every connection it gets back with a ping: a Sync and
//! its ReadyForQuery, one more round trip with a wake-up on each side, for
//! every query. On a point lookup that round trip costs about as much as
//! the query. The hot reads keep the connections they used instead: a
//! query takes a kept connection (or one from the pool) and only a query
//! that succeeded puts it back. Any other end (an error, a cancelled
//! request) hands the connection to the pool, whose ping discards it if it
//! broke. At most `keep` are kept, so the rest of the pool stays free for
//! the other endpoints. A restarted Postgres breaks every kept connection
//! at once; `retry_lost` then lets them all go and runs the read again
//! (reads can be repeated), so users do not see the restart.

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, PoisonError};

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};

pub struct KeptConnections {
    pool: PgPool,
    idle: Mutex<Vec<PoolConnection<Postgres>>>,
    keep: usize,
}

impl KeptConnections {
    pub fn new(pool: PgPool, keep: usize) -> Self {
        Self {
            pool,
            idle: Mutex::new(Vec::with_capacity(keep)),
            keep,
        }
    }

    /// A kept connection, or one from the pool when none is idle.
    pub async fn take(&self) -> Result<KeptConnection<'_>, sqlx::Error> {
        let kept = self.idle().pop();
        let connection = match kept {
            Some(connection) => connection,
            None => self.pool.acquire().await?,
        };
        Ok(KeptConnection {
            connection: Some(connection),
            home: self,
        })
    }

    /// Lets every kept connection go back to the pool (which drops the
    /// broken ones).
    pub fn forget_all(&self) {
        let kept = std::mem::take(&mut *self.idle());
        drop(kept);
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<PoolConnection<Postgres>>> {
        // The list stays valid whatever a panicking holder did to it.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Tries of one read: a kept connection, then (all kept ones let go) a
/// pool's idle one, then a new one.
pub const READ_ATTEMPTS: u32 = 3;

/// Runs `read` again, up to READ_ATTEMPTS in all, while it fails because
/// its connection broke rather than because of the query.
pub async fn retry_lost<T, F, Fut>(connections: &KeptConnections, read: F) -> Result<T, sqlx::Error>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let mut attempt = 1;
    loop {
        match read().await {
            Err(error) if attempt < READ_ATTEMPTS && connection_lost(&error) => {
                tracing::warn!(%error, attempt, "a read lost its connection; trying another");
                connections.forget_all();
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Whether the connection failed rather than the query: an I/O error, or
/// Postgres ending the session (SQLSTATE class 08, or 57P01–57P03 when it
/// shuts down or restarts).
pub fn connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// A connection on loan; dropped without `keep`, it goes back to the pool.
pub struct KeptConnection<'a> {
    connection: Option<PoolConnection<Postgres>>,
    home: &'a KeptConnections,
}

impl KeptConnection<'_> {
    /// Keeps the connection for the next query: call after a query succeeded.
    pub fn keep(mut self) {
        let Some(connection) = self.connection.take() else {
            return;
        };
        let mut idle = self.home.idle();
        if idle.len() < self.home.keep {
            idle.push(connection);
        }
    }
}

impl Deref for KeptConnection<'_> {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        self.connection
            .as_deref()
            .expect("a loaned connection is present until kept")
    }
}

impl DerefMut for KeptConnection<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.connection
            .as_deref_mut()
            .expect("a loaned connection is present until kept")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_broken_connection_is_worth_another_try() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(connection_lost(&sqlx::Error::Io(reset)));
        assert!(!connection_lost(&sqlx::Error::RowNotFound));
        // Overload: another try would only add to it.
        assert!(!connection_lost(&sqlx::Error::PoolTimedOut));
    }
}
