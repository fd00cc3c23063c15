//! Attestations for `gyre check`: a test of the ML Test Score done by hand, with what was done,
//! who said so and when. Both metadata stores implement it with the same SQL.

use crate::Result;
use crate::meta::{PgStore, SqliteStore};
use async_trait::async_trait;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Attestation {
    /// The test's id (`data.1` … `monitoring.7`).
    pub test: String,
    pub note: String,
    pub user: String,
    pub at_ms: i64,
}

#[async_trait]
pub trait Attestations: Send + Sync {
    async fn attest(&self, a: &Attestation) -> Result<()>;
    /// Every attestation, oldest first.
    async fn attestations(&self) -> Result<Vec<Attestation>>;
}

macro_rules! impl_attestations {
    ($store:ty) => {
        #[async_trait]
        impl Attestations for $store {
            async fn attest(&self, a: &Attestation) -> Result<()> {
                sqlx::query(
                    "INSERT INTO attestations (test, note, username, at_ms) VALUES ($1, $2, $3, $4)",
                )
                .bind(&a.test)
                .bind(&a.note)
                .bind(&a.user)
                .bind(a.at_ms)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn attestations(&self) -> Result<Vec<Attestation>> {
                let rows = sqlx::query(
                    "SELECT test, note, username, at_ms FROM attestations ORDER BY at_ms, id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(Attestation {
                            test: r.try_get("test")?,
                            note: r.try_get("note")?,
                            user: r.try_get("username")?,
                            at_ms: r.try_get("at_ms")?,
                        })
                    })
                    .collect()
            }
        }
    };
}

impl_attestations!(SqliteStore);
impl_attestations!(PgStore);
