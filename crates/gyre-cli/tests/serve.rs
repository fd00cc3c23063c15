//! `gyre serve` through the real binary on 127.0.0.1:0: every endpoint, both payload families,
//! bad payloads, feedback, canary, shadow, hot swap under load, the log flushed on shutdown,
//! and two servers sharing a PostgreSQL store (when `GYRE_TEST_POSTGRES_URL` is set).

mod common;

use common::Project;
use common::server::Server;
use serde_json::{Value, json};

/// Laid over [`common::INCOME_MODEL`].
const SPEC: &str = r#"

[serve]
max_body_bytes = 100000
"#;

fn row(age: Value) -> Value {
    json!({"age": age, "workclass": "State-gov", "fnlwgt": 77516, "education": "Bachelors",
           "education-num": 13, "marital-status": "Never-married", "occupation": "Adm-clerical",
           "relationship": "Not-in-family", "race": "White", "sex": "Male", "capital-gain": 2174,
           "capital-loss": 0, "hours-per-week": 40, "native-country": "United-States"})
}

/// A project with `income` v1 (logistic regression, champion) and v2 (boosting).
fn project() -> Project {
    project_on(None)
}

/// [`project`] on a given metadata store (None: the embedded default).
fn project_on(store: Option<String>) -> Project {
    let p = Project::with_store(store);
    p.add_adult("adult");
    p.append_spec(common::INCOME_MODEL);
    p.append_spec(SPEC);
    let a = p.train_run(&[]);
    let b = p.train_run(&[
        "--set",
        "model.algorithm=\"gradient_boosting\"",
        "--set",
        "model.params={iterations=20}",
    ]);
    p.ok(&["models", "register", "income", &a]);
    p.ok(&["models", "register", "income", &b]);
    p.ok(&["models", "alias", "income@1", "champion", "--force"]);
    p.ok(&["models", "alias", "income@2", "challenger"]);
    p
}

fn count_logged(p: &Project) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let project = gyre_ops::Project::open(p.root()).await.unwrap();
        project.meta.prediction_count("income").await.unwrap()
    })
}

