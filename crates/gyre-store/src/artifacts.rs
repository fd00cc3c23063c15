//! Artifact paths: each names an object of the blob store. Both metadata stores implement it
//! with the same SQL.

use crate::Result;
use crate::meta::{PgStore, SqliteStore};
use async_trait::async_trait;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ArtifactEntry {
    pub path: String,
    /// The object's hash (64 hex digits).
    pub hash: String,
    pub size: i64,
    pub created_ms: i64,
}

#[async_trait]
pub trait Artifacts: Send + Sync {
    /// Points `path` at an object (a path logged again points at the new bytes).
    async fn put_artifact(&self, entry: &ArtifactEntry) -> Result<()>;
    async fn artifact(&self, path: &str) -> Result<Option<ArtifactEntry>>;
    /// Every artifact whose path starts with `prefix`, by path.
    async fn artifacts_under(&self, prefix: &str) -> Result<Vec<ArtifactEntry>>;
    async fn delete_artifact(&self, path: &str) -> Result<bool>;
}

fn entry<R: Row>(r: &R) -> Result<ArtifactEntry>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> i64: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    Ok(ArtifactEntry {
        path: r.try_get("path")?,
        hash: r.try_get("hash")?,
        size: r.try_get("size")?,
        created_ms: r.try_get("created_ms")?,
    })
}

macro_rules! impl_artifacts {
    ($store:ty) => {
        #[async_trait]
        impl Artifacts for $store {
            async fn put_artifact(&self, e: &ArtifactEntry) -> Result<()> {
                sqlx::query(
                    "INSERT INTO artifacts (path, hash, size, created_ms) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (path) DO UPDATE SET hash = excluded.hash, size = excluded.size, \
                     created_ms = excluded.created_ms",
                )
                .bind(&e.path)
                .bind(&e.hash)
                .bind(e.size)
                .bind(e.created_ms)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn artifact(&self, path: &str) -> Result<Option<ArtifactEntry>> {
                let row = sqlx::query(
                    "SELECT path, hash, size, created_ms FROM artifacts WHERE path = $1",
                )
                .bind(path)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(entry).transpose()
            }

            async fn artifacts_under(&self, prefix: &str) -> Result<Vec<ArtifactEntry>> {
                // A range on the key rather than LIKE: `%` and `_` in a path are not wildcards.
                let rows = sqlx::query(
                    "SELECT path, hash, size, created_ms FROM artifacts \
                     WHERE path >= $1 AND path < $2 ORDER BY path",
                )
                .bind(prefix)
                .bind(format!("{prefix}\u{10FFFF}"))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(entry).collect()
            }

            async fn delete_artifact(&self, path: &str) -> Result<bool> {
                let done = sqlx::query("DELETE FROM artifacts WHERE path = $1")
                    .bind(path)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}

impl_artifacts!(SqliteStore);
impl_artifacts!(PgStore);
