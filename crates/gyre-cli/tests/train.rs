//! `gyre train`, `predict` and `reproduce` through the real binary, on the shared Adult data.

mod common;

use common::{Project, shared};

const SPEC: &str = r#"
[model]
dataset = "adult"
task = "binary"
target = "income"
drop = ["fnlwgt"]
algorithm = "random_forest"
params = { trees = 20, max_depth = 12 }
split = { by = "rule", every = 5, index = 4 }
seed = 7
slices = { women = "sex = 'Female'", over_50 = "age > 50" }
"#;

fn project() -> Project {
    let p = Project::init();
    p.add_adult("adult");
    p.append_spec(SPEC);
    p
}

#[test]
fn train_records_a_run_and_a_model_that_scores_and_reproduces() {
    let p = project();
    let t = p.ok(&["train", "--json"]).json();
    let run = t["run"].as_str().unwrap().to_string();
    let model = t["model"].as_str().unwrap().to_string();
    let acc = t["report"]["test"]["accuracy"].as_f64().unwrap();
    assert!(acc > 0.84, "accuracy {acc}");
    assert_eq!(t["report"]["train_rows"], 26_049);
    assert_eq!(t["report"]["test_rows"], 6_512);
    let slices = t["report"]["slices"].as_array().unwrap();
    assert_eq!(slices.len(), 2);
    assert!(slices.iter().all(|s| s["rows"].as_u64().unwrap() > 1000));
    let importance = t["report"]["importance"].as_array().unwrap();
    assert_eq!(
        importance.len(),
        13,
        "14 columns minus fnlwgt minus the target"
    );
    assert!(importance.iter().all(|i| i[0] != "fnlwgt"));

    // The run holds params, metrics, the dataset version in, the model out.
    let r = p.ok(&["runs", "show", &run, "--json"]).json();
    assert_eq!(r["status"], "finished");
    assert_eq!(r["params"]["algorithm"], "random_forest");
    assert_eq!(r["params"]["trees"], "20");
    assert_eq!(r["metrics"]["accuracy"].as_f64().unwrap(), acc);
    assert!(r["metrics"]["women.accuracy"].as_f64().is_some());
    assert!(
        r["inputs"][0]
            .as_str()
            .unwrap()
            .starts_with("dataset:adult@")
    );
    assert_eq!(r["outputs"][0], format!("model:{model}"));
    assert!(
        r["git_commit"].is_null(),
        "the temporary project is not a git repository"
    );

    // Batch scoring: one prediction per row, probabilities summing to 1.
    let out = p.root().join("preds.csv");
    let s = p
        .ok(&[
            "predict",
            &run,
            "--input",
            "adult",
            "--output",
            out.to_str().unwrap(),
            "--keep",
            "age,income",
            "--json",
        ])
        .json();
    assert_eq!(s["rows"], 32_561);
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("age,income,prediction,proba_<=50K,proba_>50K")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 32_561);
    assert!(
        rows[0].starts_with("39,<=50K,"),
        "the kept columns, in file order: {}",
        rows[0]
    );
    for row in rows.iter().take(100) {
        let f: Vec<&str> = row.split(',').collect();
        let (a, b): (f64, f64) = (f[3].parse().unwrap(), f[4].parse().unwrap());
        assert!((a + b - 1.0).abs() < 1e-9);
        assert_eq!(f[2], if b > a { ">50K" } else { "<=50K" });
    }

    // Same data, spec and seed: the same bytes.
    let again = p.ok(&["reproduce", &run, "--json"]).json();
    assert_eq!(again["identical"], true, "{again}");
    assert_eq!(again["model"].as_str().unwrap(), model);

    // A different seed is a different forest.
    let other = p.ok(&["train", "--set", "model.seed=8", "--json"]).json();
    assert_ne!(other["model"].as_str().unwrap(), model);
}

