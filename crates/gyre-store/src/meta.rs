//! The metadata store: a trait, and its SQLite and PostgreSQL implementations.
//!
//! Architecture invariant: both implementations run the same SQL (SQLite accepts PostgreSQL's
//! `$N` placeholders) and pass the same contract suite in [`crate::contract`].

use crate::{Result, StoreError};
use async_trait::async_trait;
use gyre_core::{
    ContentHash, DatasetName, DatasetProfile, DatasetRef, DatasetVersion, Manifest,
    NewDatasetVersion, VersionInfo, VersionRef,
};
use serde::Serialize;
use sqlx::Row;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// What [`MetaStore::add_dataset_version`] did.
#[derive(Debug, Clone)]
pub enum AddOutcome {
    Created(Box<DatasetVersion>),
    /// A version with the same content already exists in this dataset; nothing was added.
    Existing(Box<DatasetVersion>),
}

/// A dataset and its latest version.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetSummary {
    pub name: DatasetName,
    pub versions: u64,
    pub latest: VersionInfo,
}

/// What exists, who made it, from what. Runs are part of it ([`crate::RunStore`]).
#[async_trait]
pub trait MetaStore:
    crate::RunStore
    + crate::StepCache
    + crate::Registry
    + crate::PredictionLog
    + crate::Monitoring
    + crate::TokenStore
    + crate::Experiments
    + crate::Artifacts
    + crate::Attestations
    + crate::Approvals
    + crate::Leases
    + Send
    + Sync
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Records a new version, numbered after the dataset's last one. Safe to call from many
    /// processes at once: each version gets a distinct number, and the same content added twice
    /// (even at the same moment) is recorded once.
    async fn add_dataset_version(&self, version: &NewDatasetVersion) -> Result<AddOutcome>;

    /// Every dataset with its latest version, by name.
    async fn list_datasets(&self) -> Result<Vec<DatasetSummary>>;

    /// A dataset's versions, oldest first. Empty when the dataset does not exist.
    async fn dataset_versions(&self, name: &DatasetName) -> Result<Vec<VersionInfo>>;

    /// The version a reference names, with its manifest and profile.
    async fn resolve_version(&self, reference: &DatasetRef) -> Result<DatasetVersion>;
}

/// Opens the metadata store a URL names and brings its schema up to date.
///
/// - `sqlite://PATH` (created if missing; WAL, full sync, a 30 s busy timeout);
/// - `postgres://…` or `postgresql://…`.
pub async fn open_meta_store(url: &str) -> Result<Box<dyn MetaStore>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(Box::new(SqliteStore::open(Path::new(path)).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(PgStore::connect(url).await?))
    } else {
        let scheme = url.split(':').next().unwrap_or_default().to_string();
        Err(StoreError::BadUrl(scheme))
    }
}

/// The embedded default.
pub struct SqliteStore {
    pub(crate) pool: sqlx::SqlitePool,
    /// Seen empty: the per-row `predictions` table of before segments (nothing writes it
    /// any more, so once empty it stays empty and need not be asked again).
    pub(crate) no_legacy_log: std::sync::atomic::AtomicBool,
}

impl SqliteStore {
    pub async fn open(path: &Path) -> Result<Self> {
        use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true)
            // A 32 MiB page cache per connection and memory-mapped reads: metric ingest
            // otherwise spends its time re-reading index pages through system calls.
            .pragma("cache_size", "-32768")
            .pragma("mmap_size", "268435456");
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        migrate(sqlx::migrate!("./migrations/sqlite"), &pool).await?;
        Ok(SqliteStore {
            pool,
            no_legacy_log: Default::default(),
        })
    }
}

/// For teams that outgrow one machine.
pub struct PgStore {
    pub(crate) pool: sqlx::PgPool,
    /// As [`SqliteStore::no_legacy_log`].
    pub(crate) no_legacy_log: std::sync::atomic::AtomicBool,
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        migrate(sqlx::migrate!("./migrations/postgres"), &pool).await?;
        Ok(PgStore {
            pool,
            no_legacy_log: Default::default(),
        })
    }
}

