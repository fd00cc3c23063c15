//! `gyre backtest`: a dataset replayed through the loop as `gyre.toml` configures it, on an
//! injected clock, next to baselines on the same rows.
//!
//! The first model trains on the first rows, as `[model]` says. Every later row is a request:
//! the champion answers it (or the challenger, for the canary's share), and its label
//! arrives a set number of rows, or a set time, later. Labels go into the same loop engine
//! the server's monitor uses ([`gyre_loop::Engine`]); its actions are applied here: a
//! retrain (when a `[[trigger]]` runs on the breached rule, or a schedule is due on the
//! data's clock) trains a candidate in process, `[gate]`'s floors judge it, and the canary's
//! verdict promotes it or rolls it back. Nothing waits on the wall clock and nothing goes
//! over HTTP.
//!
//! The baselines replay the same rows: the first model forever, and a retrain on a fixed
//! schedule (every N rows, or every period of the data's time) on the same training data.

use crate::progress::Progress;
use crate::targets::options_for;
use crate::{OpsError, Project, Result};
use gyre_core::ReadOptions;
use gyre_core::model::ModelSpec;
use gyre_core::monitor::{RetrainData, TriggerKind, TriggerSpec};
use gyre_learn::model::{Model, typed};
use gyre_learn::transform::Values;
use gyre_loop::engine::{Action, Engine, Input, Labelled, Policy, Role};
use gyre_loop::outcome::{Classes, Figures, Outcome, figures};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};

/// What went wrong in a backtest, before or while replaying.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    #[error("gyre.toml has no [monitor] section: the backtest replays the loop it configures")]
    NoMonitor,
    #[error("{data} has {rows} rows: too few for {train} training rows and a window of {window}")]
    TooFewRows {
        data: String,
        rows: usize,
        train: usize,
        window: usize,
    },
    #[error("{data}: no column `{column}` to order by; its columns: {columns}")]
    NoTimeColumn {
        data: String,
        column: String,
        columns: String,
    },
    #[error(
        "{data} row {row}, column `{column}`: `{value}` is not a time (RFC 3339, YYYY-MM-DD[ HH:MM[:SS]], or seconds since 1970)"
    )]
    BadTime {
        data: String,
        row: usize,
        column: String,
        value: String,
    },
    #[error(
        "{data} row {row}, column `{column}`: `{value}` is not a number, which the model's signature needs"
    )]
    BadValue {
        data: String,
        row: usize,
        column: String,
        value: String,
    },
    #[error("training {what} on rows {from}..{to}")]
    Train {
        what: String,
        from: usize,
        to: usize,
        #[source]
        source: gyre_learn::train::TrainError,
    },
    #[error("scoring rows with v{version}")]
    Predict {
        version: i64,
        #[source]
        source: gyre_learn::transform::TransformError,
    },
}

/// A delay or a period: in rows, or in the data's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Span {
    Rows(usize),
    Ms(i64),
}

impl std::str::FromStr for Span {
    type Err = String;

    /// `48` (rows), or a time: `90s`, `30m`, `12h`, `1d`, `6w`.
    fn from_str(s: &str) -> std::result::Result<Span, String> {
        let s = s.trim();
        if let Ok(n) = s.parse::<usize>() {
            return Ok(Span::Rows(n));
        }
        let unit = s.chars().last().unwrap_or(' ');
        let ms = match unit {
            's' => 1_000.0,
            'm' => 60_000.0,
            'h' => 3_600_000.0,
            'd' => 86_400_000.0,
            'w' => 7.0 * 86_400_000.0,
            _ => {
                return Err(format!(
                    "`{s}`: a number of rows (48) or a time (30m, 12h, 1d, 6w)"
                ));
            }
        };
        let n: f64 = s[..s.len() - 1]
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: a number of rows (48) or a time (30m, 12h, 1d, 6w)"))?;
        if !(n.is_finite() && n >= 0.0) {
            return Err(format!("`{s}`: a time must be 0 or more"));
        }
        Ok(Span::Ms((n * ms) as i64))
    }
}

#[derive(Debug, Clone)]
pub struct BacktestOptions {
    /// A dataset (`NAME[@V]`) or a file.
    pub data: String,
    /// A column holding each row's time; rows are replayed in its order (else file order).
    pub time: Option<String>,
    /// Without a time column: the time between rows.
    pub row_ms: i64,
    pub label_delay: Span,
    /// Rows the first model trains on (default: a tenth of the data, at least 200).
    pub train_rows: Option<usize>,
    /// Rows replayed (default: all after the training rows).
    pub rows: Option<usize>,
    /// Rows per reported window (default: `[monitor] window.labels`).
    pub window: Option<usize>,
    /// The fixed-schedule baseline's period (default: four windows).
    pub schedule: Option<Span>,
}

