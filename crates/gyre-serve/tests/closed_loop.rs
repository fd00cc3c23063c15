//! The closed loop, end to end, with an injected clock: the real server on 127.0.0.1 answers
//! a replay of the Elec2 stream and takes its labels; the test drives the monitor's passes
//! and the triggers' ticks with its own time. A change of concept (labels flipped from a
//! point on) makes F1 drop; the monitor trigger retrains on the labelled traffic; the gate
//! passes the candidate; the canary proves it; it is promoted and F1 recovers. When the
//! concept flips back as the canary starts, the candidate is worse and is rolled back.

mod common;

use gyre_ops::Project;
use gyre_serve::ServeOptions;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const ELEC2: &str = "../../../shared/data/elec2/elec2_first_half.csv";
/// Rows the first model trains on; the replay starts after them.
const TRAIN_ROWS: usize = 2000;
const WINDOW: usize = 200;
/// The replay row (a window boundary) from which labels are flipped.
const FLIP_AT: usize = 1000;
const REPLAY: usize = 1800;
/// Thirty minutes per row, as in the data.
const STEP_MS: i64 = 30 * 60 * 1000;

const SPEC: &str = r#"
[project]
name = "elec"

[model]
dataset = "elec"
task = "binary"
target = "class"
drop = ["date"]
algorithm = "logistic_regression"
split = { by = "rule", every = 5, index = 4 }

[gate]
min = { accuracy = 0.6 }

[serve]
model = "elec"
canary = { share = 0.5, min_labels = 100 }

[monitor]
model = "elec"
window = { labels = 200 }
min = { accuracy = 0.4 }

[steps.first]
uses = "train"

[steps.first_register]
uses = "register"
model = "first"
name = "elec"

[steps.first_gate]
uses = "gate"
model = "first_register"
promote = "champion"

[steps.traffic]
uses = "traffic"
name = "elec"
dataset = "live"
rows = 200

[steps.retrain]
uses = "train"
dataset = "live"

[steps.register]
uses = "register"
model = "retrain"
name = "elec"

[steps.gate]
uses = "gate"
model = "register"

[[trigger]]
name = "decay"
on = "monitor"
rule = "accuracy"
run = "gate"
"#;

struct Rows {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn elec2() -> Rows {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(ELEC2))
        .expect("the shared Elec2 file");
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    Rows { header, rows }
}

fn flip(label: &str) -> &'static str {
    if label == "UP" { "DOWN" } else { "UP" }
}

async fn project(dir: &Path, data: &Rows) -> Arc<Project> {
    project_with(dir, data, SPEC).await
}

/// [`project`] with another gyre.toml.
async fn project_with(dir: &Path, data: &Rows, spec: &str) -> Arc<Project> {
    gyre_ops::init(dir, Some("elec")).await.unwrap();
    let mut csv = data.header.join(",") + "\n";
    for r in &data.rows[..TRAIN_ROWS] {
        csv += &(r.join(",") + "\n");
    }
    Arc::new(common::released(dir, spec, &csv).await)
}

/// Edits the project's gyre.toml and opens the project again.
async fn reopen_with(dir: &Path, edit: impl Fn(String) -> String) -> Arc<Project> {
    let spec = std::fs::read_to_string(dir.join("gyre.toml")).unwrap();
    std::fs::write(dir.join("gyre.toml"), edit(spec)).unwrap();
    Arc::new(Project::open(dir).await.unwrap())
}

async fn start(p: Arc<Project>) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let mut opts = ServeOptions::new("elec", "127.0.0.1:0".parse().unwrap());
    opts.canary_share = 0.5;
    opts.automation = false;
    opts.poll = Duration::from_millis(50);
    start_with(p, opts).await
}

/// Starts the real server on 127.0.0.1:0 with `opts`; sending on the handle stops it.
async fn start_with(
    p: Arc<Project>,
    opts: ServeOptions,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    common::start(p, move |o| *o = opts).await
}

fn post(addr: SocketAddr, path: &str, body: &Value) -> Value {
    post_as(addr, path, body, None)
}

/// A POST with a token (what `/feedback` and the admin routes need).
fn post_as(addr: SocketAddr, path: &str, body: &Value, token: Option<&str>) -> Value {
    let mut req = ureq::post(&format!("http://{addr}{path}"));
    if let Some(t) = token {
        req = req.header("authorization", &format!("Bearer {t}"));
    }
    req.send_json(body).unwrap().body_mut().read_json().unwrap()
}

