//! The prediction log and feedback: what servers predicted, and the true labels that arrive
//! later. Written in batches by the server's log writer.
//!
//! The log is kept in segments: each flush of a server's writer becomes a few rows of up to
//! [`SEGMENT`] records, compressed ([`encode`]), rather than one indexed row per record. Records
//! of server-made request ids (`{prefix}-{counter:010x}`) are found through their segment's
//! counter range; any other id through a `prediction_keys` row. Labels are joined to their
//! predictions here, in Rust, since SQL cannot see into a segment. The `predictions` table
//! written before segments is still read, first.

use crate::meta::{PgStore, SqliteStore};
use crate::{Result, StoreError};
use async_trait::async_trait;
use sqlx::Row;
use std::collections::{BTreeSet, HashMap, HashSet};

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

/// How long and how many labels for unknown requests (none logged yet) are kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnknownLabels {
    /// Pending labels stored before this are dropped (0: never).
    pub drop_before_ms: i64,
    /// At most this many pending labels in all; this batch's beyond it are refused.
    pub max: u64,
}

impl UnknownLabels {
    /// Keep every pending label (the store's own callers: tests, replays, imports).
    pub const UNBOUNDED: UnknownLabels = UnknownLabels {
        drop_before_ms: 0,
        max: u64::MAX,
    };
}

/// What became of a batch of labels.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LabelOutcome {
    /// New labels kept.
    pub stored: u64,
    /// Labels for (request, row)s that had one: ignored.
    pub duplicates: u64,
    /// Kept, but no prediction is logged for them yet: `(request_id, row)`.
    pub unknown: Vec<(String, i64)>,
    /// Not kept: too many labels for unknown requests are waiting.
    pub refused: Vec<(String, i64)>,
}

/// A label that replaced another.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LabelCorrection {
    pub request_id: String,
    pub row_index: i64,
    pub old_label: String,
    pub new_label: String,
    pub user: String,
    pub at_ms: i64,
}

#[async_trait]
pub trait PredictionLog: Send + Sync {
    /// Appends records in one transaction. A record already logged under a client's request id
    /// is kept as it was; under a server-made id, the first one logged is the one read back.
    async fn log_predictions(&self, records: &[PredictionRecord]) -> Result<()>;
    /// Stores labels; a label for a (request, row) that has one is ignored (idempotent).
    /// Labels whose predictions are logged are joined to them at once; the rest wait for
    /// [`crate::Monitoring::join_pending`], within `unknown`'s bounds (which also drop older
    /// ones that never met a prediction).
    async fn add_feedback(
        &self,
        labels: &[FeedbackRecord],
        unknown: UnknownLabels,
    ) -> Result<LabelOutcome>;
    /// Replaces labels (a label with none before is stored as new): the feedback row and any
    /// joined row take the new value, and each replacement is kept in the audit with both
    /// values and `user`. Windows already closed keep their figures. Returns how many changed.
    async fn correct_labels(&self, labels: &[FeedbackRecord], user: &str) -> Result<u64>;
    /// The replacements of a request's labels, oldest first.
    async fn label_corrections(&self, request_id: &str) -> Result<Vec<LabelCorrection>>;
    /// The logged predictions of one request, by row and role.
    async fn predictions_of(&self, request_id: &str) -> Result<Vec<PredictionRecord>>;
    async fn feedback_of(&self, request_id: &str) -> Result<Vec<FeedbackRecord>>;
    /// How many predictions a model has logged.
    async fn prediction_count(&self, model: &str) -> Result<u64>;
    /// A model's logged predictions in the order they were stored (batch by batch; within a
    /// batch, grouped by the kind of request id), a page at a time: the
    /// records of the segments after the cursor `after` (0 to start; the per-row table of
    /// before segments comes whole in the first page), at least `limit` of them unless the log
    /// ends first. Returns them and the next page's cursor (None at the end).
    async fn prediction_page(
        &self,
        model: &str,
        after: i64,
        limit: usize,
    ) -> Result<(Vec<PredictionRecord>, Option<i64>)>;
}

/// Records per segment at most. A label's join decodes the segments its request is in, so
/// they are kept small enough to decode in a fraction of a millisecond.
const SEGMENT: usize = 512;

/// The first byte of a segment's body: how the rest is encoded. 1: the records in postcard,
/// compressed as one LZ4 block with its size prepended.
const FORMAT: u8 = 1;

/// One record as a segment holds it. It borrows both ways: it is written from a
/// [`PredictionRecord`] and read in place from the decompressed bytes, so one definition fixes
/// the field order of both.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored<'a> {
    request_id: &'a str,
    row_index: i64,
    role: &'a str,
    ts_ms: i64,
    model: &'a str,
    version: i64,
    inputs: &'a str,
    output: &'a str,
}

