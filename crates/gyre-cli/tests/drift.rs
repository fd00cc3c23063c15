//! `gyre data drift` through the real binary.

mod common;

use common::{Project, shared};
use std::fs;

/// Writes rows [a, b) of elec2 (with its header) to `name` in the project.
fn elec2_slice(p: &Project, name: &str, a: usize, b: usize) {
    let text = fs::read_to_string(shared("elec2/elec2_first_half.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let body: String = std::iter::once(lines[0])
        .chain(lines[1 + a..1 + b].iter().copied())
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(p.root().join(name), body).unwrap();
}

fn drifted(report: &serde_json::Value) -> Vec<String> {
    report["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["drifted"] == true)
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn first_and_last_month_of_elec2() {
    let p = Project::init();
    elec2_slice(&p, "first.csv", 0, 1440);
    elec2_slice(&p, "last.csv", 21216, 22656);
    let html = p.root().join("drift.html");
    let r = p.gyre(&[
        "data",
        "drift",
        "first.csv",
        "last.csv",
        "--json",
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "the dataset drifts: {}", r.stderr);
    let report = r.json();
    let flagged = drifted(&report);
    for c in ["vicprice", "vicdemand", "transfer"] {
        assert!(flagged.iter().any(|f| f == c), "{c}: {flagged:?}");
    }
    assert!(!flagged.iter().any(|f| f == "day"), "{flagged:?}");
    assert_eq!(report["mode"], "data");
    let page = fs::read_to_string(&html).unwrap();
    assert!(page.contains("<h1>Drift: first.csv → last.csv</h1>") && page.contains("<svg"));

    // From the stored profile of a dataset version: the same verdicts.
    p.ok(&["data", "add", "first", "first.csv"]);
    let r = p.gyre(&[
        "data",
        "drift",
        "first",
        "last.csv",
        "--from-profile",
        "--json",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let report = r.json();
    assert_eq!(report["mode"], "profile");
    assert_eq!(report["reference"], "first@1");
    let from_profile = drifted(&report);
    for c in ["vicprice", "vicdemand", "transfer"] {
        assert!(from_profile.iter().any(|f| f == c), "{c}: {from_profile:?}");
    }
    assert!(!from_profile.iter().any(|f| f == "day"));

    // The same data on both sides does not drift, and exits 0.
    let same = p.gyre(&["data", "drift", "first", "first.csv"]);
    assert_eq!(same.code, 0, "{}{}", same.stdout, same.stderr);
    assert!(
        same.stdout.contains("0 of 9 columns drifted"),
        "{}",
        same.stdout
    );

    // Methods and thresholds are chosen per run.
    let r = p
        .ok(&[
            "data",
            "drift",
            "first.csv",
            "last.csv",
            "--method",
            "vicprice=psi",
            "--threshold",
            "psi=1000",
            "--drift-share",
            "0.9",
            "--json",
        ])
        .json();
    let vic = r["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "vicprice")
        .unwrap();
    assert_eq!(
        (vic["method"].as_str(), vic["drifted"].as_bool()),
        (Some("psi"), Some(false))
    );
}

#[test]
fn drift_mistakes_are_named() {
    let p = Project::init();
    elec2_slice(&p, "a.csv", 0, 100);
    for (args, want) in [
        (
            vec!["data", "drift", "a.csv", "nope.csv"],
            "neither an existing path nor a dataset version",
        ),
        (
            vec!["data", "drift", "a.csv", "a.csv", "--method", "day"],
            "use COLUMN=METHOD",
        ),
        (
            vec!["data", "drift", "a.csv", "a.csv", "--method", "day=magic"],
            "unknown drift method `magic`",
        ),
        (
            vec!["data", "drift", "a.csv", "a.csv", "--threshold", "psi=high"],
            "`high` is not a number",
        ),
        (
            vec!["data", "drift", "a.csv", "a.csv", "--from-profile"],
            "needs a dataset version",
        ),
        (
            vec!["data", "drift", "a.csv", "a.csv", "--drift-share", "2"],
            "not between 0 and 1",
        ),
    ] {
        let r = p.gyre(&args);
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
}