#[test]
fn endpoints_payloads_errors_and_feedback() {
    let p = project();
    let s = Server::start(&p, "income", &[]);
    let r = row(json!(39));
    let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    let values: Vec<Value> = keys.iter().map(|k| r[*k].clone()).collect();

    // Every MLflow format gives the same answer.
    let bodies = [
        json!({"dataframe_records": [r.clone()]}),
        json!({"dataframe_split": {"columns": keys, "data": [values]}}),
        json!({"instances": [r.clone()]}),
        json!({"inputs": r.as_object().unwrap().iter().map(|(k, v)| (k.clone(), json!([v]))).collect::<serde_json::Map<_, _>>()}),
    ];
    let mut answers = Vec::new();
    for b in &bodies {
        let (status, body, version) = s.post("/invocations", "application/json", &b.to_string());
        assert_eq!(status, 200, "{body}");
        assert_eq!(version.as_deref(), Some("income@1"));
        assert_eq!(body["model"]["version"], 1);
        assert!(body["request_id"].as_str().is_some());
        answers.push(body["probabilities"].clone());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    let csv = format!(
        "{}\n{}\n",
        keys.join(","),
        values
            .iter()
            .map(|v| v.as_str().map(String::from).unwrap_or(v.to_string()))
            .collect::<Vec<_>>()
            .join(",")
    );
    let (status, body, _) = s.post("/invocations", "text/csv", &csv);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["probabilities"], answers[0]);

    // Open Inference Protocol v2.
    let inputs: Vec<Value> = keys
        .iter()
        .map(|k| {
            let v = &r[*k];
            json!({"name": k, "shape": [1], "datatype": if v.is_number() {"FP64"} else {"BYTES"}, "data": [v]})
        })
        .collect();
    let (status, body, _) = s.post(
        "/v2/models/income/infer",
        "application/json",
        &json!({"id": "my-req-1", "inputs": inputs}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "my-req-1");
    assert_eq!(body["model_version"], "1");
    assert_eq!(body["outputs"][1]["data"], answers[0][0]);
    let (status, meta) = s.get("/v2/models/income");
    assert_eq!(status, 200);
    let meta: Value = serde_json::from_str(&meta).unwrap();
    assert_eq!(meta["inputs"].as_array().unwrap().len(), 14);
    // Records with the signature's inputs in its order (what most clients send) take the
    // signature path: the same answer. (`row` above sorts its keys: the general path.)
    let names: Vec<&str> = meta["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    let ordered: Vec<String> = names
        .iter()
        .map(|n| format!("{}: {}", json!(n), r[*n]))
        .collect();
    let ordered = format!("{{\"dataframe_records\": [{{{}}}]}}", ordered.join(", "));
    let (status, body, _) = s.post("/invocations", "application/json", &ordered);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["probabilities"], answers[0]);
    let (status, body, _) = s.post(
        "/invocations",
        "application/json",
        r#"{"dataframe_records": []}"#,
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("the request has no rows")),
        "{body}"
    );
    for path in ["/v2/health/live", "/v2/health/ready", "/health", "/ready"] {
        assert_eq!(s.get(path).0, 200, "{path}");
    }
    let (status, _, _) = s.post("/v2/models/other/infer", "application/json", "{}");
    assert_eq!(status, 404);

    // Bad payloads: 4xx with JSON naming each problem, never 5xx.
    let mut bad = row(json!("old"));
    bad.as_object_mut().unwrap().remove("sex");
    bad["colour"] = json!("red");
    let (status, body, _) = s.post(
        "/invocations",
        "application/json",
        &json!({"dataframe_records": [bad]}).to_string(),
    );
    assert_eq!(status, 422);
    let problems: Vec<String> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|m| m.contains("`age` must be a number"))
    );
    assert!(problems.iter().any(|m| m.contains("`sex` is missing")));
    assert!(
        problems
            .iter()
            .any(|m| m.contains("`colour` is not an input"))
    );
    assert_eq!(
        s.post("/invocations", "application/json", "{not json").0,
        400
    );
    assert_eq!(
        s.post("/invocations", "application/json", "{\"rows\": 1}")
            .0,
        400
    );
    assert_eq!(s.post("/invocations", "application/xml", "<a/>").0, 415);
    // A body over the limit is refused with 413. The server may close the connection
    // before the client finished sending, which the client sees as a reset: refused too,
    // and never a 5xx.
    let huge = format!("{{\"instances\": [\"{}\"]}}", "x".repeat(200_000));
    match s
        .agent
        .post(&format!("{}/invocations", s.base))
        .header("content-type", "application/json")
        .send(&huge)
    {
        Ok(r) => assert_eq!(r.status().as_u16(), 413),
        Err(ureq::Error::Io(e)) => eprintln!("the oversized body was cut off: {e}"),
        Err(e) => panic!("{e}"),
    }

    // Feedback by request id: late, duplicated, or batched.
    let (_, first, _) = s.post("/invocations", "application/json", &bodies[0].to_string());
    let id = first["request_id"].as_str().unwrap();
    let (status, fb, _) = s.post(
        "/feedback",
        "application/json",
        &json!({"request_id": id, "label": ">50K"}).to_string(),
    );
    assert_eq!((status, fb["stored"].as_u64()), (200, Some(1)));
    let (_, fb, _) = s.post(
        "/feedback",
        "application/json",
        &json!([{"request_id": id, "label": "<=50K"}]).to_string(),
    );
    assert_eq!(
        (fb["stored"].as_u64(), fb["duplicates"].as_u64()),
        (Some(0), Some(1)),
        "idempotent"
    );
    assert_eq!(
        s.post(
            "/feedback",
            "application/json",
            &json!({"label": "x"}).to_string()
        )
        .0,
        422
    );

    let (_, metrics) = s.get("/metrics");
    assert!(
        metrics.contains(
            "gyre_requests_total{model=\"income\",version=\"1\",role=\"champion\",status=\"ok\"}"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("status=\"client_error\""));
    assert!(metrics.contains("gyre_request_seconds_bucket"));
    assert!(metrics.contains("gyre_log_queue_depth"));
    s.stop();
    // Every successful request's row was logged before the server exited: 4 formats + CSV +
    // v2 + the signature-ordered record + the feedback request.
    assert_eq!(count_logged(&p), 8);

    // The log read back: JSON lines, one request, a limit, a file.
    let log = p.ok(&["monitor", "log", "income"]).stdout;
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 8);
    // Inputs by name, in the signature's order (the training data's: age first).
    assert!(log.contains(r#""inputs":{"age":"#), "{log}");
    let fed = lines.iter().find(|l| l["request_id"] == id).unwrap();
    assert_eq!(
        (fed["role"].as_str(), fed["version"].as_i64()),
        (Some("champion"), Some(1))
    );
    assert!(
        fed["inputs"]["age"].is_number() && fed["output"]["label"].is_string(),
        "{fed}"
    );
    let one = p
        .ok(&["monitor", "log", "income", "--request", id, "--json"])
        .json();
    assert_eq!(one.as_array().unwrap(), std::slice::from_ref(fed));
    let table = p.ok(&["monitor", "log", "income", "--request", id]).stdout;
    assert!(
        table.contains("income@1") && table.contains("champion"),
        "{table}"
    );
    assert_eq!(
        p.ok(&["monitor", "log", "income", "--limit", "3"])
            .stdout
            .lines()
            .count(),
        3
    );
    p.ok(&["monitor", "log", "income", "-o", "log.jsonl"]);
    assert_eq!(
        std::fs::read_to_string(p.root().join("log.jsonl")).unwrap(),
        log
    );
    let missing = p.gyre(&["monitor", "log", "income", "--request", "no-such-request"]);
    assert_ne!(missing.code, 0);
    assert!(
        missing.stderr.contains("no-such-request"),
        "{}",
        missing.stderr
    );
}

#[test]
fn canary_and_shadow() {
    let p = project();
    let s = Server::start(&p, "income", &["--canary", "0.3"]);
    let body = json!({"dataframe_records": [row(json!(50))]}).to_string();
    let mut challenger = 0;
    for _ in 0..100 {
        let (status, b, version) = s.post("/invocations", "application/json", &body);
        assert_eq!(status, 200);
        if version.as_deref() == Some("income@2") {
            assert_eq!(b["model"]["role"], "challenger");
            challenger += 1;
        }
    }
    assert!(
        (28..=32).contains(&challenger),
        "{challenger} of 100 went to the challenger"
    );
    s.stop();

    let before = count_logged(&p);
    let s = Server::start(&p, "income", &["--shadow"]);
    for _ in 0..10 {
        let (_, b, version) = s.post("/invocations", "application/json", &body);
        assert_eq!(
            version.as_deref(),
            Some("income@1"),
            "shadow answers are never returned"
        );
        assert_eq!(b["model"]["role"], "champion");
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SIGTERM, as a service manager stops it: the same graceful flush.
    let mut s = s;
    std::process::Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(s.child.wait().unwrap().success());
    assert_eq!(
        count_logged(&p) - before,
        20,
        "10 champion rows and 10 shadow rows"
    );
}

#[test]
fn hot_swap_under_load_drops_nothing() {
    let p = project();
    let s = Server::start(&p, "income", &[]);
    let body = json!({"dataframe_records": [row(json!(45))]}).to_string();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (agent, base, body, stop) =
                (s.agent.clone(), s.base.clone(), body.clone(), stop.clone());
            std::thread::spawn(move || {
                let (mut ok, mut failed, mut versions) = (0, 0, std::collections::BTreeSet::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match agent
                        .post(&format!("{base}/invocations"))
                        .header("content-type", "application/json")
                        .send(&body)
                    {
                        Ok(r) if r.status() == 200 => {
                            ok += 1;
                            if let Some(v) = r.headers().get("x-model-version") {
                                versions.insert(v.to_str().unwrap().to_string());
                            }
                        }
                        _ => failed += 1,
                    }
                }
                (ok, failed, versions)
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(400));
    // Through the API (no verdict: forced), then back through the CLI.
    let (status, e, _) = s.post(
        "/api/models/income/aliases/champion",
        "application/json",
        &json!({"version": 2, "force": true, "reason": "load test"}).to_string(),
    );
    assert_eq!(status, 200, "{e}");
    std::thread::sleep(std::time::Duration::from_millis(400));
    p.ok(&["models", "rollback", "income"]);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed, mut versions) = (0, 0, std::collections::BTreeSet::new());
    for w in workers {
        let (o, f, v) = w.join().unwrap();
        ok += o;
        failed += f;
        versions.extend(v);
    }
    assert_eq!(failed, 0, "no failed request during two swaps ({ok} ok)");
    assert!(ok > 100);
    assert_eq!(
        versions.into_iter().collect::<Vec<_>>(),
        ["income@1", "income@2"]
    );
    let (_, b, version) = s.post("/invocations", "application/json", &body);
    assert_eq!(version.as_deref(), Some("income@1"), "rolled back: {b}");
    s.stop();
}

/// Two servers on one PostgreSQL store: each logs its own predictions, one takes labels for
/// both (its own ids and a client's), and an alias moved by the CLI reaches both.
#[test]
fn two_servers_share_a_postgres_store() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(url) = rt.block_on(gyre_store::contract::fresh_postgres_database("serve")) else {
        return;
    };
    let p = project_on(Some(url.clone()));
    let (a, b) = (
        Server::start(&p, "income", &[]),
        Server::start(&p, "income", &[]),
    );
    let body = json!({"dataframe_records": [row(json!(38))]}).to_string();
    let mut labels = Vec::new();
    for i in 0..20 {
        let (status, r, _) = a.post("/invocations", "application/json", &body);
        assert_eq!(status, 200, "{r}");
        labels.push(json!({"request_id": r["request_id"], "label": "<=50K"}));
        let client = format!("client-{i}");
        let r = b
            .agent
            .post(&format!("{}/invocations", b.base))
            .header("content-type", "application/json")
            .header("x-request-id", &client)
            .send(&body)
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        labels.push(json!({"request_id": client, "label": ">50K"}));
    }
    // Both writers flush within 50 ms; labels stored before that would wait for a later pass.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (status, fb, _) = a.post("/feedback", "application/json", &json!(labels).to_string());
    assert_eq!((status, fb["stored"].as_u64()), (200, Some(40)), "{fb}");
    p.ok(&["models", "alias", "income@2", "champion", "--force"]);
    for s in [&a, &b] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (_, _, version) = s.post("/invocations", "application/json", &body);
            if version.as_deref() == Some("income@2") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} did not swap",
                s.base
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    a.stop();
    b.stop();
    rt.block_on(async {
        let store = gyre_store::open_meta_store(&url).await.unwrap();
        let logged = store.prediction_count("income").await.unwrap();
        assert!(
            logged >= 42,
            "40 requests and at least one after each swap: {logged}"
        );
        let joined = store
            .labelled_after("income", "champion", 0, 1000)
            .await
            .unwrap();
        assert_eq!(joined.len(), 40, "every label met its prediction");
        assert_eq!(store.pending_labels().await.unwrap(), 0);
        let client = store.predictions_of("client-7").await.unwrap();
        assert_eq!(client.len(), 1);
        assert_eq!(client[0].version, 1);
        assert!(client[0].inputs.contains("38"), "{}", client[0].inputs);
        let inputs = store.labelled_inputs("income", 0, 1000).await.unwrap();
        assert_eq!(inputs.len(), 40);
    });
}

