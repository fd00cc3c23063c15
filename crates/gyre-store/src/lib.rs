//! gyre's stores.
//!
//! - [`MetaStore`]: what exists, who made it, from what. SQLite (embedded default, WAL, at
//!   `.gyre/gyre.db`) and PostgreSQL implement it, and both pass [`contract`]'s suite.
//! - [`BlobStore`]: the bytes, content-addressed by BLAKE3, immutable, written atomically and
//!   verified on every read. [`LocalBlobStore`] keeps them under `.gyre/objects/`;
//!   [`S3BlobStore`] in an S3-compatible bucket, read through a local cache.

mod approvals;
mod artifacts;
mod attestations;
pub mod blob;
pub mod contract;
mod error;
mod experiments;
mod leases;
pub mod meta;
pub mod monitor;
pub mod predictions;
pub mod registry;
pub mod runs;
pub mod s3;
pub mod steps;
pub mod tokens;

pub use approvals::{Approval, Approvals};
pub use artifacts::{ArtifactEntry, Artifacts};
pub use attestations::{Attestation, Attestations};
pub use blob::{BlobStore, LocalBlobStore, PutOutcome, StagedBlob, StoredObject, hash_file};
pub use error::StoreError;
pub use experiments::{Experiment, Experiments, LoggedModel, ModelMetric};
pub use leases::{Lease, Leases};
pub use meta::{AddOutcome, DatasetSummary, MetaStore, open_meta_store};
pub use monitor::{Firing, LabelledRow, MonitorEvent, MonitorPoint, Monitoring};
pub use predictions::{
    FeedbackRecord, LabelCorrection, LabelOutcome, PredictionLog, PredictionRecord, UnknownLabels,
};
pub use registry::{AliasEvent, AliasKind, ModelVersion, Registry, StoredVerdict};
pub use runs::{Direction, RunStore};
pub use s3::{S3BlobStore, S3Url};
pub use steps::{StepCache, StepResult};
pub use tokens::{TokenInfo, TokenStore};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
