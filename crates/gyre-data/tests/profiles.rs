//! Profiles of the shared datasets, checked against pandas/numpy reference values stored in
//! `fixtures/profiles.json` (made by `fixtures/make_profiles.py`).

use gyre_core::{ColumnProfile, ColumnType, DatasetProfile, FileFormat, ReadOptions};
use gyre_data::{InputFile, merge_profiles, profile_file};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel)
}

fn fixtures() -> Value {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/profiles.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn profile(path: &Path, format: FileFormat, opts: &ReadOptions) -> DatasetProfile {
    let file = InputFile {
        path: path.to_path_buf(),
        display: path.display().to_string(),
        format,
    };
    let p = profile_file(&file, opts, &|_| {}).unwrap();
    merge_profiles(vec![(file.display, p)]).unwrap()
}

fn close(a: f64, b: f64, what: &str) {
    let tol = 1e-9 * a.abs().max(b.abs()).max(1.0);
    assert!((a - b).abs() <= tol, "{what}: gyre {a} vs pandas {b}");
}

fn check_column(c: &ColumnProfile, want: &Value) {
    let name = &c.name;
    assert_eq!(
        c.dtype.as_str(),
        want["type"].as_str().unwrap(),
        "{name} type"
    );
    assert_eq!(c.count, want["count"].as_u64().unwrap(), "{name} count");
    assert_eq!(c.nulls, want["nulls"].as_u64().unwrap(), "{name} nulls");
    assert_eq!(
        c.distinct,
        want["distinct"].as_u64().unwrap(),
        "{name} distinct"
    );
    assert!(c.distinct_exact);
    if let Some(w) = want.get("numeric") {
        let n = c.numeric.as_ref().expect("numeric stats");
        assert!(n.exact);
        assert_eq!(n.min, w["min"].as_f64().unwrap(), "{name} min");
        assert_eq!(n.max, w["max"].as_f64().unwrap(), "{name} max");
        close(n.mean, w["mean"].as_f64().unwrap(), &format!("{name} mean"));
        close(n.std, w["std"].as_f64().unwrap(), &format!("{name} std"));
        for (q, wq) in n.quantiles.iter().zip(w["quantiles"].as_array().unwrap()) {
            close(q.value, wq.as_f64().unwrap(), &format!("{name} q{}", q.q));
        }
        let counts: Vec<u64> = w["histogram"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        assert_eq!(n.histogram.counts, counts, "{name} histogram");
        for (e, we) in n.histogram.edges.iter().zip(w["edges"].as_array().unwrap()) {
            close(*e, we.as_f64().unwrap(), &format!("{name} edge"));
        }
    } else {
        let counts = want["value_counts"].as_object().unwrap();
        assert!(!c.top_values.is_empty(), "{name} has top values");
        for v in &c.top_values {
            assert_eq!(
                Some(v.count),
                counts.get(&v.value).and_then(Value::as_u64),
                "{name} count of `{}`",
                v.value
            );
        }
        let most = counts.values().map(|v| v.as_u64().unwrap()).max().unwrap();
        assert_eq!(c.top_values[0].count, most, "{name} most frequent first");
    }
}

fn check(profile: &DatasetProfile, want: &Value) {
    assert_eq!(profile.rows, want["rows"].as_u64().unwrap());
    let cols = want["columns"].as_array().unwrap();
    assert_eq!(profile.columns.len(), cols.len());
    for (c, w) in profile.columns.iter().zip(cols) {
        assert_eq!(c.name, w["name"].as_str().unwrap());
        check_column(c, w);
    }
}

pub fn adult_options() -> ReadOptions {
    ReadOptions {
        header: false,
        columns: Some(
            "age,workclass,fnlwgt,education,education-num,marital-status,occupation,relationship,race,sex,capital-gain,capital-loss,hours-per-week,native-country,income"
                .split(',')
                .map(String::from)
                .collect(),
        ),
        null_values: vec!["?".into()],
        skip_initial_space: true,
        ..ReadOptions::default()
    }
}

#[test]
fn adult_matches_pandas() {
    let p = profile(
        &shared("adult/adult.data"),
        FileFormat::Csv,
        &adult_options(),
    );
    check(&p, &fixtures()["adult"]);
    assert_eq!(p.rows, 32_561);
    assert_eq!(p.column("workclass").unwrap().nulls, 1_836);
}

#[test]
fn elec2_matches_pandas() {
    let p = profile(
        &shared("elec2/elec2_first_half.csv"),
        FileFormat::Csv,
        &ReadOptions::default(),
    );
    check(&p, &fixtures()["elec2"]);
    let class = p.column("class").unwrap();
    let counts: Vec<(&str, u64)> = class
        .top_values
        .iter()
        .map(|v| (v.value.as_str(), v.count))
        .collect();
    assert_eq!(counts, [("DOWN", 12_925), ("UP", 9_731)]);
}

#[test]
fn california_housing_matches_pandas() {
    let p = profile(
        &shared("california_housing/housing.csv"),
        FileFormat::Csv,
        &ReadOptions::default(),
    );
    check(&p, &fixtures()["california_housing"]);
}

#[test]
fn parquet_and_csv_agree() {
    let csv = profile(
        &shared("iris/iris.csv"),
        FileFormat::Csv,
        &ReadOptions::default(),
    );
    let pq_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/iris.parquet");
    assert_eq!(gyre_data::detect_format(&pq_path), FileFormat::Parquet);
    let pq = profile(&pq_path, FileFormat::Parquet, &ReadOptions::default());
    assert_eq!(pq.rows, 150);
    for (a, b) in csv.columns.iter().zip(&pq.columns) {
        assert_eq!((a.name.as_str(), a.dtype), (b.name.as_str(), b.dtype));
        assert_eq!(
            (a.count, a.nulls, a.distinct),
            (b.count, b.nulls, b.distinct)
        );
        let (an, bn) = (a.numeric.as_ref(), b.numeric.as_ref());
        assert_eq!(an.is_some(), bn.is_some(), "{}", a.name);
        if let (Some(an), Some(bn)) = (an, bn) {
            // The mean may differ in the last bit: workers sum in another order.
            close(an.mean, bn.mean, &a.name);
            assert_eq!(
                (an.min, an.max, an.std),
                (bn.min, bn.max, bn.std),
                "{}",
                a.name
            );
            assert_eq!(
                (&an.quantiles, &an.histogram),
                (&bn.quantiles, &bn.histogram)
            );
        }
        if a.dtype == ColumnType::String {
            assert_eq!(a.top_values, b.top_values);
        }
    }
}

#[test]
fn parquet_row_groups_decoded_in_parallel_match_pandas() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/housing.parquet");
    let p = profile(&path, FileFormat::Parquet, &ReadOptions::default());
    check(&p, &fixtures()["california_housing"]);
}
