//! Error codes shared by every door (CLI exit codes, HTTP statuses) and the core's own errors.

use std::fmt;

/// A stable, machine-readable error code. Each maps to one HTTP status and one CLI exit code,
/// so the CLI and the API report the same failure the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The input is malformed: a bad name, a bad reference, a malformed file.
    InvalidInput,
    /// The named thing does not exist.
    NotFound,
    /// A reference matches more than one thing (a short hash prefix).
    Ambiguous,
    /// The thing exists already and may not be overwritten.
    AlreadyExists,
    /// Stored bytes do not match their content hash.
    Corrupt,
    /// The metadata store or the blob store failed.
    Store,
    /// A file-system or network operation failed.
    Io,
}

impl ErrorCode {
    /// The code as it appears in JSON bodies: `invalid_input`, `not_found`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Ambiguous => "ambiguous",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::Corrupt => "corrupt",
            ErrorCode::Store => "store",
            ErrorCode::Io => "io",
        }
    }

    /// The HTTP status a server answers with. Client mistakes are 4xx, never 5xx.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidInput => 400,
            ErrorCode::NotFound => 404,
            ErrorCode::Ambiguous => 409,
            ErrorCode::AlreadyExists => 409,
            ErrorCode::Corrupt => 500,
            ErrorCode::Store => 500,
            ErrorCode::Io => 500,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors from parsing domain values (names, references, hashes, the project spec).
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(
        "invalid dataset name `{0}`: use 1 to 64 letters, digits, `_`, `-` or `.`, starting with a letter or digit"
    )]
    InvalidName(String),
    #[error(
        "invalid version reference `{0}`: use `@latest`, `@N` (a sequence number) or a hash prefix of at least 4 hex digits"
    )]
    InvalidVersionRef(String),
    #[error("invalid content hash `{0}`: expected 64 hex digits")]
    InvalidHash(String),
    #[error("{file}: {message}")]
    Spec { file: String, message: String },
}

impl CoreError {
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidInput
    }
}
