//! The loop as one state machine: inputs and the clock in, actions out.
//!
//! [`Engine::step`] is deterministic: the same inputs at the same times give the same
//! actions. The engine does no I/O; whoever drives it (the server's operations, or
//! `gyre backtest`) applies the actions: records a window or an event, starts a retrain,
//! moves an alias.

use crate::breach::{Breaches, Change, CooldownPolicy};
use crate::canary::{self, CanaryPolicy, Decision, Rows, Verdict};
use crate::detect::Detector;
use crate::judge::{Judgement, judge_quality};
use crate::outcome::{Figures, Outcome, figures};
use gyre_core::monitor::{DetectSpec, LoopSpec, MonitorSpec};
use serde::Serialize;

/// Which live version answered a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Champion,
    Challenger,
    /// The candidate scoring the champion's own requests; its answers are not returned.
    Shadow,
}

const ROLES: [Role; 3] = [Role::Champion, Role::Challenger, Role::Shadow];

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Champion => "champion",
            Role::Challenger => "challenger",
            Role::Shadow => "shadow",
        }
    }

    /// A role by its name in the prediction log.
    pub fn parse(name: &str) -> Option<Role> {
        ROLES.into_iter().find(|r| r.as_str() == name)
    }
}

/// A prediction whose label has arrived.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Labelled {
    /// Increasing with the order of predictions.
    pub seq: u64,
    pub predicted_ms: i64,
    pub labelled_ms: i64,
    /// The version that answered, and in which role.
    pub version: i64,
    pub served: Role,
    pub outcome: Outcome,
    /// The other live version's outcome on the same row, when it scored it too (a shadow,
    /// or a backtest): the champion's when the challenger (or shadow) answered, and the
    /// reverse. A pair is given once, on either side.
    pub other: Option<Outcome>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A version serves as champion: the first one, or one moved there outside the loop.
    /// `test` holds its own test figures (for relative floors).
    Serving {
        version: i64,
        test: Figures,
    },
    /// A retrained candidate passed the gate: its canary starts.
    Candidate {
        version: i64,
        test: Figures,
    },
    /// A retrain ended without a candidate (it failed, or the gate refused it).
    Rejected {
        reason: String,
    },
    /// The candidate left the canary outside the loop (its alias was removed by hand).
    Withdrawn,
    Labelled(Labelled),
    /// A labelled row the windows already hold (a restart reading back the canary's rows):
    /// only the canary counts it.
    Recalled(Labelled),
    /// A rule judged outside the labelled windows (drift, error rate and latency of served
    /// traffic; the champion's age), for `version`.
    Judged {
        version: i64,
        judgement: Judgement,
    },
    /// Time passed (windows closed by age, cooldowns in time).
    Tick,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// A window of labelled predictions closed.
    Window {
        role: Role,
        version: i64,
        figures: Figures,
        first_seq: u64,
        last_seq: u64,
        start_ms: i64,
        end_ms: i64,
        /// Whether the rules judged it (a fragment of a version no longer serving is kept
        /// but judges nothing).
        judged: bool,
    },
    Breach {
        rule: String,
        version: i64,
        value: f64,
        threshold: f64,
        /// 0 the first time; then how many times it fired again after a cooldown.
        refire: u32,
    },
    Recover {
        rule: String,
        version: i64,
        value: f64,
        threshold: f64,
    },
    /// The error stream changed: confirmed at `at_seq`, begun around `since_seq`.
    Change {
        version: i64,
        since_seq: u64,
        at_seq: u64,
    },
    /// Train a candidate. `since_seq` is where a detected change began, when one did (the
    /// rows since make a training window); `labels` and `positives` came in since the last
    /// retrain.
    Retrain {
        rule: String,
        reason: String,
        since_seq: Option<u64>,
        labels: u64,
        positives: u64,
    },
    /// The candidate `version` proved itself against `champion`: it serves now.
    Promote {
        version: i64,
        champion: i64,
        verdict: Verdict,
    },
    Rollback {
        version: i64,
        champion: i64,
        verdict: Verdict,
    },
}

