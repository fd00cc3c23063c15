//! `search_runs` through the MLflow API over 100,000 runs (issue 16): a project whose runs
//! belong to the Default experiment, each with 2 params and 2 metrics, served by
//! `serve_tracking`; each search is timed from the client on loopback (median of 7), which
//! bounds the server's time from above. `bench/mlflow_search.sh` runs it.

mod common;

use common::{median, run};
use gyre_core::MetricPoint;
use std::sync::Arc;
use std::time::Instant;

const RUNS: u64 = 100_000;

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    gyre_ops::init(dir.path(), Some("bench")).await.unwrap();
    let project = Arc::new(gyre_ops::Project::open(dir.path()).await.unwrap());
    let t = Instant::now();
    // The experiment tag is how the MLflow layer files a run under an experiment.
    let tags = [("gyre.experiment".to_string(), "0".to_string())];
    for n in 1..=RUNS {
        let r = run(n);
        project.meta.create_run(&r, &tags).await.unwrap();
        let algorithm = if n % 3 == 0 {
            "random_forest"
        } else {
            "logistic"
        };
        let params = [
            ("algorithm".to_string(), algorithm.to_string()),
            ("seed".to_string(), (n % 10).to_string()),
        ];
        let point = |v: f64| MetricPoint {
            step: 0,
            timestamp_ms: n as i64,
            value: v,
        };
        let f1 = (n % 1000) as f64 / 1000.0;
        let metrics = [
            ("f1".to_string(), point(f1)),
            ("loss".to_string(), point(1.0 - f1)),
        ];
        project
            .meta
            .log_batch(&r.id, &params, &[], &metrics)
            .await
            .unwrap();
    }
    println!("{RUNS} runs stored in {:.1} s", t.elapsed().as_secs_f64());

    let (addr, stop) = common::serve(project.clone()).await;
    let url = format!("http://{addr}/api/2.0/mlflow/runs/search");
    let cases = [
        (
            "filter, order by metrics.f1, 100",
            "metrics.f1 > 0.8 and params.algorithm = 'random_forest'",
            Some("metrics.f1 DESC"),
            100,
        ),
        (
            "filter, order by metrics.f1, 1,000",
            "metrics.f1 > 0.8 and params.algorithm = 'random_forest'",
            Some("metrics.f1 DESC"),
            1000,
        ),
        (
            "filter, newest first, 100",
            "metrics.f1 > 0.8 and params.algorithm = 'random_forest'",
            None,
            100,
        ),
        (
            "like on a param, 100",
            "params.algorithm LIKE 'random%'",
            None,
            100,
        ),
        ("no filter, newest 1,000", "", None, 1000),
    ];
    for (what, filter, order, max) in cases {
        let body = serde_json::json!({
            "experiment_ids": ["0"],
            "filter": filter,
            "order_by": order.map(|o| vec![o]).unwrap_or_default(),
            "max_results": max,
        });
        let url = url.clone();
        let (ms, found) = tokio::task::spawn_blocking(move || {
            let mut times = Vec::new();
            let mut found = 0;
            for _ in 0..7 {
                let t = Instant::now();
                let v: serde_json::Value = ureq::post(&url)
                    .send_json(&body)
                    .unwrap()
                    .body_mut()
                    .read_json()
                    .unwrap();
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                found = v["runs"].as_array().map_or(0, Vec::len);
            }
            (median(times), found)
        })
        .await
        .unwrap();
        println!("search_runs, {what}: {ms:.1} ms (median of 7), {found} runs returned");
    }
    let _ = stop.send(());
}
