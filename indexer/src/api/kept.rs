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
//! the other endpoints.

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

    /// How many connections are kept idle right now.
    pub fn idle_count(&self) -> usize {
        self.idle().len()
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<PoolConnection<Postgres>>> {
        // The list stays valid whatever a panicking holder did to it.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
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