fn get(addr: SocketAddr, path: &str) -> Value {
    ureq::get(&format!("http://{addr}{path}"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap()
}

/// What a replay saw.
struct Replay {
    decisions: Vec<gyre_ops::monitor::Decision>,
    firings: Vec<gyre_ops::triggers::Fired>,
}

/// Replays the stream after the training rows. Labels flip from `FLIP_AT`; with `flip_back`,
/// they flip back once a challenger is live.
async fn replay(p: &Arc<Project>, addr: SocketAddr, data: &Rows, flip_back: bool) -> Replay {
    let mut monitor = p.monitor().await.unwrap();
    let start_ms = gyre_ops::runs::now_ms();
    let scheduler = gyre_ops::triggers::Scheduler::new(p.clone(), start_ms)
        .await
        .unwrap();
    // Every column but `date` (the model drops it) and `class`.
    let features: Vec<(usize, &str)> = data.header[..data.header.len() - 1]
        .iter()
        .enumerate()
        .filter(|(_, c)| *c != "date")
        .map(|(i, c)| (i, c.as_str()))
        .collect();
    let mut out = Replay {
        decisions: Vec::new(),
        firings: Vec::new(),
    };
    let mut flipped = false;
    let mut canary_seen = false;
    let token = p
        .create_token(
            &format!("replay-{start_ms}"),
            gyre_core::access::Role::Predictor,
        )
        .await
        .unwrap()
        .token;
    for i in 0..REPLAY {
        let row = &data.rows[TRAIN_ROWS + i];
        if i == FLIP_AT {
            flipped = true;
        }
        let record: serde_json::Map<String, Value> = features
            .iter()
            .map(|(i, k)| (k.to_string(), json!(row[*i].parse::<f64>().unwrap())))
            .collect();
        let answer = tokio::task::block_in_place(|| {
            post(
                addr,
                "/invocations",
                &json!({ "dataframe_records": [record] }),
            )
        });
        let truth = row.last().unwrap().as_str();
        let label = if flipped { flip(truth) } else { truth };
        let id = answer["request_id"].as_str().unwrap().to_string();
        tokio::task::block_in_place(|| {
            post_as(
                addr,
                "/feedback",
                &json!({ "request_id": id, "label": label }),
                Some(&token),
            )
        });
        if (i + 1) % WINDOW == 0 {
            // Wait until the log writer has stored every prediction so far (one row each),
            // so windows line up with the replay; then judge at the replay's time.
            for _ in 0..500 {
                if p.meta.prediction_count("elec").await.unwrap() > i as u64 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let now = start_ms + (i as i64 + 1) * STEP_MS;
            let report = monitor.pass(p, now).await.unwrap();
            out.decisions.extend(report.decision);
            let fired = scheduler.tick(now, true).await.unwrap();
            out.firings.extend(fired);
            if !canary_seen
                && p.meta
                    .aliases("elec")
                    .await
                    .unwrap()
                    .iter()
                    .any(|(a, _)| a == "challenger")
            {
                canary_seen = true;
                if flip_back {
                    flipped = false;
                }
                // Wait for the server to route the canary.
                for _ in 0..100 {
                    let ready = tokio::task::block_in_place(|| get(addr, "/ready"));
                    if !ready["challenger"].is_null() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
    out
}

/// The champion's full windows: (version, accuracy, f1).
async fn champion_series(p: &Project) -> Vec<(i64, f64, f64)> {
    p.meta
        .points("elec", Some("labels"), Some("champion"))
        .await
        .unwrap()
        .iter()
        .filter(|pt| pt.n as usize == WINDOW)
        .map(|pt| {
            let m: Value = serde_json::from_str(&pt.metrics).unwrap();
            (
                pt.version,
                m["accuracy"].as_f64().unwrap(),
                m["f1"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decay_retrains_and_the_canary_is_promoted() {
    let dir = tempfile::tempdir().unwrap();
    let data = elec2();
    let p = project(dir.path(), &data).await;
    let (addr, stop) = start(p.clone()).await;
    let run = replay(&p, addr, &data, false).await;

    let series = champion_series(&p).await;
    // Before the change every window passes; the first after it fails.
    let first_bad = series.iter().position(|w| w.1 < 0.4).unwrap();
    assert_eq!(
        first_bad,
        FLIP_AT / WINDOW,
        "quality drops at the change: {series:?}"
    );
    let before = &series[first_bad - 1];
    let dropped = &series[first_bad];
    assert!(dropped.2 < before.2, "F1 drops too: {series:?}");
    // Exactly one retrain, which passed the gate and became the canary.
    assert_eq!(run.firings.len(), 1, "{:?}", run.firings);
    let f = &run.firings[0].firing;
    assert_eq!(
        (f.trigger.as_str(), f.status.as_str()),
        ("decay", "succeeded")
    );
    assert!(f.cause.contains("retrain on accuracy"), "{}", f.cause);
    assert_eq!(
        run.firings[0].candidate.as_deref(),
        Some("elec@2 is challenger")
    );
    assert!(
        p.meta
            .latest_verdict("elec", 2)
            .await
            .unwrap()
            .unwrap()
            .passed
    );
    // One decision: promoted; the audit trail says why.
    assert_eq!(run.decisions.len(), 1, "{:?}", run.decisions);
    let d = &run.decisions[0];
    assert!(d.promoted && d.candidate == 2 && d.labels >= 100, "{d:?}");
    let aliases = p.meta.aliases("elec").await.unwrap();
    assert_eq!(aliases, vec![("champion".to_string(), 2)]);
    let history = p.alias_history("elec").await.unwrap();
    let promotion = history
        .iter()
        .rev()
        .find(|e| e.alias == "champion")
        .unwrap();
    assert_eq!((promotion.from, promotion.to), (Some(1), Some(2)));
    assert!(
        promotion.reason.starts_with("loop: promoted"),
        "{}",
        promotion.reason
    );
    // Quality recovers under the new champion: F1 back above where the drop took it.
    let last = series.last().unwrap();
    assert_eq!(last.0, 2);
    assert!(
        last.1 >= 0.6 && last.2 > dropped.2,
        "quality recovers: {series:?}"
    );
    let kinds: Vec<String> = p
        .meta
        .events(Some("elec"), 0)
        .await
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e.kind, e.rule))
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| k.as_str() == "breach accuracy")
            .count(),
        1,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"canary gate".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"promote accuracy".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"recover accuracy".to_string()), "{kinds:?}");
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worse_candidate_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = elec2();
    let p = project(dir.path(), &data).await;
    let (addr, stop) = start(p.clone()).await;
    let run = replay(&p, addr, &data, true).await;

    assert_eq!(run.firings.len(), 1, "{:?}", run.firings);
    assert_eq!(run.decisions.len(), 1, "{:?}", run.decisions);
    let d = &run.decisions[0];
    assert!(!d.promoted && d.candidate == 2, "{d:?}");
    assert!(d.candidate_value < d.champion_value, "{d:?}");
    // The champion stays; the challenger alias is gone, with an audit row.
    assert_eq!(
        p.meta.aliases("elec").await.unwrap(),
        vec![("champion".to_string(), 1)]
    );
    let history = p.alias_history("elec").await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last.alias.as_str(), last.from, last.to),
        ("challenger", Some(2), None)
    );
    assert!(
        last.reason.starts_with("loop: rolled back"),
        "{}",
        last.reason
    );
    let _ = stop.send(());
}

/// The loop with a training script of its own (`examples/external-retrain`): Python trains
/// XGBoost and writes model.json; gyre registers the file, gates it, serves it, and when the
/// change of concept breaches the floor runs the script on the labelled traffic, gates the
/// candidate, proves it as the canary and promotes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_retrain_script_closes_the_loop() {
    let Some(python) = common::python_with("xgboost, pandas") else {
        eprintln!("no Python with xgboost and pandas: skipping the external retraining example");
        return;
    };
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/external-retrain");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("steps")).unwrap();
    std::fs::copy(
        example.join("steps/train.py"),
        dir.path().join("steps/train.py"),
    )
    .unwrap();
    let spec = std::fs::read_to_string(example.join("gyre.toml"))
        .unwrap()
        .replace("${PYTHON:-python3}", &python);
    let data = elec2();
    let p = project_with(dir.path(), &data, &spec).await;
    let show = p.show_model("elec@1").await.unwrap();
    assert_eq!(show.algorithm, "xgboost");
    assert_eq!(show.classes, ["DOWN", "UP"]);
    assert!(
        show.metrics.iter().any(|(k, _)| k == "accuracy"),
        "{:?}",
        show.metrics
    );

    let (addr, stop) = start(p.clone()).await;
    let run = replay(&p, addr, &data, false).await;
    assert_eq!(run.firings.len(), 1, "{:?}", run.firings);
    let f = &run.firings[0].firing;
    assert_eq!(
        (f.trigger.as_str(), f.status.as_str()),
        ("decay", "succeeded"),
        "{f:?}"
    );
    assert_eq!(
        run.firings[0].candidate.as_deref(),
        Some("elec@2 is challenger")
    );
    let v2 = p.show_model("elec@2").await.unwrap();
    assert_eq!(v2.algorithm, "xgboost");
    assert!(v2.datasets[0].starts_with("elec@"), "{:?}", v2.datasets);
    assert_eq!(run.decisions.len(), 1, "{:?}", run.decisions);
    let d = &run.decisions[0];
    assert!(d.promoted && d.candidate == 2, "{d:?}");
    assert_eq!(
        p.meta.aliases("elec").await.unwrap(),
        vec![("champion".to_string(), 2)]
    );
    let series = champion_series(&p).await;
    let last = series.last().unwrap();
    assert!(last.0 == 2 && last.1 >= 0.6, "quality recovers: {series:?}");
    let _ = stop.send(());
}

/// `POST /api/triggers/{name}` fires a message trigger only with the right bearer token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_fires_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = elec2();
    let p = project(dir.path(), &data).await;
    // The token lives in an environment variable the server reads; cargo sets
    // CARGO_PKG_NAME for test binaries, so the test needs no process-wide change.
    drop(p);
    let p2 = reopen_with(dir.path(), |spec| spec
        + "\n[[trigger]]\nname = \"hook\"\non = \"message\"\nrun = \"first_gate\"\ntoken_env = \"CARGO_PKG_NAME\"\n\n[[trigger]]\nname = \"closed\"\non = \"message\"\nrun = \"first_gate\"\ntoken_env = \"GYRE_TEST_UNSET_TOKEN\"\n")
    .await;
    let mut opts = ServeOptions::new("elec", "127.0.0.1:0".parse().unwrap());
    opts.tick_every = Duration::from_millis(50);
    let (addr, stop) = start_with(p2.clone(), opts).await;
    let call = |name: &str, token: Option<&str>| {
        let mut req = ureq::post(&format!("http://{addr}/api/triggers/{name}"))
            .config()
            .http_status_as_error(false)
            .build();
        if let Some(t) = token {
            req = req.header("authorization", &format!("Bearer {t}"));
        }
        let mut resp = req.send("nightly data landed").unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.body_mut().read_json().unwrap();
        (status, body)
    };
    let (status, body) = tokio::task::block_in_place(|| call("hook", None));
    assert_eq!(status, 401, "{body}");
    let (status, _) = tokio::task::block_in_place(|| call("hook", Some("wrong")));
    assert_eq!(status, 401);
    let (status, body) = tokio::task::block_in_place(|| call("closed", Some("x")));
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("GYRE_TEST_UNSET_TOKEN")
    );
    let (status, _) = tokio::task::block_in_place(|| call("nope", Some("gyre-serve")));
    assert_eq!(status, 404);
    let (status, body) = tokio::task::block_in_place(|| call("hook", Some("gyre-serve")));
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["cause"], "webhook: nightly data landed");
    let mut finished = None;
    for _ in 0..400 {
        let rows = p2.meta.firings(Some("hook"), 5).await.unwrap();
        if let Some(f) = rows.first().filter(|f| f.status != "running") {
            finished = Some(f.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(finished.expect("the run ends").status, "succeeded");
    let _ = stop.send(());
}

/// Drift, prediction shift and error-rate rules on traffic windows the server gathers: quiet
/// on the stream as it is, a breach when an input shifts, a breach when requests fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_rules_catch_drift_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = elec2();
    let p = project(dir.path(), &data).await;
    drop(p);
    let p = reopen_with(dir.path(), |spec| {
        spec.replace(
            "min = { accuracy = 0.4 }",
            "min = { accuracy = 0.4 }\ndrift = { columns = [\"period\", \"day\"], method = \"psi\", threshold = 0.25 }\nprediction_shift = 20.0\nmax_error_rate = 0.05",
        )
        .replace("window = { labels = 200 }", "window = { labels = 200, traffic = 400 }")
    })
    .await;
    let mut opts = ServeOptions::new("elec", "127.0.0.1:0".parse().unwrap());
    opts.tick_every = Duration::from_millis(20);
    opts.monitor_every = Duration::from_millis(20);
    let (addr, stop) = start_with(p.clone(), opts).await;
    let features: Vec<(usize, String)> = data.header[..data.header.len() - 1]
        .iter()
        .enumerate()
        .filter(|(_, c)| *c != "date")
        .map(|(i, c)| (i, c.clone()))
        .collect();
    let send = |row: &[String], shift: f64| {
        let record: serde_json::Map<String, Value> = features
            .iter()
            .map(|(i, k)| {
                let v: f64 = row[*i].parse().unwrap();
                (
                    k.clone(),
                    json!(if k == "period" { v * (1.0 - shift) } else { v }),
                )
            })
            .collect();
        post(
            addr,
            "/invocations",
            &json!({ "dataframe_records": [record] }),
        );
    };
    let events = |p: Arc<Project>| async move {
        p.meta
            .events(Some("elec"), 0)
            .await
            .unwrap()
            .iter()
            .map(|e| format!("{} {}", e.kind, e.rule))
            .collect::<Vec<_>>()
    };
    let wait_points = |p: Arc<Project>, n: usize| async move {
        for _ in 0..500 {
            if p.meta
                .points("elec", Some("traffic"), None)
                .await
                .unwrap()
                .len()
                >= n
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no traffic window closed");
    };
    // A window's point is stored before its events: wait for the event expected.
    let wait_event = |p: Arc<Project>, want: &'static str| async move {
        for _ in 0..250 {
            let seen = events(p.clone()).await;
            if seen.iter().any(|e| e == want) {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        events(p.clone()).await
    };
    // The stream right after the training rows: no rule breaks.
    tokio::task::block_in_place(|| {
        for r in &data.rows[TRAIN_ROWS..TRAIN_ROWS + 400] {
            send(r, 0.0);
        }
    });
    wait_points(p.clone(), 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        events(p.clone()).await.is_empty(),
        "{:?}",
        events(p.clone()).await
    );
    let first = &p.meta.points("elec", Some("traffic"), None).await.unwrap()[0];
    let m: Value = serde_json::from_str(&first.metrics).unwrap();
    assert_eq!(first.n, 400);
    assert!(m["drift.period"].as_f64().unwrap() < 0.25, "{m}");
    assert_eq!(m["error_rate"], 0.0);
    assert!(
        m["prediction_shift"].as_f64().is_some() && m["p99_ms"].as_f64().is_some(),
        "{m}"
    );
    // The half-hour of the day is squeezed into the first half of the day (a feed that
    // lost its afternoons): its drift breaks the rule; the day of the week holds.
    tokio::task::block_in_place(|| {
        for r in &data.rows[TRAIN_ROWS + 400..TRAIN_ROWS + 800] {
            send(r, 0.5);
        }
    });
    wait_points(p.clone(), 2).await;
    let seen = wait_event(p.clone(), "breach drift.period").await;
    let pts: Vec<String> = p
        .meta
        .points("elec", Some("traffic"), None)
        .await
        .unwrap()
        .iter()
        .map(|x| x.metrics.clone())
        .collect();
    assert!(
        seen.contains(&"breach drift.period".to_string()),
        "{seen:?} {pts:?}"
    );
    assert!(!seen.iter().any(|e| e.contains("drift.day")), "{seen:?}");
    // Requests that fail (a missing column) count as errors.
    tokio::task::block_in_place(|| {
        for _ in 0..30 {
            let _ = ureq::post(&format!("http://{addr}/invocations"))
                .config()
                .http_status_as_error(false)
                .build()
                .send_json(json!({ "dataframe_records": [{ "day": 1 }] }));
        }
        for r in &data.rows[TRAIN_ROWS + 800..TRAIN_ROWS + 1200] {
            send(r, 0.0);
        }
    });
    wait_points(p.clone(), 3).await;
    // The window's events are stored one after another: wait for each.
    wait_event(p.clone(), "recover drift.period").await;
    let seen = wait_event(p.clone(), "breach error_rate").await;
    assert!(seen.contains(&"breach error_rate".to_string()), "{seen:?}");
    assert!(
        seen.contains(&"recover drift.period".to_string()),
        "{seen:?}"
    );
    let _ = stop.send(());
}

/// A window also closes by time: at `minutes` after its first label, on the injected clock,
/// with however many labels it has by then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_windows_close_on_the_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let data = elec2();
    let p = project(dir.path(), &data).await;
    drop(p);
    let p = reopen_with(dir.path(), |spec| {
        spec.replace(
            "window = { labels = 200 }",
            "window = { labels = 1000, minutes = 60 }",
        )
    })
    .await;
    // Every prediction says UP; half the labels do, all stored at T0 + 100 s.
    let stored = log_labelled(
        &p,
        0..50,
        |i| if i % 2 == 0 { "UP" } else { "DOWN" },
        |_| T0 + 100_000,
    )
    .await;
    assert_eq!(stored, 50);
    let mut monitor = p.monitor().await.unwrap();
    let minute = 60_000;
    let early = monitor.pass(&p, T0 + 100_000 + 30 * minute).await.unwrap();
    assert!(early.points.is_empty(), "{:?}", early.points);
    let late = monitor.pass(&p, T0 + 100_000 + 61 * minute).await.unwrap();
    assert_eq!(late.points.len(), 1);
    let point = &late.points[0];
    assert_eq!(
        (point.n, point.start_ms, point.end_ms),
        (50, T0, T0 + 49_000)
    );
    let m: Value = serde_json::from_str(&point.metrics).unwrap();
    // Every prediction says UP; half the labels are UP: precision 0.5, recall 1.
    assert_eq!(
        (m["precision"].as_f64(), m["recall"].as_f64()),
        (Some(0.5), Some(1.0))
    );
    assert_eq!(m["accuracy"].as_f64(), Some(0.5));
    // Nothing more to close.
    let again = monitor.pass(&p, T0 + 100_000 + 200 * minute).await.unwrap();
    assert!(again.points.is_empty());
}

/// The bank-marketing failure: a breach that nothing fixes must not fall silent. Here the
/// triggered pipeline yields no candidate (it only re-runs an up-to-date step), so the breach
/// persists; it fires again once its cooldown (two windows) has passed, and so does the
/// trigger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_breach_fires_its_trigger_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = elec2();
    let p = project(dir.path(), &data).await;
    drop(p);
    let p = reopen_with(dir.path(), |spec| {
        let edited = spec.replace(
            "rule = \"accuracy\"\nrun = \"gate\"",
            "rule = \"accuracy\"\nrun = \"first\"",
        );
        assert_ne!(edited, spec, "the trigger's `run` was not found to edit");
        edited
    })
    .await;
    let (addr, stop) = start(p.clone()).await;
    let run = replay(&p, addr, &data, false).await;
    // Bad windows end at replay rows 1,200, 1,400, 1,600 and 1,800: a breach at the first,
    // again two windows later.
    let breaches: Vec<String> = p
        .meta
        .events(Some("elec"), 0)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "breach" && e.rule == "accuracy")
        .map(|e| e.detail)
        .collect();
    let all: Vec<String> = p
        .meta
        .events(Some("elec"), 0)
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {} v{} {}", e.kind, e.rule, e.version, e.detail))
        .collect();
    let series = champion_series(&p).await;
    assert_eq!(breaches.len(), 2, "{all:?} {series:?}");
    assert!(
        breaches[1].ends_with("still in breach, repeat 1"),
        "{breaches:?}"
    );
    assert_eq!(run.firings.len(), 2, "{:?}", run.firings);
    assert!(run.decisions.is_empty());
    let _ = stop.send(());
}

/// An online champion learns every joined label in the monitor's pass; every 200 labels its
/// state is registered as a snapshot, gated, and put on canary, which promotes it once it
/// proves itself. (A full inversion of the labels, as this stream has after `FLIP_AT`, is
/// more than an SGD learner unlearns in the 800 rows left; the retrain trigger covers it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_champion_learns_and_its_snapshots_go_through_the_canary() {
    let dir = tempfile::tempdir().unwrap();
    let data = elec2();
    let spec = SPEC.replace(
        "algorithm = \"logistic_regression\"",
        "algorithm = \"online_logistic_regression\"",
    );
    assert_ne!(spec, SPEC);
    let spec = spec + "\n[loop]\nsnapshot = { labels = 200 }\n";
    let p = project_with(dir.path(), &data, &spec).await;
    let (addr, stop) = start(p.clone()).await;
    let run = replay(&p, addr, &data, false).await;
    let events = p.meta.events(Some("elec"), 0).await.unwrap();
    let snapshots: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == "canary" && e.detail.contains("a snapshot of"))
        .map(|e| e.detail.as_str())
        .collect();
    assert!(!snapshots.is_empty(), "{events:?}");
    // A snapshot names the labelled rows it learnt, so a restart goes on from there.
    let v2 = p.registered_model("elec@2").await.unwrap().1.model;
    assert!(v2.is_online());
    assert!(
        v2.lineage
            .datasets
            .iter()
            .any(|d| d.starts_with("labelled:elec:1..")),
        "{:?}",
        v2.lineage.datasets
    );
    // A snapshot proved itself on the canary and serves: the champion's windows move to it.
    assert!(
        run.decisions.iter().any(|d| d.promoted && d.candidate > 1),
        "{:?}",
        run.decisions
    );
    let series = champion_series(&p).await;
    let all: Vec<String> = events
        .iter()
        .map(|e| format!("{} {} v{} {}", e.kind, e.rule, e.version, e.detail))
        .collect();
    let points: Vec<String> = p
        .meta
        .points("elec", Some("labels"), None)
        .await
        .unwrap()
        .iter()
        .map(|x| {
            format!(
                "{} v{} {}..{} n{}",
                x.role, x.version, x.first_seq, x.last_seq, x.n
            )
        })
        .collect();
    assert!(
        series.iter().any(|w| w.0 > 1),
        "{series:?} {all:#?} {points:#?} {:?}",
        run.decisions
    );
    let _ = stop.send(());
}

