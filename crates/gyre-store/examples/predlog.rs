//! Prediction-log write cost (issue 6): microseconds per record through `log_predictions` on
//! SQLite, 100 batches of 1,000 single-row records like the serving benchmark's (30 inputs).
//! `cargo run --release -p gyre-store --example predlog [array|object|empty|segment|indexed]`:
//! inputs as the server logs them (a JSON array), as a JSON object with the names, or empty;
//! `segment` and `indexed` measure a design not built yet, for comparison: each batch as one
//! row holding its records as JSON lines, alone or with a small index row per record
//! (request id, row, role → segment), in a database with the store's pragmas.

use gyre_store::{PredictionRecord, open_meta_store};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "array".into());
    if mode == "segment" || mode == "indexed" {
        return segments(mode == "indexed").await;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gyre.db").display());
    let store = open_meta_store(&url).await.unwrap();
    let values: Vec<f64> = (0..30).map(|i| 17.99 + i as f64 * 0.731).collect();
    let inputs = match mode.as_str() {
        "array" => serde_json::to_string(&values).unwrap(),
        "object" => {
            let named: serde_json::Map<String, serde_json::Value> = values
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("mean feature number {i}"), serde_json::json!(v)))
                .collect();
            serde_json::to_string(&named).unwrap()
        }
        "empty" => "[]".into(),
        other => {
            eprintln!("unknown mode `{other}`: array, object or empty");
            std::process::exit(2);
        }
    };
    let output = r#"{"label":"malignant","probabilities":[0.01,0.99]}"#.to_string();
    let mut n = 0u64;
    let mut spent = Duration::ZERO;
    for _ in 0..100 {
        let batch: Vec<PredictionRecord> = (0..1000)
            .map(|_| {
                n += 1;
                PredictionRecord {
                    request_id: format!("abcdef123456-{n:010x}"),
                    row_index: 0,
                    role: "champion".into(),
                    ts_ms: 1,
                    model: "bc".into(),
                    version: 1,
                    inputs: inputs.clone(),
                    output: output.clone(),
                }
            })
            .collect();
        let t = Instant::now();
        store.log_predictions(&batch).await.unwrap();
        spent += t.elapsed();
    }
    println!(
        "{mode} ({} bytes of inputs): {:.2} µs per record",
        inputs.len(),
        spent.as_secs_f64() * 1e6 / n as f64
    );
}

/// One row per batch (its records as JSON lines), optionally with an index row per record.
async fn segments(indexed: bool) {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("segments.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .pragma("cache_size", "-32768")
        .pragma("mmap_size", "268435456");
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::query("CREATE TABLE segments (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "CREATE TABLE ids (request_id TEXT NOT NULL, row_index BIGINT NOT NULL, role TEXT NOT NULL, \
         segment BIGINT NOT NULL, PRIMARY KEY (request_id, row_index, role)) WITHOUT ROWID",
    )
    .execute(&pool)
    .await
    .unwrap();
    let values: Vec<f64> = (0..30).map(|i| 17.99 + i as f64 * 0.731).collect();
    let inputs = serde_json::to_string(&values).unwrap();
    let output = r#"{"label":"malignant","probabilities":[0.01,0.99]}"#;
    let index_sql = format!(
        "INSERT INTO ids (request_id, row_index, role, segment) VALUES {} ON CONFLICT DO NOTHING",
        vec!["(?, 0, 'champion', ?)"; 250].join(", ")
    );
    let mut n = 0u64;
    let mut spent = Duration::ZERO;
    for _ in 0..100 {
        let ids: Vec<String> = (0..1000)
            .map(|_| {
                n += 1;
                format!("abcdef123456-{n:010x}")
            })
            .collect();
        let t = Instant::now();
        let mut body = Vec::with_capacity(1000 * 400);
        for id in &ids {
            body.extend_from_slice(
                format!(
                    "{{\"request_id\":\"{id}\",\"row_index\":0,\"role\":\"champion\",\"ts_ms\":1,\"model\":\"bc\",\"version\":1,\"inputs\":{inputs},\"output\":{output}}}\n"
                )
                .as_bytes(),
            );
        }
        let mut tx = pool.begin().await.unwrap();
        let segment: i64 =
            sqlx::query_scalar("INSERT INTO segments (body) VALUES (?) RETURNING id")
                .bind(body)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
        if indexed {
            for chunk in ids.chunks(250) {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(index_sql.as_str()));
                for id in chunk {
                    q = q.bind(id).bind(segment);
                }
                q.execute(&mut *tx).await.unwrap();
            }
        }
        tx.commit().await.unwrap();
        spent += t.elapsed();
    }
    println!(
        "{}: {:.2} µs per record",
        if indexed {
            "indexed segments"
        } else {
            "segments"
        },
        spent.as_secs_f64() * 1e6 / n as f64
    );
}
