//! Monitoring: windows of labelled predictions, the `[monitor]` rules over them, events, and
//! the canary's verdict (the loop's last step).
//!
//! The decisions are the loop engine's ([`gyre_loop::Engine`]), the same state machine
//! `gyre backtest` replays streams through. This module is its driver in the server: a pass
//! ([`Monitor::pass`]) joins the labels still pending, tells the engine which versions serve
//! (from the aliases), feeds it the labelled rows joined since the last pass, in order, and
//! the clock; then applies what it asks for: a closed window is a stored point, a breach,
//! recovery or detected change is an event, a retrain is an event that monitor triggers run
//! on, and a canary's verdict is an audited alias move. Time is given to a pass, never read
//! by it, so tests replay streams with an injected clock.
//!
//! A restart rebuilds the engine from the store: the open breaches from the events, the
//! labelled rows after the last stored window, and the canary's rows since it began.

use crate::{OpsError, Project, Result};
use gyre_core::monitor::{LoopSpec, MonitorSpec};
use gyre_loop::engine::Action;
use gyre_store::{LabelledRow, MonitorEvent, MonitorPoint};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

pub const LABELS: &str = "labels";
pub const TRAFFIC: &str = "traffic";
const ROLES: [&str; 3] = ["champion", "challenger", "shadow"];

pub use gyre_loop::judge::{Judgement, judge_quality};
pub use gyre_loop::lower_is_better;

/// How a model answers: its classes (empty for regression), the positive class, and its
/// own test figures (for relative floors).
#[derive(Debug, Clone)]
struct Answers {
    classes: Vec<String>,
    positive: Option<String>,
    test: BTreeMap<String, f64>,
}

/// A labelled row as the loop engine judges it (None when its output cannot be read).
fn outcome(
    r: &LabelledRow,
    classes: &mut gyre_loop::Classes,
    regression: bool,
) -> Option<gyre_loop::Outcome> {
    let v = serde_json::from_str::<Value>(&r.output).ok()?;
    if regression {
        return Some(gyre_loop::Outcome::Value {
            truth: r.label.trim().parse().ok()?,
            predicted: v.as_f64()?,
        });
    }
    let label = match &v["label"] {
        Value::String(s) => s.clone(),
        Value::Null => return None,
        other => other.to_string(),
    };
    let score = classes
        .positive()
        .map(|p| classes.name(p).to_string())
        .and_then(|p| v["probabilities"][p.as_str()].as_f64())
        .unwrap_or(f64::NAN);
    Some(gyre_loop::Outcome::Class {
        truth: classes.id(&r.label),
        predicted: classes.id(&label),
        score,
    })
}

/// A canary's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub model: String,
    pub candidate: i64,
    pub champion: i64,
    pub metric: String,
    pub candidate_value: f64,
    pub champion_value: f64,
    pub labels: usize,
    pub promoted: bool,
    /// The engine's verdict: the bounds of the difference, the confidence, the reason.
    pub verdict: gyre_loop::canary::Verdict,
}

