//! `gyre backtest`: the loop replayed on a dataset version, next to the baselines.

mod common;
use common::{ADULT_COLUMNS, Project, shared};

const ELEC_SPEC: &str = r#"
[model]
dataset = "elec"
task = "binary"
target = "class"
drop = ["date"]
algorithm = "logistic_regression"
split = { by = "rule", every = 5, index = 4 }

[gate]
min = { accuracy = 0.55 }

[serve]
canary = { share = 0.5, min_labels = 200 }

[monitor]
window = { labels = 500 }
min = { f1 = 0.62 }

[loop]
retrain = { data = "recent", rows = 2016 }

[steps.retrain]
uses = "train"

[[trigger]]
name = "decay"
on = "monitor"
rule = "f1"
run = "retrain"
"#;

fn elec_project(rows: usize) -> Project {
    let p = Project::init();
    let text = std::fs::read_to_string(shared("elec2/elec2_first_half.csv")).unwrap();
    let part: Vec<&str> = text.lines().take(rows + 1).collect();
    std::fs::write(p.root().join("elec.csv"), part.join("\n") + "\n").unwrap();
    p.ok(&["data", "add", "elec", "elec.csv"]);
    p.append_spec(ELEC_SPEC);
    p
}

/// `gyre backtest elec` with the demo's first 2,016 training rows, then `args`.
fn elec_backtest(p: &Project, svg: &std::path::Path, args: &[&str]) -> common::Run {
    let mut all = vec![
        "backtest",
        "elec",
        "--train-rows",
        "2016",
        "--svg",
        svg.to_str().unwrap(),
    ];
    all.extend(args);
    p.ok(&all)
}

fn mean(report: &serde_json::Value, strategy: usize) -> f64 {
    report["strategies"][strategy]["mean"].as_f64().unwrap()
}

#[test]
fn elec2_with_day_late_labels_retrains_and_beats_never_retraining() {
    let p = elec_project(12_000);
    let svg = p.root().join("bt.svg");
    let r = elec_backtest(
        &p,
        &svg,
        &[
            "--label-delay",
            "48",
            "--schedule-every",
            "2016",
            "--row-time",
            "30m",
            "--json",
        ],
    );
    let report = r.json();
    assert_eq!(report["rows"], 12_000 - 2016);
    assert_eq!(report["metric"], "f1");
    assert_eq!(report["positive"], "UP");
    let names: Vec<&str> = report["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "gyre loop",
            "never retrained",
            "retrained every 2016 rows",
            "online logistic regression",
            "adaptive random forest",
            "hoeffding adaptive tree"
        ]
    );
    // The online learners follow the stream too.
    assert!(mean(&report, 3) > mean(&report, 1) + 0.1);
    assert!(mean(&report, 4) > mean(&report, 1) + 0.1);
    assert!(mean(&report, 5) > mean(&report, 1) + 0.1);
    let lp = &report["strategies"][0];
    assert!(lp["retrains"].as_u64().unwrap() >= 1, "{lp}");
    assert!(lp["promotions"].as_u64().unwrap() >= 1, "{lp}");
    assert!(
        mean(&report, 0) > mean(&report, 1) + 0.1,
        "the loop {} against never {}",
        mean(&report, 0),
        mean(&report, 1)
    );
    // Every window of the loop has every classification figure.
    for w in lp["windows"].as_array().unwrap() {
        for m in ["precision", "recall", "f1", "accuracy", "roc_auc"] {
            assert!(w["figures"][m].is_number(), "{m} missing in {w}");
        }
    }
    // The chart has ticks, the means in its legend, and the loop's markers.
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.contains(&format!("gyre loop (mean {:.3})", mean(&report, 0))));
    assert!(chart.contains(">4000</text>"), "an x tick");
    assert!(chart.contains(">0.60</text>"), "a y tick");
    assert!(chart.contains("retrain ("));

    // The table names the strategies and the events.
    let r = elec_backtest(&p, &svg, &["--label-delay", "1d", "--row-time", "30m"]);
    assert!(r.stdout.contains("MEAN F1/WINDOW"), "{}", r.stdout);
    assert!(r.stdout.contains("never retrained"), "{}", r.stdout);
    assert!(r.stdout.contains("promote"), "{}", r.stdout);

    // An online champion learns every label as it arrives, so it needs fewer retrains than
    // the schedule and does better than the batch loop.
    let spec = std::fs::read_to_string(p.root().join("gyre.toml")).unwrap();
    let online = spec.replace(
        "algorithm = \"logistic_regression\"",
        "algorithm = \"adaptive_random_forest\"",
    );
    assert_ne!(online, spec);
    std::fs::write(p.root().join("gyre.toml"), online).unwrap();
    let r = elec_backtest(
        &p,
        &svg,
        &["--label-delay", "48", "--schedule-every", "2016", "--json"],
    );
    let online = r.json();
    let (lp, schedule) = (&online["strategies"][0], &online["strategies"][2]);
    assert!(
        mean(&online, 0) > mean(&report, 0),
        "online loop {} against the batch loop {}",
        mean(&online, 0),
        mean(&report, 0)
    );
    assert!(
        lp["retrains"].as_u64() < schedule["retrains"].as_u64(),
        "{lp}"
    );
}

