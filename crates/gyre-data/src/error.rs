//! Errors in reading data. Each names the file, and where it can the line, the column and the
//! value, so a user can fix the file in one go.

use gyre_core::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is empty (0 bytes): there is no header and no data to add")]
    Empty { path: String },
    #[error("{file} line {line}: expected {expected} fields, found {found}{hint}")]
    Ragged {
        file: String,
        line: u64,
        expected: usize,
        found: usize,
        hint: String,
    },
    #[error(
        "{file} line {line} column {column} (`{name}`): invalid UTF-8 at byte {byte} of the field"
    )]
    InvalidUtf8 {
        file: String,
        line: u64,
        column: usize,
        name: String,
        byte: usize,
    },
    #[error(
        "{file} line {line} column {column}: a quoted field is never closed (unterminated quote)"
    )]
    UnterminatedQuote {
        file: String,
        line: u64,
        column: usize,
    },
    #[error("{file}: {message}")]
    Header { file: String, message: String },
    #[error("{file} has columns [{}], but {first} has [{}]; every file of a dataset needs the same columns", found.join(", "), expected.join(", "))]
    ColumnMismatch {
        file: String,
        first: String,
        expected: Vec<String>,
        found: Vec<String>,
    },
    #[error("{file}: not a readable Parquet file: {message}")]
    Parquet { file: String, message: String },
    #[error("{file} column `{column}`: unsupported Parquet type {dtype}")]
    UnsupportedType {
        file: String,
        column: String,
        dtype: String,
    },
}

impl DataError {
    pub fn code(&self) -> ErrorCode {
        match self {
            DataError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorCode::NotFound
            }
            DataError::Io { .. } => ErrorCode::Io,
            _ => ErrorCode::InvalidInput,
        }
    }
}
