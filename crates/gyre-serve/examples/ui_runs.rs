//! The web UI's runs table over 100,000 runs with 20 params and 20 metrics each (issue 18):
//! stores them (once, in `GYRE_BENCH_DIR` when set, so a second run skips it), serves them
//! with `serve_tracking`, and times the API calls the table makes from a client on loopback
//! (median of 7; an upper bound on the server's time). With `--serve` it then keeps serving,
//! printing `serving on ADDR`, for `bench/ui.sh` to time the page in headless Chromium.

mod common;

use common::{median, run};
use gyre_core::MetricPoint;
use std::sync::Arc;
use std::time::Instant;

const RUNS: u64 = 100_000;
const KEYS: usize = 20;
/// The run with the long curve.
const LONG: u64 = RUNS + 1;

/// A stable pseudo-random value in [0, 1) for run `n`, key `k`.
fn unit(n: u64, k: usize) -> f64 {
    let mut x =
        n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (k as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 29;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[tokio::main]
async fn main() {
    let serve_after = std::env::args().any(|a| a == "--serve");
    let temp;
    let dir = match std::env::var_os("GYRE_BENCH_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            temp = tempfile::tempdir().unwrap();
            temp.path().to_path_buf()
        }
    };
    let fresh = !dir.join("gyre.toml").exists();
    if fresh {
        std::fs::create_dir_all(&dir).unwrap();
        gyre_ops::init(&dir, Some("bench")).await.unwrap();
    }
    let project = Arc::new(gyre_ops::Project::open(&dir).await.unwrap());
    if fresh {
        let t = Instant::now();
        for n in 1..=RUNS {
            let r = run(n);
            project.meta.create_run(&r, &[]).await.unwrap();
            let params: Vec<(String, String)> = (0..KEYS)
                .map(|k| {
                    let v = match k {
                        0 => {
                            ["logistic", "random_forest", "boosting"][(n % 3) as usize].to_string()
                        }
                        _ => format!("{}", (unit(n, k + 100) * 10.0).floor()),
                    };
                    (format!("p{k:02}"), v)
                })
                .collect();
            let metrics: Vec<(String, MetricPoint)> = (0..KEYS)
                .map(|k| {
                    (
                        format!("m{k:02}"),
                        MetricPoint {
                            step: 0,
                            timestamp_ms: n as i64,
                            value: unit(n, k),
                        },
                    )
                })
                .collect();
            project
                .meta
                .log_batch(&r.id, &params, &[], &metrics)
                .await
                .unwrap();
            project
                .meta
                .end_run(&r.id, gyre_core::RunStatus::Finished, n as i64 + 1)
                .await
                .unwrap();
            if n % 10_000 == 0 {
                eprintln!("{n} runs stored ({:.0} s)", t.elapsed().as_secs_f64());
            }
        }
        println!(
            "{RUNS} runs with {KEYS} params and {KEYS} metrics stored in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    if project.meta.get_run(&run(LONG).id).await.is_err() {
        // One more run with a 100,000-step curve, for the chart.
        let r = run(LONG);
        project.meta.create_run(&r, &[]).await.unwrap();
        for chunk in 0..10 {
            let points: Vec<(String, MetricPoint)> = (0..10_000)
                .map(|i| {
                    let step = chunk * 10_000 + i;
                    let value = 1.0 / (1.0 + step as f64 / 1e4) + 0.05 * unit(step as u64, 1);
                    (
                        "loss".to_string(),
                        MetricPoint {
                            step,
                            timestamp_ms: step,
                            value,
                        },
                    )
                })
                .collect();
            project.meta.log_metrics(&r.id, &points).await.unwrap();
        }
    }
    let long = run(LONG).id;

    let (addr, stop) = common::serve(project.clone()).await;
    let cases = [
        ("first page (newest 50)", "limit=50"),
        ("sorted by a metric", "order=metrics.m03+desc&limit=50"),
        ("sorted by name", "order=name+asc&limit=50"),
        (
            "filtered on a metric and a param",
            "where=metrics.m01+%3E+0.8+and+params.p00+%3D+%27random_forest%27&limit=50",
        ),
        (
            "filtered and sorted by a metric",
            "where=metrics.m01+%3E+0.8+and+params.p00+%3D+%27random_forest%27&order=metrics.m03+desc&limit=50",
        ),
        ("a page deep in (offset 50,000)", "offset=50000&limit=50"),
    ];
    let series = [
        (
            "a 100,000-step curve, whole",
            format!("runs/{long}/series/loss"),
        ),
        (
            "the same curve, zoomed to 5,000 steps",
            format!("runs/{long}/series/loss?from=40000&to=44999"),
        ),
    ];
    let pages = cases.iter().map(|(w, q)| (*w, format!("runs?{q}")));
    for (what, path) in pages.chain(series.iter().map(|(w, p)| (*w, p.clone()))) {
        let url = format!("http://{addr}/api/{path}");
        let (ms, total, bytes) = tokio::task::spawn_blocking(move || {
            let mut times = Vec::new();
            let (mut total, mut bytes) = (0, 0);
            for _ in 0..7 {
                let t = Instant::now();
                let text = ureq::get(&url)
                    .call()
                    .unwrap()
                    .body_mut()
                    .read_to_string()
                    .unwrap();
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                total = v["total"].as_u64().unwrap_or(0);
                if let Some(points) = v["points"].as_array() {
                    total = points.len() as u64;
                }
                bytes = text.len();
            }
            (median(times), total, bytes)
        })
        .await
        .unwrap();
        println!(
            "{what}: {ms:.1} ms (median of 7), {total} runs match (points sent, for a curve), {bytes} bytes"
        );
    }
    if serve_after {
        println!("the long curve is in run {long}");
        println!("serving on {addr}");
        // Until the script that started it stops it.
        std::future::pending::<()>().await;
    }
    let _ = stop.send(());
}
