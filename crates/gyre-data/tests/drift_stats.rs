//! Drift statistics against scipy: `test_data/drift/fixtures.json`, made by
//! `test_data/drift/make_fixtures.py` from slices of the shared datasets.

use gyre_data::stats;
use serde_json::Value;
use std::path::Path;

const ADULT: &str = "age,workclass,fnlwgt,education,education-num,marital-status,occupation,relationship,race,sex,capital-gain,capital-loss,hours-per-week,native-country,income";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A column of a shared dataset, one entry per data row; `None` where the value is missing.
fn column(data: &str, name: &str) -> Vec<Option<String>> {
    let (path, header, names): (_, bool, Vec<String>) = match data {
        "adult" => (
            "adult/adult.data",
            false,
            ADULT.split(',').map(String::from).collect(),
        ),
        "elec2" => ("elec2/elec2_first_half.csv", true, Vec::new()),
        other => panic!("unknown dataset {other}"),
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(header)
        .trim(csv::Trim::All)
        .from_path(root().join("../../../shared/data").join(path))
        .unwrap();
    let names = if header {
        rdr.headers().unwrap().iter().map(String::from).collect()
    } else {
        names
    };
    let idx = names.iter().position(|n| n == name).unwrap();
    rdr.records()
        .map(|r| r.unwrap())
        .filter(|r| r.len() > 1)
        .map(|r| Some(r[idx].to_string()).filter(|v| v != "?" && !v.is_empty()))
        .collect()
}

fn slice(col: &[Option<String>], range: &Value) -> Vec<String> {
    let (a, b) = (
        range[0].as_u64().unwrap() as usize,
        range[1].as_u64().unwrap() as usize,
    );
    col[a..b].iter().flatten().cloned().collect()
}

fn close(got: f64, want: f64, rel: f64, what: &str) {
    let tol = rel * want.abs().max(f64::MIN_POSITIVE);
    assert!(
        (got - want).abs() <= tol.max(1e-300),
        "{what}: gyre {got:e}, scipy {want:e} (relative difference {:e})",
        ((got - want) / want).abs()
    );
}

/// p-values agree to 1e-6 (relative, or absolute for values near zero).
fn close_p(got: f64, want: f64, what: &str) {
    let ok = (got - want).abs() <= 1e-6 * want.abs().max(1e-300) || (got - want).abs() < 1e-12;
    assert!(ok, "{what}: gyre {got:e}, scipy {want:e}");
}

#[test]
fn agree_with_scipy() {
    let text = std::fs::read_to_string(root().join("../../test_data/drift/fixtures.json")).unwrap();
    let fixtures: Value = serde_json::from_str(&text).unwrap();
    for case in fixtures["cases"].as_array().unwrap() {
        let col = column(
            case["data"].as_str().unwrap(),
            case["column"].as_str().unwrap(),
        );
        let label = format!(
            "{} {} {}..{}",
            case["data"].as_str().unwrap(),
            case["column"].as_str().unwrap(),
            case["reference"],
            case["current"]
        );
        if case["kind"] == "numeric" {
            let parse = |v: Vec<String>| {
                let mut x: Vec<f64> = v.iter().map(|s| s.parse::<f64>().unwrap()).collect();
                x.sort_by(f64::total_cmp);
                x
            };
            let a = parse(slice(&col, &case["reference"]));
            let b = parse(slice(&col, &case["current"]));
            assert_eq!(
                a.len() as u64,
                case["n_reference"].as_u64().unwrap(),
                "{label}"
            );
            let ks = stats::ks_2samp(&a, &b);
            close(
                ks.statistic,
                case["ks_statistic"].as_f64().unwrap(),
                1e-9,
                &format!("{label} KS statistic"),
            );
            close_p(
                ks.pvalue,
                case["ks_pvalue"].as_f64().unwrap(),
                &format!("{label} KS p-value"),
            );
            let w = stats::wasserstein(&a, &b);
            close(
                w,
                case["wasserstein"].as_f64().unwrap(),
                1e-9,
                &format!("{label} Wasserstein"),
            );
        } else {
            let rc: Vec<f64> = case["reference_counts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let cc: Vec<f64> = case["current_counts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            // The counts in the fixture are those of the data.
            let cats: Vec<&str> = case["categories"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let (ra, cb) = (
                slice(&col, &case["reference"]),
                slice(&col, &case["current"]),
            );
            for (i, cat) in cats.iter().enumerate() {
                assert_eq!(
                    ra.iter().filter(|v| v == cat).count() as f64,
                    rc[i],
                    "{label} {cat}"
                );
                assert_eq!(
                    cb.iter().filter(|v| v == cat).count() as f64,
                    cc[i],
                    "{label} {cat}"
                );
            }
            let chi = stats::chi2_contingency(&rc, &cc);
            assert_eq!(chi.dof, case["chi2_dof"].as_u64().unwrap(), "{label}");
            close(
                chi.statistic,
                case["chi2_statistic"].as_f64().unwrap(),
                1e-9,
                &format!("{label} chi2"),
            );
            close_p(
                chi.pvalue,
                case["chi2_pvalue"].as_f64().unwrap(),
                &format!("{label} chi2 p-value"),
            );
            let js = stats::jensen_shannon(&rc, &cc);
            close(
                js,
                case["jensen_shannon"].as_f64().unwrap(),
                1e-9,
                &format!("{label} JS"),
            );
            close(
                stats::psi(&rc, &cc),
                case["psi"].as_f64().unwrap(),
                1e-9,
                &format!("{label} PSI"),
            );
        }
    }
}
