//! Models trained elsewhere through the real binary: an XGBoost JSON and a LightGBM text
//! model registered (signature from a dataset version or a signature file), gated by
//! running them on `[gate] dataset`, served over HTTP with the probabilities their own
//! libraries give, and what cannot be evaluated refused with its reason.

mod common;

use common::server::Server;
use common::{Project, shared};
use serde_json::{Value, json};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../gyre-learn/tests/fixtures/imported")
        .join(name)
}

fn fixture_str(name: &str) -> String {
    fixture(name).to_str().unwrap().to_string()
}

/// The source library's probabilities for `model` (fixtures/make_imported.py), by row.
fn expected(model: &str) -> (Vec<usize>, Vec<Vec<f64>>) {
    let all: Value =
        serde_json::from_slice(&std::fs::read(fixture("expected.json")).unwrap()).unwrap();
    let case = all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == model)
        .unwrap()
        .clone();
    (
        serde_json::from_value(case["rows"].clone()).unwrap(),
        serde_json::from_value(case["expected"].clone()).unwrap(),
    )
}

const SPEC: &str = r#"
[gate]
min = { accuracy = 0.95, f1 = 0.95 }
dataset = "cancer"
"#;

#[test]
fn an_xgboost_model_is_registered_gated_and_served() {
    let p = Project::init();
    let data = shared("breast_cancer/breast_cancer.csv");
    p.ok(&["data", "add", "cancer", data.to_str().unwrap()]);
    p.append_spec(SPEC);
    let model = fixture_str("breast_cancer.xgb.json");

    // The target is not in the file: without it, a clear refusal and nothing registered.
    let r = p.gyre(&["models", "register", "cancer", &model]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("name the target"), "{}", r.stderr);
    let r = p.gyre(&["models", "list", "--json"]);
    assert_eq!(r.json().as_array().unwrap().len(), 0);

    let r = p
        .ok(&[
            "models",
            "register",
            "cancer",
            &model,
            "--dataset",
            "cancer",
            "--target",
            "target",
            "--json",
        ])
        .json();
    assert_eq!(r["version"]["version"], 1);
    let show = p.ok(&["models", "show", "cancer@1", "--json"]).json();
    assert_eq!(show["algorithm"], "xgboost");
    assert_eq!(show["target"], "target");
    assert_eq!(show["classes"], json!(["0", "1"]));
    assert_eq!(show["inputs"].as_array().unwrap().len(), 30);
    assert_eq!(show["inputs"][0], json!(["mean_radius", "number"]));
    assert_eq!(
        show["datasets"][0].as_str().unwrap().split(':').next(),
        Some("cancer@1")
    );
    // The original file is kept, by hash, and named in the version's lineage.
    let original = blake3::hash(&std::fs::read(&model).unwrap())
        .to_hex()
        .to_string();
    assert_eq!(show["imported"]["file"], original.as_str());
    assert_eq!(show["imported"]["from"], model.as_str());
    let text = p.ok(&["models", "show", "cancer@1"]).stdout;
    assert!(
        text.contains(&format!(
            "imported   from {model} (file:{})",
            &original[..12]
        )),
        "{text}"
    );

    // The gate runs the model on [gate] dataset, since it has no test figures of its own.
    let v = p.ok(&["models", "validate", "cancer@1", "--json"]).json();
    assert_eq!(v["passed"], true, "{v}");
    let acc = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "accuracy ≥ min")
        .unwrap();
    assert!(
        acc["found"].as_str().unwrap().parse::<f64>().unwrap() > 0.95,
        "{acc}"
    );
    p.ok(&["models", "alias", "cancer@1", "champion"]);

    // Served: the probabilities XGBoost itself gives, within 1e-5.
    let (rows, want) = expected("breast_cancer.xgb.json");
    let mut reader = csv::Reader::from_path(&data).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let columns: Vec<&str> = header[..30].iter().map(String::as_str).collect();
    let data_rows: Vec<Vec<f64>> = rows
        .iter()
        .map(|&r| (0..30).map(|c| records[r][c].parse().unwrap()).collect())
        .collect();
    let s = Server::start(&p, "cancer", &[]);
    let body = json!({"dataframe_split": {"columns": columns, "data": data_rows}});
    let (status, got, version) = s.post("/invocations", "application/json", &body.to_string());
    assert_eq!(status, 200, "{got}");
    assert_eq!(version.as_deref(), Some("cancer@1"));
    assert_eq!(got["classes"], json!(["0", "1"]));
    let preds = got["probabilities"].as_array().unwrap();
    assert_eq!(preds.len(), rows.len(), "{got}");
    for (p, w) in preds.iter().zip(&want) {
        let probs: Vec<f64> = serde_json::from_value(p.clone()).unwrap();
        for (a, b) in probs.iter().zip(w) {
            assert!((a - b).abs() <= 1e-5, "{probs:?} vs {w:?}");
        }
    }
    s.stop();
}

