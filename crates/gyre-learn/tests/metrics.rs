//! gyre's metrics against scikit-learn 1.9.1 on models trained on the shared datasets
//! (`fixtures/metrics.json`, made by `fixtures/make_metrics.py`).

use gyre_learn::metrics::{Probabilities, classification, regression};
use serde_json::Value;

fn close(got: f64, want: &Value, what: &str) {
    let want = want
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: no number in the fixture"));
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1e-12),
        "{what}: gyre {got}, scikit-learn {want}"
    );
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_f64().unwrap())
        .collect()
}

#[test]
fn agree_with_scikit_learn() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics.json"),
    )
    .unwrap();
    let fixtures: Value = serde_json::from_str(&text).unwrap();
    let mut checked = 0;
    for case in fixtures["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        if case["kind"] == "regression" {
            let m = regression(&numbers(&case["y_true"]), &numbers(&case["y_pred"])).unwrap();
            for (got, key) in [
                (m.rmse, "rmse"),
                (m.mae, "mae"),
                (m.r2, "r2"),
                (m.mape, "mape"),
            ] {
                close(got, &case[key], &format!("{name} {key}"));
            }
            checked += 1;
            continue;
        }
        let (y_true, y_pred) = (strings(&case["y_true"]), strings(&case["y_pred"]));
        let classes = strings(&case["classes"]);
        let rows: Vec<Vec<f64>> = case["proba"]
            .as_array()
            .unwrap()
            .iter()
            .map(numbers)
            .collect();
        let probabilities = Probabilities {
            classes: &classes,
            rows: &rows,
        };
        let m = classification(
            &y_true,
            &y_pred,
            Some(&probabilities),
            case["positive"].as_str(),
        )
        .unwrap();
        assert_eq!(m.labels, strings(&case["labels"]), "{name}");
        let confusion: Vec<Vec<u64>> = case["confusion"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap())
                    .collect()
            })
            .collect();
        assert_eq!(m.confusion, confusion, "{name}");
        close(m.accuracy, &case["accuracy"], &format!("{name} accuracy"));
        for (avg, prf) in [("macro", m.macro_avg), ("weighted", m.weighted_avg)] {
            close(
                prf.precision,
                &case[avg]["precision"],
                &format!("{name} {avg} precision"),
            );
            close(
                prf.recall,
                &case[avg]["recall"],
                &format!("{name} {avg} recall"),
            );
            close(prf.f1, &case[avg]["f1"], &format!("{name} {avg} f1"));
        }
        for (got, want) in m
            .per_class
            .iter()
            .zip(case["per_class"].as_array().unwrap())
        {
            assert_eq!(got.label, want["label"].as_str().unwrap());
            assert_eq!(got.support, want["support"].as_u64().unwrap());
            close(
                got.precision,
                &want["precision"],
                &format!("{name} {} precision", got.label),
            );
            close(
                got.recall,
                &want["recall"],
                &format!("{name} {} recall", got.label),
            );
            close(got.f1, &want["f1"], &format!("{name} {} f1", got.label));
        }
        if let Some(b) = case.get("binary") {
            let (pos, prf) = m.binary.as_ref().unwrap();
            assert_eq!(pos, case["positive"].as_str().unwrap());
            close(
                prf.precision,
                &b["precision"],
                &format!("{name} binary precision"),
            );
            close(prf.recall, &b["recall"], &format!("{name} binary recall"));
            close(prf.f1, &b["f1"], &format!("{name} binary f1"));
        }
        close(
            m.roc_auc.unwrap(),
            &case["roc_auc"],
            &format!("{name} ROC AUC"),
        );
        close(
            m.log_loss.unwrap(),
            &case["log_loss"],
            &format!("{name} log loss"),
        );
        checked += 1;
    }
    assert_eq!(checked, 6);
}

#[test]
fn bad_input_is_named() {
    let classes = vec!["a".to_string(), "b".to_string()];
    let rows = vec![vec![0.5, 0.5], vec![1.5, -0.5]];
    let p = Probabilities {
        classes: &classes,
        rows: &rows,
    };
    let e = classification(&["a", "b"], &["a", "a"], Some(&p), None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "probability 1.5 in row 1 is not between 0 and 1"
    );
    let e = classification(&["a", "b"], &["a"], None, None).unwrap_err();
    assert_eq!(e.to_string(), "the predictions: 1 values for 2 true labels");
    let e = classification(&["a", "b"], &["a", "b"], None, Some("z")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the positive label `z` is not among the classes"
    );
    assert!(regression(&[1.0], &[]).is_err());
}
