//! Prediction-log write cost (issue 6): microseconds per record through `log_predictions` on
//! SQLite, 100 batches of 1,000 single-row records like the serving benchmark's (30 inputs).
//! `cargo run --release -p gyre-store --example predlog [array|object|empty]`: inputs as the
//! server logs them (a JSON array), as a JSON object with the names, or empty.

use gyre_store::{PredictionRecord, open_meta_store};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "array".into());
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
