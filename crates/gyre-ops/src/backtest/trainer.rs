//! How a candidate is trained in a replay: the `[model]` spec (or the project's own training
//! command, for a model trained elsewhere) on the labelled rows so far, on the window
//! `[loop] retrain.data` names.

use super::BacktestError;
use super::models::Models;
use super::stream::Stream;
use crate::Result;
use gyre_core::model::ModelSpec;
use gyre_core::monitor::RetrainData;
use gyre_learn::model::Model;

/// How candidates are trained: the spec, the first model's rows, and the recipe.
pub(super) struct Trainer<'a> {
    pub(super) spec: &'a ModelSpec,
    pub(super) stream: &'a Stream,
    pub(super) base: std::ops::Range<usize>,
    pub(super) data: RetrainData,
    pub(super) recent: usize,
    pub(super) metric: String,
    pub(super) positive: Option<u32>,
    /// The loop retrains with a command of the project's (a model trained elsewhere).
    pub(super) external: Option<super::external::External>,
}

impl Trainer<'_> {
    pub(super) fn fit(&self, what: &str, rows: &[std::ops::Range<usize>]) -> Result<Model> {
        if let Some(x) = &self.external {
            return x.fit(what, self.stream, rows);
        }
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
    pub(super) fn candidate(
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
