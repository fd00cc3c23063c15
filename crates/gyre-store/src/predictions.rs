//! The prediction log and feedback: what servers predicted, and the true labels that arrive
//! later. Written in batches by the server's log writer.

use crate::Result;
use crate::meta::{PgStore, SqliteStore};
use async_trait::async_trait;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PredictionRecord {
    pub request_id: String,
    pub row_index: i64,
    /// `champion`, `challenger` or `shadow`.
    pub role: String,
    pub ts_ms: i64,
    pub model: String,
    pub version: i64,
    /// The row's inputs, as JSON.
    pub inputs: String,
    /// The prediction, as JSON.
    pub output: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FeedbackRecord {
    pub request_id: String,
    pub row_index: i64,
    pub label: String,
    pub ts_ms: i64,
}

#[async_trait]
pub trait PredictionLog: Send + Sync {
    /// Appends records in one transaction; a record already logged is kept as it was.
    async fn log_predictions(&self, records: &[PredictionRecord]) -> Result<()>;
    /// Stores labels; a label for a (request, row) that has one is ignored (idempotent).
    /// Labels whose predictions are logged are joined to them at once; the rest wait for
    /// [`crate::Monitoring::join_pending`]. Returns how many were new.
    async fn add_feedback(&self, labels: &[FeedbackRecord]) -> Result<u64>;
    /// The logged predictions of one request, by row and role.
    async fn predictions_of(&self, request_id: &str) -> Result<Vec<PredictionRecord>>;
    async fn feedback_of(&self, request_id: &str) -> Result<Vec<FeedbackRecord>>;
    /// How many predictions a model has logged.
    async fn prediction_count(&self, model: &str) -> Result<u64>;
}

/// Rows per INSERT statement, largest first. A batch is written in statements of these sizes
/// only, so a connection prepares each statement once and reuses it. (Statements sized to
/// each batch were parsed anew on nearly every flush: the server's batches vary in size, and
/// parsing a 500-row INSERT cost SQLite about half as much as running it.)
const SIZES: [usize; 5] = [256, 64, 16, 4, 1];

/// `items` cut into runs of [`SIZES`], largest first.
fn chunked<T>(mut items: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    for size in SIZES {
        while items.len() >= size {
            let (head, rest) = items.split_at(size);
            out.push(head);
            items = rest;
        }
    }
    out
}

/// The INSERT for `rows` rows of `table (columns)`, built once per size and kept.
fn insert_sql(
    cache: &'static std::sync::OnceLock<Vec<String>>,
    ph: crate::runs::Placeholder,
    head: &str,
    cols: usize,
    rows: usize,
) -> &'static str {
    let all = cache.get_or_init(|| {
        SIZES
            .iter()
            .map(|&n| {
                format!(
                    "{head} VALUES {} ON CONFLICT DO NOTHING",
                    crate::runs::tuples(ph, n, cols)
                )
            })
            .collect()
    });
    let i = SIZES
        .iter()
        .position(|&n| n == rows)
        .expect("a chunk has one of SIZES rows");
    &all[i]
}

macro_rules! impl_prediction_log {
    ($store:ty, $ph:expr, $lock:expr) => {
        #[async_trait]
        impl PredictionLog for $store {
            async fn log_predictions(&self, records: &[PredictionRecord]) -> Result<()> {
                static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
                let mut tx = self.pool.begin().await?;
                for chunk in chunked(records) {
                    let sql = insert_sql(
                        &SQL,
                        $ph,
                        "INSERT INTO predictions (request_id, row_index, role, ts_ms, model, version, inputs, output)",
                        8,
                        chunk.len(),
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for r in chunk {
                        q = q
                            .bind(&r.request_id)
                            .bind(r.row_index)
                            .bind(&r.role)
                            .bind(r.ts_ms)
                            .bind(&r.model)
                            .bind(r.version)
                            .bind(&r.inputs)
                            .bind(&r.output);
                    }
                    q.execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn add_feedback(&self, labels: &[FeedbackRecord]) -> Result<u64> {
                static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
                let mut tx = self.pool.begin().await?;
                let mut added = 0;
                for chunk in chunked(labels) {
                    let sql = insert_sql(
                        &SQL,
                        $ph,
                        "INSERT INTO feedback (request_id, row_index, label, ts_ms)",
                        4,
                        chunk.len(),
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for r in chunk {
                        q = q.bind(&r.request_id).bind(r.row_index).bind(&r.label).bind(r.ts_ms);
                    }
                    added += q.execute(&mut *tx).await?.rows_affected();
                }
                // Join the new labels to predictions already logged (see crate::monitor).
                if let Some(since) = labels.iter().map(|l| l.ts_ms).min() {
                    if !$lock.is_empty() {
                        sqlx::query($lock).execute(&mut *tx).await?;
                    }
                    sqlx::query(crate::monitor::JOIN).bind(since).execute(&mut *tx).await?;
                    sqlx::query(crate::monitor::MARK).bind(since).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(added)
            }

            async fn predictions_of(&self, request_id: &str) -> Result<Vec<PredictionRecord>> {
                let rows = sqlx::query(
                    "SELECT request_id, row_index, role, ts_ms, model, version, inputs, output \
                     FROM predictions WHERE request_id = $1 ORDER BY row_index, role",
                )
                .bind(request_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(PredictionRecord {
                            request_id: r.try_get("request_id")?,
                            row_index: r.try_get("row_index")?,
                            role: r.try_get("role")?,
                            ts_ms: r.try_get("ts_ms")?,
                            model: r.try_get("model")?,
                            version: r.try_get("version")?,
                            inputs: r.try_get("inputs")?,
                            output: r.try_get("output")?,
                        })
                    })
                    .collect()
            }

            async fn feedback_of(&self, request_id: &str) -> Result<Vec<FeedbackRecord>> {
                let rows = sqlx::query(
                    "SELECT request_id, row_index, label, ts_ms FROM feedback \
                     WHERE request_id = $1 ORDER BY row_index",
                )
                .bind(request_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(FeedbackRecord {
                            request_id: r.try_get("request_id")?,
                            row_index: r.try_get("row_index")?,
                            label: r.try_get("label")?,
                            ts_ms: r.try_get("ts_ms")?,
                        })
                    })
                    .collect()
            }

            async fn prediction_count(&self, model: &str) -> Result<u64> {
                let row = sqlx::query("SELECT COUNT(*) AS n FROM predictions WHERE model = $1")
                    .bind(model)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(row.try_get::<i64, _>("n")? as u64)
            }
        }
    };
}

impl_prediction_log!(SqliteStore, crate::runs::positional, "");
impl_prediction_log!(PgStore, crate::runs::numbered, crate::monitor::PG_LOCK);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_into_the_fixed_statement_sizes() {
        let items: Vec<usize> = (0..650).collect();
        let chunks = chunked(&items);
        let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [256, 256, 64, 64, 4, 4, 1, 1]);
        // In order, nothing lost or repeated.
        let flat: Vec<usize> = chunks.concat();
        assert_eq!(flat, items);
        assert!(chunked::<usize>(&[]).is_empty());
        for n in 0..600 {
            let items: Vec<usize> = (0..n).collect();
            assert_eq!(chunked(&items).concat(), items);
        }
    }
}