/// `[loop] detect`: no floor is breached (accuracy ≥ 0.01 always holds), but the champion's
/// error rate jumps when the labels flip; Page-Hinkley records a `change` event, and the
/// trigger that runs on the rule `change` retrains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detected_change_of_the_error_rate_retrains() {
    let dir = tempfile::tempdir().unwrap();
    let data = elec2();
    let spec = SPEC
        .replace("min = { accuracy = 0.4 }", "min = { accuracy = 0.01 }")
        .replace("rule = \"accuracy\"", "rule = \"change\"")
        + "\n[loop]\ndetect = { method = \"page_hinkley\" }\n";
    assert!(spec.contains("0.01") && spec.contains("rule = \"change\""));
    let p = project_with(dir.path(), &data, &spec).await;
    let (addr, stop) = start(p.clone()).await;
    let run = replay(&p, addr, &data, false).await;
    let events = p.meta.events(Some("elec"), 0).await.unwrap();
    assert!(!events.iter().any(|e| e.kind == "breach"), "{events:?}");
    let change = events
        .iter()
        .find(|e| e.kind == "change")
        .unwrap_or_else(|| panic!("no change detected: {events:?}"));
    assert_eq!(change.version, 1);
    assert!(!run.firings.is_empty(), "{events:?}");
    assert!(
        run.firings[0].firing.cause.contains("retrain on change"),
        "{}",
        run.firings[0].firing.cause
    );
    let _ = stop.send(());
}

