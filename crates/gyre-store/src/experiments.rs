//! What MLflow clients keep beyond gyre's own records: experiments (named groups of runs) and
//! registered-model names created before any version. Both metadata stores implement it with
//! the same SQL.

use crate::meta::{PgStore, SqliteStore};
use crate::{Result, StoreError};
use async_trait::async_trait;
use sqlx::Row;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Experiment {
    pub id: i64,
    pub name: String,
    pub artifact_location: String,
    /// `active` or `deleted`.
    pub lifecycle_stage: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub tags: BTreeMap<String, String>,
}

/// A metric linked to a logged model: the latest value of its key on a dataset (an empty
/// name and digest when none was given).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelMetric {
    pub key: String,
    pub value: f64,
    pub timestamp_ms: i64,
    pub step: i64,
    pub run_id: Option<String>,
    pub dataset_name: String,
    pub dataset_digest: String,
}

/// An MLflow 3 logged model's record.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LoggedModel {
    pub id: String,
    pub experiment_id: i64,
    pub name: String,
    pub model_type: String,
    pub source_run_id: Option<String>,
    /// `LOGGED_MODEL_PENDING`, `LOGGED_MODEL_READY` or `LOGGED_MODEL_UPLOAD_FAILED`.
    pub status: String,
    pub params: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[async_trait]
pub trait Experiments: Send + Sync {
    /// Records a logged model, or replaces its record (status, params, tags) by id.
    async fn put_logged_model(&self, m: &LoggedModel) -> Result<()>;
    async fn logged_model(&self, id: &str) -> Result<Option<LoggedModel>>;
    /// The logged models of an experiment, oldest first.
    async fn logged_models(&self, experiment_id: i64) -> Result<Vec<LoggedModel>>;
    /// Links metrics to a logged model in one transaction; per key and dataset the latest
    /// (by timestamp, then step) is kept.
    async fn log_model_metrics(&self, model_id: &str, metrics: &[ModelMetric]) -> Result<()>;
    /// A logged model's metrics, by key and dataset.
    async fn model_metrics(&self, model_id: &str) -> Result<Vec<ModelMetric>>;
    /// Creates an experiment; `Conflict` when the name is taken. Returns its id.
    async fn create_experiment(&self, name: &str, at_ms: i64) -> Result<i64>;
    async fn experiment(&self, id: i64) -> Result<Option<Experiment>>;
    async fn experiment_by_name(&self, name: &str) -> Result<Option<Experiment>>;
    /// Every experiment, by id.
    async fn experiments(&self) -> Result<Vec<Experiment>>;
    async fn set_experiment_tag(&self, id: i64, key: &str, value: &str) -> Result<()>;
    /// Marks an experiment `deleted` or `active` again; false when there is none.
    async fn set_experiment_stage(&self, id: i64, stage: &str, at_ms: i64) -> Result<bool>;
    async fn rename_experiment(&self, id: i64, name: &str, at_ms: i64) -> Result<bool>;
    /// Records a registered-model name (`Conflict` when it is there).
    async fn create_model_name(&self, name: &str, description: &str, at_ms: i64) -> Result<()>;
    /// The names recorded, with their descriptions and times, by name.
    async fn model_names(&self) -> Result<Vec<(String, String, i64)>>;
}

const COLUMNS: &str = "id, name, artifact_location, lifecycle_stage, created_ms, updated_ms";
const LOGGED: &str = "id, experiment_id, name, model_type, source_run_id, status, params, tags, \
     created_ms, updated_ms";

fn logged_from<R: Row>(r: &R) -> Result<LoggedModel>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> Option<String>: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> i64: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    let map = |col: &str| -> Result<BTreeMap<String, String>> {
        let text: String = r.try_get(col)?;
        serde_json::from_str(&text).map_err(|e| StoreError::BadRecord(e.to_string()))
    };
    Ok(LoggedModel {
        id: r.try_get("id")?,
        experiment_id: r.try_get("experiment_id")?,
        name: r.try_get("name")?,
        model_type: r.try_get("model_type")?,
        source_run_id: r.try_get("source_run_id")?,
        status: r.try_get("status")?,
        params: map("params")?,
        tags: map("tags")?,
        created_ms: r.try_get("created_ms")?,
        updated_ms: r.try_get("updated_ms")?,
    })
}

