//! Monitoring's tables: labels joined to their predictions, closed windows (points), rule
//! events, and trigger firings.
//!
//! The label join is incremental. A label is joined when it is stored if its prediction is
//! logged by then; otherwise it stays pending and [`Monitoring::join_pending`] joins it on a
//! later pass (a label may arrive before the server's log writer has flushed its prediction,
//! or for a request that was never logged). Joined rows get a sequence number; windows read
//! after the last one they closed, so nothing re-scans the prediction log. On PostgreSQL the
//! joins hold a transaction-level advisory lock, so sequence order is commit order and a
//! reader's cursor never passes a row that commits later with a smaller number.

use crate::Result;
use crate::meta::{PgStore, SqliteStore};
use async_trait::async_trait;
use serde::Serialize;
use sqlx::Row;

/// A prediction with its true label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelledRow {
    pub seq: i64,
    pub request_id: String,
    pub row_index: i64,
    pub role: String,
    pub model: String,
    pub version: i64,
    pub predicted_ms: i64,
    pub labelled_ms: i64,
    /// The prediction as logged (JSON).
    pub output: String,
    pub label: String,
}

/// A closed monitoring window and its figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitorPoint {
    /// Assigned by the store (ignored on insert).
    pub id: i64,
    pub model: String,
    pub role: String,
    pub version: i64,
    /// `labels` (quality on joined labels) or `traffic` (inputs and outputs as served).
    pub kind: String,
    pub first_seq: i64,
    pub last_seq: i64,
    pub start_ms: i64,
    pub end_ms: i64,
    pub n: i64,
    /// JSON object of figures: `{"f1": 0.81, "drift.nswprice": 0.03, ...}`.
    pub metrics: String,
}

/// A rule's breach (`breach`) or its end (`recover`), or a decision of the loop
/// (`promote`, `rollback`, `canary`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitorEvent {
    pub id: i64,
    pub ts_ms: i64,
    pub model: String,
    pub version: i64,
    pub rule: String,
    pub kind: String,
    pub point: Option<i64>,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub detail: String,
}

/// One firing of a trigger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Firing {
    pub id: i64,
    pub ts_ms: i64,
    pub trigger: String,
    /// schedule, data, monitor, code, message.
    pub kind: String,
    pub cause: String,
    pub pipeline: String,
    /// `running`, `coalesced`, `succeeded`, `failed`.
    pub status: String,
    pub finished_ms: Option<i64>,
    pub detail: String,
}

