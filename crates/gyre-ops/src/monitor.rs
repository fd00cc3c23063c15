//! Monitoring: windows of labelled predictions, the `[monitor]` rules over them, events, and
//! the canary's verdict (the loop's last step).
//!
//! A pass ([`Monitor::pass`]) is incremental: it joins the labels still pending, reads each
//! role's labelled rows after the last window it closed, closes the windows that are full (or
//! old enough), and judges the champion's against the rules. A breach is an event once, while
//! it lasts; its end is a `recover` event. Time is given to a pass, never read by it, so
//! tests replay streams with an injected clock.

use crate::runs::now_ms;
use crate::{OpsError, Project, Result};
use gyre_core::monitor::{LoopSpec, MonitorSpec};
use gyre_store::{AliasEvent, LabelledRow, MonitorEvent, MonitorPoint};
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

impl Answers {
    fn positive(&self) -> Option<&str> {
        self.positive.as_deref()
    }
}

/// Figures of one window of labelled predictions: the loop engine's, so the server and a
/// backtest count the same way.
fn quality(rows: &[LabelledRow], answers: &Answers) -> BTreeMap<String, f64> {
    let regression = answers.classes.is_empty();
    let mut classes = gyre_loop::Classes::new(&answers.classes, answers.positive());
    let outcomes: Vec<gyre_loop::Outcome> = rows
        .iter()
        .filter_map(|r| outcome(r, &mut classes, regression))
        .collect();
    gyre_loop::outcome::figures(&outcomes, classes.positive())
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

/// The monitor of one model: its rules, and which of them are in breach.
pub struct Monitor {
    pub model: String,
    pub spec: MonitorSpec,
    pub loop_spec: Option<LoopSpec>,
    pub min_labels: u64,
    /// Rules in breach now, and for which version (from the events, so a restart keeps the
    /// state).
    breaches: gyre_loop::breach::Breaches,
    cooldown: gyre_loop::breach::CooldownPolicy,
    /// Whether a candidate is on canary (a persistent breach does not fire again then).
    canary_live: bool,
    /// An online champion's learning copy.
    live: Option<crate::online::Live>,
    /// `[loop] detect`: the champion version watched, its detector, and the labelled
    /// sequence number read up to.
    detector: Option<(i64, gyre_loop::detect::Detector)>,
    detect_cursor: i64,
    last_event: i64,
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

    /// A monitor for `[monitor]`, its breach state read from the stored events.
    pub async fn monitor(&self) -> Result<Monitor> {
        let (model, spec) = self.monitor_target()?;
        let mut m = Monitor {
            model,
            spec,
            loop_spec: self
                .spec
                .loop_
                .clone()
                .or_else(|| Some(LoopSpec::default())),
            min_labels: self
                .spec
                .serve
                .as_ref()
                .and_then(|s| s.canary.as_ref())
                .and_then(|c| c.min_labels)
                .unwrap_or(200),
            breaches: Default::default(),
            cooldown: gyre_loop::breach::CooldownPolicy::from_spec(
                self.spec.loop_.as_ref().and_then(|l| l.cooldown.as_ref()),
            ),
            canary_live: false,
            live: None,
            detector: None,
            detect_cursor: 0,
            last_event: 0,
            answers: HashMap::new(),
            profiles: HashMap::new(),
        };
        if m.loop_spec.as_ref().and_then(|l| l.enabled) == Some(false) {
            m.loop_spec = None;
        }
        m.catch_up(self).await?;
        // Change detection reads the labels joined from now on.
        m.detect_cursor = self.meta.labelled_max_seq(&m.model).await?;
        Ok(m)
    }

    /// Removes an alias, with an audit row.
    pub async fn remove_alias(
        &self,
        name: &str,
        alias: &str,
        reason: &str,
        actor: &str,
    ) -> Result<AliasEvent> {
        let from = self
            .meta
            .aliases(name)
            .await?
            .into_iter()
            .find(|(a, _)| a == alias)
            .map(|(_, v)| v)
            .ok_or_else(|| OpsError::NotFound(format!("model `{name}` has no alias `{alias}`")))?;
        let event = AliasEvent {
            name: name.to_string(),
            alias: alias.to_string(),
            from: Some(from),
            to: None,
            user: actor.to_string(),
            reason: reason.to_string(),
            forced: false,
            at_ms: now_ms(),
            kind: gyre_store::AliasKind::Move,
        };
        self.meta.move_alias(&event).await?;
        Ok(event)
    }
}

impl Monitor {
    async fn catch_up(&mut self, project: &Project) -> Result<Vec<MonitorEvent>> {
        let new = project
            .meta
            .events(Some(&self.model), self.last_event)
            .await?;
        for e in &new {
            match e.kind.as_str() {
                "breach" => self.breaches.restore(&e.rule, e.version, e.ts_ms),
                "recover" => self.breaches.close(&e.rule),
                _ => {}
            }
            self.last_event = self.last_event.max(e.id);
        }
        Ok(new)
    }

    /// Rules in breach now.
    pub fn breached(&self) -> Vec<String> {
        self.breaches.all().map(|(r, _)| r.to_string()).collect()
    }

    async fn answers(&mut self, project: &Project, version: i64) -> Result<Answers> {
        if let Some(a) = self.answers.get(&version) {
            return Ok(a.clone());
        }
        let (_, loaded) = project
            .registered_model(&format!("{}@{version}", self.model))
            .await?;
        let classes = loaded.model.signature.classes.clone();
        let positive = match &self.spec.positive {
            Some(p) => Some(p.clone()),
            None if let Some(c) = loaded.model.decision => classes.get(c.class as usize).cloned(),
            None if classes.len() == 2 => {
                let mut sorted = classes.clone();
                sorted.sort();
                Some(sorted[1].clone())
            }
            None => None,
        };
        let a = Answers {
            classes,
            positive,
            test: loaded.model.metrics.iter().cloned().collect(),
        };
        self.answers.insert(version, a.clone());
        Ok(a)
    }

    /// Records a judgement as an event when the engine's breach book says so: a breach that
    /// starts, one that persists past its cooldown (unless a canary runs), a recovery.
    pub async fn judge(
        &mut self,
        project: &Project,
        j: &Judgement,
        version: i64,
        point: Option<i64>,
        now: i64,
    ) -> Result<Option<MonitorEvent>> {
        use gyre_loop::breach::Change;
        let change = self.breaches.judge(j, version, now, self.cooldown);
        let repeat = match change {
            None => return Ok(None),
            // The canary's verdict comes first; the breach stays open meanwhile.
            Some(Change::Breach { refire }) if refire > 0 && self.canary_live => return Ok(None),
            Some(Change::Breach { refire }) => refire,
            Some(Change::Recover) => 0,
        };
        let breached = matches!(change, Some(Change::Breach { .. }));
        let mut e = MonitorEvent {
            id: 0,
            ts_ms: now,
            model: self.model.clone(),
            version,
            rule: j.rule.clone(),
            kind: if breached { "breach" } else { "recover" }.into(),
            point,
            value: Some(j.value),
            threshold: Some(j.threshold),
            detail: format!(
                "{} = {} ({} {}){}",
                j.rule,
                short(j.value),
                if lower_is_better(&j.rule) {
                    "max"
                } else {
                    "min"
                },
                short(j.threshold),
                if repeat > 0 {
                    format!("; still in breach, repeat {repeat}")
                } else {
                    String::new()
                }
            ),
        };
        e.id = project.meta.add_event(&e).await?;
        self.last_event = self.last_event.max(e.id);
        Ok(Some(e))
    }

    /// One pass at time `now` (ms since the epoch).
    pub async fn pass(&mut self, project: &Project, now: i64) -> Result<PassReport> {
        let mut report = PassReport {
            // Every pending label (the partial index keeps this cheap; a label whose
            // prediction never comes is retried each pass).
            joined: project.meta.join_pending(i64::MIN).await?,
            ..PassReport::default()
        };
        self.catch_up(project).await?;
        let aliases = project.meta.aliases(&self.model).await?;
        let alias = |a: &str| aliases.iter().find(|(x, _)| x == a).map(|(_, v)| *v);
        self.canary_live = alias("challenger").is_some_and(|c| Some(c) != alias("champion"));
        let size = self.spec.window.labels.unwrap_or(u64::MAX).min(1 << 20) as i64;
        let span = self.spec.window.minutes.map(|m| (m * 60_000.0) as i64);
        for role in ROLES {
            loop {
                let after = project
                    .meta
                    .last_point(&self.model, LABELS, role)
                    .await?
                    .map_or(0, |p| p.last_seq);
                let mut rows = project
                    .meta
                    .labelled_after(&self.model, role, after, size)
                    .await?;
                let Some(first) = rows.first() else { break };
                // A window holds one version: a change of version closes it early.
                let version = first.version;
                let cut = rows
                    .iter()
                    .position(|r| r.version != version)
                    .unwrap_or(rows.len());
                let changed = cut < rows.len();
                rows.truncate(cut);
                let full = rows.len() as i64 >= size;
                let aged = span.is_some_and(|s| now - rows[0].labelled_ms >= s);
                if !(full || changed || aged) {
                    break;
                }
                let answers = self.answers(project, version).await?;
                let figures = quality(&rows, &answers);
                let mut point = MonitorPoint {
                    id: 0,
                    model: self.model.clone(),
                    role: role.into(),
                    version,
                    kind: LABELS.into(),
                    first_seq: rows[0].seq,
                    last_seq: rows[rows.len() - 1].seq,
                    start_ms: rows.iter().map(|r| r.predicted_ms).min().unwrap_or(now),
                    end_ms: rows.iter().map(|r| r.predicted_ms).max().unwrap_or(now),
                    n: rows.len() as i64,
                    metrics: serde_json::to_string(&figures).unwrap_or_default(),
                };
                point.id = project.meta.add_point(&point).await?;
                // A fragment (a few late labels of a version no longer served) is kept in
                // the series but judges nothing.
                if role == "champion" && (full || aged || rows.len() as i64 * 2 >= size) {
                    for j in judge_quality(&self.spec, &figures, &answers.test) {
                        if let Some(e) = self
                            .judge(project, &j, version, Some(point.id), now)
                            .await?
                        {
                            report.events.push(e);
                        }
                    }
                }
                report.points.push(point);
            }
        }
        report.events.extend(self.detect(project, now).await?);
        // Staleness.
        if let Some(max_days) = self.spec.max_age_days
            && let Ok(v) = project
                .resolve_model_version(&format!("{}@champion", self.model))
                .await
        {
            let age = (now - v.created_ms) as f64 / 86_400_000.0;
            let j = Judgement {
                rule: "age_days".into(),
                value: age,
                threshold: max_days,
                breached: age > max_days,
            };
            if let Some(e) = self.judge(project, &j, v.version, None, now).await? {
                report.events.push(e);
            }
        }
        report.decision = self.canary(project, now).await?;
        if report.decision.is_none()
            && let Some(loop_spec) = &self.loop_spec
        {
            let every = loop_spec
                .snapshot
                .as_ref()
                .map_or(crate::online::DEFAULT_SNAPSHOT_LABELS, |s| s.labels);
            let canary_live = project
                .meta
                .aliases(&self.model)
                .await?
                .iter()
                .any(|(a, _)| a == "challenger");
            report.events.extend(
                crate::online::learn(
                    &mut self.live,
                    project,
                    &self.model,
                    every,
                    canary_live,
                    now,
                )
                .await?,
            );
        }
        Ok(report)
    }

    /// `[loop] detect`: the champion's errors on the labels joined since the last pass, one
    /// at a time, into the change detector; a detected change is a `change` event (rule
    /// `change`), which monitor triggers run on like a breach.
    async fn detect(&mut self, project: &Project, now: i64) -> Result<Vec<MonitorEvent>> {
        let Some(spec) = self.loop_spec.as_ref().and_then(|l| l.detect.clone()) else {
            return Ok(Vec::new());
        };
        let Ok(champion) = project
            .resolve_model_version(&format!("{}@champion", self.model))
            .await
        else {
            return Ok(Vec::new());
        };
        let rows = project
            .meta
            .labelled_after(&self.model, "champion", self.detect_cursor, 1 << 20)
            .await?;
        let Some(last) = rows.last() else {
            return Ok(Vec::new());
        };
        self.detect_cursor = last.seq;
        let answers = self.answers(project, champion.version).await?;
        let regression = answers.classes.is_empty();
        if self
            .detector
            .as_ref()
            .is_none_or(|(v, _)| *v != champion.version)
        {
            self.detector = Some((
                champion.version,
                gyre_loop::detect::Detector::from_spec(&spec, regression),
            ));
        }
        let mut classes = gyre_loop::Classes::new(&answers.classes, answers.positive());
        let mut events = Vec::new();
        let mut seen: Vec<i64> = Vec::new();
        for r in rows.iter().filter(|r| r.version == champion.version) {
            let Some(o) = outcome(r, &mut classes, regression) else {
                continue;
            };
            seen.push(r.seq);
            let Some((_, d)) = self.detector.as_mut() else {
                break;
            };
            if let Some(alarm) = d.add(o.error()) {
                // `since` counts from the detector's reset, which may predate this pass.
                let back = (alarm.at - alarm.since) as usize;
                let since = seen[seen.len().saturating_sub(back + 1)];
                let mut e = MonitorEvent {
                    id: 0,
                    ts_ms: now,
                    model: self.model.clone(),
                    version: champion.version,
                    rule: "change".into(),
                    kind: "change".into(),
                    point: None,
                    value: None,
                    threshold: None,
                    detail: format!(
                        "the error rate of v{} changed ({:?}); from about labelled row #{since}",
                        champion.version, spec.method
                    ),
                };
                e.id = project.meta.add_event(&e).await?;
                self.last_event = self.last_event.max(e.id);
                events.push(e);
            }
        }
        Ok(events)
    }

    /// The metric a canary is judged on.
    fn loop_metric(&self, answers: &Answers) -> String {
        gyre_loop::engine::canary_metric(
            &self.spec,
            &self.loop_spec.clone().unwrap_or_default(),
            answers.classes.is_empty(),
        )
    }

    /// Judges the canary once it has `min_labels` labels: promotes the challenger when it is
    /// no worse than the champion on the predictions both made in the same period, and rolls
    /// it back otherwise. Both are alias moves with audit rows, and monitor events.
    async fn canary(&mut self, project: &Project, now: i64) -> Result<Option<Decision>> {
        let Some(loop_spec) = self.loop_spec.clone() else {
            return Ok(None);
        };
        let aliases = project.meta.aliases(&self.model).await?;
        let get = |a: &str| aliases.iter().find(|(x, _)| x == a).map(|(_, v)| *v);
        let (Some(candidate), Some(champion)) = (get("challenger"), get("champion")) else {
            return Ok(None);
        };
        if candidate == champion {
            return Ok(None);
        }
        // When the candidate became challenger.
        let since = project
            .meta
            .alias_events(&self.model)
            .await?
            .into_iter()
            .rev()
            .find(|e| e.alias == "challenger" && e.to == Some(candidate))
            .map_or(0, |e| e.at_ms);
        let limit = 1 << 22;
        let mut cand: Vec<LabelledRow> = Vec::new();
        for role in ["challenger", "shadow"] {
            cand.extend(
                project
                    .meta
                    .labelled_since(&self.model, role, since, limit)
                    .await?
                    .into_iter()
                    .filter(|r| r.version == candidate),
            );
        }
        if (cand.len() as u64) < loop_spec.canary.min_labels.unwrap_or(self.min_labels) {
            return Ok(None);
        }
        let until = cand.iter().map(|r| r.predicted_ms).max().unwrap_or(now);
        let champ: Vec<LabelledRow> = project
            .meta
            .labelled_since(&self.model, "champion", since, limit)
            .await?
            .into_iter()
            .filter(|r| r.version == champion && r.predicted_ms <= until)
            .collect();
        let answers = self.answers(project, candidate).await?;
        let metric = self.loop_metric(&answers);
        let regression = answers.classes.is_empty();
        let mut classes = gyre_loop::Classes::new(&answers.classes, answers.positive());
        let keyed = |rows: &[LabelledRow], classes: &mut gyre_loop::Classes| {
            rows.iter()
                .filter_map(|r| {
                    outcome(r, classes, regression)
                        .map(|o| ((r.request_id.clone(), r.row_index), o))
                })
                .collect::<Vec<_>>()
        };
        let cand_outcomes = keyed(&cand, &mut classes);
        let champ_outcomes = keyed(&champ, &mut classes);
        // A shadow scored the champion's own requests: those rows are compared pairwise.
        let by_key: HashMap<&(String, i64), gyre_loop::Outcome> =
            champ_outcomes.iter().map(|(k, o)| (k, *o)).collect();
        let pairs: Vec<(gyre_loop::Outcome, gyre_loop::Outcome)> = cand_outcomes
            .iter()
            .filter_map(|(k, c)| by_key.get(k).map(|h| (*h, *c)))
            .collect();
        let c_only: Vec<gyre_loop::Outcome> = cand_outcomes.iter().map(|(_, o)| *o).collect();
        let h_only: Vec<gyre_loop::Outcome> = champ_outcomes.iter().map(|(_, o)| *o).collect();
        let rows = if pairs.len() * 2 >= c_only.len() && !pairs.is_empty() {
            gyre_loop::canary::Rows::Paired(&pairs)
        } else {
            gyre_loop::canary::Rows::Apart {
                champion: &h_only,
                candidate: &c_only,
            }
        };
        let mut policy = gyre_loop::Policy::from_spec(
            &self.spec,
            &loop_spec,
            Some(self.min_labels),
            regression,
            classes.positive(),
        )
        .canary;
        policy.metric = metric.clone();
        let verdict = gyre_loop::canary::judge(rows, &policy, classes.positive());
        let promoted = match verdict.decision {
            gyre_loop::canary::Decision::Wait => return Ok(None),
            gyre_loop::canary::Decision::Promote => true,
            gyre_loop::canary::Decision::Rollback => false,
        };
        let (candidate_value, champion_value) = (verdict.candidate, verdict.champion);
        let detail = format!(
            "canary: v{candidate} against v{champion} since it started, {}",
            verdict.summary()
        );
        if promoted {
            project
                .set_alias(
                    &format!("{}@{candidate}", self.model),
                    "champion",
                    &format!("loop: promoted; {detail}"),
                    false,
                    &crate::settings::actor(),
                )
                .await?;
            project
                .remove_alias(
                    &self.model,
                    "challenger",
                    &format!("loop: promoted to champion; {detail}"),
                    &crate::settings::actor(),
                )
                .await?;
        } else {
            project
                .remove_alias(
                    &self.model,
                    "challenger",
                    &format!("loop: rolled back; {detail}"),
                    &crate::settings::actor(),
                )
                .await?;
        }
        let e = MonitorEvent {
            id: 0,
            ts_ms: now,
            model: self.model.clone(),
            version: candidate,
            rule: metric.clone(),
            kind: if promoted { "promote" } else { "rollback" }.into(),
            point: None,
            value: Some(candidate_value),
            threshold: Some(champion_value),
            detail,
        };
        project.meta.add_event(&e).await?;
        Ok(Some(Decision {
            model: self.model.clone(),
            candidate,
            champion,
            metric,
            candidate_value,
            champion_value,
            labels: verdict.labels as usize,
            promoted,
            verdict,
        }))
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

/// A metric's series over closed windows, with the events among them.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub model: String,
    pub metric: String,
    pub points: Vec<HistoryPoint>,
    pub events: Vec<MonitorEvent>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryPoint {
    pub id: i64,
    pub role: String,
    pub version: i64,
    pub start_ms: i64,
    pub end_ms: i64,
    pub n: i64,
    pub value: Option<f64>,
}

/// Where monitoring stands.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub model: String,
    pub aliases: Vec<(String, i64)>,
    pub pending_labels: u64,
    /// The latest window of each role and kind.
    pub latest: Vec<MonitorPoint>,
    pub breached: Vec<String>,
    pub recent_events: Vec<MonitorEvent>,
}

impl Project {
    pub async fn monitor_history(&self, metric: &str, role: Option<&str>) -> Result<History> {
        let (model, _) = self.monitor_target()?;
        let points = self
            .meta
            .points(&model, None, role)
            .await?
            .into_iter()
            .filter_map(|p| {
                let figures: BTreeMap<String, f64> = serde_json::from_str(&p.metrics).ok()?;
                let value = figures.get(metric).copied();
                value.map(|v| HistoryPoint {
                    id: p.id,
                    role: p.role,
                    version: p.version,
                    start_ms: p.start_ms,
                    end_ms: p.end_ms,
                    n: p.n,
                    value: Some(v),
                })
            })
            .collect();
        let events = self.meta.events(Some(&model), 0).await?;
        Ok(History {
            model,
            metric: metric.to_string(),
            points,
            events,
        })
    }

    pub async fn monitor_status(&self) -> Result<Status> {
        let monitor = self.monitor().await?;
        let model = monitor.model.clone();
        let mut latest = Vec::new();
        for kind in [LABELS, TRAFFIC] {
            for role in ROLES {
                if let Some(p) = self.meta.last_point(&model, kind, role).await? {
                    latest.push(p);
                }
            }
        }
        let events = self.meta.events(Some(&model), 0).await?;
        let recent_events = events[events.len().saturating_sub(10)..].to_vec();
        Ok(Status {
            aliases: self.meta.aliases(&model).await?,
            pending_labels: self.meta.pending_labels().await?,
            latest,
            breached: monitor.breached(),
            recent_events,
            model,
        })
    }
}

/// A window of served traffic, as the server saw it: the watched inputs, the predictions,
/// errors and latencies. [`Monitor::judge_traffic`] turns it into a `traffic` point.
#[derive(Debug, Clone, Default)]
pub struct TrafficSample {
    pub version: i64,
    pub role: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Rows predicted.
    pub rows: u64,
    /// Watched input columns.
    pub columns: Vec<(String, gyre_data::drift::ColumnSample)>,
    /// Predicted labels (classification) or values (regression), as a sample.
    pub predicted: gyre_data::drift::ColumnSample,
    pub requests: u64,
    pub errors: u64,
    /// Request latencies in milliseconds.
    pub latencies_ms: Vec<f64>,
}

impl Monitor {
    /// Judges a traffic window: each watched input's drift against the training data's
    /// stored profile, the predictions' shift against the training target, the error rate
    /// and the p99 latency. Records the point and the events.
    pub async fn judge_traffic(
        &mut self,
        project: &Project,
        mut sample: TrafficSample,
        now: i64,
    ) -> Result<(MonitorPoint, Vec<MonitorEvent>)> {
        use gyre_data::drift::{DriftOptions, Method, Reference, drift};
        let mut figures: BTreeMap<String, f64> = BTreeMap::new();
        let mut judgements = Vec::new();
        let profile = self.reference_profile(project, sample.version).await?;
        let mut options = DriftOptions::default();
        let method: Option<Method> = match &self.spec.drift {
            Some(d) => Some(d.method.parse().map_err(OpsError::Invalid)?),
            None => None,
        };
        for (_, c) in sample.columns.iter_mut() {
            c.numbers.sort_by(f64::total_cmp);
        }
        sample.predicted.numbers.sort_by(f64::total_cmp);
        if let (Some(profile), Some(m)) = (&profile, method) {
            let thr = self
                .spec
                .drift
                .as_ref()
                .and_then(|d| d.threshold)
                .unwrap_or(m.default_threshold());
            options.thresholds.insert(m, thr);
            let refs: Vec<(String, Reference<'_>)> = profile
                .columns
                .iter()
                .filter(|p| sample.columns.iter().any(|(n, _)| *n == p.name))
                .map(|p| (p.name.clone(), Reference::Profile(p)))
                .collect();
            for (name, _) in &refs {
                options.methods.insert(name.clone(), m);
            }
            let current: Vec<(String, &gyre_data::drift::ColumnSample)> =
                sample.columns.iter().map(|(n, c)| (n.clone(), c)).collect();
            let report = drift(&refs, profile.rows, &current, sample.rows, &options);
            for c in report.columns {
                if let (Some(score), Some(drifted)) = (c.score, c.drifted) {
                    let rule = format!("drift.{}", c.name);
                    figures.insert(rule.clone(), score);
                    judgements.push(Judgement {
                        rule,
                        value: score,
                        threshold: thr,
                        breached: drifted,
                    });
                }
            }
        }
        if let (Some(profile), Some(max)) = (&profile, self.spec.prediction_shift) {
            let target = self.target_of(project, sample.version).await?;
            if let Some(p) = profile.columns.iter().find(|p| p.name == target) {
                let mut o = DriftOptions::default();
                o.methods.insert(target.clone(), Method::Psi);
                let report = drift(
                    &[(target.clone(), Reference::Profile(p))],
                    profile.rows,
                    &[(target.clone(), &sample.predicted)],
                    sample.rows,
                    &o,
                );
                if let Some(psi) = report.columns.first().and_then(|c| c.psi) {
                    figures.insert("prediction_shift".into(), psi);
                    judgements.push(Judgement {
                        rule: "prediction_shift".into(),
                        value: psi,
                        threshold: max,
                        breached: psi >= max,
                    });
                }
            }
        }
        if sample.requests > 0 {
            let rate = sample.errors as f64 / sample.requests as f64;
            figures.insert("error_rate".into(), rate);
            if let Some(max) = self.spec.max_error_rate {
                judgements.push(Judgement {
                    rule: "error_rate".into(),
                    value: rate,
                    threshold: max,
                    breached: rate > max,
                });
            }
        }
        if !sample.latencies_ms.is_empty() {
            sample.latencies_ms.sort_by(f64::total_cmp);
            let i = ((sample.latencies_ms.len() as f64 * 0.99).ceil() as usize)
                .clamp(1, sample.latencies_ms.len())
                - 1;
            let p99 = sample.latencies_ms[i];
            figures.insert("p99_ms".into(), p99);
            if let Some(max) = self.spec.max_p99_ms {
                judgements.push(Judgement {
                    rule: "p99_ms".into(),
                    value: p99,
                    threshold: max,
                    breached: p99 > max,
                });
            }
        }
        let mut point = MonitorPoint {
            id: 0,
            model: self.model.clone(),
            role: sample.role.clone(),
            version: sample.version,
            kind: TRAFFIC.into(),
            first_seq: 0,
            last_seq: 0,
            start_ms: sample.start_ms,
            end_ms: sample.end_ms,
            n: sample.rows as i64,
            metrics: serde_json::to_string(&figures).unwrap_or_default(),
        };
        point.id = project.meta.add_point(&point).await?;
        let mut events = Vec::new();
        if sample.role == "champion" {
            for j in judgements {
                if let Some(e) = self
                    .judge(project, &j, sample.version, Some(point.id), now)
                    .await?
                {
                    events.push(e);
                }
            }
        }
        Ok((point, events))
    }

    async fn target_of(&mut self, project: &Project, version: i64) -> Result<String> {
        let (_, loaded) = project
            .registered_model(&format!("{}@{version}", self.model))
            .await?;
        Ok(loaded.model.signature.target.clone())
    }

    /// The stored profile of the data a version trained on (its first training dataset).
    async fn reference_profile(
        &mut self,
        project: &Project,
        version: i64,
    ) -> Result<Option<gyre_core::DatasetProfile>> {
        if let Some(p) = self.profiles.get(&version) {
            return Ok(p.clone());
        }
        let (_, loaded) = project
            .registered_model(&format!("{}@{version}", self.model))
            .await?;
        let profile = match loaded.model.lineage.datasets.first() {
            Some(d) => {
                let reference = d.split(':').next().unwrap_or(d);
                match reference.parse::<gyre_core::DatasetRef>() {
                    Ok(r) => project
                        .meta
                        .resolve_version(&r)
                        .await
                        .ok()
                        .map(|v| v.profile),
                    Err(_) => None,
                }
            }
            None => None,
        };
        self.profiles.insert(version, profile.clone());
        Ok(profile)
    }
}

/// What [`Project::export_traffic`] turns into a dataset version.
#[derive(Debug, Clone)]
pub struct TrafficExport {
    /// The registered model whose labelled traffic is exported.
    pub model: String,
    /// The dataset that gets the new version.
    pub dataset: String,
    /// `NAME[@V]`: rows that come first (all data so far).
    pub base: Option<String>,
    /// Keep the last N rows.
    pub rows: Option<u64>,
    /// Keep traffic predicted in the last N days (base rows are then left out).
    pub days: Option<f64>,
    pub now_ms: i64,
}

impl Project {
    /// Labelled serving traffic (prediction log + feedback) as a new dataset version: the
    /// model's inputs in its signature's order and the label under its target's name, after
    /// the base dataset's rows when given. The version's lineage is the file it was written
    /// from, under `.gyre/traffic/`.
    pub async fn export_traffic(&self, x: &TrafficExport) -> Result<crate::datasets::AddReport> {
        let (_, loaded) = match self
            .registered_model(&format!("{}@champion", x.model))
            .await
        {
            Ok(found) => found,
            Err(_) => self.registered_model(&x.model).await?,
        };
        let sig = &loaded.model.signature;
        let since = x
            .days
            .map_or(i64::MIN, |d| x.now_ms - (d * 86_400_000.0) as i64);
        let limit = x.rows.map_or(i64::MAX, |r| r.min(i64::MAX as u64) as i64);
        let mut traffic = self.meta.labelled_inputs(&x.model, since, limit).await?;
        traffic.reverse();
        let mut names: Vec<String> = sig.inputs.iter().map(|c| c.name.clone()).collect();
        // Columns `[model]` drops come along empty, so the same spec trains on the export.
        let dropped: Vec<String> = self
            .spec
            .model
            .as_ref()
            .map(|m| m.drop.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|d| !names.contains(d) && *d != sig.target)
            .collect();
        names.extend(dropped.iter().cloned());
        names.push(sig.target.clone());
        let mut rows: Vec<Vec<String>> = Vec::new();
        if let Some(base) = x.base.as_ref().filter(|_| x.days.is_none()) {
            let target = self.resolve_target(base).await?;
            let readable = self.readable_target(&target).await?;
            let opts = crate::targets::options_for(&target, &gyre_core::ReadOptions::default());
            let files = readable.files.clone();
            let table = tokio::task::spawn_blocking(move || {
                crate::train::read(&files, &opts, &crate::progress::NoProgress)
            })
            .await
            .map_err(|e| OpsError::Invalid(e.to_string()))??;
            let index: Vec<Option<usize>> = names
                .iter()
                .map(|n| table.names.iter().position(|t| t == n))
                .collect();
            for r in 0..table.rows {
                rows.push(
                    index
                        .iter()
                        .map(|i| {
                            i.and_then(|i| table.columns[i][r].clone())
                                .unwrap_or_default()
                        })
                        .collect(),
                );
            }
        }
        for (_, _, inputs, label) in &traffic {
            let values: Vec<Value> = serde_json::from_str(inputs).unwrap_or_default();
            let mut row: Vec<String> = (0..sig.inputs.len())
                .map(|i| match values.get(i) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(v) => v.to_string(),
                })
                .collect();
            row.extend(dropped.iter().map(|_| String::new()));
            row.push(label.clone());
            rows.push(row);
        }
        if let Some(n) = x.rows {
            let n = n as usize;
            if rows.len() > n {
                rows.drain(..rows.len() - n);
            }
        }
        if rows.is_empty() {
            return Err(OpsError::Invalid(format!(
                "`{}` has no labelled traffic to export yet",
                x.model
            )));
        }
        let dir = self.state_dir().join("traffic");
        std::fs::create_dir_all(&dir).map_err(OpsError::io("creating .gyre/traffic"))?;
        let path = dir.join(format!("{}.csv", x.dataset));
        {
            let mut w = csv::Writer::from_path(&path)
                .map_err(|e| OpsError::Invalid(format!("writing {}: {e}", path.display())))?;
            let io = |e: csv::Error| OpsError::Invalid(format!("writing {}: {e}", path.display()));
            w.write_record(&names).map_err(io)?;
            for r in &rows {
                w.write_record(r).map_err(io)?;
            }
            w.flush()
                .map_err(OpsError::io("writing the traffic file"))?;
        }
        let name = x
            .dataset
            .parse()
            .map_err(|e: gyre_core::CoreError| OpsError::Invalid(e.to_string()))?;
        self.add_dataset(
            &name,
            Some(&path),
            &Default::default(),
            &crate::progress::NoProgress,
        )
        .await
    }
}

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

    #[test]
    fn quality_of_a_binary_window() {
        let answers = Answers {
            classes: vec!["DOWN".into(), "UP".into()],
            positive: Some("UP".into()),
            test: BTreeMap::new(),
        };
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
        let q = quality(&rows, &answers);
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
        let answers = Answers {
            classes: vec![],
            positive: None,
            test: BTreeMap::new(),
        };
        let rows = vec![row(1, "2.0", "1"), row(2, "4.0", "5"), row(3, "1", "oops")];
        let q = quality(&rows, &answers);
        assert_eq!(q["mae"], 1.0);
        assert_eq!(q["rmse"], 1.0);
        assert_eq!(q["labels"], 2.0);
        assert!(lower_is_better("rmse") && !lower_is_better("f1"));
    }
}
