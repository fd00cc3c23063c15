//! gyre's domain: ids, entities, the parsed project spec and error codes.
//!
//! Architecture invariant: this crate does no I/O and knows nothing of tokio, sqlx or axum.
//! Everything here takes values and returns values, so it is tested with plain values.

pub mod access;
pub mod dataset;
pub mod environment;
pub mod error;
pub mod gate;
pub mod hash;
pub mod model;
pub mod monitor;
pub mod pipeline;
pub mod profile;
pub mod run;
pub mod runfilter;
pub mod schema;
pub mod series;
pub mod spec;
pub mod testscore;

pub use dataset::{
    DatasetName, DatasetRef, DatasetVersion, FileEntry, FileFormat, Manifest, NewDatasetVersion,
    ReadOptions, VersionInfo, VersionRef, is_safe_relative_path,
};
pub use error::{CoreError, ErrorCode};
pub use hash::ContentHash;
pub use model::{Algorithm, ModelSpec, SearchMethod, Split, Task, Transform, TuneSpec};
pub use profile::{
    ColumnProfile, ColumnType, DatasetProfile, Histogram, NumericStats, Quantile, ValueCount,
};
pub use run::{MetricPoint, NewRun, Run, RunId, RunStatus};
pub use schema::{ColumnSchema, RowBounds, Rule, Schema, Severity};
pub use spec::{DatasetSpec, ProjectSpec};