#[async_trait]
pub trait Monitoring: Send + Sync {
    /// Joins pending labels stored at or after `since_ms` to predictions logged since; returns
    /// how many labelled rows were added.
    async fn join_pending(&self, since_ms: i64) -> Result<u64>;
    /// Labels still waiting for their prediction.
    async fn pending_labels(&self) -> Result<u64>;
    /// A model's labelled rows of one role after `after_seq`, in sequence order.
    async fn labelled_after(
        &self,
        model: &str,
        role: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<LabelledRow>>;
    /// A model's labelled rows of one role whose predictions were made at or after
    /// `since_ms`, in sequence order.
    async fn labelled_since(
        &self,
        model: &str,
        role: &str,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<LabelledRow>>;
    /// The latest labelled rows of a model (not shadows) predicted at or after `since_ms`,
    /// newest first: (seq, predicted_ms, inputs JSON, label).
    async fn labelled_inputs(
        &self,
        model: &str,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<(i64, i64, String, String)>>;
    /// The highest labelled sequence number of a model (0 when none).
    async fn labelled_max_seq(&self, model: &str) -> Result<i64>;
    async fn add_point(&self, point: &MonitorPoint) -> Result<i64>;
    /// Points of a model, oldest first, optionally of one kind and role.
    async fn points(
        &self,
        model: &str,
        kind: Option<&str>,
        role: Option<&str>,
    ) -> Result<Vec<MonitorPoint>>;
    /// The latest point of a model's kind and role.
    async fn last_point(&self, model: &str, kind: &str, role: &str)
    -> Result<Option<MonitorPoint>>;
    async fn add_event(&self, event: &MonitorEvent) -> Result<i64>;
    /// Events after `after_id`, oldest first (all models when `model` is None).
    async fn events(&self, model: Option<&str>, after_id: i64) -> Result<Vec<MonitorEvent>>;
    async fn add_firing(&self, firing: &Firing) -> Result<i64>;
    async fn finish_firing(
        &self,
        id: i64,
        status: &str,
        detail: &str,
        finished_ms: i64,
    ) -> Result<()>;
    /// Firings, newest first (one trigger's when given).
    async fn firings(&self, trigger: Option<&str>, limit: i64) -> Result<Vec<Firing>>;
}

/// A label is joined once a labelled row holds it. (Not "once its prediction exists": on
/// PostgreSQL each statement reads its own snapshot, and a prediction committed between the
/// two statements would mark a label joined that the first one did not see.) A shadow
/// prediction logged after its label was joined is not joined.
pub(crate) const MARK: &str = "UPDATE feedback SET joined = 1 WHERE joined = 0 AND ts_ms >= $1 \
    AND EXISTS (SELECT 1 FROM labelled l \
                WHERE l.request_id = feedback.request_id AND l.row_index = feedback.row_index)";
/// Serialises inserts into `labelled` on PostgreSQL (SQLite has one writer anyway).
pub(crate) const PG_LOCK: &str = "SELECT pg_advisory_xact_lock(7707001)";

const POINT_COLS: &str =
    "id, model, role, version, kind, first_seq, last_seq, start_ms, end_ms, n, metrics";
const EVENT_COLS: &str = "id, ts_ms, model, version, rule, kind, point, value, threshold, detail";
const FIRING_COLS: &str = "id, ts_ms, trigger, kind, cause, pipeline, status, finished_ms, detail";

macro_rules! impl_monitoring {
    ($store:ty, $db:ty, $lock:expr) => {
        impl $store {
            fn labelled_from(r: &<$db as sqlx::Database>::Row) -> Result<LabelledRow> {
                Ok(LabelledRow {
                    seq: r.try_get("seq")?,
                    request_id: r.try_get("request_id")?,
                    row_index: r.try_get("row_index")?,
                    role: r.try_get("role")?,
                    model: r.try_get("model")?,
                    version: r.try_get("version")?,
                    predicted_ms: r.try_get("predicted_ms")?,
                    labelled_ms: r.try_get("labelled_ms")?,
                    output: r.try_get("output")?,
                    label: r.try_get("label")?,
                })
            }
            fn point_from(r: &<$db as sqlx::Database>::Row) -> Result<MonitorPoint> {
                Ok(MonitorPoint {
                    id: r.try_get("id")?,
                    model: r.try_get("model")?,
                    role: r.try_get("role")?,
                    version: r.try_get("version")?,
                    kind: r.try_get("kind")?,
                    first_seq: r.try_get("first_seq")?,
                    last_seq: r.try_get("last_seq")?,
                    start_ms: r.try_get("start_ms")?,
                    end_ms: r.try_get("end_ms")?,
                    n: r.try_get("n")?,
                    metrics: r.try_get("metrics")?,
                })
            }
            fn event_from(r: &<$db as sqlx::Database>::Row) -> Result<MonitorEvent> {
                Ok(MonitorEvent {
                    id: r.try_get("id")?,
                    ts_ms: r.try_get("ts_ms")?,
                    model: r.try_get("model")?,
                    version: r.try_get("version")?,
                    rule: r.try_get("rule")?,
                    kind: r.try_get("kind")?,
                    point: r.try_get("point")?,
                    value: r.try_get("value")?,
                    threshold: r.try_get("threshold")?,
                    detail: r.try_get("detail")?,
                })
            }
            fn firing_from(r: &<$db as sqlx::Database>::Row) -> Result<Firing> {
                Ok(Firing {
                    id: r.try_get("id")?,
                    ts_ms: r.try_get("ts_ms")?,
                    trigger: r.try_get("trigger")?,
                    kind: r.try_get("kind")?,
                    cause: r.try_get("cause")?,
                    pipeline: r.try_get("pipeline")?,
                    status: r.try_get("status")?,
                    finished_ms: r.try_get("finished_ms")?,
                    detail: r.try_get("detail")?,
                })
            }
        }

        #[async_trait]
        impl Monitoring for $store {
            async fn join_pending(&self, since_ms: i64) -> Result<u64> {
                let mut tx = self.begin_join().await?;
                if !$lock.is_empty() {
                    sqlx::query($lock).execute(&mut *tx).await?;
                }
                let added = self.join_labels(&mut tx, since_ms).await?;
                tx.commit().await?;
                Ok(added)
            }

            async fn pending_labels(&self) -> Result<u64> {
                let row = sqlx::query("SELECT COUNT(*) AS n FROM feedback WHERE joined = 0")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(row.try_get::<i64, _>("n")? as u64)
            }

            async fn labelled_after(
                &self,
                model: &str,
                role: &str,
                after_seq: i64,
                limit: i64,
            ) -> Result<Vec<LabelledRow>> {
                let rows = sqlx::query(
                    "SELECT seq, request_id, row_index, role, model, version, predicted_ms, \
                     labelled_ms, output, label FROM labelled \
                     WHERE model = $1 AND role = $2 AND seq > $3 ORDER BY seq LIMIT $4",
                )
                .bind(model)
                .bind(role)
                .bind(after_seq)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(Self::labelled_from).collect()
            }

            async fn labelled_since(
                &self,
                model: &str,
                role: &str,
                since_ms: i64,
                limit: i64,
            ) -> Result<Vec<LabelledRow>> {
                let rows = sqlx::query(
                    "SELECT seq, request_id, row_index, role, model, version, predicted_ms, \
                     labelled_ms, output, label FROM labelled \
                     WHERE model = $1 AND role = $2 AND predicted_ms >= $3 ORDER BY seq LIMIT $4",
                )
                .bind(model)
                .bind(role)
                .bind(since_ms)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(Self::labelled_from).collect()
            }

            async fn labelled_inputs(
                &self,
                model: &str,
                since_ms: i64,
                limit: i64,
            ) -> Result<Vec<(i64, i64, String, String)>> {
                // Rows joined before labelled kept inputs read them from `predictions`.
                let rows = sqlx::query(
                    "SELECT seq, predicted_ms, inputs, label FROM ( \
                     SELECT l.seq, l.predicted_ms, l.label, COALESCE(l.inputs, \
                       (SELECT p.inputs FROM predictions p WHERE p.request_id = l.request_id \
                        AND p.row_index = l.row_index AND p.role = l.role)) AS inputs \
                     FROM labelled l \
                     WHERE l.model = $1 AND l.role <> 'shadow' AND l.predicted_ms >= $2) t \
                     WHERE inputs IS NOT NULL ORDER BY seq DESC LIMIT $3",
                )
                .bind(model)
                .bind(since_ms)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            r.try_get("seq")?,
                            r.try_get("predicted_ms")?,
                            r.try_get("inputs")?,
                            r.try_get("label")?,
                        ))
                    })
                    .collect()
            }

            async fn labelled_max_seq(&self, model: &str) -> Result<i64> {
                let row = sqlx::query(
                    "SELECT COALESCE(MAX(seq), 0) AS m FROM labelled WHERE model = $1",
                )
                .bind(model)
                .fetch_one(&self.pool)
                .await?;
                Ok(row.try_get::<i64, _>("m")?)
            }

            async fn add_point(&self, p: &MonitorPoint) -> Result<i64> {
                let row = sqlx::query(
                    "INSERT INTO monitor_points \
                     (model, role, version, kind, first_seq, last_seq, start_ms, end_ms, n, metrics) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                )
                .bind(&p.model)
                .bind(&p.role)
                .bind(p.version)
                .bind(&p.kind)
                .bind(p.first_seq)
                .bind(p.last_seq)
                .bind(p.start_ms)
                .bind(p.end_ms)
                .bind(p.n)
                .bind(&p.metrics)
                .fetch_one(&self.pool)
                .await?;
                Ok(row.try_get("id")?)
            }

            async fn points(
                &self,
                model: &str,
                kind: Option<&str>,
                role: Option<&str>,
            ) -> Result<Vec<MonitorPoint>> {
                let sql = format!(
                    "SELECT {POINT_COLS} FROM monitor_points WHERE model = $1 \
                     AND ($2 = '' OR kind = $2) AND ($3 = '' OR role = $3) ORDER BY id"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(model)
                    .bind(kind.unwrap_or(""))
                    .bind(role.unwrap_or(""))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::point_from).collect()
            }

            async fn last_point(
                &self,
                model: &str,
                kind: &str,
                role: &str,
            ) -> Result<Option<MonitorPoint>> {
                let sql = format!(
                    "SELECT {POINT_COLS} FROM monitor_points \
                     WHERE model = $1 AND kind = $2 AND role = $3 ORDER BY id DESC LIMIT 1"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(model)
                    .bind(kind)
                    .bind(role)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::point_from).transpose()
            }

            async fn add_event(&self, e: &MonitorEvent) -> Result<i64> {
                let row = sqlx::query(
                    "INSERT INTO monitor_events \
                     (ts_ms, model, version, rule, kind, point, value, threshold, detail) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                )
                .bind(e.ts_ms)
                .bind(&e.model)
                .bind(e.version)
                .bind(&e.rule)
                .bind(&e.kind)
                .bind(e.point)
                .bind(e.value)
                .bind(e.threshold)
                .bind(&e.detail)
                .fetch_one(&self.pool)
                .await?;
                Ok(row.try_get("id")?)
            }

            async fn events(&self, model: Option<&str>, after_id: i64) -> Result<Vec<MonitorEvent>> {
                let sql = format!(
                    "SELECT {EVENT_COLS} FROM monitor_events \
                     WHERE ($1 = '' OR model = $1) AND id > $2 ORDER BY id"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(model.unwrap_or(""))
                    .bind(after_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::event_from).collect()
            }

            async fn add_firing(&self, f: &Firing) -> Result<i64> {
                let row = sqlx::query(
                    "INSERT INTO trigger_firings \
                     (ts_ms, trigger, kind, cause, pipeline, status, finished_ms, detail) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                )
                .bind(f.ts_ms)
                .bind(&f.trigger)
                .bind(&f.kind)
                .bind(&f.cause)
                .bind(&f.pipeline)
                .bind(&f.status)
                .bind(f.finished_ms)
                .bind(&f.detail)
                .fetch_one(&self.pool)
                .await?;
                Ok(row.try_get("id")?)
            }

            async fn finish_firing(
                &self,
                id: i64,
                status: &str,
                detail: &str,
                finished_ms: i64,
            ) -> Result<()> {
                sqlx::query(
                    "UPDATE trigger_firings SET status = $1, detail = $2, finished_ms = $3 WHERE id = $4",
                )
                .bind(status)
                .bind(detail)
                .bind(finished_ms)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn firings(&self, trigger: Option<&str>, limit: i64) -> Result<Vec<Firing>> {
                let sql = format!(
                    "SELECT {FIRING_COLS} FROM trigger_firings \
                     WHERE ($1 = '' OR trigger = $1) ORDER BY id DESC LIMIT $2"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(trigger.unwrap_or(""))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::firing_from).collect()
            }
        }
    };
}

impl_monitoring!(SqliteStore, sqlx::Sqlite, "");
impl_monitoring!(PgStore, sqlx::Postgres, PG_LOCK);
