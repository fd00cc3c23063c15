//! The loop's actions applied in a replay: marks on the timeline, candidates trained and held
//! to `[gate]`, alias moves as changes of which version answers.

use super::models::Models;
use super::trainer::Trainer;
use super::{Mark, gate_failures, runs_on};
use crate::Result;
use gyre_core::gate::GateSpec;
use gyre_core::monitor::TriggerSpec;
use gyre_loop::engine::{Action, Engine, Input};
use gyre_loop::outcome::Figures;
use std::collections::VecDeque;

pub(super) struct Driver<'t> {
    pub(super) engine: Engine,
    pub(super) champion: i64,
    pub(super) challenger: Option<i64>,
    pub(super) marks: Vec<Mark>,
    pub(super) retrains: usize,
    pub(super) promotions: usize,
    pub(super) rollbacks: usize,
    pub(super) triggers: &'t [TriggerSpec],
    pub(super) gate: Option<&'t GateSpec>,
    pub(super) replay_start: usize,
}

impl Driver<'_> {
    /// Applies `actions`, and those they lead to, at replayed `row` and time `now`, with the
    /// rows before `labelled_to` labelled.
    pub(super) fn apply(
        &mut self,
        actions: Vec<Action>,
        row: usize,
        now: i64,
        labelled_to: usize,
        trainer: &Trainer<'_>,
        models: &mut Models<'_>,
    ) -> Result<()> {
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
                } => self.marks.push(Mark {
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
                } => self.marks.push(Mark {
                    row,
                    kind: "recover".into(),
                    detail: format!("v{version}: {rule} = {value:.3}"),
                }),
                Action::Change {
                    version, since_seq, ..
                } => self.marks.push(Mark {
                    row,
                    kind: "change".into(),
                    detail: format!(
                        "v{version}: the error rate changed, from about row {}",
                        (since_seq as usize).saturating_sub(self.replay_start) + 1
                    ),
                }),
                Action::Retrain {
                    rule,
                    reason,
                    since_seq,
                    ..
                } => {
                    let fire = rule.is_empty() || runs_on(self.triggers, &rule);
                    if !fire {
                        queue.extend(self.engine.step(
                            Input::Rejected {
                                reason: format!("no trigger runs on `{rule}`"),
                            },
                            now,
                        ));
                        continue;
                    }
                    self.retrains += 1;
                    let (model, rows) =
                        trainer.candidate(models, labelled_to, since_seq.map(|s| s as usize))?;
                    let test: Figures = model.metrics.iter().cloned().collect();
                    let failures = gate_failures(self.gate, &test);
                    let version = models.add(model)?;
                    if failures.is_empty() {
                        self.challenger = Some(version);
                        self.marks.push(Mark {
                            row,
                            kind: "retrain".into(),
                            detail: format!("v{version} on {rows} ({reason}); canary"),
                        });
                        queue.extend(self.engine.step(Input::Candidate { version, test }, now));
                    } else {
                        self.marks.push(Mark {
                            row,
                            kind: "retrain".into(),
                            detail: format!(
                                "v{version} on {rows} ({reason}); the gate refused it: {}",
                                failures.join(", ")
                            ),
                        });
                        queue.extend(self.engine.step(
                            Input::Rejected {
                                reason: failures.join(", "),
                            },
                            now,
                        ));
                    }
                }
                Action::Promote {
                    version, verdict, ..
                } => {
                    self.promotions += 1;
                    self.champion = version;
                    self.challenger = None;
                    self.marks.push(Mark {
                        row,
                        kind: "promote".into(),
                        detail: format!("v{version} {}", verdict.summary()),
                    });
                }
                Action::Rollback {
                    version, verdict, ..
                } => {
                    self.rollbacks += 1;
                    self.challenger = None;
                    self.marks.push(Mark {
                        row,
                        kind: "rollback".into(),
                        detail: format!("v{version} {}", verdict.summary()),
                    });
                }
            }
        }
        Ok(())
    }
}
