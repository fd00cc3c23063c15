//! The model registry: named models with numbered versions (each a model file in the object
//! store), aliases such as `champion`, an audit row for every alias move, and the gate's
//! verdicts. Both metadata stores implement it with the same SQL.

use crate::meta::{PgStore, SqliteStore};
use crate::{Result, StoreError};
use async_trait::async_trait;
use sqlx::Row;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelVersion {
    pub name: String,
    pub version: i64,
    /// The model file's hash (64 hex digits).
    pub model: String,
    pub run_id: Option<String>,
    pub user: String,
    pub created_ms: i64,
}

/// One alias move: `from` → `to` (None: the alias did not exist / is removed).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AliasEvent {
    pub name: String,
    pub alias: String,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub user: String,
    pub reason: String,
    /// Moved without a passing verdict.
    pub forced: bool,
    pub at_ms: i64,
    pub kind: AliasKind,
}

/// What an alias move was, typed (never read from its free-text reason).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AliasKind {
    /// Pointed at a chosen version (by a person, a pipeline or the loop).
    #[default]
    Move,
    /// Sent back to the version before (`gyre models rollback`, the loop's rollback).
    Rollback,
}

impl AliasKind {
    fn as_str(self) -> &'static str {
        match self {
            AliasKind::Move => "move",
            AliasKind::Rollback => "rollback",
        }
    }

    fn parse(s: &str) -> Result<AliasKind> {
        match s {
            "move" => Ok(AliasKind::Move),
            "rollback" => Ok(AliasKind::Rollback),
            other => Err(StoreError::BadRecord(format!("alias event kind `{other}`"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredVerdict {
    pub name: String,
    pub version: i64,
    pub passed: bool,
    /// The checks, as JSON (the gate's format).
    pub checks: String,
    pub user: String,
    pub created_ms: i64,
}

#[async_trait]
pub trait Registry: Send + Sync {
    /// Registers a model file as the next version of `name`; the same file registered again
    /// is the version it already is (`false`).
    async fn register_version(
        &self,
        name: &str,
        model: &str,
        run_id: Option<&str>,
        user: &str,
        at_ms: i64,
    ) -> Result<(ModelVersion, bool)>;
    /// Every version of every model (or of one), by name and version.
    async fn model_versions(&self, name: Option<&str>) -> Result<Vec<ModelVersion>>;
    /// `(alias, version)` of a model, by alias.
    async fn aliases(&self, name: &str) -> Result<Vec<(String, i64)>>;
    /// Moves an alias and records the move, in one transaction. Fails with `Conflict` when
    /// the alias no longer points where `event.from` says (someone moved it first).
    async fn move_alias(&self, event: &AliasEvent) -> Result<()>;
    /// Alias moves of a model, oldest first.
    async fn alias_events(&self, name: &str) -> Result<Vec<AliasEvent>>;
    async fn put_verdict(&self, verdict: &StoredVerdict) -> Result<()>;
    /// The newest verdict on a version.
    async fn latest_verdict(&self, name: &str, version: i64) -> Result<Option<StoredVerdict>>;
}

fn version_from_row<R: Row>(r: &R) -> Result<ModelVersion>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> Option<String>: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> i64: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    Ok(ModelVersion {
        name: r.try_get("name")?,
        version: r.try_get("version")?,
        model: r.try_get("model")?,
        run_id: r.try_get("run_id")?,
        user: r.try_get("username")?,
        created_ms: r.try_get("created_ms")?,
    })
}

const VERSION_COLUMNS: &str = "name, version, model, run_id, username, created_ms";

macro_rules! impl_registry {
    ($store:ty) => {
        #[async_trait]
        impl Registry for $store {
            async fn register_version(
                &self,
                name: &str,
                model: &str,
                run_id: Option<&str>,
                user: &str,
                at_ms: i64,
            ) -> Result<(ModelVersion, bool)> {
                // Concurrent registrations may pick the same number; the loser of the
                // (name, version) key tries again.
                for attempt in 0..200u64 {
                    let done = sqlx::query(
                        "INSERT INTO model_versions (name, version, model, run_id, username, created_ms) \
                         SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5 \
                         FROM model_versions WHERE name = $1 \
                         ON CONFLICT (name, model) DO NOTHING",
                    )
                    .bind(name)
                    .bind(model)
                    .bind(run_id)
                    .bind(user)
                    .bind(at_ms)
                    .execute(&self.pool)
                    .await;
                    match done {
                        Ok(d) => {
                            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                                "SELECT {VERSION_COLUMNS} FROM model_versions WHERE name = $1 AND model = $2"
                            )))
                            .bind(name)
                            .bind(model)
                            .fetch_one(&self.pool)
                            .await?;
                            return Ok((version_from_row(&row)?, d.rows_affected() == 1));
                        }
                        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                            tokio::time::sleep(Duration::from_millis(1 + attempt % 7)).await;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(StoreError::BadRecord(format!(
                    "could not number a new version of model `{name}`: too many concurrent writers"
                )))
            }

            async fn model_versions(&self, name: Option<&str>) -> Result<Vec<ModelVersion>> {
                let rows = match name {
                    Some(n) => sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {VERSION_COLUMNS} FROM model_versions WHERE name = $1 ORDER BY name, version"
                    )))
                    .bind(n)
                    .fetch_all(&self.pool)
                    .await?,
                    None => sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {VERSION_COLUMNS} FROM model_versions ORDER BY name, version"
                    )))
                    .fetch_all(&self.pool)
                    .await?,
                };
                rows.iter().map(version_from_row).collect()
            }

            async fn aliases(&self, name: &str) -> Result<Vec<(String, i64)>> {
                let rows = sqlx::query(
                    "SELECT alias, version FROM model_aliases WHERE name = $1 ORDER BY alias",
                )
                .bind(name)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("alias")?, r.try_get("version")?)))
                    .collect()
            }

            async fn move_alias(&self, e: &AliasEvent) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                // Write first, so SQLite takes its write lock before reading (no upgrade
                // deadlock) and PostgreSQL locks the row.
                sqlx::query(
                    "INSERT INTO alias_events (name, alias, from_version, to_version, username, reason, forced, at_ms, kind) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&e.name)
                .bind(&e.alias)
                .bind(e.from)
                .bind(e.to)
                .bind(&e.user)
                .bind(&e.reason)
                .bind(e.forced as i64)
                .bind(e.at_ms)
                .bind(e.kind.as_str())
                .execute(&mut *tx)
                .await?;
                let current: Option<i64> = sqlx::query(
                    "SELECT version FROM model_aliases WHERE name = $1 AND alias = $2",
                )
                .bind(&e.name)
                .bind(&e.alias)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get("version"))
                .transpose()?;
                if current != e.from {
                    tx.rollback().await?;
                    let show = |v: Option<i64>| v.map_or("nothing".to_string(), |v| format!("version {v}"));
                    return Err(StoreError::Conflict(format!(
                        "`{}@{}` points to {}, not {}: it moved meanwhile; look again and retry",
                        e.name,
                        e.alias,
                        show(current),
                        show(e.from)
                    )));
                }
                match e.to {
                    Some(v) => {
                        sqlx::query(
                            "INSERT INTO model_aliases (name, alias, version) VALUES ($1, $2, $3) \
                             ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
                        )
                        .bind(&e.name)
                        .bind(&e.alias)
                        .bind(v)
                        .execute(&mut *tx)
                        .await?;
                    }
                    None => {
                        sqlx::query("DELETE FROM model_aliases WHERE name = $1 AND alias = $2")
                            .bind(&e.name)
                            .bind(&e.alias)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn alias_events(&self, name: &str) -> Result<Vec<AliasEvent>> {
                let rows = sqlx::query(
                    "SELECT name, alias, from_version, to_version, username, reason, forced, at_ms, kind \
                     FROM alias_events WHERE name = $1 ORDER BY id",
                )
                .bind(name)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(AliasEvent {
                            name: r.try_get("name")?,
                            alias: r.try_get("alias")?,
                            from: r.try_get("from_version")?,
                            to: r.try_get("to_version")?,
                            user: r.try_get("username")?,
                            reason: r.try_get("reason")?,
                            forced: r.try_get::<i64, _>("forced")? != 0,
                            at_ms: r.try_get("at_ms")?,
                            kind: AliasKind::parse(r.try_get::<String, _>("kind")?.as_str())?,
                        })
                    })
                    .collect()
            }

            async fn put_verdict(&self, v: &StoredVerdict) -> Result<()> {
                sqlx::query(
                    "INSERT INTO verdicts (name, version, passed, checks, username, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&v.name)
                .bind(v.version)
                .bind(v.passed as i64)
                .bind(&v.checks)
                .bind(&v.user)
                .bind(v.created_ms)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn latest_verdict(&self, name: &str, version: i64) -> Result<Option<StoredVerdict>> {
                let row = sqlx::query(
                    "SELECT name, version, passed, checks, username, created_ms FROM verdicts \
                     WHERE name = $1 AND version = $2 ORDER BY id DESC LIMIT 1",
                )
                .bind(name)
                .bind(version)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| {
                    Ok(StoredVerdict {
                        name: r.try_get("name")?,
                        version: r.try_get("version")?,
                        passed: r.try_get::<i64, _>("passed")? != 0,
                        checks: r.try_get("checks")?,
                        user: r.try_get("username")?,
                        created_ms: r.try_get("created_ms")?,
                    })
                })
                .transpose()
            }
        }
    };
}

impl_registry!(SqliteStore);
impl_registry!(PgStore);