#[test]
fn overrides_change_one_run_and_bad_input_is_named() {
    let p = project();
    let t = p
        .ok(&[
            "train",
            "--set",
            "model.algorithm=\"gradient_boosting\"",
            "--set",
            "model.params={iterations=30, learning_rate=0.2}",
            "--output",
            "m.gyremodel",
            "--json",
        ])
        .json();
    assert_eq!(t["algorithm"], "gradient_boosting");
    assert!(t["report"]["iterations"].as_u64().unwrap() <= 30);
    let text = std::fs::read_to_string(p.root().join("gyre.toml")).unwrap();
    assert!(
        text.contains("algorithm = \"random_forest\""),
        "the file is untouched"
    );

    // The copied model file scores on its own; a non-number in a numeric column is named.
    let bad = p.root().join("bad.csv");
    let mut csv = String::from(common::ADULT_COLUMNS);
    csv.push('\n');
    csv.push_str("39,State-gov,77516,Bachelors,13,Never-married,Adm-clerical,Not-in-family,White,Male,2174,0,40,United-States,<=50K\n");
    csv.push_str("abc,State-gov,77516,Bachelors,13,Never-married,Adm-clerical,Not-in-family,White,Male,2174,0,40,United-States,<=50K\n");
    std::fs::write(&bad, csv).unwrap();
    let r = p.gyre(&[
        "predict",
        "m.gyremodel",
        "--input",
        "bad.csv",
        "--output",
        "o.csv",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("bad.csv")
            && r.stderr.contains("data row 2")
            && r.stderr.contains("`age`")
            && r.stderr.contains("`abc`"),
        "{}",
        r.stderr
    );
    assert!(!p.root().join("o.csv").exists(), "nothing half-written");

    // A damaged model file is refused, not loaded.
    let mut bytes = std::fs::read(p.root().join("m.gyremodel")).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0xff;
    std::fs::write(p.root().join("broken.gyremodel"), &bytes).unwrap();
    let r = p.gyre(&[
        "predict",
        "broken.gyremodel",
        "--input",
        "bad.csv",
        "--output",
        "o.csv",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("checksum does not match"), "{}", r.stderr);

    // Unknown learner parameters and columns fail before anything is stored.
    let r = p.gyre(&["train", "--set", "model.params.tres=3"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no parameter `tres`"), "{}", r.stderr);
    let r = p.gyre(&["train", "--set", "model.target=\"salary\""]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("`salary` is not in the data"),
        "{}",
        r.stderr
    );
    let runs = p.ok(&["runs", "list", "--json"]).json();
    let failed = runs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "failed")
        .count();
    assert_eq!(failed, 2, "each failed attempt is a failed run: {runs}");
}

#[test]
fn regression_and_multiclass_train_end_to_end() {
    let p = Project::init();
    let housing = shared("california_housing/housing.csv");
    p.ok(&[
        "data",
        "add",
        "housing",
        housing.to_str().unwrap(),
        "--json",
    ]);
    let iris = shared("iris/iris.csv");
    p.ok(&["data", "add", "iris", iris.to_str().unwrap(), "--json"]);
    let path = p.root().join("gyre.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(
        r#"
[model]
dataset = "housing"
task = "regression"
target = "median_house_value"
algorithm = "gradient_boosting"
split = { by = "rule", every = 5, index = 4 }
"#,
    );
    std::fs::write(&path, text).unwrap();
    let t = p.ok(&["train", "--json"]).json();
    let r2 = t["report"]["test"]["r2"].as_f64().unwrap();
    assert!(r2 > 0.80, "R² {r2}");

    for algorithm in [
        "logistic_regression",
        "random_forest",
        "gradient_boosting",
        "decision_tree",
    ] {
        let t = p
            .ok(&[
                "train",
                "--set",
                "model.dataset=\"iris\"",
                "--set",
                "model.task=\"multiclass\"",
                "--set",
                "model.target=\"target_name\"",
                "--set",
                "model.drop=[\"target\"]",
                "--set",
                &format!("model.algorithm=\"{algorithm}\""),
                "--set",
                "model.split={by=\"random\", test=0.3, seed=1}",
                "--json",
            ])
            .json();
        let acc = t["report"]["test"]["accuracy"].as_f64().unwrap();
        assert!(acc > 0.85, "{algorithm}: iris accuracy {acc}");
    }
}

#[test]
fn tune_picks_the_best_trial_on_validation_and_trains_it() {
    let p = project();
    let path = p.root().join("gyre.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(
        r#"
[model.tune]
method = "grid"
metric = "log_loss"
validation = 0.25
params = { trees = [5, 15], max_depth = [3, 10] }
"#,
    );
    std::fs::write(&path, text).unwrap();
    let t = p.ok(&["tune", "--json"]).json();
    assert_eq!(t["goal"], "min", "log loss is minimised");
    let trials = t["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 4);
    let values: Vec<f64> = trials
        .iter()
        .map(|x| x["value"].as_f64().unwrap())
        .collect();
    let best = t["best"].as_u64().unwrap() as usize;
    assert!(values.iter().all(|v| *v >= values[best]), "{values:?}");
    let parent = t["run"].as_str().unwrap();

    // Every trial is a child run with validation metrics only; the final model is a child
    // too, trained with the best params and scored on the test split.
    for trial in trials {
        let r = p
            .ok(&["runs", "show", trial["run"].as_str().unwrap(), "--json"])
            .json();
        assert_eq!(r["parent"], parent);
        assert!(r["metrics"]["validation.log_loss"].as_f64().is_some());
        assert!(
            r["metrics"]["log_loss"].is_null(),
            "trials never see the test split"
        );
    }
    let model_run = t["model"]["run"].as_str().unwrap();
    let r = p.ok(&["runs", "show", model_run, "--json"]).json();
    assert_eq!(r["parent"], parent);
    assert_eq!(r["params"]["trees"], trials[best]["params"]["trees"]);
    assert!(r["metrics"]["log_loss"].as_f64().is_some());
    let parent_run = p.ok(&["runs", "show", parent, "--json"]).json();
    assert_eq!(
        parent_run["outputs"][0],
        format!("model:{}", t["model"]["model"].as_str().unwrap())
    );
}