#[test]
fn extra_columns_can_be_ignored_and_are_counted() {
    let p = project();
    let spec = std::fs::read_to_string(p.root().join("gyre.toml")).unwrap();
    let edited = spec.replacen("[serve]\n", "[serve]\nextra_columns = \"ignore\"\n", 1);
    assert_ne!(edited, spec, "no [serve] table to edit");
    std::fs::write(p.root().join("gyre.toml"), edited).unwrap();
    let s = Server::start(&p, "income", &[]);
    let mut r = row(json!(39));
    r["customer_id"] = json!("c-17");
    r["segment"] = json!(3);
    let (status, body, _) = s.post(
        "/invocations",
        "application/json",
        &json!({"dataframe_records": [r.clone(), r]}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    // A missing input is still refused.
    let mut bad = row(json!(39));
    bad.as_object_mut().unwrap().remove("sex");
    bad["customer_id"] = json!("c-18");
    let (status, body, _) = s.post(
        "/invocations",
        "application/json",
        &json!({"dataframe_records": [bad]}).to_string(),
    );
    assert_eq!(status, 422, "{body}");
    let problems = body["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{body}");
    // The answered request's two extra columns, once each (columns, not rows; the refused
    // request counts nothing).
    let (_, metrics) = s.get("/metrics");
    let line = metrics
        .lines()
        .find(|l| l.starts_with("gyre_extra_columns_ignored_total"))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(line.ends_with(" 2"), "{line}");
    s.stop();
}

/// `[serve] log = "durable"`: every answered prediction is committed before its answer, so a
/// `kill -9` right after the last answer loses none (the default loses about 50 ms' worth).
#[test]
fn durable_log_survives_kill_9() {
    let p = project();
    p.append_spec("log = \"durable\"\n");
    let s = Server::start(&p, "income", &[]);
    let body = json!({"dataframe_records": [row(json!(38)), row(json!(52))]}).to_string();
    let mut answered = 0;
    for _ in 0..200 {
        let (status, r, _) = s.post("/invocations", "application/json", &body);
        assert_eq!(status, 200, "{r}");
        answered += 2;
    }
    // SIGKILL: no flush on the way out.
    let mut s = s;
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    assert_eq!(
        count_logged(&p),
        answered,
        "every answered row is in the log"
    );
}

/// `gyre server`: the MLflow tracking API with no model; a user's MLflow script logs to it
/// unchanged and its runs are in `gyre runs list`. Needs a Python with `mlflow`
/// (`GYRE_TEST_MLFLOW_PYTHON`, which `.ci/run` makes); without one the test says so.
#[test]
fn gyre_server_takes_a_users_mlflow_script() {
    let python = [
        std::env::var("GYRE_TEST_MLFLOW_PYTHON").ok(),
        Some("python3".into()),
    ]
    .into_iter()
    .flatten()
    .find(|p| {
        std::process::Command::new(p)
            .args(["-c", "import mlflow"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(python) = python else {
        eprintln!("no Python with mlflow (set GYRE_TEST_MLFLOW_PYTHON): skipping");
        return;
    };
    let p = Project::init();
    let server = Server::spawn(&p, &["server", "--port", "0"], &[]);
    let token = server.bearer.trim_start_matches("Bearer ");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../gyre-serve/tests/mlflow/client.py");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(&server.base)
        .arg(p.root().join("table.csv"))
        .env("MLFLOW_TRACKING_TOKEN", token)
        .env_remove("MLFLOW_TRACKING_URI")
        .output()
        .unwrap();
    drop(server);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let list = p.ok(&["runs", "list"]).stdout;
    for name in ["first", "child", "second"] {
        assert!(list.contains(name), "{list}");
    }
}
