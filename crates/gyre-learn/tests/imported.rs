//! XGBoost and LightGBM models, evaluated by gyre, against the predictions their own
//! libraries made (fixtures/make_imported.py) on the shared datasets.

mod shared;

use gyre_learn::import::{self, Source};
use gyre_learn::model::{Lineage, Model};
use gyre_learn::transform::Values;
use serde::Deserialize;
use shared::read;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/imported")
}

#[derive(Deserialize)]
struct Expected {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    model: String,
    data: String,
    inputs: Option<Vec<String>>,
    rows: Vec<usize>,
    expected: Vec<Vec<f64>>,
}

/// The model's input columns of a shared dataset, typed by its signature.
fn columns(data: &str, model: &Model) -> Vec<Values> {
    let (header, records) = read(data);
    model
        .signature
        .inputs
        .iter()
        .map(|c| {
            let at = header.iter().position(|h| *h == c.name).unwrap();
            let cells = records.iter().map(|r| r[at].clone()).collect();
            gyre_learn::model::typed(c.kind, cells).unwrap()
        })
        .collect()
}

fn header(data: &str) -> Vec<String> {
    read(data).0
}

fn model_of(case: &Case) -> Model {
    let bytes = std::fs::read(fixtures().join(&case.model)).unwrap();
    let trees = import::parse(&bytes).unwrap();
    let want = if case.model.ends_with(".json") {
        Source::Xgboost
    } else {
        Source::Lightgbm
    };
    assert_eq!(trees.source, want, "{}", case.model);
    // The file's own names when it has them; a bare matrix's columns are the file's first.
    let inputs = match (trees.names(), &case.inputs) {
        (Some(names), Some(given)) => {
            assert_eq!(names, given.as_slice(), "{}: names in the file", case.model);
            names.to_vec()
        }
        (None, None) => header(&case.data)[..trees.n_features].to_vec(),
        (names, given) => panic!("{}: names {names:?}, given {given:?}", case.model),
    };
    let classes = (0..trees.classes()).map(|c| c.to_string()).collect();
    trees
        .into_model(inputs, "target".into(), classes, Lineage::default())
        .unwrap()
}

#[test]
fn predictions_equal_the_source_libraries() {
    let expected: Expected =
        serde_json::from_slice(&std::fs::read(fixtures().join("expected.json")).unwrap()).unwrap();
    assert_eq!(expected.cases.len(), 11);
    for case in &expected.cases {
        let model = model_of(case);
        let cols = columns(&case.data, &model);
        let refs: Vec<&Values> = cols.iter().collect();
        let p = model.predict(&refs, &case.rows).unwrap();
        shared::agrees(&case.model, &p, &case.expected);
        // The same through the model file, which says it holds an imported learner.
        let bytes = model.to_bytes();
        assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 3);
        let back = Model::from_bytes(&bytes).unwrap();
        assert_eq!(back.predict(&refs, &case.rows).unwrap().values, p.values);
    }
}

#[test]
fn missing_values_follow_each_library() {
    // The housing fixtures score every row with a missing total_bedrooms: they pass above
    // only if NaN takes XGBoost's default branch and LightGBM's missing-type rule.
    let expected: Expected =
        serde_json::from_slice(&std::fs::read(fixtures().join("expected.json")).unwrap()).unwrap();
    let case = expected
        .cases
        .iter()
        .find(|c| c.model == "housing.lgb.txt")
        .unwrap();
    let model = model_of(case);
    let cols = columns(&case.data, &model);
    let Values::Numeric(beds) = &cols[model
        .features
        .iter()
        .position(|f| f == "total_bedrooms")
        .unwrap()]
    else {
        unreachable!()
    };
    let missing = case.rows.iter().filter(|&&r| beds[r].is_none()).count();
    assert!(missing >= 200, "{missing} scored rows with a missing value");
}

fn err(bytes: &[u8]) -> String {
    import::parse(bytes).unwrap_err().to_string()
}

#[test]
fn what_is_not_evaluated_is_refused_by_name() {
    let xgb = std::fs::read_to_string(fixtures().join("breast_cancer.xgb.json")).unwrap();
    let lgb = std::fs::read_to_string(fixtures().join("breast_cancer.lgb.txt")).unwrap();

    let e = err(xgb.replace("binary:logistic", "rank:pairwise").as_bytes());
    assert!(e.contains("objective `rank:pairwise`"), "{e}");
    let e = err(xgb
        .replacen("\"split_type\":[0", "\"split_type\":[1", 1)
        .as_bytes());
    // A categorical split must come with its set of categories.
    assert!(e.contains("categorical node 0 has no category set"), "{e}");
    let e = err(xgb
        .replace("\"name\":\"gbtree\"", "\"name\":\"gblinear\"")
        .as_bytes());
    assert!(e.contains("booster `gblinear`"), "{e}");
    let e = err(&xgb.as_bytes()[..xgb.len() / 2]);
    assert!(
        e.starts_with("XGBoost model: not an XGBoost JSON model (line 1"),
        "{e}"
    );

    let e = err(lgb
        .replace("objective=binary sigmoid:1", "objective=lambdarank")
        .as_bytes());
    assert!(e.contains("objective `lambdarank`"), "{e}");
    let e = err(lgb
        .replacen("decision_type=2", "decision_type=3", 1)
        .as_bytes());
    // A categorical split must name one of its tree's category sets.
    assert!(e.contains("node 0 names category set 868.2"), "{e}");
    let e = err(lgb.replacen("is_linear=0", "is_linear=1", 1).as_bytes());
    assert!(e.contains("linear trees"), "{e}");
    let e = err(&lgb.as_bytes()[..lgb.len() / 2]);
    assert!(e.contains("cut short"), "{e}");
    let e = err(lgb.replacen("left_child=1", "left_child=0", 1).as_bytes());
    assert!(
        e.contains("reached twice") || e.contains("not a tree"),
        "{e}"
    );
    let e = err(lgb.replacen("threshold=", "threshold=x", 1).as_bytes());
    assert!(e.contains("`threshold` holds `x"), "{e}");

    let e = err(b"\x00\x01GYREMODL");
    assert!(e.contains("neither an XGBoost JSON model"), "{e}");
}

#[test]
fn the_signature_must_fit_the_trees() {
    let bytes = std::fs::read(fixtures().join("wine.xgb.json")).unwrap();
    let trees = import::parse(&bytes).unwrap();
    let names = trees.names().unwrap().to_vec();
    let e = trees
        .clone()
        .into_model(
            names[1..].to_vec(),
            "t".into(),
            vec!["a".into(); 3],
            Lineage::default(),
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("imported trees for 13 features, given 12"),
        "{e}"
    );
    let e = trees
        .into_model(
            names,
            "t".into(),
            vec!["a".into(), "b".into()],
            Lineage::default(),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("predicts 3 classes, but 2 were given"), "{e}");
}