#[test]
fn text_columns_a_semicolon_and_a_change_of_concept() {
    // Adult, semicolon-separated, and from row 12,000 on the label is the opposite: a
    // change no fixed model survives.
    let p = Project::init();
    let text = std::fs::read_to_string(shared("adult/adult.data")).unwrap();
    let mut out = ADULT_COLUMNS.replace(',', ";") + "\n";
    for (i, line) in text
        .lines()
        .filter(|l| !l.is_empty())
        .take(20_000)
        .enumerate()
    {
        let mut fields: Vec<String> = line.split(", ").map(String::from).collect();
        if i >= 12_000 {
            let last = fields.last_mut().unwrap();
            *last = if last == "<=50K" { ">50K" } else { "<=50K" }.into();
        }
        out += &(fields.join(";") + "\n");
    }
    std::fs::write(p.root().join("adult.csv"), out).unwrap();
    p.ok(&[
        "data",
        "add",
        "adult",
        "adult.csv",
        "--delimiter",
        ";",
        "--null",
        "?",
    ]);
    p.append_spec(
        r#"
[model]
dataset = "adult"
task = "binary"
target = "income"
drop = ["fnlwgt", "education"]
algorithm = "logistic_regression"

[monitor]
window = { labels = 1000 }
min = { f1 = 0.4 }

[loop]
retrain = { data = "recent", rows = 3000 }

[steps.retrain]
uses = "train"

[[trigger]]
name = "decay"
on = "monitor"
run = "retrain"
"#,
    );
    let svg = p.root().join("bt.svg");
    let r = p.ok(&[
        "backtest",
        "adult",
        "--train-rows",
        "3000",
        "--label-delay",
        "100",
        "--svg",
        svg.to_str().unwrap(),
        "--json",
    ]);
    let report = r.json();
    assert_eq!(report["positive"], ">50K");
    let marks: Vec<(u64, &str)> = report["marks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["row"].as_u64().unwrap(), m["kind"].as_str().unwrap()))
        .collect();
    // The change is at replayed row 9,000: a breach follows within two windows, then a
    // retrain and a promotion.
    let breach = marks
        .iter()
        .find(|(row, k)| *k == "breach" && *row > 9_000)
        .unwrap_or_else(|| panic!("no breach after the change: {marks:?}"));
    assert!(breach.0 <= 11_200, "detected late: {marks:?}");
    assert!(
        marks
            .iter()
            .any(|(row, k)| *k == "promote" && *row > breach.0),
        "{marks:?}"
    );
    assert!(
        mean(&report, 0) > mean(&report, 1) + 0.05,
        "the loop {} against never {}",
        mean(&report, 0),
        mean(&report, 1)
    );
}

#[test]
fn bad_options_are_named() {
    let p = elec_project(3000);
    let r = p.gyre(&["backtest", "elec", "--time", "when"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no column `when`") && r.stderr.contains("nswprice"),
        "{}",
        r.stderr
    );
    let r = p.gyre(&["backtest", "elec", "--label-delay", "soon"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--label-delay: `soon`"), "{}", r.stderr);
    let r = p.gyre(&["backtest", "elec", "--train-rows", "2900"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("too few"), "{}", r.stderr);
    // A time column must hold times.
    let r = p.gyre(&["backtest", "elec", "--time", "class"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("row 1, column `class`: `UP`")
            || r.stderr.contains("row 1, column `class`: `DOWN`"),
        "{}",
        r.stderr
    );
}

/// Runs gyre in `dir` and requires success.
fn gyre_in(dir: &std::path::Path, args: &[&str]) -> common::Run {
    let r: common::Run = std::process::Command::new(common::gyre_bin())
        .args(args)
        .current_dir(dir)
        .env("GYRE_USER", "tester")
        .env_remove("GYRE_STORE_URL")
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 0, "gyre {args:?}: {}\n{}", r.stdout, r.stderr);
    r
}

#[test]
fn the_loop_template_works_once_the_data_is_added() {
    let work = tempfile::tempdir().unwrap();
    gyre_in(
        work.path(),
        &[
            "init",
            "elec",
            "--template",
            "loop",
            "--dataset",
            "elec",
            "--target",
            "class",
        ],
    );
    let dir = work.path().join("elec");
    let spec = std::fs::read_to_string(dir.join("gyre.toml")).unwrap();
    assert!(spec.contains("[loop]") && spec.contains("target = \"class\""));
    let text = std::fs::read_to_string(shared("elec2/elec2_first_half.csv")).unwrap();
    let part: Vec<&str> = text.lines().take(8001).collect();
    std::fs::write(dir.join("data/raw/elec.csv"), part.join("\n") + "\n").unwrap();
    gyre_in(&dir, &["data", "add", "elec", "data/raw/elec.csv"]);
    gyre_in(&dir, &["run", "first_gate"]);
    let r = gyre_in(&dir, &["models", "list", "--json"]);
    assert!(r.stdout.contains("champion"), "{}", r.stdout);
    let report = gyre_in(&dir, &["backtest", "elec", "--label-delay", "48", "--json"]).json();
    assert_eq!(report["window"], 500);
    assert!(report["notes"].as_array().unwrap().is_empty(), "{report}");
}

/// A Python with xgboost and pandas: the venv `.ci/run` makes, else `python3`.
fn python_with_xgboost() -> Option<String> {
    [
        std::env::var("GYRE_TEST_MLFLOW_PYTHON").ok(),
        Some("python3".into()),
    ]
    .into_iter()
    .flatten()
    .find(|py| {
        std::process::Command::new(py)
            .args(["-c", "import xgboost, pandas"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// The loop of `examples/external-retrain` replayed: every model (the first, the loop's
/// candidates, the schedule's) is trained by the project's Python script, as the pipeline
/// would train it, and the loop acts on them as on its own.
#[test]
fn a_loop_that_retrains_with_a_script_replays() {
    let Some(python) = python_with_xgboost() else {
        eprintln!("no Python with xgboost and pandas: skipping the external backtest");
        return;
    };
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/external-retrain");
    let p = Project::init();
    std::fs::create_dir_all(p.root().join("steps")).unwrap();
    std::fs::copy(
        example.join("steps/train.py"),
        p.root().join("steps/train.py"),
    )
    .unwrap();
    // A floor the first model breaches after the first weeks, so the loop retrains.
    let spec = std::fs::read_to_string(example.join("gyre.toml"))
        .unwrap()
        .replace("min = { accuracy = 0.4 }", "min = { accuracy = 0.7 }");
    std::fs::write(p.root().join("gyre.toml"), spec).unwrap();
    let data = shared("elec2/elec2_first_half.csv");
    p.ok(&["data", "add", "elec", data.to_str().unwrap()]);
    let out = p
        .command(&[
            "backtest",
            "elec",
            "--train-rows",
            "2016",
            "--rows",
            "6000",
            "--window",
            "500",
            "--label-delay",
            "48",
            "--json",
        ])
        .env("PYTHON", &python)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by = |name: &str| {
        r["strategies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"].as_str().unwrap().starts_with(name))
            .unwrap()
            .clone()
    };
    let (looped, never, schedule) = (by("gyre loop"), by("never"), by("retrained every"));
    assert!(looped["retrains"].as_u64().unwrap() >= 1, "{looped}");
    assert!(looped["promotions"].as_u64().unwrap() >= 1, "{looped}");
    assert_eq!(schedule["retrains"], 2, "{schedule}");
    assert!(
        looped["mean"].as_f64().unwrap() > never["mean"].as_f64().unwrap(),
        "retraining with the script helps: {looped} vs {never}"
    );
    let retrain = r["marks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "retrain")
        .unwrap();
    assert!(
        retrain["detail"]
            .as_str()
            .unwrap()
            .starts_with("v2 on rows"),
        "{retrain}"
    );
}