/// Runs the migrations. Two processes opening a fresh store at once can race to apply the
/// first migration; the loser retries and then finds it applied.
async fn migrate<DB>(migrator: sqlx::migrate::Migrator, pool: &sqlx::Pool<DB>) -> Result<()>
where
    DB: sqlx::Database,
    <DB as sqlx::Database>::Connection: sqlx::migrate::Migrate,
{
    let mut last = None;
    for attempt in 0..5u64 {
        match migrator.run(pool).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(50 * (attempt + 1))).await;
            }
        }
    }
    Err(last.expect("at least one attempt ran").into())
}

/// Refuses a record whose JSON does not parse back into its type.
fn check_reads_back<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> Result<()> {
    serde_json::from_str::<T>(json).map(drop).map_err(|e| {
        StoreError::Invalid(format!(
            "the version's {what} would not read back ({e}); nothing was recorded"
        ))
    })
}

const VERSION_COLUMNS: &str =
    "dataset, id, seq, created_at, created_by, source, n_rows, n_columns, n_bytes";

const INSERT_VERSION: &str = "INSERT INTO dataset_versions \
     (dataset, id, seq, created_at, created_by, source, n_rows, n_columns, n_bytes, manifest, profile) \
     SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5, $6, $7, $8, $9, $10 \
     FROM dataset_versions WHERE dataset = $1 \
     ON CONFLICT (dataset, id) DO NOTHING";

const SELECT_FULL_BY_ID: &str = "SELECT dataset, id, seq, created_at, created_by, source, n_rows, \
     n_columns, n_bytes, manifest, profile FROM dataset_versions WHERE dataset = $1 AND id = $2";

const SELECT_LIST: &str = "SELECT v.dataset, v.id, v.seq, v.created_at, v.created_by, v.source, \
     v.n_rows, v.n_columns, v.n_bytes, c.n FROM dataset_versions v \
     JOIN (SELECT dataset, MAX(seq) AS top, COUNT(*) AS n FROM dataset_versions GROUP BY dataset) c \
     ON v.dataset = c.dataset AND v.seq = c.top ORDER BY v.dataset";

fn summary_from_row<R: Row>(row: &R) -> Result<VersionInfo>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let id: String = row.try_get("id")?;
    let dataset: String = row.try_get("dataset")?;
    let n = |col: &str| -> Result<u64> {
        let v: i64 = row.try_get(col)?;
        Ok(v as u64)
    };
    Ok(VersionInfo {
        dataset: DatasetName::from_str(&dataset)
            .map_err(|e| StoreError::BadRecord(e.to_string()))?,
        id: ContentHash::from_str(&id).map_err(|e| StoreError::BadRecord(e.to_string()))?,
        seq: n("seq")?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
        source: row.try_get("source")?,
        rows: n("n_rows")?,
        columns: n("n_columns")?,
        bytes: n("n_bytes")?,
    })
}