macro_rules! impl_experiments {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Experiments from rows of `COLUMNS`, with their tags.
            async fn with_tags(
                &self,
                rows: Vec<<$db as sqlx::Database>::Row>,
            ) -> Result<Vec<Experiment>> {
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let id: i64 = r.try_get("id")?;
                    let tags = sqlx::query(
                        "SELECT key, value FROM experiment_tags WHERE experiment_id = $1",
                    )
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(|t| Ok((t.try_get("key")?, t.try_get("value")?)))
                    .collect::<Result<BTreeMap<String, String>>>()?;
                    out.push(Experiment {
                        id,
                        name: r.try_get("name")?,
                        artifact_location: r.try_get("artifact_location")?,
                        lifecycle_stage: r.try_get("lifecycle_stage")?,
                        created_ms: r.try_get("created_ms")?,
                        updated_ms: r.try_get("updated_ms")?,
                        tags,
                    });
                }
                Ok(out)
            }
        }

        #[async_trait]
        impl Experiments for $store {
            async fn create_experiment(&self, name: &str, at_ms: i64) -> Result<i64> {
                let mut tx = self.pool.begin().await?;
                let done = sqlx::query(
                    "INSERT INTO experiments (name, artifact_location, created_ms, updated_ms) \
                     VALUES ($1, '', $2, $2) RETURNING id",
                )
                .bind(name)
                .bind(at_ms)
                .fetch_one(&mut *tx)
                .await;
                let id: i64 = match done {
                    Ok(r) => r.try_get("id")?,
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        return Err(StoreError::Conflict(format!(
                            "an experiment named `{name}` exists"
                        )));
                    }
                    Err(e) => return Err(e.into()),
                };
                sqlx::query("UPDATE experiments SET artifact_location = $1 WHERE id = $2")
                    .bind(format!("mlflow-artifacts:/{id}"))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn experiment(&self, id: i64) -> Result<Option<Experiment>> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM experiments WHERE id = $1"
                )))
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
                Ok(self.with_tags(rows).await?.pop())
            }

            async fn experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM experiments WHERE name = $1"
                )))
                .bind(name)
                .fetch_all(&self.pool)
                .await?;
                Ok(self.with_tags(rows).await?.pop())
            }

            async fn experiments(&self) -> Result<Vec<Experiment>> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM experiments ORDER BY id"
                )))
                .fetch_all(&self.pool)
                .await?;
                self.with_tags(rows).await
            }

            async fn set_experiment_tag(&self, id: i64, key: &str, value: &str) -> Result<()> {
                sqlx::query(
                    "INSERT INTO experiment_tags (experiment_id, key, value) VALUES ($1, $2, $3) \
                     ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
                )
                .bind(id)
                .bind(key)
                .bind(value)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn set_experiment_stage(&self, id: i64, stage: &str, at_ms: i64) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE experiments SET lifecycle_stage = $1, updated_ms = $2 WHERE id = $3",
                )
                .bind(stage)
                .bind(at_ms)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn put_logged_model(&self, m: &LoggedModel) -> Result<()> {
                let json = |v: &BTreeMap<String, String>| {
                    serde_json::to_string(v).map_err(|e| StoreError::BadRecord(e.to_string()))
                };
                sqlx::query(
                    "INSERT INTO logged_models (id, experiment_id, name, model_type, source_run_id, \
                     status, params, tags, created_ms, updated_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
                     params = excluded.params, tags = excluded.tags, updated_ms = excluded.updated_ms",
                )
                .bind(&m.id)
                .bind(m.experiment_id)
                .bind(&m.name)
                .bind(&m.model_type)
                .bind(&m.source_run_id)
                .bind(&m.status)
                .bind(json(&m.params)?)
                .bind(json(&m.tags)?)
                .bind(m.created_ms)
                .bind(m.updated_ms)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn logged_model(&self, id: &str) -> Result<Option<LoggedModel>> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {LOGGED} FROM logged_models WHERE id = $1"
                )))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(logged_from).transpose()
            }

            async fn logged_models(&self, experiment_id: i64) -> Result<Vec<LoggedModel>> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {LOGGED} FROM logged_models WHERE experiment_id = $1 ORDER BY created_ms, id"
                )))
                .bind(experiment_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(logged_from).collect()
            }

            async fn log_model_metrics(
                &self,
                model_id: &str,
                metrics: &[ModelMetric],
            ) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                for m in metrics {
                    sqlx::query(
                        "INSERT INTO logged_model_metrics (model_id, key, dataset_name, \
                         dataset_digest, bits, timestamp_ms, step, run_id) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (model_id, key, dataset_name, dataset_digest) DO UPDATE \
                         SET bits = excluded.bits, timestamp_ms = excluded.timestamp_ms, \
                         step = excluded.step, run_id = excluded.run_id \
                         WHERE excluded.timestamp_ms > logged_model_metrics.timestamp_ms \
                         OR (excluded.timestamp_ms = logged_model_metrics.timestamp_ms \
                         AND excluded.step >= logged_model_metrics.step)",
                    )
                    .bind(model_id)
                    .bind(&m.key)
                    .bind(&m.dataset_name)
                    .bind(&m.dataset_digest)
                    .bind(m.value.to_bits() as i64)
                    .bind(m.timestamp_ms)
                    .bind(m.step)
                    .bind(&m.run_id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn model_metrics(&self, model_id: &str) -> Result<Vec<ModelMetric>> {
                let rows = sqlx::query(
                    "SELECT key, dataset_name, dataset_digest, bits, timestamp_ms, step, run_id \
                     FROM logged_model_metrics WHERE model_id = $1 \
                     ORDER BY key, dataset_name, dataset_digest",
                )
                .bind(model_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(ModelMetric {
                            key: r.try_get("key")?,
                            value: f64::from_bits(r.try_get::<i64, _>("bits")? as u64),
                            timestamp_ms: r.try_get("timestamp_ms")?,
                            step: r.try_get("step")?,
                            run_id: r.try_get("run_id")?,
                            dataset_name: r.try_get("dataset_name")?,
                            dataset_digest: r.try_get("dataset_digest")?,
                        })
                    })
                    .collect()
            }

            async fn create_model_name(
                &self,
                name: &str,
                description: &str,
                at_ms: i64,
            ) -> Result<()> {
                let done = sqlx::query(
                    "INSERT INTO registered_models (name, description, created_ms) \
                     VALUES ($1, $2, $3)",
                )
                .bind(name)
                .bind(description)
                .bind(at_ms)
                .execute(&self.pool)
                .await;
                match done {
                    Ok(_) => Ok(()),
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(
                        StoreError::Conflict(format!("a registered model named `{name}` exists")),
                    ),
                    Err(e) => Err(e.into()),
                }
            }

            async fn model_names(&self) -> Result<Vec<(String, String, i64)>> {
                let rows = sqlx::query(
                    "SELECT name, description, created_ms FROM registered_models ORDER BY name",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            r.try_get("name")?,
                            r.try_get("description")?,
                            r.try_get("created_ms")?,
                        ))
                    })
                    .collect()
            }

            async fn rename_experiment(&self, id: i64, name: &str, at_ms: i64) -> Result<bool> {
                let done =
                    sqlx::query("UPDATE experiments SET name = $1, updated_ms = $2 WHERE id = $3")
                        .bind(name)
                        .bind(at_ms)
                        .bind(id)
                        .execute(&self.pool)
                        .await;
                match done {
                    Ok(d) => Ok(d.rows_affected() > 0),
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(
                        StoreError::Conflict(format!("an experiment named `{name}` exists")),
                    ),
                    Err(e) => Err(e.into()),
                }
            }
        }
    };
}

impl_experiments!(SqliteStore, sqlx::Sqlite);
impl_experiments!(PgStore, sqlx::Postgres);