/// One window of a strategy's served predictions.
#[derive(Debug, Clone, Serialize)]
pub struct WindowPoint {
    /// The replayed row the window ends at (1-based count of replayed rows).
    pub row: usize,
    pub figures: Figures,
}

#[derive(Debug, Clone, Serialize)]
pub struct Strategy {
    pub name: String,
    pub windows: Vec<WindowPoint>,
    /// Over every replayed row.
    pub overall: Figures,
    /// The mean of the metric over windows.
    pub mean: f64,
    pub retrains: usize,
    pub promotions: usize,
    pub rollbacks: usize,
}

/// Something the loop did, at a replayed row.
#[derive(Debug, Clone, Serialize)]
pub struct Mark {
    pub row: usize,
    pub kind: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BacktestReport {
    pub data: String,
    pub rows: usize,
    pub train_rows: usize,
    pub window: usize,
    pub label_delay: Span,
    pub schedule: Span,
    pub metric: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub positive: Option<String>,
    pub seconds: f64,
    pub strategies: Vec<Strategy>,
    pub marks: Vec<Mark>,
    /// What the replay could not do as gyre.toml says (triggers it cannot replay).
    pub notes: Vec<String>,
}

/// The replayed table: rows in time order, their times, the truth.
struct Stream {
    data: String,
    names: Vec<String>,
    /// Columns as read, rows in replay order.
    columns: Vec<Vec<Option<String>>>,
    times: Vec<i64>,
    target: usize,
    regression: bool,
}

impl Stream {
    fn rows(&self) -> usize {
        self.times.len()
    }

    /// The columns of rows `from..to` (for training).
    fn slice(&self, rows: &[std::ops::Range<usize>]) -> Vec<Vec<Option<String>>> {
        self.columns
            .iter()
            .map(|c| {
                rows.iter()
                    .flat_map(|r| c[r.clone()].iter().cloned())
                    .collect()
            })
            .collect()
    }
}

/// A model of the replay, its typed inputs shared with every model of the same signature.
struct Version {
    /// The model as registered: what the baselines and the trials score with.
    model: Model,
    /// An online model as it serves in the loop, learning every label that arrives.
    live: Option<Model>,
    test: Figures,
    inputs: usize,
    /// Outcomes by block of rows, computed when first needed.
    blocks: HashMap<usize, Vec<Option<Outcome>>>,
}

const BLOCK: usize = 512;

/// A signature's inputs: names and kinds.
type InputKey = Vec<(String, gyre_learn::model::ColumnKind)>;

/// The replay's models and what they need to score rows.
struct Models<'a> {
    stream: &'a Stream,
    classes: Classes,
    truth: Vec<Option<Truth>>,
    /// Typed input columns, by signature.
    typed: Vec<(InputKey, Vec<Values>)>,
    versions: Vec<Version>,
}

#[derive(Clone, Copy)]
enum Truth {
    Class(u32),
    Value(f64),
}

