//! What the server tests share: a small Elec2 project with a champion, the real server on
//! 127.0.0.1:0, and raw HTTP (so Host, Origin and half-sent requests are what a test says).

#![allow(dead_code)]

use gyre_ops::Project;
use gyre_serve::{ServeOptions, serve};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const ELEC2: &str = "../../../shared/data/elec2/elec2_first_half.csv";

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
min = { accuracy = 0.5 }

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
"#;

/// A project whose `elec@1` is champion (trained on 600 Elec2 rows) and `elec@2` (another
/// file) has no verdict.
pub async fn project(dir: &Path) -> Arc<Project> {
    project_on(dir, None).await
}

/// [`project`] on a given metadata store (None: the embedded default).
pub async fn project_on(dir: &Path, store: Option<&str>) -> Arc<Project> {
    gyre_ops::init(dir, Some("elec")).await.unwrap();
    let mut spec = SPEC.to_string();
    if let Some(url) = store {
        spec = spec.replace(
            "[project]",
            &format!("[store]\nurl = \"{url}\"\n\n[project]"),
        );
    }
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(ELEC2)).unwrap();
    let csv: String = text.lines().take(601).map(|l| format!("{l}\n")).collect();
    let p = released(dir, &spec, &csv).await;
    // A second version, another learner: another file, with no verdict.
    let spec = p
        .model_spec(&["model.algorithm=\"decision_tree\"".into()])
        .unwrap();
    let out = p
        .train(&spec, &Default::default(), &gyre_ops::NoProgress)
        .await
        .unwrap();
    let (v, _) = p
        .register_model("elec", &out.run.to_string(), &Default::default())
        .await
        .unwrap();
    assert_eq!(v.version, 2);
    Arc::new(p)
}

/// A project in `dir` (already `gyre init`ed) with `spec` as its gyre.toml, `csv` as dataset
/// `elec`, and its `first_gate` step run: a first version registered, gated and champion.
pub async fn released(dir: &Path, spec: &str, csv: &str) -> Project {
    std::fs::write(dir.join("gyre.toml"), spec).unwrap();
    std::fs::write(dir.join("elec.csv"), csv).unwrap();
    let p = Project::open(dir).await.unwrap();
    p.add_dataset(
        &"elec".parse().unwrap(),
        Some(&dir.join("elec.csv")),
        &Default::default(),
        &gyre_ops::NoProgress,
    )
    .await
    .unwrap();
    let report = p
        .run_pipeline(
            &gyre_ops::pipeline::RunOptions {
                targets: vec!["first_gate".into()],
                jobs: 1,
                sets: Vec::new(),
                force: false,
            },
            &gyre_ops::pipeline::NoEvents,
        )
        .await
        .unwrap();
    assert!(!report.failed(), "{:?}", report.steps);
    p
}

pub async fn start(
    p: Arc<Project>,
    edit: impl FnOnce(&mut ServeOptions),
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let mut opts = ServeOptions::new("elec", "127.0.0.1:0".parse().unwrap());
    opts.automation = false;
    opts.poll = Duration::from_millis(50);
    edit(&mut opts);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        serve(
            p,
            opts,
            async {
                let _ = stopped.await;
            },
            move |addr, _| {
                let _ = bound_tx.send(addr);
            },
        )
        .await
        .unwrap();
    });
    (bound_rx.await.unwrap(), stop)
}

/// One raw HTTP/1.1 request; returns the status and the body as JSON (or a string).
pub fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req += &format!("host: {addr}\r\n");
    }
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += "\r\n";
    req += body;
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status: u16 = out.split(' ').nth(1).unwrap().parse().unwrap();
    let (head, text) = out.split_once("\r\n\r\n").unwrap();
    // Bodies may come chunked.
    let text = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut joined = String::new();
        let mut rest = text;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            joined += &after[..n];
            rest = &after[n + 2..];
        }
        joined
    } else {
        text.to_string()
    };
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

/// One Elec2 row, as MLflow's records.
pub const ROW: &str = r#"{"dataframe_records": [{"day": 2, "period": 0.5, "nswprice": 0.06, "nswdemand": 0.4, "vicprice": 0.003, "vicdemand": 0.4, "transfer": 0.4}]}"#;

/// A Python that imports `module`: `GYRE_TEST_MLFLOW_PYTHON` (the venv `.ci/run` makes), else
/// `python3`; None when neither has it (the caller says so and skips its client).
pub fn python_with(module: &str) -> Option<String> {
    [
        std::env::var("GYRE_TEST_MLFLOW_PYTHON").ok(),
        Some("python3".to_string()),
    ]
    .into_iter()
    .flatten()
    .find(|p| {
        std::process::Command::new(p)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// The ONNX Runtime library of a test Python's `onnxruntime` wheel, if there is one.
pub fn onnx_runtime() -> Option<std::path::PathBuf> {
    gyre_learn::onnx::wheel_library(&python_with("onnxruntime")?)
}
