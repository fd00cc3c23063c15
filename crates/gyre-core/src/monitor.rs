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
    /// Floors relative to the serving version's own test figure (`f1 = 0.85`: breach below
    /// 85 % of the F1 it showed at training), so each retrained version is held to what it
    /// promised rather than to one number for every base rate.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub relative: BTreeMap<String, f64>,
    /// The positive class of a binary model (default: the second of its two sorted classes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive: Option<String>,
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
    /// Whether this is a monitor trigger that runs on `rule` (its own rule, or one of its
    /// dotted children: `drift` covers `drift.price`; no rule covers every rule).
    pub fn runs_on(&self, rule: &str) -> bool {
        self.on == TriggerKind::Monitor
            && self
                .rule
                .as_ref()
                .is_none_or(|r| rule == r || rule.starts_with(&format!("{r}.")))
    }

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

/// `[loop]`: when a breach retrains, on what, and how the retrained candidate's canary is
/// judged. Every knob has a default, so `[loop]` may be left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopSpec {
    /// The metric the canary is judged on (default: the first `[monitor] min` metric, else
    /// f1 or rmse by task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// How much worse than the champion on the same rows the candidate may be and still be
    /// promoted.
    #[serde(default)]
    pub tolerance: f64,
    /// Run the loop: a triggered pipeline's gate-passing candidate becomes `challenger`, and
    /// the canary's verdict promotes or rolls it back (default true when `[monitor]` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// A breach that persists fires again after this long (default: 2 windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<Cooldown>,
    /// What a retrain waits for, and what it trains on.
    #[serde(default)]
    pub retrain: RetrainSpec,
    /// How the canary's verdict is reached.
    #[serde(default)]
    pub canary: CanarySpec,
    /// Change detection on the champion's labelled error stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detect: Option<DetectSpec>,
    /// An online champion learns every joined label in the server; every this many labels
    /// its state is registered as a new version, gated, and put on canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotSpec>,
}

/// `snapshot = { labels = 1000 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotSpec {
    pub labels: u64,
}

/// `cooldown = { windows = 2 }` or `cooldown = { minutes = 720 }` (both: whichever comes
/// first).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cooldown {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<f64>,
}

/// `[loop.retrain]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrainSpec {
    /// Labelled rows of the serving model's traffic before a breach may retrain.
    #[serde(default = "default_retrain_labels")]
    pub min_labels: u64,
    /// Of which at least this many of the positive class (classification).
    #[serde(default = "default_retrain_positives")]
    pub min_positives: u64,
    /// What the candidate trains on: `recent` (the last `rows` labelled rows), `base+recent`
    /// (the first model's data, then those), or `auto` (each of them, and the rows since a
    /// detected change, chosen on the most recent labelled rows).
    #[serde(default)]
    pub data: RetrainData,
    /// The recent labelled rows a candidate may train on.
    #[serde(default = "default_retrain_rows")]
    pub rows: u64,
}

impl Default for RetrainSpec {
    fn default() -> Self {
        RetrainSpec {
            min_labels: default_retrain_labels(),
            min_positives: default_retrain_positives(),
            data: RetrainData::default(),
            rows: default_retrain_rows(),
        }
    }
}

fn default_retrain_labels() -> u64 {
    200
}
fn default_retrain_positives() -> u64 {
    10
}
fn default_retrain_rows() -> u64 {
    5000
}

/// The default, `auto`, is what won on the streams in `bench/backtest.sh`: on Elec2 the base
/// data is stale (base+recent 0.634 mean F1, recent 0.714, auto 0.721), elsewhere it helps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetrainData {
    #[serde(rename = "recent")]
    Recent,
    #[serde(rename = "base+recent")]
    BaseAndRecent,
    #[default]
    #[serde(rename = "auto")]
    Auto,
}

/// `[loop.canary]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanarySpec {
    /// Labelled candidate predictions before a verdict (default: `[serve] canary.min_labels`,
    /// else 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_labels: Option<u64>,
    /// Of which at least this many of the positive class.
    #[serde(default = "default_canary_positives")]
    pub min_positives: u64,
    /// While the comparison is inconclusive the canary goes on, up to this many labels; then
    /// the point estimate decides (default: 4 × min_labels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_labels: Option<u64>,
    /// One-sided confidence of "no worse" (and of "worse" for a rollback).
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Bootstrap resamples of the paired comparison.
    #[serde(default = "default_resamples")]
    pub resamples: u32,
    /// The candidate is rolled back below this value of the metric, whatever the champion
    /// did (a floor for lower-is-better metrics is a ceiling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<f64>,
}

impl Default for CanarySpec {
    fn default() -> Self {
        CanarySpec {
            min_labels: None,
            min_positives: default_canary_positives(),
            max_labels: None,
            confidence: default_confidence(),
            resamples: default_resamples(),
            floor: None,
        }
    }
}

fn default_canary_positives() -> u64 {
    10
}
fn default_confidence() -> f64 {
    0.9
}
fn default_resamples() -> u32 {
    1000
}

/// `detect = { method = "page_hinkley" }`: a change in the champion's error rate is a
/// breach of the rule `change`, and the rows since it are a training window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectSpec {
    #[serde(default)]
    pub method: DetectMethod,
    /// Page-Hinkley's tolerated drift per observation (δ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
    /// Page-Hinkley's alarm threshold (λ), in summed errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectMethod {
    #[default]
    PageHinkley,
    Ddm,
}

impl LoopSpec {
    pub fn check(&self) -> Result<(), String> {
        let c = &self.canary;
        if !(c.confidence > 0.5 && c.confidence < 1.0) {
            return Err(format!(
                "canary.confidence = {}: a one-sided confidence between 0.5 and 1 (0.9 is 90 %)",
                c.confidence
            ));
        }
        if c.resamples < 100 {
            return Err(format!(
                "canary.resamples = {}: at least 100 bootstrap resamples",
                c.resamples
            ));
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(format!(
                "tolerance = {}: a margin of 0 or more",
                self.tolerance
            ));
        }
        if let Some(cd) = &self.cooldown {
            if cd.windows.is_none() && cd.minutes.is_none() {
                return Err("cooldown needs `windows`, `minutes`, or both".into());
            }
            if cd.windows == Some(0) || cd.minutes.is_some_and(|m| m.is_nan() || m <= 0.0) {
                return Err("a cooldown must be positive".into());
            }
        }
        if self.retrain.rows == 0 {
            return Err("retrain.rows must be at least 1".into());
        }
        if self.snapshot.as_ref().is_some_and(|s| s.labels == 0) {
            return Err("snapshot.labels must be at least 1".into());
        }
        Ok(())
    }
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
        for (metric, share) in &self.relative {
            if !(share.is_finite() && *share > 0.0) {
                return Err(format!(
                    "relative.{metric} = {share}: a relative floor is a positive share of the \
                     version's test figure (0.85 is 85 %)"
                ));
            }
        }
        Ok(())
    }
}