/// The loop's knobs, resolved from `[monitor]`, `[loop]` and `[serve]`.
#[derive(Debug, Clone)]
pub struct Policy {
    pub monitor: MonitorSpec,
    pub window_labels: u64,
    pub window_ms: Option<i64>,
    pub cooldown: CooldownPolicy,
    pub retrain_min_labels: u64,
    pub retrain_min_positives: u64,
    pub canary: CanaryPolicy,
    pub detect: Option<DetectSpec>,
    /// A regression model (errors are values, not 0/1).
    pub values: bool,
    pub positive: Option<u32>,
}

/// The metric a canary is judged on (and a backtest reports): `[loop] metric`, else the
/// first quality metric among `[monitor]`'s floors (`min`, then `relative`, then `max`),
/// else F1 or RMSE by task. Rules on rates, drift, age or latency watch the model but do not
/// rank two versions.
pub fn canary_metric(monitor: &MonitorSpec, loop_: &LoopSpec, values: bool) -> String {
    let quality = |m: &&String| {
        !(m.starts_with("drift.")
            || matches!(
                m.as_str(),
                "rate_gap"
                    | "positive_rate"
                    | "predicted_rate"
                    | "labels"
                    | "positives"
                    | "prediction_shift"
                    | "age_days"
                    | "error_rate"
                    | "p99_ms"
            ))
    };
    loop_
        .metric
        .clone()
        .or_else(|| monitor.min.keys().find(quality).cloned())
        .or_else(|| monitor.relative.keys().find(quality).cloned())
        .or_else(|| monitor.max.keys().find(quality).cloned())
        .unwrap_or_else(|| if values { "rmse" } else { "f1" }.into())
}

impl Policy {
    /// `serve_min_labels` is `[serve] canary.min_labels`, the older home of that knob.
    pub fn from_spec(
        monitor: &MonitorSpec,
        loop_: &LoopSpec,
        serve_min_labels: Option<u64>,
        values: bool,
        positive: Option<u32>,
    ) -> Policy {
        let metric = canary_metric(monitor, loop_, values);
        let min_labels = loop_.canary.min_labels.or(serve_min_labels).unwrap_or(200);
        Policy {
            monitor: monitor.clone(),
            window_labels: monitor.window.labels.unwrap_or(u64::MAX),
            window_ms: monitor.window.minutes.map(|m| (m * 60_000.0) as i64),
            cooldown: CooldownPolicy::from_spec(loop_.cooldown.as_ref()),
            retrain_min_labels: loop_.retrain.min_labels,
            retrain_min_positives: if positive.is_some() {
                loop_.retrain.min_positives
            } else {
                0
            },
            canary: CanaryPolicy {
                metric,
                tolerance: loop_.tolerance,
                min_labels,
                min_positives: if positive.is_some() {
                    loop_.canary.min_positives
                } else {
                    0
                },
                max_labels: loop_.canary.max_labels.unwrap_or(4 * min_labels),
                confidence: loop_.canary.confidence,
                resamples: loop_.canary.resamples,
                floor: loop_.canary.floor,
            },
            detect: loop_.detect.clone(),
            values,
            positive,
        }
    }
}

#[derive(Debug, Clone)]
struct Serving {
    version: i64,
    test: Figures,
}

#[derive(Debug, Clone, Default)]
struct Window {
    version: i64,
    outcomes: Vec<Outcome>,
    first_seq: u64,
    last_seq: u64,
    start_ms: i64,
    end_ms: i64,
    first_labelled_ms: i64,
}

#[derive(Debug, Clone)]
struct Canary {
    version: i64,
    test: Figures,
    since_ms: i64,
    pairs: Vec<(Outcome, Outcome)>,
    champion: Vec<Outcome>,
    candidate: Vec<Outcome>,
    judged_at: usize,
}

