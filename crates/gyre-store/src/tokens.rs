//! API tokens: a name, a role and the hash of the token's text (never the text). Both metadata
//! stores implement it with the same SQL.

use crate::meta::{PgStore, SqliteStore};
use crate::{Result, StoreError};
use async_trait::async_trait;
use gyre_core::access::Role;
use sqlx::Row;

/// A token as the store knows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TokenInfo {
    /// The 8 hex digits in the token's text.
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_by: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Records a token by the hash of its text. Fails with `Conflict` when the name (or id)
    /// is taken, revoked tokens included: names stay unique so the audit trail stays clear.
    async fn create_token(&self, token: &TokenInfo, hash: &str) -> Result<()>;
    /// Every token, revoked ones too, by name.
    async fn tokens(&self) -> Result<Vec<TokenInfo>>;
    /// The live (not revoked) token whose text hashes to `hash`.
    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenInfo>>;
    /// Revokes a live token by name; `false` when no live token has that name.
    async fn revoke_token(&self, name: &str, at_ms: i64) -> Result<bool>;
}

const COLUMNS: &str = "id, name, role, created_by, created_ms, revoked_ms";

fn token_from<R: Row>(r: &R) -> Result<TokenInfo>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> Option<i64>: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> i64: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    let role: String = r.try_get("role")?;
    Ok(TokenInfo {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        role: role
            .parse()
            .map_err(|e: gyre_core::access::UnknownRole| StoreError::BadRecord(e.to_string()))?,
        created_by: r.try_get("created_by")?,
        created_ms: r.try_get("created_ms")?,
        revoked_ms: r.try_get("revoked_ms")?,
    })
}

macro_rules! impl_tokens {
    ($store:ty) => {
        #[async_trait]
        impl TokenStore for $store {
            async fn create_token(&self, t: &TokenInfo, hash: &str) -> Result<()> {
                let done = sqlx::query(
                    "INSERT INTO api_tokens (id, name, role, hash, created_by, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&t.id)
                .bind(&t.name)
                .bind(t.role.as_str())
                .bind(hash)
                .bind(&t.created_by)
                .bind(t.created_ms)
                .execute(&self.pool)
                .await;
                match done {
                    Ok(_) => Ok(()),
                    Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                        Err(StoreError::Conflict(format!(
                            "a token named `{}` exists (names stay taken after revoking)",
                            t.name
                        )))
                    }
                    Err(e) => Err(e.into()),
                }
            }

            async fn tokens(&self) -> Result<Vec<TokenInfo>> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM api_tokens ORDER BY name"
                )))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(token_from).collect()
            }

            async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenInfo>> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM api_tokens WHERE hash = $1 AND revoked_ms IS NULL"
                )))
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(token_from).transpose()
            }

            async fn revoke_token(&self, name: &str, at_ms: i64) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE api_tokens SET revoked_ms = $1 WHERE name = $2 AND revoked_ms IS NULL",
                )
                .bind(at_ms)
                .bind(name)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}

impl_tokens!(SqliteStore);
impl_tokens!(PgStore);
