//! Tracking benchmark (issue 4): metric ingest into SQLite, and listing/filtering 100,000
//! runs. `cargo run --release -p gyre-store --example tracking` (bench/tracking.sh).

use gyre_core::runfilter::{RunFilter, RunOrder};
use gyre_core::{MetricPoint, NewRun, RunId};
use gyre_store::open_meta_store;
use std::time::Instant;

fn id(n: u64) -> RunId {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&n.to_be_bytes());
    b[8] = 0x5a;
    RunId::from_random(b)
}

fn run(n: u64) -> NewRun {
    NewRun {
        id: id(n),
        name: "train".into(),
        parent: None,
        started_ms: n as i64,
        user: "bench".into(),
        host: "bench".into(),
        pid: 1,
        pid_start: 1,
        git_commit: None,
        git_dirty: false,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gyre.db").display());
    let store = open_meta_store(&url).await.unwrap();

    // Ingest: 1,000,000 distinct points into one run, in batches of 10,000 (a run handle's
    // batch).
    store.create_run(&run(0), &[]).await.unwrap();
    let batches: Vec<Vec<(String, MetricPoint)>> = (0..100)
        .map(|b| {
            (0..10_000)
                .map(|i| {
                    let step = b * 10_000 + i;
                    (
                        format!("m{}", i % 10),
                        MetricPoint {
                            step,
                            timestamp_ms: step,
                            value: step as f64 * 0.5,
                        },
                    )
                })
                .collect()
        })
        .collect();
    let t = Instant::now();
    for batch in &batches {
        store.log_metrics(&id(0), batch).await.unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "ingest: 1,000,000 points in {secs:.2} s = {:.0} points/s",
        1e6 / secs
    );

    // 100,000 runs, each with 2 params and 2 metrics.
    let t = Instant::now();
    for n in 1..=100_000u64 {
        store.create_run(&run(n), &[]).await.unwrap();
    }
    let created = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for n in 1..=100_000u64 {
        let algo = if n % 3 == 0 {
            "random_forest"
        } else {
            "logistic"
        };
        store
            .log_params(
                &id(n),
                &[
                    ("algorithm".into(), algo.into()),
                    ("trees".into(), (n % 500).to_string()),
                ],
            )
            .await
            .unwrap();
        let f1 = (n % 1000) as f64 / 1000.0;
        let points = [
            (
                "f1".to_string(),
                MetricPoint {
                    step: 0,
                    timestamp_ms: 0,
                    value: f1,
                },
            ),
            (
                "auc".to_string(),
                MetricPoint {
                    step: 0,
                    timestamp_ms: 0,
                    value: 1.0 - f1 / 2.0,
                },
            ),
        ];
        store.log_metrics(&id(n), &points).await.unwrap();
    }
    println!(
        "setup: 100,000 runs created in {created:.1} s, params and metrics logged in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let cases: [(&str, &str, Option<&str>, u64); 4] = [
        ("newest 50", "", None, 50),
        (
            "filtered, newest 50",
            "metrics.f1 > 0.8 and params.algorithm = 'random_forest'",
            None,
            50,
        ),
        (
            "filtered, best f1 first, 50",
            "params.algorithm = 'random_forest'",
            Some("metrics.f1 desc"),
            50,
        ),
        (
            "filtered, all matches",
            "metrics.f1 > 0.8 and params.algorithm = 'random_forest'",
            None,
            100_000,
        ),
    ];
    for (label, filter, order, limit) in cases {
        let filter: RunFilter = filter.parse().unwrap();
        let order: RunOrder = order.map(|o| o.parse().unwrap()).unwrap_or_default();
        let mut times = Vec::new();
        let mut found = 0;
        for _ in 0..7 {
            let t = Instant::now();
            found = store
                .search_runs(&filter, &order, limit)
                .await
                .unwrap()
                .len();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!(
            "list {label}: {found} runs, median {:.1} ms of 7",
            median(times)
        );
    }
}