impl Canary {
    fn rows(&self) -> Rows<'_> {
        if self.pairs.len() >= self.candidate.len() {
            Rows::Paired(&self.pairs)
        } else {
            Rows::Apart {
                champion: &self.champion,
                candidate: &self.candidate,
            }
        }
    }

    fn labels(&self) -> usize {
        self.pairs.len().max(self.candidate.len())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Retrain {
    Idle,
    /// A breach wants a retrain; it waits for enough new labels.
    Wanted {
        rule: String,
        reason: String,
    },
    /// A retrain is under way.
    Pending,
}

/// The loop's state.
#[derive(Debug, Clone)]
pub struct Engine {
    policy: Policy,
    champion: Option<Serving>,
    canary: Option<Canary>,
    windows: [Option<Window>; 3],
    breaches: Breaches,
    detector: Option<Detector>,
    /// The seqs the detector saw since its reset, to place a change.
    detected_seqs: Vec<u64>,
    /// Rows up to this seq are not shown to the detector (it saw them before a restart).
    detect_after: u64,
    change_since: Option<u64>,
    retrain: Retrain,
    /// Labelled rows (and positives) since the last retrain started.
    new_labels: u64,
    new_positives: u64,
}

impl Engine {
    pub fn new(policy: Policy) -> Engine {
        let detector = policy
            .detect
            .as_ref()
            .map(|d| Detector::from_spec(d, policy.values));
        Engine {
            policy,
            champion: None,
            canary: None,
            windows: [None, None, None],
            breaches: Breaches::default(),
            detector,
            detected_seqs: Vec::new(),
            detect_after: 0,
            change_since: None,
            retrain: Retrain::Idle,
            new_labels: 0,
            new_positives: 0,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The version serving as champion, and the canary's candidate.
    pub fn versions(&self) -> (Option<i64>, Option<i64>) {
        (
            self.champion.as_ref().map(|c| c.version),
            self.canary.as_ref().map(|c| c.version),
        )
    }

    /// Whether a retrain is under way.
    pub fn retraining(&self) -> bool {
        self.retrain == Retrain::Pending
    }

    /// Restores a breach recorded before a restart (`fired_ms` when it last fired).
    pub fn restore_breach(&mut self, rule: &str, version: i64, fired_ms: i64) {
        self.breaches.restore(rule, version, fired_ms);
    }

    /// Forgets a breach recorded as over before a restart.
    pub fn restore_recovery(&mut self, rule: &str) {
        self.breaches.close(rule);
    }

    /// Change detection starts afresh after `seq`: a restart replays rows the detector had
    /// seen, and a change they showed was recorded then.
    pub fn detect_after(&mut self, seq: u64) {
        self.detect_after = seq;
    }

    /// Every open breach, with its version.
    pub fn breaches(&self) -> Vec<(String, i64)> {
        self.breaches
            .all()
            .map(|(r, v)| (r.to_string(), v))
            .collect()
    }

    /// Rules in breach for the champion.
    pub fn breached(&self) -> Vec<String> {
        match &self.champion {
            Some(c) => self
                .breaches
                .of(c.version)
                .into_iter()
                .map(String::from)
                .collect(),
            None => Vec::new(),
        }
    }

    /// One input at `now` (ms): the actions it leads to, in order.
    pub fn step(&mut self, input: Input, now: i64) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::Serving { version, test } => self.serve(version, test, now, &mut out),
            Input::Candidate { version, test } => {
                self.retrain = Retrain::Idle;
                self.canary = Some(Canary {
                    version,
                    test,
                    since_ms: now,
                    pairs: Vec::new(),
                    champion: Vec::new(),
                    candidate: Vec::new(),
                    judged_at: 0,
                });
            }
            Input::Rejected { .. } => self.retrain = Retrain::Idle,
            Input::Withdrawn => {
                self.canary = None;
                self.close(Role::Challenger, false, now, &mut out);
                self.close(Role::Shadow, false, now, &mut out);
            }
            Input::Labelled(l) => self.labelled(l, now, &mut out),
            Input::Recalled(l) => self.canary_row(&l),
            Input::Judged { version, judgement } => {
                self.judged(&judgement, version, now, &mut out);
            }
            Input::Tick => {
                for role in ROLES {
                    let aged = self.policy.window_ms.is_some_and(|span| {
                        self.windows[role as usize]
                            .as_ref()
                            .is_some_and(|w| now - w.first_labelled_ms >= span)
                    });
                    if aged {
                        self.close(role, true, now, &mut out);
                    }
                }
            }
        }
        out
    }

    /// A version serves as champion; the windows of the versions before it close as
    /// fragments (they judge nothing).
    fn serve(&mut self, version: i64, test: Figures, now: i64, out: &mut Vec<Action>) {
        self.champion = Some(Serving { version, test });
        // A new champion ends a retrain under way, and a canary of the same version.
        if self.retrain == Retrain::Pending {
            self.retrain = Retrain::Idle;
        }
        if self.canary.as_ref().is_some_and(|c| c.version == version) {
            self.canary = None;
        }
        for role in ROLES {
            self.close(role, false, now, out);
        }
        if let Some(d) = &mut self.detector {
            d.reset();
        }
        self.detected_seqs.clear();
        self.change_since = None;
    }

    /// The canary's rows: those predicted since it started.
    fn canary_row(&mut self, l: &Labelled) {
        let Some(c) = &mut self.canary else { return };
        if l.predicted_ms < c.since_ms {
            return;
        }
        match (l.served, l.other) {
            (Role::Challenger | Role::Shadow, Some(champ)) if l.version == c.version => {
                c.pairs.push((champ, l.outcome));
            }
            (Role::Challenger | Role::Shadow, None) if l.version == c.version => {
                c.candidate.push(l.outcome);
            }
            (Role::Champion, Some(cand)) => {
                c.pairs.push((l.outcome, cand));
                c.champion.push(l.outcome);
            }
            (Role::Champion, None) => c.champion.push(l.outcome),
            _ => {}
        }
    }

    fn labelled(&mut self, l: Labelled, now: i64, out: &mut Vec<Action>) {
        // A shadow's rows are the champion's requests again: they count once.
        if l.served != Role::Shadow {
            self.new_labels += 1;
            self.new_positives += u64::from(self.is_positive(&l.outcome));
        }
        self.canary_row(&l);
        // The window of the role that answered; another version closes it first.
        let role = l.served;
        if self.windows[role as usize]
            .as_ref()
            .is_some_and(|w| w.version != l.version)
        {
            self.close(role, false, now, out);
        }
        let w = self.windows[role as usize].get_or_insert_with(|| Window {
            version: l.version,
            first_seq: l.seq,
            start_ms: l.predicted_ms,
            first_labelled_ms: l.labelled_ms,
            ..Window::default()
        });
        w.outcomes.push(l.outcome);
        w.last_seq = l.seq;
        w.start_ms = w.start_ms.min(l.predicted_ms);
        w.end_ms = w.end_ms.max(l.predicted_ms);
        if w.outcomes.len() as u64 >= self.policy.window_labels {
            self.close(role, true, now, out);
        }
        // Change detection on the champion's own answers.
        let champion = self.champion.as_ref().map(|c| c.version);
        if role == Role::Champion
            && Some(l.version) == champion
            && l.seq > self.detect_after
            && let Some(d) = &mut self.detector
        {
            self.detected_seqs.push(l.seq);
            if let Some(alarm) = d.add(l.outcome.error()) {
                let since = self
                    .detected_seqs
                    .get(alarm.since.saturating_sub(1) as usize)
                    .copied()
                    .unwrap_or(l.seq);
                self.detected_seqs.clear();
                self.change_since = Some(since);
                out.push(Action::Change {
                    version: l.version,
                    since_seq: since,
                    at_seq: l.seq,
                });
                self.want_retrain("change", "the error rate changed".into(), out);
            }
        }
        if let Retrain::Wanted { rule, reason } = self.retrain.clone() {
            self.want_retrain(&rule, reason, out);
        }
        self.judge_canary(now, out);
    }

    fn is_positive(&self, o: &Outcome) -> bool {
        matches!((o, self.policy.positive), (Outcome::Class { truth, .. }, Some(p)) if *truth == p)
    }

    /// Closes a role's window; `in_full` when it filled (or aged) rather than being cut by
    /// a change of version.
    fn close(&mut self, role: Role, in_full: bool, now: i64, out: &mut Vec<Action>) {
        let Some(w) = self.windows[role as usize].take() else {
            return;
        };
        let n = w.outcomes.len() as u64;
        let figures = figures(&w.outcomes, self.policy.positive);
        let serving = self.champion.as_ref().filter(|c| c.version == w.version);
        let judged = role == Role::Champion
            && serving.is_some()
            && (in_full || n.saturating_mul(2) >= self.policy.window_labels);
        let test = serving.map(|c| c.test.clone()).unwrap_or_default();
        out.push(Action::Window {
            role,
            version: w.version,
            figures: figures.clone(),
            first_seq: w.first_seq,
            last_seq: w.last_seq,
            start_ms: w.start_ms,
            end_ms: w.end_ms,
            judged,
        });
        if !judged {
            return;
        }
        for j in judge_quality(&self.policy.monitor, &figures, &test) {
            self.judged(&j, w.version, now, out);
        }
    }

    /// One rule's judgement of `version`, through the breach book.
    fn judged(&mut self, j: &Judgement, version: i64, now: i64, out: &mut Vec<Action>) {
        match self.breaches.judge(j, version, now, self.policy.cooldown) {
            Some(Change::Breach { refire }) => {
                out.push(Action::Breach {
                    rule: j.rule.clone(),
                    version,
                    value: j.value,
                    threshold: j.threshold,
                    refire,
                });
                let reason = format!(
                    "{} = {:.3} against {:.3}{}",
                    j.rule,
                    j.value,
                    j.threshold,
                    if refire > 0 {
                        format!(", still in breach (repeat {refire})")
                    } else {
                        String::new()
                    }
                );
                self.want_retrain(&j.rule, reason, out);
            }
            Some(Change::Recover) => {
                out.push(Action::Recover {
                    rule: j.rule.clone(),
                    version,
                    value: j.value,
                    threshold: j.threshold,
                });
                if matches!(&self.retrain, Retrain::Wanted { rule, .. } if *rule == j.rule) {
                    self.retrain = Retrain::Idle;
                }
            }
            None => {}
        }
    }

    /// A retrain once no canary runs, none is under way, and enough new labels are in.
    fn want_retrain(&mut self, rule: &str, reason: String, out: &mut Vec<Action>) {
        if self.canary.is_some() || self.retrain == Retrain::Pending {
            return;
        }
        if self.new_labels < self.policy.retrain_min_labels
            || self.new_positives < self.policy.retrain_min_positives
        {
            self.retrain = Retrain::Wanted {
                rule: rule.to_string(),
                reason,
            };
            return;
        }
        self.retrain = Retrain::Pending;
        out.push(Action::Retrain {
            rule: rule.to_string(),
            reason,
            since_seq: self.change_since,
            labels: self.new_labels,
            positives: self.new_positives,
        });
        self.new_labels = 0;
        self.new_positives = 0;
    }

    fn judge_canary(&mut self, now: i64, out: &mut Vec<Action>) {
        let Some(c) = &mut self.canary else { return };
        let labels = c.labels();
        // Judge at min_labels, then each time the labels have grown by half, and at
        // max_labels: five looks from min_labels to 4 × min_labels, not one per label. Every
        // look is another chance of a verdict by chance: judged every eighth of min_labels
        // (25 looks), a snapshot no worse than its champion was rolled back in two server
        // runs of three.
        let (min, max) = (
            self.policy.canary.min_labels as usize,
            self.policy.canary.max_labels as usize,
        );
        let due = if c.judged_at == 0 {
            labels >= min
        } else {
            labels >= c.judged_at + c.judged_at / 2 || (labels >= max && c.judged_at < max)
        };
        if !due {
            return;
        }
        c.judged_at = labels;
        let verdict = canary::judge(c.rows(), &self.policy.canary, self.policy.positive);
        let version = c.version;
        let champion = self.champion.as_ref().map_or(0, |c| c.version);
        match verdict.decision {
            Decision::Wait => {}
            Decision::Promote => {
                let test = c.test.clone();
                self.canary = None;
                out.push(Action::Promote {
                    version,
                    champion,
                    verdict,
                });
                self.serve(version, test, now, out);
            }
            Decision::Rollback => {
                self.canary = None;
                out.push(Action::Rollback {
                    version,
                    champion,
                    verdict,
                });
                self.close(Role::Challenger, false, now, out);
                self.close(Role::Shadow, false, now, out);
            }
        }
    }
}