/// A segment's body: [`FORMAT`], then its records. (LZ4 takes a batch's bytes down by about
/// 2.4x at under a microsecond a record; the bytes, not the rows, were most of the write.)
fn encode(records: &[&PredictionRecord]) -> Result<Vec<u8>> {
    let stored: Vec<Stored> = records
        .iter()
        .map(|r| Stored {
            request_id: &r.request_id,
            row_index: r.row_index,
            role: &r.role,
            ts_ms: r.ts_ms,
            model: &r.model,
            version: r.version,
            inputs: &r.inputs,
            output: &r.output,
        })
        .collect();
    let raw = postcard::to_stdvec(&stored)
        .map_err(|e| StoreError::BadRecord(format!("encoding a prediction segment: {e}")))?;
    let mut body = Vec::with_capacity(1 + 4 + raw.len() / 2);
    body.push(FORMAT);
    body.extend_from_slice(&lz4_flex::compress_prepend_size(&raw));
    Ok(body)
}

/// The records of a segment's body that `keep` picks, owned.
fn decode(body: &[u8], keep: impl Fn(&str) -> bool) -> Result<Vec<PredictionRecord>> {
    let bad = |what: String| StoreError::BadRecord(format!("a prediction segment {what}"));
    let (&format, rest) = body.split_first().ok_or_else(|| bad("is empty".into()))?;
    if format != FORMAT {
        return Err(bad(format!("has an unknown format ({format})")));
    }
    let raw = lz4_flex::decompress_size_prepended(rest)
        .map_err(|e| bad(format!("does not decompress: {e}")))?;
    let stored: Vec<Stored> =
        postcard::from_bytes(&raw).map_err(|e| bad(format!("does not decode: {e}")))?;
    Ok(stored
        .into_iter()
        .filter(|s| keep(s.request_id))
        .map(|s| PredictionRecord {
            request_id: s.request_id.into(),
            row_index: s.row_index,
            role: s.role.into(),
            ts_ms: s.ts_ms,
            model: s.model.into(),
            version: s.version,
            inputs: s.inputs.into(),
            output: s.output.into(),
        })
        .collect())
}

/// The prefix and counter of a server-made request id, `{prefix}-{counter:010x}-{tag}` as
/// gyre-serve writes it (lowercase hex, 10 to 15 counter digits, a tag of 16 that makes the id
/// unguessable), or `{prefix}-{counter:010x}` as it wrote them before; None for any other id.
/// A client's id of that shape is treated the same way, which is harmless: lookups parse it
/// alike, and a segment's records are matched on the whole id.
pub(crate) fn server_id(id: &str) -> Option<(&str, i64)> {
    let hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let (head, tail) = id.rsplit_once('-')?;
    let (prefix, n) = match head.rsplit_once('-') {
        Some((p, n)) if tail.len() == 16 && hex(tail) => (p, n),
        _ => (head, tail),
    };
    if prefix.is_empty() || prefix.len() > 64 || !hex(prefix) {
        return None;
    }
    if !(10..=15).contains(&n.len()) || !hex(n) {
        return None;
    }
    i64::from_str_radix(n, 16).ok().map(|n| (prefix, n))
}

/// Records bound for one segment: one model, and one server prefix (None: other ids).
struct Segment<'a> {
    model: &'a str,
    prefix: Option<&'a str>,
    records: Vec<&'a PredictionRecord>,
}

/// Counters of one segment share their bits above these, so a segment's span stays under
/// 2^16 whatever ids a client sends (a far counter under the server's prefix would otherwise
/// widen every later lookup of that prefix to the whole log).
const BUCKET_BITS: u32 = 16;

/// A batch cut into segments of at most [`SEGMENT`] records of one model, prefix and counter
/// bucket, each in the batch's order: full ones as they fill, then the unfilled ones.
fn segments(records: &[PredictionRecord]) -> Vec<Segment<'_>> {
    let mut open: Vec<Option<Segment>> = Vec::new();
    let mut slot: HashMap<(&str, Option<&str>, i64), usize> = HashMap::new();
    let mut done = Vec::new();
    for r in records {
        let id = server_id(&r.request_id);
        let bucket = id.map_or(0, |(_, n)| n >> BUCKET_BITS);
        let prefix = id.map(|(p, _)| p);
        let i = *slot
            .entry((r.model.as_str(), prefix, bucket))
            .or_insert_with(|| {
                open.push(None);
                open.len() - 1
            });
        let seg = open[i].get_or_insert_with(|| Segment {
            model: &r.model,
            prefix,
            records: Vec::with_capacity(records.len().min(SEGMENT)),
        });
        seg.records.push(r);
        if seg.records.len() == SEGMENT {
            done.extend(open[i].take());
        }
    }
    done.extend(open.into_iter().flatten());
    done
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

