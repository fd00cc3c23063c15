//! The replay's models: each version's predictions on the stream, scored in cached blocks over
//! inputs typed once per signature, and the live copy of an online version that learns.

use super::BacktestError;
use super::stream::Stream;
use crate::{OpsError, Result};
use gyre_learn::model::{Model, typed};
use gyre_learn::transform::Values;
use gyre_loop::outcome::{Classes, Figures, Outcome};
use std::collections::HashMap;

/// A model of the replay, its typed inputs shared with every model of the same signature.
pub(super) struct Version {
    /// The model as registered: what the baselines and the trials score with.
    pub(super) model: Model,
    /// An online model as it serves in the loop, learning every label that arrives.
    live: Option<Model>,
    /// Keeps the live model's tuned cutoff current.
    retuner: gyre_learn::online::Retuner,
    test: Figures,
    pub(super) inputs: usize,
    /// Outcomes by block of rows, computed when first needed.
    blocks: HashMap<usize, Vec<Option<Outcome>>>,
}

const BLOCK: usize = 512;

/// A signature's inputs: names and kinds.
type InputKey = Vec<(String, gyre_learn::model::ColumnKind)>;

/// The replay's models and what they need to score rows.
pub(super) struct Models<'a> {
    stream: &'a Stream,
    pub(super) classes: Classes,
    pub(super) truth: Vec<Option<Truth>>,
    /// Typed input columns, by signature.
    pub(super) typed: Vec<(InputKey, Vec<Values>)>,
    pub(super) versions: Vec<Version>,
}

#[derive(Clone, Copy)]
pub(super) enum Truth {
    Class(u32),
    Value(f64),
}

impl<'a> Models<'a> {
    pub(super) fn new(stream: &'a Stream, positive: Option<&str>, first: &Model) -> Models<'a> {
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
    pub(super) fn add(&mut self, model: Model) -> Result<i64> {
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
            retuner: Default::default(),
            model,
            test,
            inputs,
            blocks: HashMap::new(),
        });
        Ok(self.versions.len() as i64)
    }

    pub(super) fn test(&self, version: i64) -> Figures {
        self.versions[version as usize - 1].test.clone()
    }

    /// The outcome of `version` as it serves now: an online version answers with what it
    /// has learnt so far.
    pub(super) fn live_outcome(&mut self, version: i64, row: usize) -> Result<Option<Outcome>> {
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
    pub(super) fn learn(&mut self, version: i64, row: usize) -> Result<()> {
        let Some(Truth::Class(t)) = self.truth[row] else {
            return Ok(());
        };
        let label = self.classes.name(t).to_string();
        let v = &mut self.versions[version as usize - 1];
        let Some(live) = &mut v.live else {
            return Ok(());
        };
        let refs: Vec<&Values> = self.typed[v.inputs].1.iter().collect();
        v.retuner
            .learn(live, &refs, row, &label)
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
    pub(super) fn outcome(&mut self, version: i64, row: usize) -> Result<Option<Outcome>> {
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
