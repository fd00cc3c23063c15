//! Approvals for `gyre promote`: a model version approved for an environment by a token (its
//! name and role as they were). Both metadata stores implement it with the same SQL.

use crate::meta::{PgStore, SqliteStore};
use crate::{Result, StoreError};
use async_trait::async_trait;
use gyre_core::access::Role;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Approval {
    pub name: String,
    pub version: i64,
    pub environment: String,
    /// The approving token's name.
    pub approver: String,
    pub role: Role,
    pub note: String,
    pub at_ms: i64,
}

#[async_trait]
pub trait Approvals: Send + Sync {
    async fn approve(&self, a: &Approval) -> Result<()>;
    /// The approvals of `name@version` for `environment`, oldest first.
    async fn approvals(&self, name: &str, version: i64, environment: &str)
    -> Result<Vec<Approval>>;
}

macro_rules! impl_approvals {
    ($store:ty) => {
        #[async_trait]
        impl Approvals for $store {
            async fn approve(&self, a: &Approval) -> Result<()> {
                sqlx::query(
                    "INSERT INTO approvals (name, version, environment, approver, role, note, at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&a.name)
                .bind(a.version)
                .bind(&a.environment)
                .bind(&a.approver)
                .bind(a.role.as_str())
                .bind(&a.note)
                .bind(a.at_ms)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn approvals(
                &self,
                name: &str,
                version: i64,
                environment: &str,
            ) -> Result<Vec<Approval>> {
                let rows = sqlx::query(
                    "SELECT name, version, environment, approver, role, note, at_ms FROM approvals \
                     WHERE name = $1 AND version = $2 AND environment = $3 ORDER BY at_ms, id",
                )
                .bind(name)
                .bind(version)
                .bind(environment)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        let role: String = r.try_get("role")?;
                        Ok(Approval {
                            name: r.try_get("name")?,
                            version: r.try_get("version")?,
                            environment: r.try_get("environment")?,
                            approver: r.try_get("approver")?,
                            role: role.parse().map_err(|e: gyre_core::access::UnknownRole| {
                                StoreError::BadRecord(e.to_string())
                            })?,
                            note: r.try_get("note")?,
                            at_ms: r.try_get("at_ms")?,
                        })
                    })
                    .collect()
            }
        }
    };
}

impl_approvals!(SqliteStore);
impl_approvals!(PgStore);
