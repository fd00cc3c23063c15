//! gyre's operations: one function per thing a user can do. The CLI, the HTTP API and the
//! scheduler all call these, so each behaves the same whichever door it comes through.

/// Writes a line on stderr, like `eprintln!`, except that a closed stderr (`gyre run 2>&1 |
/// head`) is not a panic: a progress line or a log line nobody reads is dropped.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

pub mod backtest;
pub mod check;
pub mod ci;
pub mod datasets;
pub mod delivery;
pub mod drift;
pub mod environments;
mod error;
pub mod gc;
pub mod import;
pub mod lineage;
pub mod monitor;
mod online;
pub mod pipeline;
pub mod progress;
pub mod project;
pub mod registry;
pub mod runs;
pub mod settings;
mod statcache;
pub mod sync;
pub mod targets;
pub mod team;
pub mod tokens;
pub mod train;
pub mod triggers;
pub mod validation;

pub use error::OpsError;
pub use progress::{NoProgress, Progress};
pub use project::{InitReport, Project, Template, init, init_with};

/// Objects stored at once by one operation (a dataset's files, a step's outputs): with a
/// bucket, each costs a round trip or more, paid in parallel; locally, fsyncs overlap.
pub(crate) const STORE_JOBS: usize = 8;

pub type Result<T, E = OpsError> = std::result::Result<T, E>;
