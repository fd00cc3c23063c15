//! Errors of operations, with the code every door maps to an exit code or HTTP status, and a
//! hint where one helps.

use gyre_core::{CoreError, ErrorCode};
use gyre_data::DataError;
use gyre_store::StoreError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("no gyre project here: no gyre.toml in {} or any folder above it", start.display())]
    NotAProject { start: PathBuf },
    #[error("{} already holds a gyre project ({} exists); gyre init never overwrites one", dir.display(), marker.display())]
    AlreadyAProject { dir: PathBuf, marker: PathBuf },
    #[error(transparent)]
    Backtest(#[from] crate::backtest::BacktestError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl OpsError {
    pub fn code(&self) -> ErrorCode {
        match self {
            OpsError::Core(e) => e.code(),
            OpsError::Store(e) => e.code(),
            OpsError::Data(e) => e.code(),
            OpsError::NotAProject { .. } => ErrorCode::NotFound,
            OpsError::AlreadyAProject { .. } => ErrorCode::AlreadyExists,
            OpsError::Backtest(_) | OpsError::Invalid(_) => ErrorCode::InvalidInput,
            OpsError::NotFound(_) => ErrorCode::NotFound,
            OpsError::Conflict(_) => ErrorCode::AlreadyExists,
            OpsError::Io { .. } => ErrorCode::Io,
        }
    }

    /// A next step for the user, when there is an obvious one.
    pub fn hint(&self) -> Option<String> {
        match self {
            OpsError::NotAProject { .. } => {
                Some("run `gyre init` to create a project, or pass `-C DIR`".into())
            }
            OpsError::Store(StoreError::Ambiguous { .. }) => {
                Some("give more digits of the hash, or use `@N` from `gyre data log`".into())
            }
            OpsError::Store(StoreError::Corrupt { .. }) => Some(
                "the object's bytes changed on disk; restore .gyre/objects from a backup, or re-add the data"
                    .into(),
            ),
            _ => None,
        }
    }

    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> OpsError {
        let context = context.into();
        move |source| OpsError::Io { context, source }
    }
}