impl<'a> Models<'a> {
    fn new(stream: &'a Stream, positive: Option<&str>, first: &Model) -> Models<'a> {
        let mut classes = Classes::new(&first.signature.classes, positive);
        let truth = stream.columns[stream.target]
            .iter()
            .map(|v| {
                let v = v.as_deref()?.trim();
                if stream.regression {
                    v.parse().ok().map(Truth::Value)
                } else {
                    Some(Truth::Class(classes.id(v)))
                }
            })
            .collect();
        Models {
            stream,
            classes,
            truth,
            typed: Vec::new(),
            versions: Vec::new(),
        }
    }

    /// Adds a model; its version is its 1-based position.
    fn add(&mut self, model: Model) -> Result<i64> {
        let key: InputKey = model
            .signature
            .inputs
            .iter()
            .map(|c| (c.name.clone(), c.kind))
            .collect();
        let inputs = match self.typed.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                let s = self.stream;
                let mut cols = Vec::with_capacity(key.len());
                for (name, kind) in &key {
                    let i = s.names.iter().position(|n| n == name).ok_or_else(|| {
                        OpsError::Invalid(format!("{}: no column `{name}`", s.data))
                    })?;
                    cols.push(typed(*kind, s.columns[i].clone()).map_err(|(row, value)| {
                        BacktestError::BadValue {
                            data: s.data.clone(),
                            row: row + 1,
                            column: name.clone(),
                            value,
                        }
                    })?);
                }
                self.typed.push((key, cols));
                self.typed.len() - 1
            }
        };
        let test = model.metrics.iter().cloned().collect();
        self.versions.push(Version {
            live: model.is_online().then(|| model.clone()),
            model,
            test,
            inputs,
            blocks: HashMap::new(),
        });
        Ok(self.versions.len() as i64)
    }

    fn test(&self, version: i64) -> Figures {
        self.versions[version as usize - 1].test.clone()
    }

    /// The outcome of `version` as it serves now: an online version answers with what it
    /// has learnt so far.
    fn live_outcome(&mut self, version: i64, row: usize) -> Result<Option<Outcome>> {
        let v = &self.versions[version as usize - 1];
        let Some(live) = &v.live else {
            return self.outcome(version, row);
        };
        let Some(truth) = self.truth[row] else {
            return Ok(None);
        };
        let refs: Vec<&Values> = self.typed[v.inputs].1.iter().collect();
        let p = live
            .predict(&refs, &[row])
            .map_err(|source| BacktestError::Predict { version, source })?;
        Ok(Some(self.outcome_of(
            &live.signature.classes.clone(),
            truth,
            p.row(0),
            p.class_of(0),
        )))
    }

    /// An online version learns a row's label.
    fn learn(&mut self, version: i64, row: usize) -> Result<()> {
        let Some(Truth::Class(t)) = self.truth[row] else {
            return Ok(());
        };
        let label = self.classes.name(t).to_string();
        let v = &mut self.versions[version as usize - 1];
        let Some(live) = &mut v.live else {
            return Ok(());
        };
        let refs: Vec<&Values> = self.typed[v.inputs].1.iter().collect();
        live.learn(&refs, row, &label)
            .map_err(|source| BacktestError::Predict { version, source })?;
        Ok(())
    }

    fn outcome_of(
        &mut self,
        model_classes: &[String],
        truth: Truth,
        row: &[f64],
        best: usize,
    ) -> Outcome {
        match truth {
            Truth::Value(t) => Outcome::Value {
                truth: t,
                predicted: row[0],
            },
            Truth::Class(t) => {
                let positive = self
                    .classes
                    .positive()
                    .map(|p| self.classes.name(p).to_string());
                let score = positive
                    .and_then(|p| model_classes.iter().position(|c| *c == p))
                    .map_or(f64::NAN, |i| row[i]);
                Outcome::Class {
                    truth: t,
                    predicted: self.classes.id(&model_classes[best]),
                    score,
                }
            }
        }
    }

    /// The outcome of `version` on `row` (None without a label).
    fn outcome(&mut self, version: i64, row: usize) -> Result<Option<Outcome>> {
        let block = row / BLOCK;
        let v = &self.versions[version as usize - 1];
        if !v.blocks.contains_key(&block) {
            let rows: Vec<usize> =
                (block * BLOCK..((block + 1) * BLOCK).min(self.stream.rows())).collect();
            let refs: Vec<&Values> = self.typed[v.inputs].1.iter().collect();
            let p = v
                .model
                .predict(&refs, &rows)
                .map_err(|source| BacktestError::Predict { version, source })?;
            let model_classes = v.model.signature.classes.clone();
            let mut out = Vec::with_capacity(rows.len());
            for (k, &r) in rows.iter().enumerate() {
                out.push(
                    self.truth[r]
                        .map(|t| self.outcome_of(&model_classes, t, p.row(k), p.class_of(k))),
                );
            }
            self.versions[version as usize - 1]
                .blocks
                .insert(block, out);
        }
        Ok(self.versions[version as usize - 1].blocks[&block][row % BLOCK])
    }
}

/// How candidates are trained: the spec, the first model's rows, and the recipe.
struct Trainer<'a> {
    spec: &'a ModelSpec,
    stream: &'a Stream,
    base: std::ops::Range<usize>,
    data: RetrainData,
    recent: usize,
    metric: String,
    positive: Option<u32>,
}

