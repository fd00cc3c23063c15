//! Prediction-log write cost (issue 6): microseconds and bytes per record through
//! `log_predictions` on SQLite, 100 batches of 1,000 single-row records like the serving
//! benchmark's: the 30 inputs of a breast_cancer row (the rows of `../shared/data`, in turn),
//! as the server logs them, and its output.
//!
//! `cargo run --release -p gyre-store --example predlog [segments|table]`: `segments` (the
//! default) is the store's log; `table` writes the same records one row each into the
//! `predictions` table the log used before segments (in 250-row INSERTs), to compare. After
//! `segments`, it also times the label join: 1,000 labels posted one at a time, then 10,000
//! in one call, for requests spread over the log.

use gyre_store::{PredictionRecord, open_meta_store};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "segments".into());
    if mode != "segments" && mode != "table" {
        eprintln!("unknown mode `{mode}`: segments or table");
        std::process::exit(2);
    }
    let csv = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/breast_cancer/breast_cancer.csv"
    );
    let text = std::fs::read_to_string(csv).unwrap_or_else(|e| {
        eprintln!("reading {csv}: {e}");
        std::process::exit(2);
    });
    // Each row's 30 numbers as the server logs them: a JSON array.
    let rows: Vec<String> = text
        .lines()
        .skip(1)
        .map(|line| {
            let v: Vec<f64> = line
                .split(',')
                .take(30)
                .map(|x| x.parse().expect("a number"))
                .collect();
            serde_json::to_string(&v).unwrap()
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gyre.db");
    let store = open_meta_store(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let table = if mode == "table" {
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
        Some(sqlx::SqlitePool::connect_with(options).await.unwrap())
    } else {
        None
    };
    let mut n = 0u64;
    let mut spent = Duration::ZERO;
    for _ in 0..100 {
        let batch: Vec<PredictionRecord> = (0..1000)
            .map(|_| {
                n += 1;
                let p = (n % 997) as f64 / 997.0;
                PredictionRecord {
                    request_id: format!("abcdef123456-{n:010x}"),
                    row_index: 0,
                    role: "champion".into(),
                    ts_ms: 1_700_000_000_000 + n as i64 / 20,
                    model: "bc".into(),
                    version: 1,
                    inputs: rows[n as usize % rows.len()].clone(),
                    output: format!(
                        r#"{{"label":"{}","probabilities":[{},{}]}}"#,
                        if p < 0.5 { "malignant" } else { "benign" },
                        p,
                        1.0 - p
                    ),
                }
            })
            .collect();
        let t = Instant::now();
        match &table {
            None => store.log_predictions(&batch).await.unwrap(),
            Some(pool) => insert_rows(pool, &batch).await,
        }
        spent += t.elapsed();
    }
    if table.is_none() {
        use gyre_store::FeedbackRecord;
        let label = |i: u64| FeedbackRecord {
            request_id: format!("abcdef123456-{:010x}", 1 + (i * 7919) % n),
            row_index: 0,
            label: "benign".into(),
            ts_ms: 1_800_000_000_000,
        };
        let t = Instant::now();
        for i in 0..1000 {
            store
                .add_feedback(&[label(i)], gyre_store::UnknownLabels::UNBOUNDED)
                .await
                .unwrap();
        }
        let one = t.elapsed();
        let batch: Vec<FeedbackRecord> = (1000..11_000).map(label).collect();
        let t = Instant::now();
        store
            .add_feedback(&batch, gyre_store::UnknownLabels::UNBOUNDED)
            .await
            .unwrap();
        let many = t.elapsed();
        println!(
            "label join: {:.0} µs per label posted alone, {:.1} µs per label in a call of 10,000",
            one.as_secs_f64() * 1e6 / 1000.0,
            many.as_secs_f64() * 1e6 / 10_000.0
        );
    }
    drop(store);
    if let Some(pool) = table {
        pool.close().await;
    }
    let bytes: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    println!(
        "{mode}: {:.2} µs and {:.0} bytes (database and WAL) per record",
        spent.as_secs_f64() * 1e6 / n as f64,
        bytes as f64 / n as f64
    );
}

/// The log before segments: one row per record, in 250-row INSERTs.
async fn insert_rows(pool: &sqlx::SqlitePool, batch: &[PredictionRecord]) {
    let sql = format!(
        "INSERT INTO predictions (request_id, row_index, role, ts_ms, model, version, inputs, \
         output) VALUES {} ON CONFLICT DO NOTHING",
        vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; 250].join(", ")
    );
    let mut tx = pool.begin().await.unwrap();
    for chunk in batch.chunks(250) {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
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
        q.execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
}
