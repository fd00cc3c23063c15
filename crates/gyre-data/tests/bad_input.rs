//! Malformed files get an error that names the file, the line and the column.

use gyre_core::{FileFormat, ReadOptions};
use gyre_data::{DataError, InputFile, merge_profiles, profile_file};
use std::path::Path;

fn run(bytes: &[u8], opts: &ReadOptions) -> Result<gyre_core::DatasetProfile, DataError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    std::fs::write(&path, bytes).unwrap();
    let file = InputFile {
        path: path.clone(),
        display: "bad.csv".into(),
        format: FileFormat::Csv,
    };
    let p = profile_file(&file, opts, &|_| {})?;
    merge_profiles(vec![(file.display, p)])
}

fn err(bytes: &[u8]) -> String {
    run(bytes, &ReadOptions::default()).unwrap_err().to_string()
}

#[test]
fn ragged_row_names_the_line() {
    let e = err(b"a,b,c\n1,2,3\n4,5\n6,7,8\n");
    assert_eq!(e, "bad.csv line 3: expected 3 fields, found 2");
}

#[test]
fn invalid_utf8_names_line_and_column() {
    let e = err(b"a,b,c\n1,2,3\n4,x\xff\xfey,6\n");
    assert_eq!(
        e,
        "bad.csv line 3 column 2 (`b`): invalid UTF-8 at byte 2 of the field"
    );
}

#[test]
fn unterminated_quote_names_where_it_opens() {
    let e = err(b"a,b\n1,2\n3,\"never closed\n4,5\n");
    assert_eq!(
        e,
        "bad.csv line 3 column 2: a quoted field is never closed (unterminated quote)"
    );
}

#[test]
fn empty_and_missing_files_are_clear() {
    assert_eq!(
        err(b""),
        "bad.csv is empty (0 bytes): there is no header and no data to add"
    );
    let file = InputFile {
        path: Path::new("/nonexistent/x.csv").into(),
        display: "/nonexistent/x.csv".into(),
        format: FileFormat::Csv,
    };
    let e = profile_file(&file, &ReadOptions::default(), &|_| {})
        .err()
        .unwrap();
    assert!(
        e.to_string().starts_with("cannot read /nonexistent/x.csv"),
        "{e}"
    );
    assert_eq!(e.code(), gyre_core::ErrorCode::NotFound);
}

#[test]
fn header_problems_are_named() {
    assert!(err(b"a,a\n1,2\n").contains("column name `a` appears twice"));
    let opts = ReadOptions {
        columns: Some(vec!["x".into()]),
        ..ReadOptions::default()
    };
    let e = run(b"a,b\n1,2\n", &opts).unwrap_err().to_string();
    assert!(
        e.contains("the header has 2 columns but 1 names were given"),
        "{e}"
    );
}

#[test]
fn header_only_is_an_empty_dataset_not_an_error() {
    let p = run(b"a,b\n", &ReadOptions::default()).unwrap();
    assert_eq!(p.rows, 0);
    assert!(
        p.columns
            .iter()
            .all(|c| c.dtype == gyre_core::ColumnType::Empty)
    );
}

#[test]
fn quoted_fields_delimiters_and_nulls() {
    let opts = ReadOptions {
        delimiter: ';',
        null_values: vec!["?".into(), "".into()],
        ..ReadOptions::default()
    };
    let p = run(
        b"name;n\n\"a;b\";1\n\"say \"\"hi\"\"\";?\n\"multi\nline\";3\n",
        &opts,
    )
    .unwrap();
    assert_eq!(p.rows, 3);
    let name = p.column("name").unwrap();
    let values: Vec<&str> = name.top_values.iter().map(|v| v.value.as_str()).collect();
    assert_eq!(values, ["a;b", "multi\nline", "say \"hi\""]);
    let n = p.column("n").unwrap();
    assert_eq!(
        (n.count, n.nulls, n.dtype),
        (2, 1, gyre_core::ColumnType::Integer)
    );
}

#[test]
fn headerless_files_get_numbered_names() {
    let opts = ReadOptions {
        header: false,
        ..ReadOptions::default()
    };
    let p = run(b"1,x\n2,y\n", &opts).unwrap();
    assert_eq!(p.rows, 2);
    assert_eq!(p.columns[1].name, "column_2");
}