/// The INSERT for `rows` rows of `head` (`INSERT INTO table (columns)`) followed by `tail`,
/// built once per size and kept.
fn insert_sql(
    cache: &'static std::sync::OnceLock<Vec<String>>,
    ph: crate::runs::Placeholder,
    head: &str,
    cols: usize,
    rows: usize,
    tail: &str,
) -> &'static str {
    let all = cache.get_or_init(|| {
        SIZES
            .iter()
            .map(|&n| format!("{head} VALUES {} {tail}", crate::runs::tuples(ph, n, cols)))
            .collect()
    });
    let i = SIZES
        .iter()
        .position(|&n| n == rows)
        .expect("a chunk has one of SIZES rows");
    &all[i]
}

/// `head` followed by a list of `rows` placeholders (`... IN (?, ?, ?)`), built once per size of
/// [`SIZES`] and kept.
fn in_sql(
    cache: &'static std::sync::OnceLock<Vec<String>>,
    ph: crate::runs::Placeholder,
    head: &str,
    rows: usize,
) -> &'static str {
    let all = cache.get_or_init(|| {
        SIZES
            .iter()
            .map(|&n| {
                format!(
                    "{head} ({})",
                    (1..=n).map(ph).collect::<Vec<_>>().join(", ")
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

/// The key a record is logged once under.
type Key = (String, i64, String);

fn key(r: &PredictionRecord) -> Key {
    (r.request_id.clone(), r.row_index, r.role.clone())
}

macro_rules! impl_prediction_log {
    ($store:ty, $db:ty, $ph:expr, $lock:expr, $begin:expr) => {
        impl $store {
            /// A row of the per-row `predictions` table of before segments.
            fn record_from(r: &<$db as sqlx::Database>::Row) -> Result<PredictionRecord> {
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
            }

            /// A transaction for a join pass. On SQLite it takes the write lock at once: a
            /// pass reads before it writes, and a read transaction that another writer has
            /// overtaken cannot become a write one (SQLITE_BUSY, which no timeout waits out).
            pub(crate) async fn begin_join(&self) -> Result<sqlx::Transaction<'static, $db>> {
                Ok(self.pool.begin_with($begin).await?)
            }

            /// Writes one segment. Records of other ids than the server's get a key row each;
            /// those whose key is taken (logged before) are left out.
            async fn write_segment(
                conn: &mut <$db as sqlx::Database>::Connection,
                seg: &Segment<'_>,
            ) -> Result<()> {
                const INSERT: &str = "INSERT INTO prediction_segments \
                    (model, prefix, lo, hi, span, n, body) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                    RETURNING id";
                let Some(prefix) = seg.prefix else {
                    let id: i64 = sqlx::query(INSERT)
                        .bind(seg.model)
                        .bind("")
                        .bind(0_i64)
                        .bind(0_i64)
                        .bind(0_i64)
                        .bind(0_i64)
                        .bind(Vec::<u8>::new())
                        .fetch_one(&mut *conn)
                        .await?
                        .try_get("id")?;
                    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
                    let mut fresh: HashSet<Key> = HashSet::new();
                    for chunk in chunked(&seg.records) {
                        let sql = insert_sql(
                            &SQL,
                            $ph,
                            "INSERT INTO prediction_keys (request_id, row_index, role, segment)",
                            4,
                            chunk.len(),
                            "ON CONFLICT DO NOTHING RETURNING request_id, row_index, role",
                        );
                        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                        for r in chunk {
                            q = q.bind(&r.request_id).bind(r.row_index).bind(&r.role).bind(id);
                        }
                        for row in q.fetch_all(&mut *conn).await? {
                            fresh.insert((
                                row.try_get("request_id")?,
                                row.try_get("row_index")?,
                                row.try_get("role")?,
                            ));
                        }
                    }
                    // The first record of each new key is kept.
                    let kept: Vec<&PredictionRecord> = seg
                        .records
                        .iter()
                        .copied()
                        .filter(|r| fresh.remove(&key(r)))
                        .collect();
                    if kept.is_empty() {
                        sqlx::query("DELETE FROM prediction_segments WHERE id = $1")
                            .bind(id)
                            .execute(&mut *conn)
                            .await?;
                    } else {
                        sqlx::query("UPDATE prediction_segments SET n = $1, body = $2 WHERE id = $3")
                            .bind(kept.len() as i64)
                            .bind(encode(&kept)?)
                            .bind(id)
                            .execute(&mut *conn)
                            .await?;
                    }
                    return Ok(());
                };
                let counters = seg
                    .records
                    .iter()
                    .filter_map(|r| server_id(&r.request_id).map(|(_, n)| n));
                let (lo, hi) = counters.fold((i64::MAX, i64::MIN), |(lo, hi), n| {
                    (lo.min(n), hi.max(n))
                });
                sqlx::query(INSERT)
                    .bind(seg.model)
                    .bind(prefix)
                    .bind(lo)
                    .bind(hi)
                    .bind(hi - lo)
                    .bind(seg.records.len() as i64)
                    .bind(encode(&seg.records)?)
                    .fetch_one(&mut *conn)
                    .await?;
                Ok(())
            }

            /// Every logged record of these requests, each (request, row, role) once, as first
            /// logged: `predictions` (written before segments) first, then the segments in the
            /// order they were written.
            async fn records_of(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                ids: &[&str],
            ) -> Result<Vec<PredictionRecord>> {
                use std::sync::atomic::Ordering;
                let mut out = Vec::new();
                if !self.no_legacy_log.load(Ordering::Relaxed) {
                    let legacy: i64 = sqlx::query(
                        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM predictions LIMIT 1) t",
                    )
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get("n")?;
                    if legacy == 0 {
                        self.no_legacy_log.store(true, Ordering::Relaxed);
                    }
                    for id in ids.iter().filter(|_| legacy > 0) {
                        let rows = sqlx::query(
                            "SELECT request_id, row_index, role, ts_ms, model, version, inputs, \
                             output FROM predictions WHERE request_id = $1 ORDER BY row_index, role",
                        )
                        .bind(*id)
                        .fetch_all(&mut *conn)
                        .await?;
                        for r in &rows {
                            out.push(Self::record_from(r)?);
                        }
                    }
                }
                let wanted: HashSet<&str> = ids.iter().copied().collect();
                // Decoded segments by id, to be read in the order they were written.
                let mut segs: std::collections::BTreeMap<i64, Vec<PredictionRecord>> =
                    Default::default();
                // Server ids: the counters of one prefix, sorted, in runs no more than GAP
                // apart; one query a run. A segment holding counter n has lo <= n <= hi, and
                // hi - lo <= the prefix's largest span: an index range on (prefix, lo).
                const GAP: i64 = 4096;
                let mut counters: HashMap<&str, Vec<i64>> = HashMap::new();
                let mut others: Vec<&str> = Vec::new();
                for id in ids {
                    match server_id(id) {
                        Some((prefix, n)) => counters.entry(prefix).or_default().push(n),
                        None => others.push(id),
                    }
                }
                for (prefix, mut ns) in counters {
                    ns.sort_unstable();
                    ns.dedup();
                    for run in ns.chunk_by(|a, b| b - a <= GAP) {
                        let (first, last) = (run[0], run[run.len() - 1]);
                        let rows = sqlx::query(
                            "SELECT id, lo, hi, body FROM prediction_segments WHERE prefix = $1 \
                             AND lo >= CAST($2 AS BIGINT) - (SELECT COALESCE(MAX(span), 0) \
                                 FROM prediction_segments WHERE prefix = $1) \
                             AND lo <= $3 AND hi >= $2",
                        )
                        .bind(prefix)
                        .bind(first)
                        .bind(last)
                        .fetch_all(&mut *conn)
                        .await?;
                        for r in rows {
                            let (id, lo, hi): (i64, i64, i64) =
                                (r.try_get("id")?, r.try_get("lo")?, r.try_get("hi")?);
                            // Only a segment that holds one of the run's counters is decoded.
                            let i = run.partition_point(|&n| n < lo);
                            if i < run.len() && run[i] <= hi && !segs.contains_key(&id) {
                                let body: Vec<u8> = r.try_get("body")?;
                                segs.insert(id, decode(&body, |id| wanted.contains(id))?);
                            }
                        }
                    }
                }
                // Other ids: their segments through the key rows.
                let mut keyed: BTreeSet<i64> = BTreeSet::new();
                static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
                for chunk in chunked(&others) {
                    let sql = in_sql(
                        &SQL,
                        $ph,
                        "SELECT DISTINCT segment AS id FROM prediction_keys WHERE request_id IN",
                        chunk.len(),
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    for r in q.fetch_all(&mut *conn).await? {
                        keyed.insert(r.try_get("id")?);
                    }
                }
                for seg in keyed {
                    let body: Vec<u8> =
                        sqlx::query("SELECT body FROM prediction_segments WHERE id = $1")
                            .bind(seg)
                            .fetch_one(&mut *conn)
                            .await?
                            .try_get("body")?;
                    segs.insert(seg, decode(&body, |id| wanted.contains(id))?);
                }
                out.extend(segs.into_values().flatten());
                let mut seen: HashSet<Key> = HashSet::new();
                out.retain(|r| seen.insert(key(r)));
                Ok(out)
            }

            /// Joins the pending labels stored at or after `since` to their logged
            /// predictions (every role), in label order, then marks the joined labels.
            /// `ON CONFLICT DO NOTHING` keeps a row that two passes both join once.
            pub(crate) async fn join_labels(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                since: i64,
            ) -> Result<u64> {
                let pending = sqlx::query(
                    "SELECT request_id, row_index, label, ts_ms FROM feedback \
                     WHERE joined = 0 AND ts_ms >= $1 ORDER BY ts_ms, request_id, row_index",
                )
                .bind(since)
                .fetch_all(&mut *conn)
                .await?;
                if pending.is_empty() {
                    return Ok(0);
                }
                let labels = pending
                    .iter()
                    .map(|r| {
                        Ok(FeedbackRecord {
                            request_id: r.try_get("request_id")?,
                            row_index: r.try_get("row_index")?,
                            label: r.try_get("label")?,
                            ts_ms: r.try_get("ts_ms")?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let mut ids: Vec<&str> = labels.iter().map(|l| l.request_id.as_str()).collect();
                ids.sort_unstable();
                ids.dedup();
                let mut records = self.records_of(conn, &ids).await?;
                records.sort_by(|a, b| a.role.cmp(&b.role));
                let mut by_row: HashMap<(&str, i64), Vec<&PredictionRecord>> = HashMap::new();
                for p in &records {
                    by_row.entry((&p.request_id, p.row_index)).or_default().push(p);
                }
                let joined: Vec<(&FeedbackRecord, &PredictionRecord)> = labels
                    .iter()
                    .flat_map(|l| {
                        by_row
                            .get(&(l.request_id.as_str(), l.row_index))
                            .into_iter()
                            .flatten()
                            .map(move |p| (l, *p))
                    })
                    .collect();
                static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
                let mut added = 0;
                for chunk in chunked(&joined) {
                    let sql = insert_sql(
                        &SQL,
                        $ph,
                        "INSERT INTO labelled (request_id, row_index, role, model, version, \
                         predicted_ms, labelled_ms, output, label, inputs)",
                        10,
                        chunk.len(),
                        "ON CONFLICT DO NOTHING",
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for (l, p) in chunk {
                        q = q
                            .bind(&p.request_id)
                            .bind(p.row_index)
                            .bind(&p.role)
                            .bind(&p.model)
                            .bind(p.version)
                            .bind(p.ts_ms)
                            .bind(l.ts_ms)
                            .bind(&p.output)
                            .bind(&l.label)
                            .bind(&p.inputs);
                    }
                    added += q.execute(&mut *conn).await?.rows_affected();
                }
                sqlx::query(crate::monitor::MARK)
                    .bind(since)
                    .execute(&mut *conn)
                    .await?;
                Ok(added)
            }
        }

        #[async_trait]
        impl PredictionLog for $store {
            async fn log_predictions(&self, records: &[PredictionRecord]) -> Result<()> {
                if records.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin().await?;
                for seg in segments(records) {
                    Self::write_segment(&mut tx, &seg).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn add_feedback(
                &self,
                labels: &[FeedbackRecord],
                unknown: UnknownLabels,
            ) -> Result<LabelOutcome> {
                static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
                let mut tx = self.pool.begin().await?;
                if unknown.drop_before_ms > 0 {
                    sqlx::query("DELETE FROM feedback WHERE joined = 0 AND ts_ms < $1")
                        .bind(unknown.drop_before_ms)
                        .execute(&mut *tx)
                        .await?;
                }
                let mut added = 0;
                for chunk in chunked(labels) {
                    let sql = insert_sql(
                        &SQL,
                        $ph,
                        "INSERT INTO feedback (request_id, row_index, label, ts_ms)",
                        4,
                        chunk.len(),
                        "ON CONFLICT DO NOTHING",
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for r in chunk {
                        q = q.bind(&r.request_id).bind(r.row_index).bind(&r.label).bind(r.ts_ms);
                    }
                    added += q.execute(&mut *tx).await?.rows_affected();
                }
                let mut outcome = LabelOutcome {
                    stored: added,
                    duplicates: labels.len() as u64 - added,
                    ..LabelOutcome::default()
                };
                // Join the new labels to predictions already logged (see crate::monitor).
                let Some(since) = labels.iter().map(|l| l.ts_ms).min() else {
                    tx.commit().await?;
                    return Ok(outcome);
                };
                if !$lock.is_empty() {
                    sqlx::query($lock).execute(&mut *tx).await?;
                }
                self.join_labels(&mut tx, since).await?;
                // This batch's labels that met no prediction.
                let batch: HashSet<(&str, i64, &str)> = labels
                    .iter()
                    .map(|l| (l.request_id.as_str(), l.row_index, l.label.as_str()))
                    .collect();
                let waiting = sqlx::query(
                    "SELECT request_id, row_index, label FROM feedback \
                     WHERE joined = 0 AND ts_ms >= $1 ORDER BY ts_ms, request_id, row_index",
                )
                .bind(since)
                .fetch_all(&mut *tx)
                .await?;
                for r in &waiting {
                    let (id, row, label): (String, i64, String) =
                        (r.try_get("request_id")?, r.try_get("row_index")?, r.try_get("label")?);
                    if batch.contains(&(id.as_str(), row, label.as_str())) {
                        outcome.unknown.push((id, row));
                    }
                }
                if !outcome.unknown.is_empty() && unknown.max < u64::MAX {
                    let row = sqlx::query("SELECT COUNT(*) AS n FROM feedback WHERE joined = 0")
                        .fetch_one(&mut *tx)
                        .await?;
                    let over = (row.try_get::<i64, _>("n")? as u64).saturating_sub(unknown.max);
                    let cut = (over as usize).min(outcome.unknown.len());
                    let refused = outcome.unknown.split_off(outcome.unknown.len() - cut);
                    for (id, row) in &refused {
                        sqlx::query(
                            "DELETE FROM feedback WHERE request_id = $1 AND row_index = $2 \
                             AND joined = 0",
                        )
                        .bind(id)
                        .bind(row)
                        .execute(&mut *tx)
                        .await?;
                    }
                    outcome.stored -= refused.len() as u64;
                    outcome.refused = refused;
                }
                tx.commit().await?;
                Ok(outcome)
            }

            async fn correct_labels(&self, labels: &[FeedbackRecord], user: &str) -> Result<u64> {
                let mut tx = self.pool.begin().await?;
                if !$lock.is_empty() {
                    sqlx::query($lock).execute(&mut *tx).await?;
                }
                let mut changed = 0;
                let mut since = None::<i64>;
                for l in labels {
                    let old: Option<String> = sqlx::query(
                        "SELECT label FROM feedback WHERE request_id = $1 AND row_index = $2",
                    )
                    .bind(&l.request_id)
                    .bind(l.row_index)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| r.try_get("label"))
                    .transpose()?;
                    match old {
                        None => {
                            sqlx::query(
                                "INSERT INTO feedback (request_id, row_index, label, ts_ms) \
                                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                            )
                            .bind(&l.request_id)
                            .bind(l.row_index)
                            .bind(&l.label)
                            .bind(l.ts_ms)
                            .execute(&mut *tx)
                            .await?;
                            since = Some(since.map_or(l.ts_ms, |s| s.min(l.ts_ms)));
                        }
                        Some(old) if old == l.label => {}
                        Some(old) => {
                            for sql in [
                                "UPDATE feedback SET label = $1 WHERE request_id = $2 AND row_index = $3",
                                "UPDATE labelled SET label = $1 WHERE request_id = $2 AND row_index = $3",
                            ] {
                                sqlx::query(sql)
                                    .bind(&l.label)
                                    .bind(&l.request_id)
                                    .bind(l.row_index)
                                    .execute(&mut *tx)
                                    .await?;
                            }
                            sqlx::query(
                                "INSERT INTO label_corrections \
                                 (request_id, row_index, old_label, new_label, username, at_ms) \
                                 VALUES ($1, $2, $3, $4, $5, $6)",
                            )
                            .bind(&l.request_id)
                            .bind(l.row_index)
                            .bind(&old)
                            .bind(&l.label)
                            .bind(user)
                            .bind(l.ts_ms)
                            .execute(&mut *tx)
                            .await?;
                            changed += 1;
                        }
                    }
                }
                if let Some(since) = since {
                    self.join_labels(&mut tx, since).await?;
                }
                tx.commit().await?;
                Ok(changed)
            }

            async fn label_corrections(&self, request_id: &str) -> Result<Vec<LabelCorrection>> {
                let rows = sqlx::query(
                    "SELECT request_id, row_index, old_label, new_label, username, at_ms \
                     FROM label_corrections WHERE request_id = $1 ORDER BY id",
                )
                .bind(request_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(LabelCorrection {
                            request_id: r.try_get("request_id")?,
                            row_index: r.try_get("row_index")?,
                            old_label: r.try_get("old_label")?,
                            new_label: r.try_get("new_label")?,
                            user: r.try_get("username")?,
                            at_ms: r.try_get("at_ms")?,
                        })
                    })
                    .collect()
            }

            async fn predictions_of(&self, request_id: &str) -> Result<Vec<PredictionRecord>> {
                let mut conn = self.pool.acquire().await?;
                let mut got = self.records_of(&mut conn, &[request_id]).await?;
                got.sort_by(|a, b| (a.row_index, &a.role).cmp(&(b.row_index, &b.role)));
                Ok(got)
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

            async fn prediction_page(
                &self,
                model: &str,
                after: i64,
                limit: usize,
            ) -> Result<(Vec<PredictionRecord>, Option<i64>)> {
                let mut out = Vec::new();
                if after == 0 {
                    let rows = sqlx::query(
                        "SELECT request_id, row_index, role, ts_ms, model, version, inputs, \
                         output FROM predictions WHERE model = $1 \
                         ORDER BY ts_ms, request_id, row_index, role",
                    )
                    .bind(model)
                    .fetch_all(&self.pool)
                    .await?;
                    for r in &rows {
                        out.push(Self::record_from(r)?);
                    }
                }
                // Segments a few at a time: under light traffic a segment holds few records.
                const SEGMENTS: i64 = 16;
                let mut cursor = after;
                loop {
                    let rows = sqlx::query(
                        "SELECT id, body FROM prediction_segments WHERE model = $1 AND id > $2 \
                         ORDER BY id LIMIT $3",
                    )
                    .bind(model)
                    .bind(cursor)
                    .bind(SEGMENTS)
                    .fetch_all(&self.pool)
                    .await?;
                    let more = rows.len() as i64 == SEGMENTS;
                    for r in &rows {
                        cursor = r.try_get("id")?;
                        let body: Vec<u8> = r.try_get("body")?;
                        out.extend(decode(&body, |_| true)?);
                    }
                    if !more {
                        return Ok((out, None));
                    }
                    if out.len() >= limit {
                        return Ok((out, Some(cursor)));
                    }
                }
            }

            async fn prediction_count(&self, model: &str) -> Result<u64> {
                let row = sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM predictions WHERE model = $1) \
                     + (SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM prediction_segments \
                        WHERE model = $1) AS n",
                )
                .bind(model)
                .fetch_one(&self.pool)
                .await?;
                Ok(row.try_get::<i64, _>("n")? as u64)
            }
        }
    };
}

impl_prediction_log!(
    SqliteStore,
    sqlx::Sqlite,
    crate::runs::positional,
    "",
    "BEGIN IMMEDIATE"
);
impl_prediction_log!(
    PgStore,
    sqlx::Postgres,
    crate::runs::numbered,
    crate::monitor::PG_LOCK,
    "BEGIN"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MetaStore, Monitoring};

    fn rec(id: &str, row: i64, role: &str, model: &str) -> PredictionRecord {
        PredictionRecord {
            request_id: id.into(),
            row_index: row,
            role: role.into(),
            ts_ms: 7,
            model: model.into(),
            version: 1,
            inputs: format!("{{\"x\":{row}}}"),
            output: "{\"label\":\"a\"}".into(),
        }
    }

    #[test]
    fn server_ids_are_told_from_other_ids() {
        assert_eq!(
            server_id("4444ddff6fbc-0000000001"),
            Some(("4444ddff6fbc", 1))
        );
        assert_eq!(server_id("ab-0000fffffffffff"), Some(("ab", 0xfffffffffff)));
        assert_eq!(server_id("a-b-00000000ff"), None, "prefix must be hex");
        assert_eq!(
            server_id("4444ddff6fbc-0000000001-0123456789abcdef"),
            Some(("4444ddff6fbc", 1)),
            "tagged ids"
        );
        assert_eq!(server_id("4444ddff6fbc-0000000001-0123"), None, "short tag");
        for other in [
            "req-1",
            "0000000001",
            "-0000000001",
            "abc-000000001",
            "abc-00000000001234567",
            "abc-00000000AB",
            "ABC-0000000001",
            "abc-000000001g",
            "",
        ] {
            assert_eq!(server_id(other), None, "{other}");
        }
    }

    #[test]
    fn segments_round_trip_and_bad_bodies_are_errors() {
        let records: Vec<_> = (0..40)
            .map(|i| rec(&format!("r{}", i % 7), i, "champion", "m"))
            .collect();
        let refs: Vec<&PredictionRecord> = records.iter().collect();
        let body = encode(&refs).unwrap();
        assert_eq!(decode(&body, |_| true).unwrap(), records);
        let some = decode(&body, |id| id == "r3").unwrap();
        assert_eq!(some.len(), 6);
        assert!(some.iter().all(|r| r.request_id == "r3"));
        // Empty, an unknown format, a cut block, and an empty block (no bytes is not a list).
        for bad in [
            &[][..],
            &[9, 1, 2],
            &body[..body.len() / 2],
            &[FORMAT, 0, 0, 0, 0],
        ] {
            let msg = decode(bad, |_| true).unwrap_err().to_string();
            assert!(msg.contains("prediction segment"), "{msg}");
        }
    }

    #[test]
    fn batches_are_cut_by_model_prefix_and_size() {
        let p = |n: u64| format!("abcdef-{n:010x}");
        let mut batch = Vec::new();
        for n in 0..1100u64 {
            batch.push(rec(&p(n), 0, "champion", "m"));
            if n % 100 == 0 {
                batch.push(rec(&format!("client-{n}"), 0, "champion", "m"));
                batch.push(rec(&p(n), 0, "champion", "other"));
            }
        }
        let segs = segments(&batch);
        let shape: Vec<(&str, Option<&str>, usize)> = segs
            .iter()
            .map(|s| (s.model, s.prefix, s.records.len()))
            .collect();
        assert_eq!(
            shape,
            [
                ("m", Some("abcdef"), 512),
                ("m", Some("abcdef"), 512),
                ("m", Some("abcdef"), 76),
                ("m", None, 11),
                ("other", Some("abcdef"), 11),
            ]
        );
        let total: usize = segs.iter().map(|s| s.records.len()).sum();
        assert_eq!(total, batch.len());
        // A far counter under the same prefix gets a segment of its own.
        let far = [
            rec(&p(1), 0, "champion", "m"),
            rec(&p(0xff_ffff_ffff), 0, "champion", "m"),
            rec(&p(2), 0, "champion", "m"),
        ];
        let spans: Vec<usize> = segments(&far).iter().map(|s| s.records.len()).collect();
        assert_eq!(spans, [2, 1]);
        assert!(
            segs[0]
                .records
                .windows(2)
                .all(|w| w[0].request_id < w[1].request_id)
        );
    }

    /// Rows logged to `predictions` before segments are still read, joined and counted, and
    /// win over a later record of the same key.
    #[tokio::test]
    async fn the_table_before_segments_is_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("gyre.db"))
            .await
            .unwrap();
        let old = rec("old-1", 0, "champion", "m");
        sqlx::query(
            "INSERT INTO predictions (request_id, row_index, role, ts_ms, model, version, \
             inputs, output) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&old.request_id)
        .bind(old.row_index)
        .bind(&old.role)
        .bind(old.ts_ms)
        .bind(&old.model)
        .bind(old.version)
        .bind(&old.inputs)
        .bind(&old.output)
        .execute(&store.pool)
        .await
        .unwrap();
        let mut newer = rec("old-1", 0, "champion", "m");
        newer.output = "{\"label\":\"b\"}".into();
        let shadow = rec("old-1", 0, "shadow", "m");
        store
            .log_predictions(&[newer, shadow.clone()])
            .await
            .unwrap();
        assert_eq!(
            store.predictions_of("old-1").await.unwrap(),
            [old.clone(), shadow]
        );
        assert_eq!(store.prediction_count("m").await.unwrap(), 3);
        let (page, next) = store.prediction_page("m", 0, 10).await.unwrap();
        assert_eq!((page.len(), next), (3, None));
        assert_eq!(page[0], old, "the table before segments comes first");
        let label = FeedbackRecord {
            request_id: "old-1".into(),
            row_index: 0,
            label: "a".into(),
            ts_ms: 9,
        };
        assert_eq!(
            store
                .add_feedback(&[label], crate::UnknownLabels::UNBOUNDED)
                .await
                .unwrap()
                .stored,
            1
        );
        let joined = store.labelled_after("m", "champion", 0, 10).await.unwrap();
        assert_eq!(joined[0].output, old.output);
        // A labelled row joined before labelled kept inputs reads them from `predictions`.
        sqlx::query("UPDATE labelled SET inputs = NULL")
            .execute(&store.pool)
            .await
            .unwrap();
        let inputs = store.labelled_inputs("m", 0, 10).await.unwrap();
        assert_eq!(inputs.len(), 1);
        assert_eq!(inputs[0].2, old.inputs);
        assert_eq!(store.backend(), "sqlite");
    }

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
