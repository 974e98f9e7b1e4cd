//! The lookup tables the worker owns, by issuer key.

use super::{Store, StoreError};

impl Store {
    /// `issuer`'s tables, oldest first.
    pub async fn lookup_tables(&self, issuer: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT address FROM lookup_tables WHERE issuer = $1 ORDER BY created_at, address",
        )
        .bind(issuer)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records a table before the transaction creating it is sent.
    pub async fn add_lookup_table(&self, issuer: &str, address: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO lookup_tables (issuer, address) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(issuer)
        .bind(address)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets a table whose create never landed.
    pub async fn forget_lookup_table(&self, address: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM lookup_tables WHERE address = $1")
            .bind(address)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