impl Decision {
    /// One line: `v2 promoted: f1 0.83 vs 0.77 for v1 on 219 labels`.
    pub fn summary(&self) -> String {
        format!(
            "v{} {}: {} {} vs {} for v{} on {} labels",
            self.candidate,
            if self.promoted {
                "promoted"
            } else {
                "rolled back"
            },
            self.metric,
            short(self.candidate_value),
            short(self.champion_value),
            self.champion,
            self.labels
        )
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PassReport {
    pub joined: u64,
    pub points: Vec<MonitorPoint>,
    pub events: Vec<MonitorEvent>,
    pub decision: Option<Decision>,
}

/// The engine of one model and what it was told.
struct Driven {
    engine: gyre_loop::Engine,
    /// Class names as the engine's ids (shared by every version).
    classes: gyre_loop::Classes,
    regression: bool,
    /// Labelled rows up to this sequence number were fed.
    cursor: i64,
    /// The champion and the canary's candidate the engine knows of.
    champion: i64,
    candidate: Option<i64>,
    /// The retrain asked for and recorded: when, and on which rule (to tell when the
    /// triggers that run on it have ended without a candidate).
    retrain: Option<(i64, String)>,
    /// What the engine asked for while it was rebuilt at start; the first pass applies it.
    deferred: Vec<Action>,
}

/// The monitor of one model: its rules, and the loop engine that judges them.
pub struct Monitor {
    pub model: String,
    pub spec: MonitorSpec,
    /// None when `[loop] enabled = false`: windows and rules are judged, but no canary.
    pub loop_spec: Option<LoopSpec>,
    /// Built once a champion serves (its classes settle the task and the positive class).
    driven: Option<Driven>,
    /// An online champion's learning copy.
    live: Option<crate::online::Live>,
    answers: HashMap<i64, Answers>,
    profiles: HashMap<i64, Option<gyre_core::DatasetProfile>>,
}

impl Project {
    /// The model `[monitor]` watches and its rules.
    pub fn monitor_target(&self) -> Result<(String, MonitorSpec)> {
        let spec = self.spec.monitor.clone().ok_or_else(|| {
            OpsError::Invalid(
                "gyre.toml has no [monitor] section; add one (see README, Monitoring)".into(),
            )
        })?;
        let model = spec
            .model
            .clone()
            .or_else(|| self.spec.serve.as_ref().and_then(|s| s.model.clone()))
            .or_else(|| {
                self.spec
                    .model
                    .as_ref()
                    .map(|_| self.spec.project.name.clone())
            })
            .ok_or_else(|| {
                OpsError::Invalid("[monitor]: name the model to watch (`model = \"…\"`)".into())
            })?;
        Ok((model, spec))
    }

    /// A monitor for `[monitor]`, its engine rebuilt from the store. It writes nothing until
    /// its first pass.
    pub async fn monitor(&self) -> Result<Monitor> {
        let (model, spec) = self.monitor_target()?;
        let loop_spec = match &self.spec.loop_ {
            Some(l) if l.enabled == Some(false) => None,
            Some(l) => Some(l.clone()),
            None => Some(LoopSpec::default()),
        };
        let mut m = Monitor {
            model,
            spec,
            loop_spec,
            driven: None,
            live: None,
            answers: HashMap::new(),
            profiles: HashMap::new(),
        };
        m.rebuild(self).await?;
        Ok(m)
    }
}

/// A figure in few digits.
pub fn short(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

mod actions;
mod feed;
mod pass;
mod status;
mod traffic;

pub use status::{History, HistoryPoint, Status, Timeline, TimelineWindow};
pub use traffic::{TrafficExport, TrafficSample};

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, output: &str, label: &str) -> LabelledRow {
        LabelledRow {
            seq,
            request_id: format!("r{seq}"),
            row_index: 0,
            role: "champion".into(),
            model: "m".into(),
            version: 1,
            predicted_ms: seq,
            labelled_ms: seq,
            output: output.into(),
            label: label.into(),
        }
    }

    /// Figures of labelled rows, as the engine computes them for a window.
    fn quality(rows: &[LabelledRow], classes: &[&str]) -> BTreeMap<String, f64> {
        let names: Vec<String> = classes.iter().map(|c| c.to_string()).collect();
        let mut classes = gyre_loop::Classes::new(&names, None);
        let outcomes: Vec<_> = rows
            .iter()
            .filter_map(|r| outcome(r, &mut classes, names.is_empty()))
            .collect();
        gyre_loop::outcome::figures(&outcomes, classes.positive())
    }

    #[test]
    fn quality_of_a_binary_window() {
        let out = |l: &str, p: f64| {
            format!(
                r#"{{"label":"{l}","probabilities":{{"DOWN":{},"UP":{p}}}}}"#,
                1.0 - p
            )
        };
        let rows = vec![
            row(1, &out("UP", 0.9), "UP"),
            row(2, &out("UP", 0.6), "DOWN"),
            row(3, &out("DOWN", 0.4), "UP"),
            row(4, &out("DOWN", 0.1), "DOWN"),
        ];
        let q = quality(&rows, &["DOWN", "UP"]);
        // tp 1, fp 1, fn 1: precision = recall = f1 = 0.5; AUC: 3 of 4 pairs ordered.
        assert_eq!(q["precision"], 0.5);
        assert_eq!(q["f1"], 0.5);
        assert_eq!(q["accuracy"], 0.5);
        assert_eq!(q["roc_auc"], 0.75);
        let spec = MonitorSpec {
            min: [("f1".to_string(), 0.6)].into(),
            ..MonitorSpec::default()
        };
        let j = judge_quality(&spec, &q, &BTreeMap::new());
        assert!(j[0].breached && j[0].threshold == 0.6);
    }

    #[test]
    fn quality_of_a_regression_window() {
        let rows = vec![row(1, "2.0", "1"), row(2, "4.0", "5"), row(3, "1", "oops")];
        let q = quality(&rows, &[]);
        assert_eq!(q["mae"], 1.0);
        assert_eq!(q["rmse"], 1.0);
        assert_eq!(q["labels"], 2.0);
        assert!(lower_is_better("rmse") && !lower_is_better("f1"));
    }
}