impl Trainer<'_> {
    fn fit(&self, what: &str, rows: &[std::ops::Range<usize>]) -> Result<Model> {
        let columns = self.stream.slice(rows);
        let trained =
            gyre_learn::train::train(self.spec, &self.stream.names, columns, Default::default())
                .map_err(|source| BacktestError::Train {
                    what: what.to_string(),
                    from: rows.first().map_or(0, |r| r.start),
                    to: rows.last().map_or(0, |r| r.end),
                    source,
                })?;
        Ok(trained.model)
    }

    /// A candidate trained on what is labelled up to row `labelled` (exclusive); `since` is
    /// where a detected change began.
    fn candidate(
        &self,
        models: &mut Models<'_>,
        labelled: usize,
        since: Option<usize>,
    ) -> Result<(Model, String)> {
        let start = self.base.end;
        let recent = labelled.saturating_sub(self.recent).max(start)..labelled;
        let base_and_recent = [self.base.clone(), recent.clone()];
        match self.data {
            RetrainData::Recent => Ok((
                self.fit("a candidate", std::slice::from_ref(&recent))?,
                describe(&[recent]),
            )),
            RetrainData::BaseAndRecent => Ok((
                self.fit("a candidate", &base_and_recent)?,
                describe(&base_and_recent),
            )),
            RetrainData::Auto => {
                // Each window is fitted without the most recent labelled rows, scored on
                // them, and the best is fitted again with them.
                let hold = (recent.len() / 5).clamp(1, 1000);
                let cut = labelled - hold;
                let mut windows: Vec<Vec<std::ops::Range<usize>>> = vec![
                    vec![recent.clone()],
                    vec![self.base.clone(), recent.clone()],
                ];
                if let Some(s) = since
                    && s > recent.start
                    && labelled - s >= 2 * hold
                {
                    let since_change = s..labelled;
                    windows.push(vec![since_change]);
                }
                let lower = gyre_loop::lower_is_better(&self.metric);
                let mut best: Option<(f64, usize)> = None;
                for (i, w) in windows.iter().enumerate() {
                    let trimmed: Vec<std::ops::Range<usize>> = w
                        .iter()
                        .map(|r| r.start..r.end.min(cut))
                        .filter(|r| r.end > r.start)
                        .collect();
                    let Ok(model) = self.fit("a trial candidate", &trimmed) else {
                        continue;
                    };
                    let version = models.add(model)?;
                    let mut outcomes = Vec::with_capacity(hold);
                    for r in cut..labelled {
                        if let Some(o) = models.outcome(version, r)? {
                            outcomes.push(o);
                        }
                    }
                    models.versions.pop();
                    let Some(score) =
                        gyre_loop::outcome::metric(&outcomes, None, &self.metric, self.positive)
                    else {
                        continue;
                    };
                    let better =
                        best.is_none_or(|(b, _)| if lower { score < b } else { score > b });
                    if better {
                        best = Some((score, i));
                    }
                }
                let chosen = best.map_or(0, |(_, i)| i);
                let rows = &windows[chosen];
                Ok((self.fit("a candidate", rows)?, describe(rows)))
            }
        }
    }
}

