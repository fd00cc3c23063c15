//! gyre's data engine: reads CSV and Parquet files and profiles their columns.
//!
//! It takes paths and options and returns values; it knows nothing of stores or projects.

mod acc;
mod csv;
mod diff;
pub mod drift;
mod error;
mod parquet;
mod schema;
pub mod stats;
pub mod table;
mod validate;

pub use acc::{Budget, parse_timestamp, quantile_sorted};
pub use diff::{ColumnDiff, ProfileDiff, StatChange, diff_profiles};
pub use error::DataError;
pub use schema::infer_schema;
pub use validate::{
    Anomaly, ColumnSummary, Example, RANGE_BINS, RangeHistogram, ValidationReport, validate_files,
};

use acc::ColumnAcc;
use gyre_core::{DatasetProfile, FileFormat, ReadOptions};
use std::path::{Path, PathBuf};

/// Called with the number of bytes read since the last call; used for progress bars.
pub type Progress<'a> = dyn Fn(u64) + Sync + 'a;

/// One file's columns, before they are merged into a dataset profile.
pub struct FileProfile {
    names: Vec<String>,
    accs: Vec<ColumnAcc>,
    rows: u64,
    budget: Budget,
}

impl FileProfile {
    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn columns(&self) -> &[String] {
        &self.names
    }
}

/// A file to profile.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: PathBuf,
    /// How the file is named in messages (usually the path the user gave).
    pub display: String,
    pub format: FileFormat,
}

/// Tells a file's format: `.parquet`/`.pq`, or the `PAR1` magic bytes; anything else is CSV.
pub fn detect_format(path: &Path) -> FileFormat {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    if matches!(ext.as_deref(), Some("parquet" | "pq")) {
        return FileFormat::Parquet;
    }
    let mut magic = [0u8; 4];
    let is_par1 = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"PAR1";
    if is_par1 {
        FileFormat::Parquet
    } else {
        FileFormat::Csv
    }
}

/// Profiles one file.
pub fn profile_file(
    file: &InputFile,
    opts: &ReadOptions,
    progress: &Progress<'_>,
) -> Result<FileProfile, DataError> {
    match file.format {
        FileFormat::Csv => csv::profile_csv(&file.path, &file.display, opts, progress),
        FileFormat::Parquet => parquet::profile_parquet(&file.path, &file.display, progress),
    }
}

/// Merges per-file profiles into one dataset profile. Every file must have the same columns,
/// in the same order.
pub fn merge_profiles(files: Vec<(String, FileProfile)>) -> Result<DatasetProfile, DataError> {
    let mut iter = files.into_iter();
    let Some((first_name, mut first)) = iter.next() else {
        return Ok(DatasetProfile {
            rows: 0,
            columns: Vec::new(),
        });
    };
    for (name, p) in iter {
        if p.names != first.names {
            return Err(DataError::ColumnMismatch {
                file: name,
                first: first_name,
                expected: first.names.clone(),
                found: p.names,
            });
        }
        first.rows += p.rows;
        let budget = first.budget;
        for (a, b) in first.accs.iter_mut().zip(p.accs) {
            a.merge(b, &budget);
        }
    }
    let columns = first
        .accs
        .into_iter()
        .zip(&first.names)
        .map(|(a, n)| a.finish(n))
        .collect();
    Ok(DatasetProfile {
        rows: first.rows,
        columns,
    })
}
