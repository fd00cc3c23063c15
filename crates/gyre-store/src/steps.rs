//! Pipeline step results, by cache key. Shared by everyone on the same metadata store, so a
//! step one machine ran is a cache hit on another that shares the object store.

use crate::Result;
use crate::meta::{PgStore, SqliteStore};
use async_trait::async_trait;
use sqlx::Row;

/// A step's stored result.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    /// The cache key: 64 hex digits.
    pub key: String,
    pub step: String,
    /// What the step produced, as JSON (the pipeline runner's format).
    pub outputs: String,
    pub run_id: Option<String>,
    pub created_ms: i64,
}

#[async_trait]
pub trait StepCache: Send + Sync {
    async fn step_result(&self, key: &str) -> Result<Option<StepResult>>;
    /// Records a result. A key already stored keeps its first result: the same key means the
    /// same inputs, so either result would do.
    async fn put_step_result(&self, result: &StepResult) -> Result<()>;
    /// The newest result of a step, whatever its key (to tell what changed since).
    async fn latest_step_result(&self, step: &str) -> Result<Option<StepResult>>;
    /// Every stored result (what `gyre gc` keeps the outputs of).
    async fn all_step_results(&self) -> Result<Vec<StepResult>>;
}

fn from_row<R: Row>(r: &R) -> Result<StepResult>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> Option<String>: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> i64: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    Ok(StepResult {
        key: r.try_get("key")?,
        step: r.try_get("step")?,
        outputs: r.try_get("outputs")?,
        run_id: r.try_get("run_id")?,
        created_ms: r.try_get("created_ms")?,
    })
}

macro_rules! impl_step_cache {
    ($store:ty) => {
        #[async_trait]
        impl StepCache for $store {
            async fn step_result(&self, key: &str) -> Result<Option<StepResult>> {
                let row = sqlx::query(
                    "SELECT key, step, outputs, run_id, created_ms FROM step_results WHERE key = $1",
                )
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| from_row(&r)).transpose()
            }

            async fn latest_step_result(&self, step: &str) -> Result<Option<StepResult>> {
                let row = sqlx::query(
                    "SELECT key, step, outputs, run_id, created_ms FROM step_results \
                     WHERE step = $1 ORDER BY created_ms DESC, key LIMIT 1",
                )
                .bind(step)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| from_row(&r)).transpose()
            }

            async fn all_step_results(&self) -> Result<Vec<StepResult>> {
                let rows = sqlx::query(
                    "SELECT key, step, outputs, run_id, created_ms FROM step_results ORDER BY created_ms, key",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|r| from_row(r)).collect()
            }

            async fn put_step_result(&self, r: &StepResult) -> Result<()> {
                sqlx::query(
                    "INSERT INTO step_results (key, step, outputs, run_id, created_ms) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING",
                )
                .bind(&r.key)
                .bind(&r.step)
                .bind(&r.outputs)
                .bind(&r.run_id)
                .bind(r.created_ms)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }
    };
}

impl_step_cache!(SqliteStore);
impl_step_cache!(PgStore);