fn describe(rows: &[std::ops::Range<usize>]) -> String {
    rows.iter()
        .map(|r| format!("rows {}..{}", r.start, r.end))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// Whether a monitor trigger runs on a breach of `rule`.
fn runs_on(triggers: &[TriggerSpec], rule: &str) -> bool {
    triggers.iter().any(|t| {
        t.on == TriggerKind::Monitor
            && t.rule
                .as_ref()
                .is_none_or(|r| rule == r || rule.starts_with(&format!("{r}.")))
    })
}

/// `[gate]`'s floors and ceilings on a candidate's test figures: the failures.
fn gate_failures(gate: Option<&gyre_core::gate::GateSpec>, test: &Figures) -> Vec<String> {
    let Some(g) = gate else { return Vec::new() };
    let mut out = Vec::new();
    for (m, t) in &g.min {
        if let Some(v) = test.get(m)
            && v < t
        {
            out.push(format!("{m} {v:.3} < {t}"));
        }
    }
    for (m, t) in &g.max {
        if let Some(v) = test.get(m)
            && v > t
        {
            out.push(format!("{m} {v:.3} > {t}"));
        }
    }
    out
}

impl Project {
    /// Replays a dataset through the loop and the baselines.
    pub async fn backtest(
        &self,
        opts: &BacktestOptions,
        progress: &dyn Progress,
    ) -> Result<BacktestReport> {
        let spec = self.model_spec(&[])?;
        let monitor = self.spec.monitor.clone().ok_or(BacktestError::NoMonitor)?;
        let target = self.resolve_target(&opts.data).await?;
        let readable = self.readable_target(&target).await?;
        let table = crate::train::read(
            &readable.files,
            &options_for(&target, &ReadOptions::default()),
            progress,
        )?;
        let started = std::time::Instant::now();
        let stream = order(opts, &spec, table)?;
        let this = self;
        crate::datasets::blocking_here(|| {
            this.replay(opts, &spec, monitor, &stream, started, progress)
        })
    }

    fn replay(
        &self,
        opts: &BacktestOptions,
        spec: &ModelSpec,
        monitor: gyre_core::monitor::MonitorSpec,
        stream: &Stream,
        started: std::time::Instant,
        progress: &dyn Progress,
    ) -> Result<BacktestReport> {
        let n = stream.rows();
        let window = opts
            .window
            .or(monitor.window.labels.map(|l| l as usize))
            .unwrap_or(500)
            .max(1);
        let train_rows = opts.train_rows.unwrap_or((n / 10).max(200));
        if n < train_rows + window {
            return Err(BacktestError::TooFewRows {
                data: stream.data.clone(),
                rows: n,
                train: train_rows,
                window,
            }
            .into());
        }
        let end = opts.rows.map_or(n, |r| (train_rows + r).min(n));
        let replay = train_rows..end;
        let loop_spec = self.spec.loop_.clone().unwrap_or_default();
        let serve = self.spec.serve.clone().unwrap_or_default();
        let share = serve.canary.as_ref().map_or(0.1, |c| c.share);
        let schedule = opts.schedule.unwrap_or(Span::Rows(4 * window));

        let base = 0..train_rows;
        let mut trainer = Trainer {
            spec,
            stream,
            base: base.clone(),
            data: loop_spec.retrain.data,
            recent: loop_spec.retrain.rows as usize,
            metric: String::new(),
            positive: None,
        };
        let first = trainer.fit("the first model", std::slice::from_ref(&base))?;
        let mut models = Models::new(stream, monitor.positive.as_deref(), &first);
        let positive = models.classes.positive();
        let policy = Policy::from_spec(
            &monitor,
            &loop_spec,
            serve.canary.as_ref().and_then(|c| c.min_labels),
            stream.regression,
            positive,
        );
        trainer.metric = policy.canary.metric.clone();
        trainer.positive = positive;
        let metric = policy.canary.metric.clone();
        models.add(first)?;

        let due = |j: usize, i: usize| match opts.label_delay {
            Span::Rows(d) => j + d <= i,
            Span::Ms(d) => stream.times[j] + d <= stream.times[i],
        };
        let mut notes = Vec::new();
        let triggers = &self.spec.trigger;
        for t in triggers {
            if !matches!(t.on, TriggerKind::Monitor | TriggerKind::Schedule) {
                notes.push(format!(
                    "trigger `{}` (on = \"{}\") has no cause in a replay; it never fires here",
                    t.name,
                    t.on.as_str()
                ));
            }
        }
        if !triggers
            .iter()
            .any(|t| matches!(t.on, TriggerKind::Monitor | TriggerKind::Schedule))
        {
            notes.push(
                "no [[trigger]] runs on a breach or a schedule: the loop watches but never retrains"
                    .into(),
            );
        }
        let mut crons: Vec<(String, String, i64)> = Vec::new();
        for t in triggers.iter().filter(|t| t.on == TriggerKind::Schedule) {
            let tz = t.timezone.clone().unwrap_or_else(|| "UTC".into());
            let cron = t.cron.clone().unwrap_or_default();
            let next = crate::triggers::next_cron(&cron, &tz, stream.times[replay.start])?;
            crons.push((cron, tz, next));
        }

        // The loop.
        // A spinner with the elapsed time: the bars count bytes, and a replay counts rows.
        progress.start("replaying", 0);
        let mut engine = Engine::new(policy);
        engine.step(
            Input::Serving {
                version: 1,
                test: models.test(1),
            },
            stream.times[replay.start],
        );
        let (mut champion, mut challenger) = (1i64, None::<i64>);
        let mut served: Vec<Option<Outcome>> = Vec::with_capacity(replay.len());
        let mut waiting: VecDeque<(usize, i64, Role, Outcome, Option<Outcome>)> = VecDeque::new();
        let mut marks = Vec::new();
        let (mut retrains, mut promotions, mut rollbacks) = (0, 0, 0);
        let mut labelled_to = replay.start;
        let mut requests: u64 = 0;
        for i in replay.clone() {
            let now = stream.times[i];
            let row = i - replay.start + 1;
            let mut actions = Vec::new();
            while let Some(&(j, version, role, outcome, other)) = waiting.front() {
                if !due(j, i) {
                    break;
                }
                waiting.pop_front();
                labelled_to = j + 1;
                // Online versions learn every label that arrives, whoever answered.
                models.learn(champion, j)?;
                if let Some(c) = challenger {
                    models.learn(c, j)?;
                }
                actions.extend(engine.step(
                    Input::Labelled(Labelled {
                        seq: j as u64,
                        predicted_ms: stream.times[j],
                        labelled_ms: now,
                        version,
                        served: role,
                        outcome,
                        other,
                    }),
                    now,
                ));
            }
            actions.extend(engine.step(Input::Tick, now));
            let mut scheduled = None;
            for (cron, tz, next) in crons.iter_mut() {
                if now >= *next {
                    scheduled = Some(format!("schedule `{cron}` was due"));
                    *next = crate::triggers::next_cron(cron, tz, now)?;
                }
            }
            if let Some(cause) = scheduled
                && challenger.is_none()
                && !engine.retraining()
            {
                actions.push(Action::Retrain {
                    rule: String::new(),
                    reason: cause,
                    since_seq: None,
                });
            }
            let mut queue: VecDeque<Action> = actions.into();
            while let Some(a) = queue.pop_front() {
                match a {
                    Action::Window { .. } => {}
                    Action::Breach {
                        rule,
                        version,
                        value,
                        threshold,
                        refire,
                    } => marks.push(Mark {
                        row,
                        kind: "breach".into(),
                        detail: format!(
                            "v{version}: {rule} = {value:.3} against {threshold:.3}{}",
                            if refire > 0 {
                                format!(" (still, repeat {refire})")
                            } else {
                                String::new()
                            }
                        ),
                    }),
                    Action::Recover {
                        rule,
                        version,
                        value,
                        ..
                    } => marks.push(Mark {
                        row,
                        kind: "recover".into(),
                        detail: format!("v{version}: {rule} = {value:.3}"),
                    }),
                    Action::Change {
                        version, since_seq, ..
                    } => marks.push(Mark {
                        row,
                        kind: "change".into(),
                        detail: format!(
                            "v{version}: the error rate changed, from about row {}",
                            (since_seq as usize).saturating_sub(replay.start) + 1
                        ),
                    }),
                    Action::Retrain {
                        rule,
                        reason,
                        since_seq,
                    } => {
                        let fire = rule.is_empty() || runs_on(triggers, &rule);
                        if !fire {
                            queue.extend(engine.step(
                                Input::Rejected {
                                    reason: format!("no trigger runs on `{rule}`"),
                                },
                                now,
                            ));
                            continue;
                        }
                        retrains += 1;
                        let (model, rows) = trainer.candidate(
                            &mut models,
                            labelled_to,
                            since_seq.map(|s| s as usize),
                        )?;
                        let test: Figures = model.metrics.iter().cloned().collect();
                        let failures = gate_failures(self.spec.gate.as_ref(), &test);
                        let version = models.add(model)?;
                        if failures.is_empty() {
                            challenger = Some(version);
                            marks.push(Mark {
                                row,
                                kind: "retrain".into(),
                                detail: format!("v{version} on {rows} ({reason}); canary"),
                            });
                            queue.extend(engine.step(Input::Candidate { version, test }, now));
                        } else {
                            marks.push(Mark {
                                row,
                                kind: "retrain".into(),
                                detail: format!(
                                    "v{version} on {rows} ({reason}); the gate refused it: {}",
                                    failures.join(", ")
                                ),
                            });
                            queue.extend(engine.step(
                                Input::Rejected {
                                    reason: failures.join(", "),
                                },
                                now,
                            ));
                        }
                    }
                    Action::Promote { version, verdict } => {
                        promotions += 1;
                        champion = version;
                        challenger = None;
                        marks.push(Mark {
                            row,
                            kind: "promote".into(),
                            detail: format!("v{version} {}", verdict.summary()),
                        });
                    }
                    Action::Rollback { version, verdict } => {
                        rollbacks += 1;
                        challenger = None;
                        marks.push(Mark {
                            row,
                            kind: "rollback".into(),
                            detail: format!("v{version} {}", verdict.summary()),
                        });
                    }
                }
            }
            // The request: the server's low-discrepancy canary split.
            let canary = challenger.is_some()
                && ((requests as f64) * 0.618_033_988_749_894_9).fract() < share;
            requests += 1;
            let champ = models.live_outcome(champion, i)?;
            let cand = match challenger {
                Some(c) => models.live_outcome(c, i)?,
                None => None,
            };
            let (version, role, outcome, other) = match (canary, challenger) {
                (true, Some(c)) => (c, Role::Challenger, cand, champ),
                _ => (champion, Role::Champion, champ, cand),
            };
            served.push(outcome);
            if let Some(o) = outcome {
                waiting.push_back((i, version, role, o, other));
            }
        }
        progress.finish();

        let series = |outcomes: &[Option<Outcome>]| series(outcomes, window, positive, &metric);
        let (windows, overall, mean) = series(&served);
        let mut strategies = vec![Strategy {
            name: "gyre loop".into(),
            windows,
            overall,
            mean,
            retrains,
            promotions,
            rollbacks,
        }];

        // Never retrained.
        let never: Vec<Option<Outcome>> = replay
            .clone()
            .map(|i| models.outcome(1, i))
            .collect::<Result<_>>()?;
        let (windows, overall, mean) = series(&never);
        strategies.push(Strategy {
            name: "never retrained".into(),
            windows,
            overall,
            mean,
            retrains: 0,
            promotions: 0,
            rollbacks: 0,
        });

        // A fixed schedule, on the same training data.
        let mut current = 1i64;
        let mut fixed = Vec::with_capacity(replay.len());
        let mut last = replay.start;
        let mut retrains = 0;
        let mut labelled = replay.start;
        for i in replay.clone() {
            while labelled < i && due(labelled, i) {
                labelled += 1;
            }
            let time_for = match schedule {
                Span::Rows(every) => {
                    every > 0 && i > replay.start && (i - replay.start) % every == 0
                }
                Span::Ms(every) => every > 0 && stream.times[i] - stream.times[last] >= every,
            };
            if time_for && labelled > replay.start {
                let (model, _) = trainer.candidate(&mut models, labelled, None)?;
                current = models.add(model)?;
                retrains += 1;
                last = i;
            }
            fixed.push(models.outcome(current, i)?);
        }
        let (windows, overall, mean) = series(&fixed);
        strategies.push(Strategy {
            name: match schedule {
                Span::Rows(r) => format!("retrained every {r} rows"),
                Span::Ms(ms) => format!("retrained every {}", human_ms(ms)),
            },
            windows,
            overall,
            mean,
            retrains,
            promotions: retrains,
            rollbacks: 0,
        });

        // gyre's online learners, learning each label as it arrives.
        if stream.regression {
            notes.push("the online learners classify; a regression target has none yet".into());
        } else {
            for (name, kind) in [
                ("online logistic regression", OnlineKind::Logistic),
                ("adaptive random forest", OnlineKind::Forest),
            ] {
                let outcomes = online(&mut models, replay.clone(), &due, kind)?;
                let (windows, overall, mean) = series(&outcomes);
                strategies.push(Strategy {
                    name: name.into(),
                    windows,
                    overall,
                    mean,
                    retrains: 0,
                    promotions: 0,
                    rollbacks: 0,
                });
            }
        }

        Ok(BacktestReport {
            data: stream.data.clone(),
            rows: replay.len(),
            train_rows,
            window,
            label_delay: opts.label_delay,
            schedule,
            metric,
            positive: positive.map(|p| models.classes.name(p).to_string()),
            seconds: started.elapsed().as_secs_f64(),
            strategies,
            marks,
            notes,
        })
    }
}

#[derive(Clone, Copy)]
enum OnlineKind {
    Logistic,
    Forest,
}

/// An online learner over the replay: it learns the first model's training rows in order,
/// then each replayed row's label when it arrives, and answers every row with what it knows
/// by then. Its inputs are the first model's.
fn online(
    models: &mut Models<'_>,
    replay: std::ops::Range<usize>,
    due: &dyn Fn(usize, usize) -> bool,
    kind: OnlineKind,
) -> Result<Vec<Option<Outcome>>> {
    use gyre_learn::online::{Encoder, Online, arf::Forest, logistic::Logistic};
    let first = &models.versions[0];
    let refs: Vec<&Values> = models.typed[first.inputs].1.iter().collect();
    let classes = &first.model.signature.classes;
    let base: Vec<usize> = (0..replay.start).collect();
    let encoder = Encoder::fit(&refs, &base);
    let mut learner = match kind {
        OnlineKind::Logistic => {
            Online::Logistic(Logistic::new(encoder.width(), classes.len(), 0.01, 0.0))
        }
        OnlineKind::Forest => Online::Forest(Forest::new(encoder.width(), classes.len(), 42)),
    };
    // The class of each row as an index into the first model's classes (None: unlabelled,
    // or a class it never saw).
    let class_of = |r: usize, models: &Models<'_>| match models.truth[r] {
        Some(Truth::Class(t)) => classes.iter().position(|c| c == models.classes.name(t)),
        _ => None,
    };
    let mut x = Vec::with_capacity(encoder.width());
    for &r in &base {
        if let Some(y) = class_of(r, models) {
            encoder.row(&refs, r, &mut x);
            learner.learn(&x, y);
        }
    }
    let positive = models
        .classes
        .positive()
        .and_then(|p| classes.iter().position(|c| c == models.classes.name(p)));
    let ids: Vec<u32> = classes.iter().map(|c| models.classes.ids_of(c)).collect();
    let mut out = Vec::with_capacity(replay.len());
    let mut next = replay.start;
    for i in replay {
        while next < i && due(next, i) {
            if let Some(y) = class_of(next, models) {
                encoder.row(&refs, next, &mut x);
                learner.learn(&x, y);
            }
            next += 1;
        }
        let Some(Truth::Class(truth)) = models.truth[i] else {
            out.push(None);
            continue;
        };
        encoder.row(&refs, i, &mut x);
        let p = learner.predict(&x);
        let best = (0..p.len()).fold(0, |b, k| if p[k] > p[b] { k } else { b });
        out.push(Some(Outcome::Class {
            truth,
            predicted: ids[best.min(ids.len() - 1)],
            score: positive.map_or(f64::NAN, |k| p[k]),
        }));
    }
    Ok(out)
}