/// `[loop] retrain.min_labels`: a breach that repeats before enough new labels are in does
/// not retrain again at once; the loop engine waits for the labels, and each retrain it asks
/// for names how many came in since the last one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_breach_waits_for_new_labels_before_retraining() {
    let dir = tempfile::tempdir().unwrap();
    let data = elec2();
    let spec = SPEC.replace(
        "rule = \"accuracy\"\nrun = \"gate\"",
        "rule = \"accuracy\"\nrun = \"first\"",
    ) + "\n[loop]\ncooldown = { windows = 1 }\nretrain = { min_labels = 300 }\n";
    assert!(spec.contains("run = \"first\""));
    let p = project_with(dir.path(), &data, &spec).await;
    let (addr, stop) = start(p.clone()).await;
    let run = replay(&p, addr, &data, false).await;
    // Bad windows close every 200 labels and the breach repeats each time; with 300 labels
    // needed between retrains, fewer retrains are asked for than breaches fire.
    let events = p.meta.events(Some("elec"), 0).await.unwrap();
    let count = |kind: &str| events.iter().filter(|e| e.kind == kind).count();
    let retrains: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == "retrain")
        .map(|e| e.detail.as_str())
        .collect();
    assert!(retrains.len() >= 2, "{events:?}");
    assert!(count("breach") > retrains.len(), "{events:?}");
    for r in &retrains[1..] {
        let labels: u64 = r
            .split("; ")
            .last()
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count in {r:?}"));
        assert!(labels >= 300, "{retrains:?}");
    }
    assert!(!run.firings.is_empty());
    let _ = stop.send(());
}

