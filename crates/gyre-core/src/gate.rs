//! `[gate]`: what a model version must show before it may become `champion`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSpec {
    /// Minimum test metrics, from the model file (`accuracy = 0.84`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub min: BTreeMap<String, f64>,
    /// Maximum test metrics (`log_loss = 0.4`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub max: BTreeMap<String, f64>,
    /// Per slice, minimum metrics (`women = { f1 = 0.6 }`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub slices: BTreeMap<String, BTreeMap<String, f64>>,
    /// The candidate must beat the current champion on `dataset` by `margin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beat_champion: Option<BeatChampion>,
    /// Evaluation data for `beat_champion` and the latency check: a dataset version neither
    /// model trained on (`NAME` is its latest version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size_bytes: Option<u64>,
    /// Single-row prediction p99, measured by the gate, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p99_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeatChampion {
    pub metric: String,
    /// How much better; for losses and errors (log_loss, rmse, mae, mape) lower is better.
    #[serde(default)]
    pub margin: f64,
}

/// One check of a verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub check: String,
    pub expected: String,
    pub found: String,
    pub passed: bool,
}
