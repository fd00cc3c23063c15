//! The quality bar (issue 4): gyre's learners on the shared datasets, with the split
//! and preprocessing, within 1 point of scikit-learn 1.9.1's figures (`fixtures/quality.json`).

use gyre_core::{Split, Transform};
use gyre_learn::linear::LinearModel;
use gyre_learn::metrics::{Probabilities, classification, regression};
use gyre_learn::split::split;
use gyre_learn::transform::{Pipeline, Values, fit};
use serde_json::Value;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn reference(data: &str, learner: &str, metric: &str) -> f64 {
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/fixtures/quality.json")).unwrap(),
    )
    .unwrap();
    v[data][learner][metric]
        .as_f64()
        .unwrap_or_else(|| panic!("no {data}/{learner}/{metric}"))
}

/// Reads a CSV into columns: numeric when every present value parses.
fn load(path: &str, header: Option<&str>, nulls: &[&str]) -> (Vec<String>, Vec<Values>) {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(header.is_none())
        .trim(csv::Trim::All)
        .from_path(root().join("../../../shared/data").join(path))
        .unwrap();
    let names: Vec<String> = match header {
        Some(h) => h.split(',').map(String::from).collect(),
        None => rdr.headers().unwrap().iter().map(String::from).collect(),
    };
    let records: Vec<csv::StringRecord> = rdr
        .records()
        .map(|r| r.unwrap())
        .filter(|r| r.len() > 1)
        .collect();
    let cols = (0..names.len())
        .map(|i| {
            let raw: Vec<Option<String>> = records
                .iter()
                .map(|r| {
                    Some(r[i].to_string()).filter(|v| !v.is_empty() && !nulls.contains(&v.as_str()))
                })
                .collect();
            if raw.iter().flatten().all(|v| v.parse::<f64>().is_ok()) {
                Values::Numeric(
                    raw.iter()
                        .map(|v| v.as_ref().map(|s| s.parse().unwrap()))
                        .collect(),
                )
            } else {
                Values::Text(raw)
            }
        })
        .collect();
    (names, cols)
}

/// Features (all columns but the target and `drop`) through the default transforms.
fn features(
    names: &[String],
    cols: &[Values],
    target: &str,
    drop: &[&str],
    train: &[usize],
    test: &[usize],
) -> (Vec<f64>, Vec<f64>, usize) {
    let chosen: Vec<usize> = (0..names.len())
        .filter(|&i| names[i] != target && !drop.contains(&names[i].as_str()))
        .collect();
    let fitted = chosen
        .iter()
        .map(|&i| fit(&names[i], &cols[i], train, &Transform::default()).unwrap())
        .collect();
    let pipeline = Pipeline { columns: fitted };
    let inputs: Vec<&Values> = chosen.iter().map(|&i| &cols[i]).collect();
    let width = pipeline.feature_names().len();
    (
        pipeline.transform(&inputs, train).unwrap(),
        pipeline.transform(&inputs, test).unwrap(),
        width,
    )
}

#[test]
fn logistic_regression_on_adult() {
    let header = "age,workclass,fnlwgt,education,education-num,marital-status,occupation,relationship,race,sex,capital-gain,capital-loss,hours-per-week,native-country,income";
    let (names, cols) = load("adult/adult.data", Some(header), &["?"]);
    let n = cols[0].len();
    let (train, test) = split(n, &Split::Rule { every: 5, index: 4 }, 0);
    let (xtr, xte, width) = features(&names, &cols, "income", &[], &train, &test);
    let Values::Text(y) = &cols[14] else {
        panic!("income is text")
    };
    let classes = vec!["<=50K".to_string(), ">50K".to_string()];
    let idx = |i: usize| {
        classes
            .iter()
            .position(|c| Some(c) == y[i].as_ref())
            .unwrap() as u32
    };
    let ytr: Vec<u32> = train.iter().map(|&i| idx(i)).collect();
    let started = std::time::Instant::now();
    let model =
        LinearModel::logistic(&xtr, train.len(), width, &ytr, classes.clone(), 1.0).unwrap();
    eprintln!(
        "adult logistic regression: fitted in {:.3} s",
        started.elapsed().as_secs_f64()
    );
    let rows: Vec<Vec<f64>> = (0..test.len())
        .map(|r| model.predict_proba(&xte[r * width..(r + 1) * width]))
        .collect();
    let pred: Vec<String> = rows
        .iter()
        .map(|p| classes[usize::from(p[1] > p[0])].clone())
        .collect();
    let truth: Vec<String> = test.iter().map(|&i| y[i].clone().unwrap()).collect();
    let m = classification(
        &truth,
        &pred,
        Some(&Probabilities {
            classes: &classes,
            rows: &rows,
        }),
        Some(">50K"),
    )
    .unwrap();
    let (acc, auc) = (
        reference("adult", "logistic_regression", "accuracy"),
        reference("adult", "logistic_regression", "roc_auc"),
    );
    eprintln!(
        "adult logistic regression: accuracy {:.4} (scikit-learn {acc}), AUC {:.4} (scikit-learn {auc})",
        m.accuracy,
        m.roc_auc.unwrap()
    );
    assert!(m.accuracy >= acc - 0.01, "accuracy {} vs {acc}", m.accuracy);
    assert!(
        m.roc_auc.unwrap() >= auc - 0.01,
        "AUC {:?} vs {auc}",
        m.roc_auc
    );
}

#[test]
fn ridge_on_california_housing() {
    let (names, cols) = load("california_housing/housing.csv", None, &[]);
    let n = cols[0].len();
    let (train, test) = split(n, &Split::Rule { every: 5, index: 4 }, 0);
    let t = names
        .iter()
        .position(|c| c == "median_house_value")
        .unwrap();
    let (xtr, xte, width) = features(&names, &cols, "median_house_value", &[], &train, &test);
    let Values::Numeric(y) = &cols[t] else {
        panic!("the target is numeric")
    };
    let ytr: Vec<f64> = train.iter().map(|&i| y[i].unwrap()).collect();
    let model = LinearModel::ridge(&xtr, train.len(), width, &ytr, 1.0).unwrap();
    let pred: Vec<f64> = (0..test.len())
        .map(|r| model.predict_value(&xte[r * width..(r + 1) * width]))
        .collect();
    let truth: Vec<f64> = test.iter().map(|&i| y[i].unwrap()).collect();
    let m = regression(&truth, &pred).unwrap();
    let r2 = reference("california_housing", "ridge", "r2");
    eprintln!("housing ridge: R² {:.4} (scikit-learn {r2})", m.r2);
    assert!(m.r2 >= r2 - 0.01, "R² {} vs {r2}", m.r2);
}
