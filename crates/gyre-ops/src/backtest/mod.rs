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

mod baselines;
mod driver;
mod external;
mod models;
mod record;
mod stream;
mod trainer;

use crate::progress::Progress;
use crate::targets::options_for;
use crate::{OpsError, Project, Result};
use gyre_core::ReadOptions;
use gyre_core::model::ModelSpec;
use gyre_core::monitor::{TriggerKind, TriggerSpec};
use gyre_loop::engine::{Action, Engine, Input, Labelled, Policy, Role};
use gyre_loop::outcome::{Figures, Outcome};
use models::Models;
use serde::Serialize;
use std::collections::VecDeque;
use stream::{Stream, order};
use trainer::Trainer;

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
    /// The run it is recorded as (named `backtest`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<gyre_core::RunId>,
}

/// Whether a monitor trigger runs on a breach of `rule`.
fn runs_on(triggers: &[TriggerSpec], rule: &str) -> bool {
    triggers.iter().any(|t| t.runs_on(rule))
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
        let mut report = crate::datasets::blocking_here(|| {
            this.replay(opts, &spec, monitor, &stream, started, progress)
        })?;
        report.run = Some(self.record_backtest(&report).await?);
        Ok(report)
    }

    /// The command the loop retrains a model trained elsewhere with: the one writing the
    /// file of the `register` step a monitor trigger runs.
    fn external_trainer(&self) -> Result<external::External> {
        let pipeline = self.pipeline(&[])?;
        self.spec
            .trigger
            .iter()
            .filter(|t| matches!(t.on, TriggerKind::Monitor | TriggerKind::Schedule))
            .find_map(|t| external::find(&self.root, &pipeline.steps, &t.run))
            .ok_or_else(|| {
                OpsError::Invalid(
                    "[model] is trained elsewhere, and no monitor or schedule trigger runs a \
                     `register` step whose `file` a command step writes: a replay has nothing \
                     to retrain with"
                        .into(),
                )
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
            external: match spec.algorithm.is_imported() {
                true => Some(self.external_trainer()?),
                false => None,
            },
        };
        let first = trainer.fit("the first model", std::slice::from_ref(&base))?;
        // The monitor's positive class, else the one the model cuts on.
        let positive = monitor.positive.as_deref().or(first
            .decision
            .map(|c| first.signature.classes[c.class as usize].as_str()));
        let mut models = Models::new(stream, positive, &first);
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
        let mut driver = driver::Driver {
            engine,
            champion: 1,
            challenger: None,
            marks: Vec::new(),
            retrains: 0,
            promotions: 0,
            rollbacks: 0,
            triggers,
            gate: self.spec.gate.as_ref(),
            replay_start: replay.start,
        };
        let mut served: Vec<Option<Outcome>> = Vec::with_capacity(replay.len());
        let mut waiting: VecDeque<(usize, i64, Role, Outcome, Option<Outcome>)> = VecDeque::new();
        let mut labelled_to = replay.start;
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
                models.learn(driver.champion, j)?;
                if let Some(c) = driver.challenger {
                    models.learn(c, j)?;
                }
                actions.extend(driver.engine.step(
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
            actions.extend(driver.engine.step(Input::Tick, now));
            let mut scheduled = None;
            for (cron, tz, next) in crons.iter_mut() {
                if now >= *next {
                    scheduled = Some(format!("schedule `{cron}` was due"));
                    *next = crate::triggers::next_cron(cron, tz, now)?;
                }
            }
            if let Some(cause) = scheduled
                && driver.challenger.is_none()
                && !driver.engine.retraining()
            {
                actions.push(Action::Retrain {
                    rule: String::new(),
                    reason: cause,
                    since_seq: None,
                    labels: 0,
                    positives: 0,
                });
            }
            driver.apply(actions, row, now, labelled_to, &trainer, &mut models)?;
            // The request: the server's low-discrepancy canary split.
            let canary = driver.challenger.is_some()
                && (((i - replay.start) as f64) * 0.618_033_988_749_894_9).fract() < share;
            let champ = models.live_outcome(driver.champion, i)?;
            let cand = match driver.challenger {
                Some(c) => models.live_outcome(c, i)?,
                None => None,
            };
            let (version, role, outcome, other) = match (canary, driver.challenger) {
                (true, Some(c)) => (c, Role::Challenger, cand, champ),
                _ => (driver.champion, Role::Champion, champ, cand),
            };
            served.push(outcome);
            if let Some(o) = outcome {
                waiting.push_back((i, version, role, o, other));
            }
        }
        progress.finish();

        // Each strategy's windows, overall figures and mean, with its moves.
        let scored = |name: String, outcomes: &[Option<Outcome>], moves: [usize; 3]| {
            let (windows, overall, mean) = baselines::series(outcomes, window, positive, &metric);
            Strategy {
                name,
                windows,
                overall,
                mean,
                retrains: moves[0],
                promotions: moves[1],
                rollbacks: moves[2],
            }
        };
        let moves = [driver.retrains, driver.promotions, driver.rollbacks];
        let mut strategies = vec![scored("gyre loop".into(), &served, moves)];
        let never = baselines::never(&mut models, replay.clone())?;
        strategies.push(scored("never retrained".into(), &never, [0; 3]));
        // A fixed schedule, on the same training data.
        let (fixed, retrains) =
            baselines::fixed_schedule(&trainer, &mut models, replay.clone(), &due, schedule)?;
        let name = match schedule {
            Span::Rows(r) => format!("retrained every {r} rows"),
            Span::Ms(ms) => format!("retrained every {}", human_ms(ms)),
        };
        strategies.push(scored(name, &fixed, [retrains, retrains, 0]));
        // gyre's online learners, learning each label as it arrives.
        if stream.regression {
            notes.push("the online learners classify; a regression target has none yet".into());
        } else {
            for (name, kind) in [
                (
                    "online logistic regression",
                    baselines::OnlineKind::Logistic,
                ),
                ("adaptive random forest", baselines::OnlineKind::Forest),
                (
                    "hoeffding adaptive tree",
                    baselines::OnlineKind::AdaptiveTree,
                ),
            ] {
                let outcomes = baselines::online(&mut models, replay.clone(), &due, kind)?;
                strategies.push(scored(name.into(), &outcomes, [0; 3]));
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
            marks: driver.marks,
            notes,
            run: None,
        })
    }
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
}
