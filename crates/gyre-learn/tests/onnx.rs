//! ONNX models exported from scikit-learn (fixtures/make_onnx.py), run through ONNX Runtime,
//! against scikit-learn's own predictions on the shared datasets. The runtime comes from the
//! `onnxruntime` wheel of the Python that `.ci/run` sets up; without one the test says so
//! and skips.

mod shared;

use gyre_learn::model::{Lineage, Model};
use gyre_learn::onnx::{self, OnnxModel};
use gyre_learn::transform::Values;
use serde::Deserialize;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx")
}

/// The ONNX Runtime library of the test Python's `onnxruntime` wheel.
fn runtime() -> Option<PathBuf> {
    [
        std::env::var("GYRE_TEST_MLFLOW_PYTHON").ok(),
        Some("python3".into()),
    ]
    .into_iter()
    .flatten()
    .find_map(|py| onnx::wheel_library(&py))
}

#[derive(Deserialize)]
struct Expected {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    model: String,
    data: String,
    inputs: Vec<String>,
    rows: Vec<usize>,
    classes: Option<Vec<String>>,
    expected: Vec<Vec<f64>>,
}

/// The model's columns of a shared dataset: numbers where it takes numbers, text (missing is
/// `None`, which gyre hands a graph as the empty string) where it takes text.
fn columns(case: &Case, model: &OnnxModel) -> Vec<Values> {
    let (header, records) = shared::read(&case.data);
    case.inputs
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let at = header.iter().position(|h| h == name).unwrap();
            let cells = records.iter().map(|r| r[at].clone());
            if model.is_text(i) {
                Values::Text(cells.collect())
            } else {
                Values::Numeric(cells.map(|c| c.and_then(|v| v.parse().ok())).collect())
            }
        })
        .collect()
}

#[test]
fn onnx_predictions_equal_scikit_learns() {
    let Some(lib) = runtime() else {
        eprintln!("no Python with onnxruntime: skipping the ONNX tests");
        return;
    };
    onnx::use_runtime(&lib).unwrap();
    let expected: Expected =
        serde_json::from_slice(&std::fs::read(fixtures().join("expected.json")).unwrap()).unwrap();
    assert_eq!(expected.cases.len(), 3);
    for case in &expected.cases {
        let bytes = std::fs::read(fixtures().join(&case.model)).unwrap();
        let graph = OnnxModel::inspect(bytes).unwrap();
        let cols = columns(case, &graph);
        let classes = case
            .classes
            .clone()
            .unwrap_or_else(|| (0..graph.classes()).map(|c| c.to_string()).collect());
        let model = graph
            .into_model(case.inputs.clone(), "y".into(), classes, Lineage::default())
            .unwrap();
        let refs: Vec<&Values> = cols.iter().collect();
        let p = model.predict(&refs, &case.rows).unwrap();
        shared::agrees(&case.model, &p, &case.expected);
        // Through the model file (format 3), and in parallel chunks for a large batch.
        let back = Model::from_bytes(&model.to_bytes()).unwrap();
        assert_eq!(back.predict(&refs, &case.rows).unwrap().values, p.values);
        let all: Vec<usize> = (0..cols[0].len()).collect();
        let many = back.predict(&refs, &all).unwrap();
        for (r, &row) in case.rows.iter().enumerate() {
            assert_eq!(many.row(row), p.row(r), "{} row {row}", case.model);
        }
    }

    // What the graph does not fit is refused before anything is stored.
    let bytes = std::fs::read(fixtures().join("breast_cancer_lr.onnx")).unwrap();
    let e = OnnxModel::inspect(bytes)
        .unwrap()
        .into_model(
            vec!["a".into(); 3],
            "y".into(),
            vec!["0".into(), "1".into()],
            Lineage::default(),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("ONNX model for 30 inputs, given 3"), "{e}");
    let e = OnnxModel::inspect(b"not a graph".to_vec())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("ONNX model: "), "{e}");
}