/// The monitor's engine is rebuilt from the store when the server restarts: the open breach
/// is not recorded twice, the labelled rows not yet in a window are not lost, and no window
/// is stored twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_monitor_goes_on_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let data = elec2();
    let p = project(dir.path(), &data).await;
    // Every prediction says UP and nine labels in ten say DOWN: accuracy 0.1, below the 0.4
    // floor, with enough positives for a retrain.
    let label = |i: i64| if i % 10 == 0 { "UP" } else { "DOWN" };
    let at = |i: i64| T0 + i * 1000 + 500;
    log_labelled(&p, 0..300, label, at).await;
    let mut first = p.monitor().await.unwrap();
    let r = first.pass(&p, T0 + 400_000).await.unwrap();
    assert_eq!(r.points.len(), 1);
    let kinds: Vec<&str> = r.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["breach", "retrain"], "{:?}", r.events);
    drop(first);

    // A restart: 100 labelled rows wait for the next window, the breach is still open.
    let mut second = p.monitor().await.unwrap();
    assert_eq!(second.breached(), ["accuracy"]);
    let r = second.pass(&p, T0 + 500_000).await.unwrap();
    assert!(r.points.is_empty() && r.events.is_empty(), "{r:?}");
    log_labelled(&p, 300..400, label, at).await;
    let r = second.pass(&p, T0 + 600_000).await.unwrap();
    assert_eq!(r.points.len(), 1, "{:?}", r.points);
    assert_eq!((r.points[0].first_seq, r.points[0].n), (201, 200));
    // Still in breach, within its cooldown: nothing new recorded.
    assert!(r.events.is_empty(), "{:?}", r.events);
    let points = p.meta.points("elec", Some("labels"), None).await.unwrap();
    assert_eq!(points.len(), 2);
}

