//! Whole tables in memory, column by column, in row order: what training and batch scoring
//! read. Values stay text (nulls as `None`) until the caller types them: by inference when
//! training, by the model's signature when scoring.

use crate::csv::{RowSink, scan_csv};
use crate::{DataError, FileFormat, InputFile, Progress};
use gyre_core::ReadOptions;

/// A table's columns, in file order; every column has `rows` values.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub names: Vec<String>,
    pub columns: Vec<Vec<Option<String>>>,
    pub rows: usize,
}

/// One worker's rows: their numbers and, per column, their fields.
struct Collect {
    rows: Vec<u64>,
    cols: Vec<Vec<Option<String>>>,
}

impl RowSink for Collect {
    fn field(&mut self, row: u64, col: usize, value: Option<&str>) {
        if col == 0 {
            self.rows.push(row);
        }
        self.cols[col].push(value.map(str::to_string));
    }

    fn number(&mut self, row: u64, col: usize, value: f64) {
        self.field(
            row,
            col,
            (!value.is_nan()).then(|| format!("{value}")).as_deref(),
        );
    }
}

/// Reads every file (all with the same columns) into one table, rows in file order.
pub fn read_table(
    files: &[InputFile],
    opts: &ReadOptions,
    progress: &Progress<'_>,
) -> Result<Table, DataError> {
    let mut table = Table {
        names: Vec::new(),
        columns: Vec::new(),
        rows: 0,
    };
    for file in files {
        let (names, parts) = if file.format == FileFormat::Parquet {
            let names = crate::parquet::column_names(&file.path, &file.display)?;
            let mut sink = Collect {
                rows: Vec::new(),
                cols: vec![Vec::new(); names.len()],
            };
            crate::parquet::scan_text(&file.path, &file.display, progress, &mut sink)?;
            (names, vec![sink])
        } else {
            let s = scan_csv(&file.path, &file.display, opts, progress, |n| Collect {
                rows: Vec::new(),
                cols: vec![Vec::new(); n.len()],
            })?;
            (s.names, s.sinks)
        };
        if table.names.is_empty() {
            table.names = names;
            table.columns = vec![Vec::new(); table.names.len()];
        } else if table.names != names {
            return Err(DataError::ColumnMismatch {
                file: file.display.clone(),
                first: files[0].display.clone(),
                expected: table.names.clone(),
                found: names,
            });
        }
        // Workers saw batches in any order: put every row back at its number.
        let n: usize = parts.iter().map(|p| p.rows.len()).sum();
        let mut place: Vec<(u64, usize, usize)> = parts
            .iter()
            .enumerate()
            .flat_map(|(w, p)| p.rows.iter().enumerate().map(move |(i, &r)| (r, w, i)))
            .collect();
        place.sort_unstable();
        let mut parts = parts;
        for c in 0..table.names.len() {
            let mut taken: Vec<Vec<Option<String>>> = parts
                .iter_mut()
                .map(|p| std::mem::take(&mut p.cols[c]))
                .collect();
            let col = &mut table.columns[c];
            col.reserve(n);
            for &(_, w, i) in &place {
                col.push(taken[w].get_mut(i).and_then(Option::take));
            }
        }
        table.rows += n;
    }
    Ok(table)
}

/// A column as numbers, when every present value is one; `None` otherwise.
pub fn as_numbers(values: &[Option<String>]) -> Option<Vec<Option<f64>>> {
    values
        .iter()
        .map(|v| match v {
            None => Some(None),
            Some(s) => s.trim().parse::<f64>().ok().map(Some),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_back_in_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let mut text = String::from("a,b\n");
        for i in 0..20_000 {
            text.push_str(&format!("{i},{}\n", if i % 3 == 0 { "" } else { "x" }));
        }
        std::fs::write(&path, text).unwrap();
        let file = InputFile {
            path: path.clone(),
            display: "t.csv".into(),
            format: FileFormat::Csv,
        };
        let t = read_table(&[file], &ReadOptions::default(), &|_| {}).unwrap();
        assert_eq!(t.rows, 20_000);
        assert_eq!(t.names, ["a", "b"]);
        let a = as_numbers(&t.columns[0]).unwrap();
        assert!(a.iter().enumerate().all(|(i, v)| *v == Some(i as f64)));
        assert_eq!(t.columns[1][3], None);
        assert_eq!(t.columns[1][4].as_deref(), Some("x"));
        assert!(as_numbers(&t.columns[1]).is_none());
    }
}
