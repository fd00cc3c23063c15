//! The quality bar's preprocessing on Adult against scikit-learn's ColumnTransformer
//! (`fixtures/transforms.json`, made by `fixtures/make_transforms.py`).

use gyre_core::Transform;
use gyre_learn::split::split;
use gyre_learn::transform::{Pipeline, Values, fit};
use serde_json::Value;
use std::path::Path;

const ADULT: &str = "age,workclass,fnlwgt,education,education-num,marital-status,occupation,relationship,race,sex,capital-gain,capital-loss,hours-per-week,native-country,income";

#[test]
fn adult_preprocessing_matches_scikit_learn() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let want: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("tests/fixtures/transforms.json")).unwrap(),
    )
    .unwrap();
    let names: Vec<&str> = ADULT.split(',').collect();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .from_path(root.join("../../../shared/data/adult/adult.data"))
        .unwrap();
    let records: Vec<csv::StringRecord> = rdr
        .records()
        .map(|r| r.unwrap())
        .filter(|r| r.len() > 1)
        .collect();
    let column = |name: &str, numeric: bool| -> Values {
        let i = names.iter().position(|n| *n == name).unwrap();
        let raw = records
            .iter()
            .map(|r| Some(r[i].to_string()).filter(|v| v != "?"));
        if numeric {
            Values::Numeric(raw.map(|v| v.map(|s| s.parse().unwrap())).collect())
        } else {
            Values::Text(raw.collect())
        }
    };
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let mut columns = Vec::new();
    for c in strings(&want["numeric"]) {
        columns.push((c.clone(), column(&c, true)));
    }
    for c in strings(&want["categorical"]) {
        columns.push((c.clone(), column(&c, false)));
    }
    let (train, test) = split(
        records.len(),
        &gyre_core::Split::Rule { every: 5, index: 4 },
        0,
    );
    let fitted = columns
        .iter()
        .map(|(name, values)| fit(name, values, &train, &Transform::default()).unwrap())
        .collect();
    let pipeline = Pipeline { columns: fitted };
    assert_eq!(pipeline.feature_names(), strings(&want["features"]));
    let inputs: Vec<&Values> = columns.iter().map(|(_, v)| v).collect();
    let m = pipeline.transform(&inputs, &test).unwrap();
    let width = pipeline.feature_names().len();
    assert_eq!(test.len() as u64, want["rows"].as_u64().unwrap());
    for (j, s) in want["column_sums"].as_array().unwrap().iter().enumerate() {
        let got: f64 = (0..test.len()).map(|r| m[r * width + j]).sum();
        let s = s.as_f64().unwrap();
        assert!(
            (got - s).abs() <= 1e-9 * s.abs().max(1000.0),
            "feature {j}: {got} vs {s}"
        );
    }
    for (r, row) in want["first_rows"].as_array().unwrap().iter().enumerate() {
        for (j, x) in row.as_array().unwrap().iter().enumerate() {
            let x = x.as_f64().unwrap();
            assert!(
                (m[r * width + j] - x).abs() <= 1e-12 * x.abs().max(1.0),
                "row {r} feature {j}"
            );
        }
    }
}
