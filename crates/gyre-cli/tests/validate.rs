//! `gyre data schema` and `gyre data validate` through the real binary.

mod common;

use common::{Project, shared};
use std::fs;

#[test]
fn schema_then_validate_adult_and_a_corrupted_copy() {
    let p = Project::init();
    p.add_adult("adult");
    let r = p.ok(&["data", "schema", "adult", "--json"]).json();
    assert_eq!(r["path"], "schemas/adult.toml");
    let schema_text = fs::read_to_string(p.root().join("schemas/adult.toml")).unwrap();
    assert!(schema_text.starts_with("# Schema of dataset `adult`"));

    // An edited schema is never replaced silently.
    fs::write(
        p.root().join("schemas/adult.toml"),
        format!("{schema_text}\n# my edit\n"),
    )
    .unwrap();
    let again = p.gyre(&["data", "schema", "adult"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    assert!(
        fs::read_to_string(p.root().join("schemas/adult.toml"))
            .unwrap()
            .ends_with("# my edit\n")
    );

    let clean = p.gyre(&["data", "validate", "adult"]);
    assert_eq!(clean.code, 0, "{}{}", clean.stdout, clean.stderr);
    assert!(
        clean
            .stdout
            .contains("32,561 rows checked against schemas/adult.toml: 0 error(s)"),
        "{}",
        clean.stdout
    );

    // A copy with a broken type, an unseen category, an out-of-range value and a null.
    let text = fs::read_to_string(shared("adult/adult.data")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[4] = lines[4].replacen("28, Private", "28, Pirate", 1);
    lines[9] = format!("x{}", lines[9]);
    lines[14] = lines[14].replacen("40, ", "140, ", 1);
    lines[19] = lines[19].replacen("Female", "?", 1);
    fs::write(p.root().join("bad.data"), lines.join("\n")).unwrap();
    let html = p.root().join("report.html");
    let bad = p.gyre(&[
        "data",
        "validate",
        "bad.data",
        "--schema",
        "schemas/adult.toml",
        "--json",
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    let report = bad.json();
    let mut got: Vec<(String, String, u64)> = report["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["column"].as_str().unwrap().to_string(),
                a["rule"].as_str().unwrap().to_string(),
                a["examples"][0]["row"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("age".to_string(), "range".to_string(), 15),
            ("age".into(), "type".into(), 10),
            ("sex".into(), "nulls".into(), 20),
            ("workclass".into(), "categories".into(), 5),
        ]
    );
    let page = fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<h1>Validation of bad.data</h1>") && page.contains("<svg"),
        "html"
    );
    assert!(page.contains("Pirate"), "the unseen value is shown");

    // The human report is an aligned table with the row numbers.
    let text = p
        .gyre(&[
            "data",
            "validate",
            "bad.data",
            "--schema",
            "schemas/adult.toml",
        ])
        .stdout;
    assert!(text.contains("row 5: Pirate"), "{text}");
    assert!(text.contains("4 error(s), 0 warning(s)"), "{text}");
}

#[test]
fn severity_turns_errors_into_warnings() {
    let p = Project::init();
    fs::write(p.root().join("a.csv"), "x,y\n1,a\n200,b\n").unwrap();
    fs::write(
        p.root().join("s.toml"),
        "[columns.x]\ntype = \"integer\"\nmax = 100\nseverity = { range = \"warning\" }\n[columns.y]\ntype = \"string\"\n",
    )
    .unwrap();
    let r = p.gyre(&["data", "validate", "a.csv", "--schema", "s.toml", "--json"]);
    assert_eq!(r.code, 0, "warnings alone pass: {}", r.stdout);
    assert_eq!(r.json()["anomalies"][0]["severity"], "warning");
}

#[test]
fn validation_mistakes_are_named() {
    let p = Project::init();
    fs::write(p.root().join("a.csv"), "x\n1\n").unwrap();
    let r = p.gyre(&["data", "validate", "a.csv"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--schema"), "{}", r.stderr);

    p.ok(&["data", "add", "a", "a.csv"]);
    let r = p.gyre(&["data", "validate", "a"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no schema at schemas/a.toml") && r.stderr.contains("gyre data schema"),
        "{}",
        r.stderr
    );

    fs::create_dir_all(p.root().join("schemas")).unwrap();
    fs::write(
        p.root().join("schemas/a.toml"),
        "[columns.x]\ntype = \"integer\"\nmaxx = 3\n",
    )
    .unwrap();
    let r = p.gyre(&["data", "validate", "a"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("schemas/a.toml") && r.stderr.contains("maxx"),
        "{}",
        r.stderr
    );
}
