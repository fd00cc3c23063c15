//! The real `mlflow` Python client against a live server: a user's tracking script runs
//! unchanged (tests/mlflow/client.py), and its runs are gyre runs.
//!
//! Needs a Python with `mlflow` (skinny is enough): `GYRE_TEST_MLFLOW_PYTHON` names it
//! (`.ci/run` makes one); else `python3` is tried; without either the test says so and passes.

mod common;

use common::{project_on, python_with, start};
use gyre_core::access::Role;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_mlflow_script_logs_to_gyre() {
    client_script(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_mlflow_script_logs_to_gyre_on_postgres() {
    let Some(url) = gyre_store::contract::fresh_postgres_database("mlflow").await else {
        return;
    };
    client_script(Some(&url)).await;
}

async fn client_script(store: Option<&str>) {
    let Some(python) = python_with("mlflow") else {
        eprintln!("no Python with mlflow (set GYRE_TEST_MLFLOW_PYTHON): skipping the client test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let p = project_on(dir.path(), store).await;
    let token = p
        .create_token("notebook", Role::Editor)
        .await
        .unwrap()
        .token;
    let (addr, stop) = start(p.clone(), |_| {}).await;
    let table = dir.path().join("table.csv");
    let summary = run_script(
        &python,
        "client.py",
        &[format!("http://{addr}"), table.display().to_string()],
        &token,
    );
    // The run is a gyre run: same store, same params and metrics.
    let id: gyre_core::run::RunId = summary["run"].as_str().unwrap().parse().unwrap();
    let run = p.meta.get_run(&id).await.unwrap();
    assert_eq!(run.start.name, "first");
    assert_eq!(run.params.get("alpha").map(String::as_str), Some("0.5"));
    assert_eq!(run.metrics.get("f1"), Some(&0.8));
    assert_eq!(run.status, gyre_core::run::RunStatus::Finished);
    // Its artifacts are objects of the store and outputs of the run.
    assert!(
        run.outputs
            .iter()
            .any(|o| o.starts_with("artifact:notes/hello.txt@")),
        "{:?}",
        run.outputs
    );
    let hello = p
        .meta
        .artifacts_under(&format!(
            "{}/{id}/artifacts/notes/",
            summary["experiment"].as_str().unwrap()
        ))
        .await
        .unwrap();
    assert_eq!(hello.len(), 1);
    assert_eq!(
        hello[0].hash,
        gyre_core::ContentHash::of(b"hello gyre").to_hex()
    );

    // Without a token the client cannot write.
    let out = tokio::task::block_in_place(|| {
        Command::new(&python)
            .args([
                "-c",
                "import mlflow,sys; mlflow.set_tracking_uri(sys.argv[1]); mlflow.set_experiment('x')",
            ])
            .arg(format!("http://{addr}"))
            .env_remove("MLFLOW_TRACKING_TOKEN")
            .output()
            .unwrap()
    });
    assert!(!out.status.success(), "an anonymous write was accepted");
    // The client says why, in MLflow's words.
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("UNAUTHENTICATED") && said.contains("gyre tokens create"),
        "{said}"
    );
    let _ = stop.send(());
}

/// A scikit-learn script with `mlflow.sklearn.autolog()`, then `log_model`, a metric linked
/// to the logged model, `register_model` and `pyfunc.load_model` (tests/mlflow/autolog.py),
/// unchanged against gyre.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sklearn_autolog_and_logged_models_work_end_to_end() {
    let Some(python) = python_with("mlflow, sklearn") else {
        eprintln!("no Python with mlflow and scikit-learn: skipping the autolog test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let p = project_on(dir.path(), None).await;
    let token = p.create_token("nb", Role::Editor).await.unwrap().token;
    let (addr, stop) = start(p.clone(), |_| {}).await;
    let summary = run_script(&python, "autolog.py", &[format!("http://{addr}")], &token);
    let id: gyre_core::run::RunId = summary["autolog_run"].as_str().unwrap().parse().unwrap();
    let run = p.meta.get_run(&id).await.unwrap();
    assert_eq!(run.params.get("C").map(String::as_str), Some("0.5"));
    assert!(run.metrics.contains_key("training_accuracy_score"));
    let linked = p
        .meta
        .model_metrics(summary["model_id"].as_str().unwrap())
        .await
        .unwrap();
    assert!(
        linked
            .iter()
            .any(|m| m.key == "holdout_accuracy" && m.value == 0.97),
        "{linked:?}"
    );
    let _ = stop.send(());
}

/// An ONNX model logged with `mlflow.onnx.log_model` and registered through the client
/// (tests/mlflow/onnx_model.py) is a servable gyre version: its graph runs in ONNX Runtime,
/// its inputs are the MLflow signature's columns, and it predicts what scikit-learn did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_onnx_model_logged_through_mlflow_is_served() {
    let (Some(python), Some(runtime)) =
        (python_with("mlflow, onnx, pandas"), common::onnx_runtime())
    else {
        eprintln!(
            "no Python with mlflow, onnx, pandas and onnxruntime: skipping the ONNX client test"
        );
        return;
    };
    gyre_learn::onnx::use_runtime(&runtime).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = project_on(dir.path(), None).await;
    let token = p.create_token("nb", Role::Editor).await.unwrap().token;
    let (addr, stop) = start(p.clone(), |_| {}).await;
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../gyre-learn/tests/fixtures/onnx");
    let adult = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/adult/adult.data");
    let summary = run_script(
        &python,
        "onnx_model.py",
        &[
            format!("http://{addr}"),
            fixtures.join("adult_pipeline.onnx").display().to_string(),
            adult.display().to_string(),
        ],
        &token,
    );
    assert_eq!(summary["version"], "1", "{summary}");
    let (v, loaded) = p.registered_model("adult@1").await.unwrap();
    assert_eq!(v.run_id.as_deref(), summary["run"].as_str());
    let m = &loaded.model;
    assert_eq!(m.algorithm, gyre_core::Algorithm::Onnx);
    let names: Vec<&str> = m.signature.inputs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names[1], "education-num",
        "the signature's column, not the graph's spelling"
    );
    // What the client sees as the version's source is where it logged the model.
    let source = gyre_ops::import::origin_of(m).unwrap().1;
    assert_eq!(
        source,
        format!("models:/{}", summary["model_id"].as_str().unwrap())
    );

    // It scores the fixture rows as scikit-learn did.
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures.join("expected.json")).unwrap()).unwrap();
    let case = &expected["cases"][1];
    assert_eq!(case["model"], "adult_pipeline.onnx");
    let text = std::fs::read_to_string(&adult).unwrap();
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split(',').map(str::trim).collect())
        .collect();
    let header = [
        "age",
        "workclass",
        "fnlwgt",
        "education",
        "education-num",
        "marital-status",
        "occupation",
        "relationship",
        "race",
        "sex",
        "capital-gain",
        "capital-loss",
        "hours-per-week",
        "native-country",
    ];
    let rows: Vec<usize> = serde_json::from_value(case["rows"].clone()).unwrap();
    let rows = &rows[..5];
    let inputs: Vec<gyre_learn::transform::Values> = m
        .signature
        .inputs
        .iter()
        .map(|c| {
            let at = header.iter().position(|h| *h == c.name).unwrap();
            let cells: Vec<Option<String>> = rows
                .iter()
                .map(|&r| Some(lines[r][at]).filter(|v| *v != "?").map(String::from))
                .collect();
            gyre_learn::model::typed(c.kind, cells).unwrap()
        })
        .collect();
    let refs: Vec<&gyre_learn::transform::Values> = inputs.iter().collect();
    let p_ = m
        .predict(&refs, &(0..rows.len()).collect::<Vec<_>>())
        .unwrap();
    for (r, want) in case["expected"].as_array().unwrap()[..5].iter().enumerate() {
        for (got, want) in p_.row(r).iter().zip(want.as_array().unwrap()) {
            assert!((got - want.as_f64().unwrap()).abs() <= 1e-5, "row {r}");
        }
    }
    let _ = stop.send(());
}

/// Runs `tests/mlflow/SCRIPT ARGS…` with the token as `MLFLOW_TRACKING_TOKEN`; the JSON
/// summary it prints last.
fn run_script(python: &str, script: &str, args: &[String], token: &str) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mlflow")
        .join(script);
    let out = tokio::task::block_in_place(|| {
        Command::new(python)
            .arg(&path)
            .args(args)
            .env("MLFLOW_TRACKING_TOKEN", token)
            .env_remove("MLFLOW_TRACKING_URI")
            .output()
            .unwrap()
    });
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(
        out.stdout
            .trim_ascii_end()
            .rsplit(|b| *b == b'\n')
            .next()
            .unwrap(),
    )
    .unwrap()
}
