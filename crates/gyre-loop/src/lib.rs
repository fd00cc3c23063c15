//! The closed loop as a pure engine.
//!
//! Labelled predictions and the clock go in; windows, breaches, retrains and canary verdicts
//! come out. Nothing here reads a store, a file or the wall clock, so the same decisions are
//! made by `gyre serve` (whose operations read the stores and apply the actions), by
//! `gyre backtest` (which replays a dataset on an injected clock) and by table tests that run
//! in milliseconds.
//!
//! - [`outcome`]: one labelled prediction, and the figures of a set of them;
//! - [`judge`]: `[monitor]`'s floors and ceilings (absolute and relative) over a window;
//! - [`breach`]: which rules are in breach, for which version, and when a persistent breach
//!   fires again;
//! - [`detect`]: change detection on the error stream (Page-Hinkley, DDM);
//! - [`canary`]: the verdict on a candidate, a paired bootstrap on the same rows;
//! - [`engine`]: all of it as one state machine.

pub mod breach;
pub mod canary;
pub mod detect;
pub mod engine;
pub mod judge;
pub mod outcome;

pub use engine::{Action, Engine, Input, Labelled, Policy, Role};
pub use outcome::{Classes, Figures, Outcome};

/// Metrics where lower is better.
pub fn lower_is_better(metric: &str) -> bool {
    matches!(metric, "rmse" | "mae" | "mape" | "log_loss")
        || metric.starts_with("drift.")
        || matches!(
            metric,
            "prediction_shift" | "age_days" | "error_rate" | "p99_ms" | "rate_gap"
        )
}
