//! Schema inference and validation on the shared Adult data and on planted anomalies.

use gyre_core::{FileFormat, ReadOptions, Rule, Schema, Severity};
use gyre_data::{InputFile, infer_schema, merge_profiles, profile_file, validate_files};
use std::path::{Path, PathBuf};

const ADULT: &str = "age,workclass,fnlwgt,education,education-num,marital-status,occupation,relationship,race,sex,capital-gain,capital-loss,hours-per-week,native-country,income";

fn adult_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/adult/adult.data")
}

fn adult_options() -> ReadOptions {
    ReadOptions {
        header: false,
        columns: Some(ADULT.split(',').map(String::from).collect()),
        null_values: vec!["?".into()],
        skip_initial_space: true,
        ..ReadOptions::default()
    }
}

fn input(path: &Path) -> InputFile {
    InputFile {
        path: path.to_path_buf(),
        display: path.file_name().unwrap().to_string_lossy().into_owned(),
        format: FileFormat::Csv,
    }
}

fn adult_schema() -> Schema {
    let file = input(&adult_path());
    let p = profile_file(&file, &adult_options(), &|_| {}).unwrap();
    let profile = merge_profiles(vec![(file.display.clone(), p)]).unwrap();
    let schema = infer_schema(&profile, Some("adult"));
    // It survives its own TOML form.
    Schema::parse(&schema.to_toml("adult"), "adult.toml").unwrap()
}

#[test]
fn adult_schema_validates_adult() {
    let schema = adult_schema();
    assert_eq!(schema.columns["age"].min, Some(17.0));
    assert_eq!(schema.columns["workclass"].max_null_share, Some(0.057));
    assert_eq!(schema.columns["race"].categories.as_ref().unwrap().len(), 5);
    assert!(!schema.columns["fnlwgt"].unique, "fnlwgt repeats");
    let report =
        validate_files(&[input(&adult_path())], &adult_options(), &schema, &|_| {}).unwrap();
    assert_eq!(report.rows, 32_561);
    assert!(report.anomalies.is_empty(), "{:#?}", report.anomalies);
}

/// Rule, column, count, examples (row, value).
type Found = (Rule, String, u64, Vec<(u64, String)>);

#[test]
fn every_planted_anomaly_and_nothing_else() {
    let schema = adult_schema();
    let text = std::fs::read_to_string(adult_path()).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let set = |lines: &mut Vec<String>, row: usize, col: &str, value: &str| {
        let idx = ADULT.split(',').position(|c| c == col).unwrap();
        let mut fields: Vec<String> = lines[row - 1].split(", ").map(String::from).collect();
        fields[idx] = value.to_string();
        lines[row - 1] = fields.join(", ");
    };
    set(&mut lines, 10, "age", "abc");
    set(&mut lines, 20, "hours-per-week", "forty");
    set(&mut lines, 30, "workclass", "Space-agency");
    set(&mut lines, 31, "race", "Martian");
    set(&mut lines, 40, "age", "150");
    set(&mut lines, 41, "capital-gain", "-5");
    set(&mut lines, 50, "sex", "?");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupted.data");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();

    let report = validate_files(&[input(&path)], &adult_options(), &schema, &|_| {}).unwrap();
    let mut found: Vec<Found> = report
        .anomalies
        .iter()
        .map(|a| {
            (
                a.rule,
                a.column.clone().unwrap(),
                a.count,
                a.examples
                    .iter()
                    .map(|e| (e.row, e.value.clone()))
                    .collect(),
            )
        })
        .collect();
    found.sort();
    let mut want = vec![
        (
            Rule::Type,
            "age".to_string(),
            1,
            vec![(10, "abc".to_string())],
        ),
        (
            Rule::Type,
            "hours-per-week".into(),
            1,
            vec![(20, "forty".into())],
        ),
        (
            Rule::Categories,
            "workclass".into(),
            1,
            vec![(30, "Space-agency".into())],
        ),
        (
            Rule::Categories,
            "race".into(),
            1,
            vec![(31, "Martian".into())],
        ),
        (Rule::Range, "age".into(), 1, vec![(40, "150".into())]),
        (
            Rule::Range,
            "capital-gain".into(),
            1,
            vec![(41, "-5".into())],
        ),
        (Rule::Nulls, "sex".into(), 1, vec![(50, String::new())]),
    ];
    want.sort();
    assert_eq!(found, want);
    assert!(
        report
            .anomalies
            .iter()
            .all(|a| a.severity == Severity::Error)
    );
    assert_eq!(report.errors(), 7);
}

