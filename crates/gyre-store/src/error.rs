//! The stores' errors. Database error texts stay in logs; what a client sees is the code and a
//! message that names the thing, never SQL.

use gyre_core::{ContentHash, ErrorCode};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("{what} is ambiguous: it matches {}", candidates.join(", "))]
    Ambiguous {
        what: String,
        candidates: Vec<String>,
    },
    #[error("object {hash} is corrupt: its bytes at {} hash to {found}", path.display())]
    Corrupt {
        hash: ContentHash,
        found: ContentHash,
        path: PathBuf,
    },
    #[error("object {hash} is missing from the blob store (expected at {})", path.display())]
    MissingObject { hash: ContentHash, path: PathBuf },
    #[error("{} changed while it was being stored (expected {expected}, read {found})", path.display())]
    SourceChanged {
        path: PathBuf,
        expected: ContentHash,
        found: ContentHash,
    },
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The object store (S3) refused or failed a request.
    #[error("{context}: {source}")]
    Remote {
        context: String,
        #[source]
        source: Box<object_store::Error>,
    },
    #[error("metadata store: {0}")]
    Database(#[from] sqlx::Error),
    #[error("metadata store migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("metadata store holds a record it cannot read: {0}")]
    BadRecord(String),
    #[error("unsupported store URL scheme `{0}`: use sqlite://PATH or postgres://…")]
    BadUrl(String),
    /// Someone else changed the record first (an alias moved under us).
    #[error("{0}")]
    Conflict(String),
    /// A record refused before it was written.
    #[error("{0}")]
    Invalid(String),
}

impl StoreError {
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::NotFound { .. } => ErrorCode::NotFound,
            StoreError::Ambiguous { .. } => ErrorCode::Ambiguous,
            StoreError::Corrupt { .. } | StoreError::MissingObject { .. } => ErrorCode::Corrupt,
            StoreError::SourceChanged { .. } => ErrorCode::Io,
            StoreError::Io { .. } | StoreError::Remote { .. } => ErrorCode::Io,
            StoreError::BadUrl(_) | StoreError::Invalid(_) => ErrorCode::InvalidInput,
            StoreError::Conflict(_) => ErrorCode::AlreadyExists,
            StoreError::Database(_) | StoreError::Migrate(_) | StoreError::BadRecord(_) => {
                ErrorCode::Store
            }
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
        let context = context.into();
        move |source| StoreError::Io { context, source }
    }
}