#[test]
fn a_lightgbm_model_takes_its_signature_from_a_file() {
    let p = Project::init();
    let model = fixture_str("iris_matrix.lgb.txt");
    // Trained on a bare matrix: the file names no features, and the dataset has a column
    // (target_name) the model does not read, so a signature file says what it takes.
    let sig = p.root().join("iris.signature.toml");
    std::fs::write(
        &sig,
        r#"inputs = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
target = "target_name"
classes = ["setosa", "versicolor", "virginica"]
"#,
    )
    .unwrap();
    let r = p.gyre(&[
        "models",
        "register",
        "iris",
        &model,
        "--target",
        "target_name",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("names no features"), "{}", r.stderr);
    p.ok(&[
        "models",
        "register",
        "iris",
        &model,
        "--signature",
        sig.to_str().unwrap(),
    ]);
    let show = p.ok(&["models", "show", "iris", "--json"]).json();
    assert_eq!(show["algorithm"], "lightgbm");
    assert_eq!(
        show["classes"],
        json!(["setosa", "versicolor", "virginica"])
    );

    // Batch scoring through `gyre predict`, against LightGBM's own probabilities.
    let out = p.root().join("scored.csv");
    p.ok(&[
        "predict",
        "iris@1",
        "--input",
        shared("iris/iris.csv").to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    let (rows, want) = expected("iris_matrix.lgb.txt");
    let mut reader = csv::Reader::from_path(&out).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let cols: Vec<usize> = ["setosa", "versicolor", "virginica"]
        .iter()
        .map(|c| header.iter().position(|h| h.ends_with(c)).unwrap())
        .collect();
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(records.len(), 150);
    for (&r, w) in rows.iter().zip(&want) {
        for (&c, b) in cols.iter().zip(w) {
            let a: f64 = records[r][c].parse().unwrap();
            assert!((a - b).abs() <= 1e-5, "row {r}: {a} vs {b}");
        }
    }
}

#[test]
fn what_gyre_cannot_evaluate_is_refused_and_nothing_is_stored() {
    let p = Project::init();
    let text = std::fs::read_to_string(fixture("breast_cancer.lgb.txt")).unwrap();
    let bad = p.root().join("linear.txt");
    std::fs::write(&bad, text.replacen("is_linear=0", "is_linear=1", 1)).unwrap();
    let r = p.gyre(&[
        "models",
        "register",
        "m",
        bad.to_str().unwrap(),
        "--target",
        "y",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("LightGBM model: tree 0: linear trees"),
        "{}",
        r.stderr
    );
    // A signature option on a gyre model (or a run) is a mistake, not ignored.
    let r = p.gyre(&["models", "register", "m", "model:00", "--target", "y"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = p.gyre(&["models", "list", "--json"]);
    assert_eq!(r.json().as_array().unwrap().len(), 0);
}

/// The ONNX Runtime library of the test Python's `onnxruntime` wheel, if there is one.
fn onnx_runtime() -> Option<String> {
    [
        std::env::var("GYRE_TEST_MLFLOW_PYTHON").ok(),
        Some("python3".into()),
    ]
    .into_iter()
    .flatten()
    .find_map(|py| gyre_learn::onnx::wheel_library(&py))
    .map(|p| p.display().to_string())
}

fn onnx_fixture(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../gyre-learn/tests/fixtures/onnx")
        .join(name)
}

#[test]
fn an_onnx_pipeline_with_text_inputs_is_registered_and_served() {
    let Some(runtime) = onnx_runtime() else {
        eprintln!("no Python with onnxruntime: skipping the ONNX serving test");
        return;
    };
    let p = Project::init();
    p.add_adult("adult");
    let model = onnx_fixture("adult_pipeline.onnx");
    let model = model.to_str().unwrap();
    let with_runtime = |args: &[&str], runtime: &str| {
        let out = p
            .command(args)
            .env("GYRE_ONNXRUNTIME", runtime)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Without the runtime: the error says how to get it, and nothing is registered.
    let args = [
        "models",
        "register",
        "income",
        model,
        "--dataset",
        "adult",
        "--target",
        "income",
    ];
    let (code, _, err) = with_runtime(&args, "/nonexistent/libonnxruntime.so");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("pip install onnxruntime"), "{err}");
    assert_eq!(p.ok(&["models", "list", "--json"]).json(), json!([]));

    let (code, _, err) = with_runtime(&args, &runtime);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = with_runtime(&["models", "show", "income@1", "--json"], &runtime);
    let show: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(show["algorithm"], "onnx");
    assert_eq!(show["classes"], json!(["<=50K", ">50K"]));
    // The graph's `education_num` is the dataset's `education-num`; text stays text.
    assert_eq!(show["inputs"][1], json!(["education-num", "number"]));
    assert_eq!(show["inputs"][5], json!(["workclass", "text"]));
    p.ok(&["models", "alias", "income@1", "champion", "--force"]);

    // Served, with the runtime the server was given: scikit-learn's probabilities.
    let all: Value =
        serde_json::from_slice(&std::fs::read(onnx_fixture("expected.json")).unwrap()).unwrap();
    let case = all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == "adult_pipeline.onnx")
        .unwrap();
    let names: Vec<String> = serde_json::from_value(case["inputs"].clone()).unwrap();
    let rows: Vec<usize> = serde_json::from_value(case["rows"].clone()).unwrap();
    let want: Vec<Vec<f64>> = serde_json::from_value(case["expected"].clone()).unwrap();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .from_path(shared("adult/adult.data"))
        .unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let header: Vec<&str> = common::ADULT_COLUMNS.split(',').collect();
    let records_json: Vec<Value> = rows
        .iter()
        .map(|&r| {
            let mut m = serde_json::Map::new();
            for n in &names {
                let v = &records[r][header.iter().position(|h| h == n).unwrap()];
                m.insert(
                    n.clone(),
                    match v.parse::<f64>() {
                        Ok(x) => json!(x),
                        Err(_) if v == "?" => Value::Null,
                        Err(_) => json!(v),
                    },
                );
            }
            Value::Object(m)
        })
        .collect();
    let s = Server::start_with_env(&p, "income", &[], &[("GYRE_ONNXRUNTIME", &runtime)]);
    let body = json!({ "dataframe_records": records_json });
    let (status, got, _) = s.post("/invocations", "application/json", &body.to_string());
    assert_eq!(status, 200, "{got}");
    let probs: Vec<Vec<f64>> = serde_json::from_value(got["probabilities"].clone()).unwrap();
    assert_eq!(probs.len(), rows.len());
    for (a, b) in probs.iter().zip(&want) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-5, "{a:?} vs {b:?}");
        }
    }
    s.stop();
}
