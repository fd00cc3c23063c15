//! Leases: which of several processes on one store does a piece of work. A lease is held
//! until it expires, renewed by its holder while it works; when the holder dies it stops
//! renewing, and the next process to ask after the expiry takes it over. Both metadata stores
//! implement it with the same SQL: one conditional upsert decides, so two processes asking at
//! once cannot both win.
//!
//! Times are the callers' clocks (ms since the epoch): machines that share a store keep their
//! clocks in step (NTP), and a lease's time to live is long beside their skew.

use crate::Result;
use crate::meta::{PgStore, SqliteStore};
use async_trait::async_trait;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    pub expires_ms: i64,
    /// When this holder took it.
    pub since_ms: i64,
}

#[async_trait]
pub trait Leases: Send + Sync {
    /// Takes the lease `name` for `holder` until `now_ms + ttl_ms`, or renews it when
    /// `holder` has it already. `false` when another holder's lease has not expired.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool>;
    /// Gives the lease up (when `holder` has it), so another process need not wait for the
    /// expiry.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<()>;
    /// Every lease, live or expired, by name.
    async fn leases(&self) -> Result<Vec<Lease>>;
    /// Each trigger's saved state, by trigger name.
    async fn trigger_states(&self) -> Result<Vec<(String, String)>>;
    /// Saves a trigger's state, only while `holder` holds the lease `lease`: a process that
    /// lost its lease (paused past the expiry) cannot overwrite its successor's cursor.
    /// `false` when it does not hold it.
    async fn save_trigger_state(
        &self,
        trigger: &str,
        state: &str,
        lease: &str,
        holder: &str,
        now_ms: i64,
    ) -> Result<bool>;
}

macro_rules! impl_leases {
    ($store:ty) => {
        #[async_trait]
        impl Leases for $store {
            async fn acquire_lease(
                &self,
                name: &str,
                holder: &str,
                now_ms: i64,
                ttl_ms: i64,
            ) -> Result<bool> {
                let done = sqlx::query(
                    "INSERT INTO leases (name, holder, expires_ms, since_ms) \
                     VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                       expires_ms = excluded.expires_ms, \
                       since_ms = CASE WHEN leases.holder = excluded.holder \
                                  THEN leases.since_ms ELSE excluded.since_ms END \
                     WHERE leases.holder = excluded.holder OR leases.expires_ms <= $4",
                )
                .bind(name)
                .bind(holder)
                .bind(now_ms.saturating_add(ttl_ms))
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
                sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                    .bind(name)
                    .bind(holder)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn leases(&self) -> Result<Vec<Lease>> {
                let rows = sqlx::query(
                    "SELECT name, holder, expires_ms, since_ms FROM leases ORDER BY name",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(Lease {
                            name: r.try_get("name")?,
                            holder: r.try_get("holder")?,
                            expires_ms: r.try_get("expires_ms")?,
                            since_ms: r.try_get("since_ms")?,
                        })
                    })
                    .collect()
            }

            async fn trigger_states(&self) -> Result<Vec<(String, String)>> {
                let rows = sqlx::query("SELECT name, state FROM trigger_state ORDER BY name")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("name")?, r.try_get("state")?)))
                    .collect()
            }

            async fn save_trigger_state(
                &self,
                trigger: &str,
                state: &str,
                lease: &str,
                holder: &str,
                now_ms: i64,
            ) -> Result<bool> {
                let done = sqlx::query(
                    "INSERT INTO trigger_state (name, state, updated_ms) \
                     SELECT $1, $2, $3 WHERE EXISTS \
                       (SELECT 1 FROM leases WHERE name = $4 AND holder = $5) \
                     ON CONFLICT (name) DO UPDATE SET state = excluded.state, \
                       updated_ms = excluded.updated_ms",
                )
                .bind(trigger)
                .bind(state)
                .bind(now_ms)
                .bind(lease)
                .bind(holder)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

impl_leases!(SqliteStore);
impl_leases!(PgStore);