fn full_from_row<R: Row>(row: &R) -> Result<DatasetVersion>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let info = summary_from_row(row)?;
    let manifest: String = row.try_get("manifest")?;
    let profile: String = row.try_get("profile")?;
    let bad = |e: serde_json::Error| StoreError::BadRecord(format!("version {}: {e}", info.id));
    let manifest: Manifest = serde_json::from_str(&manifest).map_err(bad)?;
    let profile: DatasetProfile = serde_json::from_str(&profile).map_err(bad)?;
    Ok(DatasetVersion {
        info,
        manifest,
        profile,
    })
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// The two implementations share every line but the pool type; a macro keeps them one text
/// (generic code over `sqlx::Database` needs a bound per type and operation, which buries the
/// SQL).
macro_rules! impl_meta_store {
    ($store:ty, $backend:literal) => {
        #[async_trait]
        impl MetaStore for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn add_dataset_version(&self, v: &NewDatasetVersion) -> Result<AddOutcome> {
                let manifest = serde_json::to_string(&v.manifest)
                    .map_err(|e| StoreError::BadRecord(e.to_string()))?;
                let profile = serde_json::to_string(&v.profile)
                    .map_err(|e| StoreError::BadRecord(e.to_string()))?;
                // Record nothing that would not read back: a non-finite statistic becomes
                // JSON null, which every later read of the version would refuse.
                check_reads_back::<gyre_core::Manifest>(&manifest, "manifest")?;
                check_reads_back::<DatasetProfile>(&profile, "profile")?;
                let id = v.id.to_hex();
                let name = v.dataset.as_str();
                // Concurrent writers may pick the same sequence number; the loser of the
                // unique (dataset, seq) constraint tries again with the next one.
                for attempt in 0..200u64 {
                    let inserted = sqlx::query(INSERT_VERSION)
                        .bind(name)
                        .bind(&id)
                        .bind(now_rfc3339())
                        .bind(&v.created_by)
                        .bind(&v.source)
                        .bind(v.profile.rows as i64)
                        .bind(v.profile.columns.len() as i64)
                        .bind(v.manifest.total_bytes() as i64)
                        .bind(&manifest)
                        .bind(&profile)
                        .execute(&self.pool)
                        .await;
                    match inserted {
                        Ok(done) => {
                            let row = sqlx::query(SELECT_FULL_BY_ID)
                                .bind(name)
                                .bind(&id)
                                .fetch_one(&self.pool)
                                .await?;
                            let version = Box::new(full_from_row(&row)?);
                            return Ok(if done.rows_affected() == 1 {
                                AddOutcome::Created(version)
                            } else {
                                AddOutcome::Existing(version)
                            });
                        }
                        Err(e) if is_unique_violation(&e) => {
                            tokio::time::sleep(Duration::from_millis(1 + attempt % 7)).await;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(StoreError::BadRecord(format!(
                    "could not number a new version of `{name}`: too many concurrent writers"
                )))
            }

            async fn list_datasets(&self) -> Result<Vec<DatasetSummary>> {
                let rows = sqlx::query(SELECT_LIST).fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|row| {
                        let n: i64 = row.try_get("n")?;
                        let latest = summary_from_row(row)?;
                        Ok(DatasetSummary {
                            name: latest.dataset.clone(),
                            versions: n as u64,
                            latest,
                        })
                    })
                    .collect()
            }

            async fn dataset_versions(&self, name: &DatasetName) -> Result<Vec<VersionInfo>> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {VERSION_COLUMNS} FROM dataset_versions WHERE dataset = $1 ORDER BY seq"
                )))
                .bind(name.as_str())
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(summary_from_row).collect()
            }

            async fn resolve_version(&self, r: &DatasetRef) -> Result<DatasetVersion> {
                let name = r.name.as_str();
                let ids: Vec<String> = match &r.version {
                    VersionRef::Latest => sqlx::query(
                        "SELECT id FROM dataset_versions WHERE dataset = $1 ORDER BY seq DESC LIMIT 1",
                    )
                    .bind(name)
                    .fetch_all(&self.pool)
                    .await?,
                    VersionRef::Seq(n) => {
                        sqlx::query("SELECT id FROM dataset_versions WHERE dataset = $1 AND seq = $2")
                            .bind(name)
                            .bind(*n as i64)
                            .fetch_all(&self.pool)
                            .await?
                    }
                    VersionRef::HashPrefix(p) => sqlx::query(
                        "SELECT id FROM dataset_versions WHERE dataset = $1 AND id LIKE $2 ORDER BY seq LIMIT 10",
                    )
                    .bind(name)
                    .bind(format!("{p}%"))
                    .fetch_all(&self.pool)
                    .await?,
                }
                .iter()
                .map(|row| row.try_get::<String, _>("id"))
                .collect::<std::result::Result<_, _>>()?;
                match ids.as_slice() {
                    [] => Err(StoreError::NotFound {
                        what: format!("dataset version `{r}`"),
                    }),
                    [id] => {
                        let row = sqlx::query(SELECT_FULL_BY_ID)
                            .bind(name)
                            .bind(id)
                            .fetch_one(&self.pool)
                            .await?;
                        full_from_row(&row)
                    }
                    many => Err(StoreError::Ambiguous {
                        what: format!("dataset version `{r}`"),
                        candidates: many.to_vec(),
                    }),
                }
            }
        }
    };
}

impl_meta_store!(SqliteStore, "sqlite");
impl_meta_store!(PgStore, "postgres");
