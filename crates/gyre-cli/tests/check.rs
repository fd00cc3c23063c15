//! `gyre check` through the real binary: the ML Test Score from a project's evidence, raised
//! test by test as the evidence appears, attestations for work done by hand, and its four
//! outputs (table, JSON, JUnit, markdown) and exit codes.

mod common;

use common::Project;
use serde_json::Value;

/// Laid over [`common::INCOME_MODEL`].
const SPEC: &str = r#"

[steps.train]
uses = "train"
"#;

fn points(report: &Value, id: &str) -> f64 {
    report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {report}"))["points"]
        .as_f64()
        .unwrap()
}

fn check(p: &Project) -> Value {
    p.ok(&["check", "--json"]).json()
}

#[test]
fn the_score_follows_the_evidence_and_the_attestations() {
    let p = Project::init();
    p.add_adult("adult");
    p.append_spec(common::INCOME_MODEL);
    p.append_spec(SPEC);
    let r = check(&p);
    let tests = r["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 28);
    // Every test says either what was found, what was attested, or what would raise it.
    for t in tests {
        let said = match t["how"].as_str().unwrap() {
            "automated" => !t["evidence"].as_array().unwrap().is_empty(),
            "manual" => t["note"].as_str().is_some(),
            "missing" => !t["raise"].as_str().unwrap().is_empty(),
            other => panic!("{other}"),
        };
        assert!(said, "{t}");
    }
    // The final score is the lowest section's.
    let sections: Vec<f64> = r["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["points"].as_f64().unwrap())
        .collect();
    assert_eq!(sections.len(), 4);
    let lowest = sections.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(r["score"].as_f64().unwrap(), lowest);
    // Nothing is served or monitored yet: a train step is there, no schema, gate or monitor.
    assert_eq!(points(&r, "data.6"), 1.0, "a train step");
    for id in ["data.1", "data.3", "infra.4", "monitor.7"] {
        assert_eq!(points(&r, id), 0.0, "{id}");
    }
    assert_eq!(r["score"], 0.0);

    // Evidence appears, tests rise: a schema validated in the pipeline, a gate with a latency
    // bound and slices, a CI workflow that runs the pipeline, drift and quality monitoring.
    p.ok(&["data", "schema", "adult"]);
    p.append_spec(
        r#"
[steps.check_data]
uses = "validate"
dataset = "adult"

[gate]
min = { accuracy = 0.8 }
max_p99_ms = 50.0
slices = { women = { accuracy = 0.85 } }

[monitor]
model = "adult"
window = { labels = 500 }
min = { f1 = 0.6 }
drift = { method = "psi" }
max_p99_ms = 20.0
"#,
    );
    std::fs::create_dir_all(p.root().join(".github/workflows")).unwrap();
    std::fs::write(
        p.root().join(".github/workflows/ml.yml"),
        "on: pull_request\njobs:\n  ml:\n    runs-on: ubuntu-latest\n    steps:\n      - run: gyre run\n",
    )
    .unwrap();
    let r = check(&p);
    for id in [
        "data.1",
        "data.3",
        "model.6",
        "infra.3",
        "monitor.2",
        "monitor.3",
        "monitor.6",
        "monitor.7",
    ] {
        assert_eq!(points(&r, id), 1.0, "{id}: {r}");
    }
    let data1 = r["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "data.1")
        .unwrap();
    assert!(
        data1["evidence"][1]
            .as_str()
            .unwrap()
            .contains("step `check_data`"),
        "{data1}"
    );
    // No champion yet: validated before serving needs one.
    assert_eq!(points(&r, "infra.4"), 0.0);

    // Work done by hand counts half, once attested; the newest note is shown.
    assert_eq!(points(&r, "data.2"), 0.0);
    p.ok(&[
        "check",
        "attest",
        "data.2",
        "--note",
        "ablation: notebooks/ablate.ipynb",
    ]);
    p.ok(&[
        "check",
        "attest",
        "data.2",
        "--note",
        "ablation redone after two new columns",
    ]);
    let r = check(&p);
    let data2 = r["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "data.2")
        .unwrap()
        .clone();
    assert_eq!(
        (
            data2["points"].as_f64(),
            data2["how"].as_str(),
            data2["note"].as_str()
        ),
        (
            Some(0.5),
            Some("manual"),
            Some("ablation redone after two new columns")
        )
    );
    assert_eq!(data2["by"], "tester");
    // An attestation never lowers an automated test, and bad ones are refused.
    let bad = p.gyre(&["check", "attest", "data.9", "--note", "x"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("no test `data.9`"), "{}", bad.stderr);
    let empty = p.gyre(&["check", "attest", "data.4", "--note", "  "]);
    assert_eq!(empty.code, 2);
    assert!(empty.stderr.contains("--note"), "{}", empty.stderr);

    // Outputs: the table, JUnit (a 0 is a failure), markdown, and the exit code.
    let table = p.ok(&["check"]).stdout;
    assert!(table.contains("ML Test Score: "), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("data.2") && l.contains("manual"))
    );
    let junit = p.root().join("score.xml");
    let zeros = r["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["points"] == 0.0)
        .count();
    let md = p
        .ok(&["check", "--markdown", "--junit", junit.to_str().unwrap()])
        .stdout;
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 28);
    assert_eq!(xml.matches("<failure ").count(), zeros);
    assert!(xml.contains(&format!("failures=\"{zeros}\"")));
    assert!(md.starts_with("### ML Test Score: "), "{md}");
    assert_eq!(md.matches("| `").count(), 28, "{md}");
    let below = p.gyre(&["check", "--min-score", "7"]);
    assert_eq!(below.code, 1, "{}", below.stderr);
    assert!(
        below.stderr.contains("below --min-score 7"),
        "{}",
        below.stderr
    );
    assert_eq!(p.gyre(&["check", "--min-score", "0"]).code, 0);
}