/// A strategy's windows of `window` replayed rows, its overall figures and its mean.
fn series(
    outcomes: &[Option<Outcome>],
    window: usize,
    positive: Option<u32>,
    metric: &str,
) -> (Vec<WindowPoint>, Figures, f64) {
    let mut windows = Vec::new();
    for (k, chunk) in outcomes.chunks(window).enumerate() {
        // A last window under half full is noise, not a point.
        if chunk.len() * 2 < window {
            break;
        }
        let rows: Vec<Outcome> = chunk.iter().flatten().copied().collect();
        windows.push(WindowPoint {
            row: k * window + chunk.len(),
            figures: figures(&rows, positive),
        });
    }
    let all: Vec<Outcome> = outcomes.iter().flatten().copied().collect();
    let values: Vec<f64> = windows
        .iter()
        .filter_map(|w| w.figures.get(metric).copied())
        .collect();
    let mean = if values.is_empty() {
        f64::NAN
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    };
    (windows, figures(&all, positive), mean)
}

fn human_ms(ms: i64) -> String {
    let units = [
        (604_800_000, "w"),
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
    ];
    for (size, unit) in units {
        if ms >= size && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// The table in replay order, with each row's time.
fn order(
    opts: &BacktestOptions,
    spec: &ModelSpec,
    table: gyre_data::table::Table,
) -> Result<Stream> {
    let data = opts.data.clone();
    let target = table
        .names
        .iter()
        .position(|n| *n == spec.target)
        .ok_or_else(|| {
            OpsError::Invalid(format!(
                "{data}: the target column `{}` is not in the data; its columns: {}",
                spec.target,
                table.names.join(", ")
            ))
        })?;
    let regression = spec.task == gyre_core::model::Task::Regression;
    let n = table.rows;
    let (times, columns) = match &opts.time {
        None => (
            (0..n as i64).map(|i| i * opts.row_ms).collect::<Vec<_>>(),
            table.columns,
        ),
        Some(column) => {
            let c = table
                .names
                .iter()
                .position(|n| n == column)
                .ok_or_else(|| BacktestError::NoTimeColumn {
                    data: data.clone(),
                    column: column.clone(),
                    columns: table.names.join(", "),
                })?;
            let mut times = Vec::with_capacity(n);
            for (row, v) in table.columns[c].iter().enumerate() {
                let v = v.as_deref().unwrap_or("");
                times.push(parse_time(v).ok_or_else(|| BacktestError::BadTime {
                    data: data.clone(),
                    row: row + 1,
                    column: column.clone(),
                    value: v.to_string(),
                })?);
            }
            let mut index: Vec<usize> = (0..n).collect();
            index.sort_by_key(|&i| times[i]);
            let columns = table
                .columns
                .into_iter()
                .map(|col| index.iter().map(|&i| col[i].clone()).collect())
                .collect();
            (index.iter().map(|&i| times[i]).collect(), columns)
        }
    };
    Ok(Stream {
        data,
        names: table.names,
        columns,
        times,
        target,
        regression,
    })
}

/// A time in ms: RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]` (UTC), or seconds since 1970.
fn parse_time(v: &str) -> Option<i64> {
    let v = v.trim();
    if let Ok(s) = v.parse::<f64>() {
        return s.is_finite().then_some((s * 1000.0) as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Some(t.timestamp_millis());
    }
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, f) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_in_rows_or_time() {
        assert_eq!("48".parse::<Span>(), Ok(Span::Rows(48)));
        assert_eq!("1d".parse::<Span>(), Ok(Span::Ms(86_400_000)));
        assert_eq!("30m".parse::<Span>(), Ok(Span::Ms(1_800_000)));
        assert_eq!("1.5h".parse::<Span>(), Ok(Span::Ms(5_400_000)));
        assert!("soon".parse::<Span>().is_err());
        assert!("-1d".parse::<Span>().is_err());
        assert_eq!(human_ms(42 * 86_400_000), "6w");
    }

    #[test]
    fn times_in_several_forms() {
        assert_eq!(parse_time("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_time("1970-01-01 00:01"), Some(60_000));
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_time("2.5"), Some(2500));
        assert_eq!(parse_time("yesterday"), None);
    }
}