fn csv(dir: &Path, name: &str, body: &str) -> InputFile {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    input(&path)
}

#[test]
fn severities_uniqueness_columns_rows_and_several_files() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::parse(
        r#"
severity = { range = "warning" }
[rows]
min = 1
max = 4
[columns.id]
type = "integer"
unique = true
[columns.score]
type = "float"
min = 0
max = 1
[columns.when]
type = "timestamp"
required = false
[columns.label]
type = "string"
severity = { type = "off" }
"#,
        "s.toml",
    )
    .unwrap();
    let a = csv(
        dir.path(),
        "a.csv",
        "id,score,extra,flag\n1,0.5,x,true\n2,1.5,y,maybe\n",
    );
    let b = csv(
        dir.path(),
        "b.csv",
        "id,score,extra,flag\n3,0.1,z,false\n1,-0.1,w,true\n2,nan,v,false\n",
    );
    let report = validate_files(&[a, b], &ReadOptions::default(), &schema, &|_| {}).unwrap();
    let by_rule = |r: Rule| {
        report
            .anomalies
            .iter()
            .filter(|a| a.rule == r)
            .collect::<Vec<_>>()
    };
    let rows = by_rule(Rule::RowCount);
    assert_eq!(rows[0].found, "5 rows");
    let missing = by_rule(Rule::MissingColumn);
    assert_eq!(missing.len(), 1, "`when` is optional, `label` is required");
    assert_eq!(missing[0].column.as_deref(), Some("label"));
    let extra = by_rule(Rule::ExtraColumn);
    assert_eq!(extra.len(), 2);
    assert!(extra.iter().all(|a| a.severity == Severity::Warning));
    let range = &by_rule(Rule::Range)[0];
    assert_eq!(range.severity, Severity::Warning);
    assert_eq!(range.count, 2);
    let examples: Vec<(&str, u64)> = range
        .examples
        .iter()
        .map(|e| (e.file.as_str(), e.row))
        .collect();
    assert_eq!(
        examples,
        [("a.csv", 2), ("b.csv", 2)],
        "rows are counted per file"
    );
    let unique = &by_rule(Rule::Unique)[0];
    assert_eq!(unique.count, 2, "ids 1 and 2 repeat across the files");
    let nulls = &by_rule(Rule::Nulls)[0];
    assert_eq!(
        (nulls.column.as_deref(), nulls.count),
        (Some("score"), 1),
        "NaN is missing"
    );
    assert_eq!(report.errors(), 4);
    assert_eq!(report.warnings(), 3);
}

#[test]
fn odd_data_gets_results_not_crashes() {
    let dir = tempfile::tempdir().unwrap();
    // Header only: an empty dataset.
    let empty = csv(dir.path(), "empty.csv", "a,b\n");
    let p = profile_file(&empty, &ReadOptions::default(), &|_| {}).unwrap();
    let profile = merge_profiles(vec![("empty.csv".into(), p)]).unwrap();
    let schema = infer_schema(&profile, None);
    assert_eq!(schema.rows.min, Some(0));
    let report = validate_files(
        std::slice::from_ref(&empty),
        &ReadOptions::default(),
        &schema,
        &|_| {},
    )
    .unwrap();
    assert!(report.anomalies.is_empty(), "{:?}", report.anomalies);
    // The same empty data against a schema that wants rows.
    let strict = Schema::parse("[rows]\nmin = 1\n[columns.a]\ntype = \"integer\"\n", "s").unwrap();
    let report = validate_files(&[empty], &ReadOptions::default(), &strict, &|_| {}).unwrap();
    assert_eq!(report.anomalies[0].rule, Rule::RowCount);

    // All-null, constant, mixed types, infinities.
    let odd = csv(
        dir.path(),
        "odd.csv",
        "n,c,m,x\n,1,1,inf\n,1,a,-inf\n,1,2.5,3\n",
    );
    let p = profile_file(&odd, &ReadOptions::default(), &|_| {}).unwrap();
    let profile = merge_profiles(vec![("odd.csv".into(), p)]).unwrap();
    let schema = infer_schema(&profile, None);
    assert_eq!(schema.columns["n"].max_null_share, Some(1.0));
    assert_eq!(schema.columns["c"].min, schema.columns["c"].max);
    assert_eq!(schema.columns["m"].dtype, gyre_core::ColumnType::String);
    let report = validate_files(&[odd], &ReadOptions::default(), &schema, &|_| {}).unwrap();
    assert!(report.anomalies.is_empty(), "{:?}", report.anomalies);
}
