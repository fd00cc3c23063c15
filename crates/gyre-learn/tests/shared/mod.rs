//! The shared datasets as the fixture scripts read them, for the imported-model tests.

use std::path::Path;

pub const ADULT: [&str; 15] = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
];

/// A shared dataset's header and records (Adult has no header line; `?` is missing there).
pub fn read(data: &str) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(data);
    let adult = data.starts_with("adult/");
    let mut r = csv::ReaderBuilder::new()
        .has_headers(!adult)
        .trim(csv::Trim::All)
        .from_path(&path)
        .unwrap();
    let header: Vec<String> = if adult {
        ADULT.iter().map(|s| s.to_string()).collect()
    } else {
        r.headers().unwrap().iter().map(String::from).collect()
    };
    let records = r
        .records()
        .map(|rec| {
            rec.unwrap()
                .iter()
                .map(|v| (!v.is_empty() && v != "?").then(|| v.to_string()))
                .collect()
        })
        .collect();
    (header, records)
}

/// Predictions agree with a library's own, row by row, within 1e-5.
pub fn agrees(model: &str, p: &gyre_learn::model::Predictions, expected: &[Vec<f64>]) {
    let mut worst = 0.0f64;
    for (r, want) in expected.iter().enumerate() {
        assert_eq!(p.row(r).len(), want.len(), "{model}");
        for (got, want) in p.row(r).iter().zip(want) {
            worst = worst.max((got - want).abs());
        }
    }
    assert!(
        worst <= 1e-5,
        "{model}: largest difference {worst:e} over {} rows",
        expected.len()
    );
}
