//! `[monitor]`, `[[trigger]]` and `[loop]`: what to watch in production, what starts a
//! pipeline, and how a retrained candidate goes live.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[monitor]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorSpec {
    /// The registered model to watch (default: `[serve] model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default)]
    pub window: WindowSpec,
    /// Quality floors on labelled windows (`f1 = 0.75`): precision, recall, f1, accuracy,
    /// roc_auc for classification; r2 for regression.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub min: BTreeMap<String, f64>,
    /// Quality ceilings (`rmse = 3.0`, `mae = 2.0`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub max: BTreeMap<String, f64>,
    /// Drift of live inputs against the training data's stored profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftRule>,
    /// Maximum PSI of the predicted classes (or values) against the training target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction_shift: Option<f64>,
    /// Staleness: the serving version's maximum age, in days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_days: Option<f64>,
    /// Operational: the share of requests answered with an error, per traffic window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_rate: Option<f64>,
    /// Operational: request p99 latency per traffic window, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p99_ms: Option<f64>,
}

/// A window closes when it holds `labels` labelled predictions, or when `minutes` have
/// passed since its first label, whichever comes first (at least one must be set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<f64>,
    /// Served predictions per traffic window (drift, prediction shift, operations).
    #[serde(default = "default_traffic")]
    pub traffic: u64,
}

fn default_traffic() -> u64 {
    1000
}

impl Default for WindowSpec {
    fn default() -> Self {
        WindowSpec {
            labels: Some(500),
            minutes: None,
            traffic: default_traffic(),
        }
    }
}

/// `drift = { columns = ["nswprice"], method = "psi", threshold = 0.25 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftRule {
    /// Inputs to watch (default: every input of the model).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// psi (default), wasserstein, jensenshannon, ks or chisquare.
    #[serde(default = "default_method")]
    pub method: String,
    /// Drift at or above it (distances), or a p-value below it (tests); the method's default
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

fn default_method() -> String {
    "psi".into()
}

/// `[[trigger]]`: a cause that runs a pipeline target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    pub name: String,
    pub on: TriggerKind,
    /// The pipeline target (a step name) to run; its upstream steps run too.
    pub run: String,
    /// schedule: a cron expression with seconds optional (`0 3 * * *`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// schedule: an IANA time zone (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// data: a dataset whose new versions fire it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// data: a file or directory (inside the project) whose changes fire it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// monitor: only breaches of this rule (default: any breach).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// message: a NATS subject that fires it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// message: the environment variable holding the webhook's bearer token (default
    /// `GYRE_TRIGGER_TOKEN`). The webhook refuses every call while it is unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerKind {
    Schedule,
    Data,
    Monitor,
    Code,
    Message,
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Schedule => "schedule",
            TriggerKind::Data => "data",
            TriggerKind::Monitor => "monitor",
            TriggerKind::Code => "code",
            TriggerKind::Message => "message",
        }
    }
}

impl TriggerSpec {
    /// What the trigger's kind needs.
    pub fn check(&self) -> Result<(), String> {
        let need = |what: &str, v: &Option<String>| {
            if v.is_none() {
                Err(format!(
                    "trigger `{}` (on = \"{}\") needs `{what}`",
                    self.name,
                    self.on.as_str()
                ))
            } else {
                Ok(())
            }
        };
        match self.on {
            TriggerKind::Schedule => need("cron", &self.cron),
            TriggerKind::Data if self.dataset.is_none() && self.path.is_none() => Err(format!(
                "trigger `{}` (on = \"data\") needs `dataset` or `path`",
                self.name
            )),
            _ => Ok(()),
        }
    }
}

/// `[loop]`: how a canary is judged once `[serve] canary.min_labels` labels are in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopSpec {
    /// The metric the canary is judged on (default: the first `[monitor] min` metric, else
    /// f1 or rmse by task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// How much worse than the champion on the same window the candidate may be and still
    /// be promoted.
    #[serde(default)]
    pub tolerance: f64,
    /// Run the loop: a triggered pipeline's gate-passing candidate becomes `challenger`, and
    /// the canary's verdict promotes or rolls it back (default true when `[monitor]` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

impl MonitorSpec {
    /// Whether any rule reads served traffic (drift, prediction shift, error rate, p99).
    pub fn watches_traffic(&self) -> bool {
        self.drift.is_some()
            || self.prediction_shift.is_some()
            || self.max_error_rate.is_some()
            || self.max_p99_ms.is_some()
    }

    pub fn check(&self) -> Result<(), String> {
        if self.window.labels.is_none() && self.window.minutes.is_none() {
            return Err("window needs `labels`, `minutes`, or both".into());
        }
        if self.window.labels == Some(0) || self.window.traffic == 0 {
            return Err("window sizes must be at least 1".into());
        }
        if let Some(m) = self.window.minutes
            && (m.is_nan() || m <= 0.0)
        {
            return Err(format!("window.minutes must be positive, not {m}"));
        }
        Ok(())
    }
}