/// The clock of the tests that log predictions and labels directly.
const T0: i64 = 1_800_000_000_000;

/// Logs v1's champion predictions for requests `ids` (one a second from `T0`, each saying
/// UP with 0.8) and their labels, `label(i)` stored at `labelled_ms(i)`; how many were
/// stored.
async fn log_labelled(
    p: &Project,
    ids: std::ops::Range<i64>,
    label: impl Fn(i64) -> &'static str,
    labelled_ms: impl Fn(i64) -> i64,
) -> u64 {
    let records: Vec<gyre_store::PredictionRecord> = ids
        .clone()
        .map(|i| gyre_store::PredictionRecord {
            request_id: format!("r-{i}"),
            row_index: 0,
            role: "champion".into(),
            ts_ms: T0 + i * 1000,
            model: "elec".into(),
            version: 1,
            inputs: "[]".into(),
            output: r#"{"label":"UP","probabilities":{"DOWN":0.2,"UP":0.8}}"#.into(),
        })
        .collect();
    p.meta.log_predictions(&records).await.unwrap();
    let labels: Vec<gyre_store::FeedbackRecord> = ids
        .map(|i| gyre_store::FeedbackRecord {
            request_id: format!("r-{i}"),
            row_index: 0,
            label: label(i).into(),
            ts_ms: labelled_ms(i),
        })
        .collect();
    p.meta
        .add_feedback(&labels, gyre_store::UnknownLabels::UNBOUNDED)
        .await
        .unwrap()
        .stored
}
