//! Training from a spec: a table in, a model and its evaluation out. Pure: the caller reads
//! the data and stores the result.

use crate::learner::{self, Data, Predictor};
use crate::metrics::{self, Classification, Probabilities, Regression};
use crate::model::Cutoff;
use crate::model::{ColumnKind, InputColumn, Lineage, Model, Predictions, Signature};
use crate::split::split;
use crate::transform::{self, Pipeline, Values};
use crate::trees::Target;
use gyre_core::Algorithm;
use gyre_core::model::{ModelSpec, Split, Task, Threshold, TuneThreshold};
use serde::Serialize;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct TrainError(pub String);

fn err<T>(m: impl Into<String>) -> Result<T, TrainError> {
    Err(TrainError(m.into()))
}

/// Metrics of one set of rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Evaluation {
    Classification(Classification),
    Regression(Regression),
}

impl Evaluation {
    /// Flat `name → value` pairs, for runs and the model file.
    pub fn flat(&self) -> Vec<(String, f64)> {
        match self {
            Evaluation::Classification(c) => {
                let mut v = vec![("accuracy".to_string(), c.accuracy)];
                if let Some((_, p)) = &c.binary {
                    v.extend([
                        ("precision".to_string(), p.precision),
                        ("recall".to_string(), p.recall),
                        ("f1".to_string(), p.f1),
                    ]);
                }
                v.extend([
                    ("f1_macro".to_string(), c.macro_avg.f1),
                    ("f1_weighted".to_string(), c.weighted_avg.f1),
                    ("precision_macro".to_string(), c.macro_avg.precision),
                    ("recall_macro".to_string(), c.macro_avg.recall),
                ]);
                if let Some(a) = c.roc_auc {
                    v.push(("roc_auc".to_string(), a));
                }
                if let Some(l) = c.log_loss {
                    v.push(("log_loss".to_string(), l));
                }
                v
            }
            Evaluation::Regression(r) => vec![
                ("rmse".to_string(), r.rmse),
                ("mae".to_string(), r.mae),
                ("r2".to_string(), r.r2),
                ("mape".to_string(), r.mape),
            ],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SliceEvaluation {
    pub name: String,
    pub condition: String,
    pub rows: usize,
    /// None when the slice has no test rows.
    pub metrics: Option<Evaluation>,
}

/// What training reports besides the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub train_rows: usize,
    pub test_rows: usize,
    /// Rows left out because their target was missing.
    pub unlabelled_rows: usize,
    pub features: usize,
    pub test: Evaluation,
    pub slices: Vec<SliceEvaluation>,
    pub importance: Vec<(String, f64)>,
    /// Boosting: iterations kept (after early stopping).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iterations: Option<usize>,
}

pub struct Trained {
    pub model: Model,
    pub report: Report,
}

/// The columns a spec uses, in order: the features, then the target.
fn features_of(spec: &ModelSpec, names: &[String]) -> Result<Vec<String>, TrainError> {
    let known = |c: &String| names.contains(c);
    if !known(&spec.target) {
        return err(format!(
            "the target column `{}` is not in the data; its columns: {}",
            spec.target,
            names.join(", ")
        ));
    }
    for c in spec.drop.iter().chain(spec.features.iter().flatten()) {
        if !known(c) {
            return err(format!(
                "column `{c}` is not in the data; its columns: {}",
                names.join(", ")
            ));
        }
    }
    Ok(match &spec.features {
        Some(f) => f.clone(),
        None => names
            .iter()
            .filter(|c| **c != spec.target && !spec.drop.contains(c))
            .cloned()
            .collect(),
    })
}

/// Types a training column: numbers when every present value is one (unless the spec asks
/// for one-hot encoding), text otherwise.
fn infer(name: &str, spec: &ModelSpec, raw: Vec<Option<String>>) -> Values {
    let one_hot = spec.transforms.get(name).and_then(|t| t.one_hot) == Some(true);
    if !one_hot && let Some(n) = numbers(&raw) {
        return Values::Numeric(n);
    }
    Values::Text(raw)
}

/// Numbers when every present value parses.
fn numbers(v: &[Option<String>]) -> Option<Vec<Option<f64>>> {
    v.iter()
        .map(|v| match v {
            None => Some(None),
            Some(s) => s.trim().parse::<f64>().ok().map(Some),
        })
        .collect()
}

/// Which rows the model is evaluated on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Holdout {
    /// The spec's test split.
    Test,
    /// A share of the training rows (tuning): the test rows are not touched. The last share
    /// for an order split, a seeded random share otherwise.
    Validation(f64),
}

/// Trains the spec on a table (`names` and text `columns`, as read), evaluated on the test
/// split.
pub fn train(
    spec: &ModelSpec,
    names: &[String],
    columns: Vec<Vec<Option<String>>>,
    lineage: Lineage,
) -> Result<Trained, TrainError> {
    train_with(spec, names, columns, lineage, Holdout::Test)
}

/// [`train`], evaluated on the rows `holdout` names.
pub fn train_with(
    spec: &ModelSpec,
    names: &[String],
    mut columns: Vec<Vec<Option<String>>>,
    lineage: Lineage,
    holdout: Holdout,
) -> Result<Trained, TrainError> {
    spec.check().map_err(TrainError)?;
    let features = features_of(spec, names)?;
    let col = |n: &str| names.iter().position(|c| c == n).expect("checked");
    let target_raw = std::mem::take(&mut columns[col(&spec.target)]);
    // Slices need their columns as read, so typed copies are kept apart.
    let slices: Vec<(String, String, Slice)> = spec
        .slices
        .iter()
        .map(|(name, cond)| {
            Slice::parse(cond)
                .map(|s| (name.clone(), cond.clone(), s))
                .map_err(|e| TrainError(format!("slice `{name}`: {e}")))
        })
        .collect::<Result<_, _>>()?;
    for (name, _, s) in &slices {
        for c in s.columns() {
            if !names.iter().any(|n| n == c) {
                return err(format!("slice `{name}`: no column `{c}`"));
            }
        }
    }
    let labelled: Vec<usize> = (0..target_raw.len())
        .filter(|&i| target_raw[i].is_some())
        .collect();
    let unlabelled = target_raw.len() - labelled.len();
    if labelled.len() < 2 {
        return err(format!(
            "`{}` has {} labelled rows; training needs at least 2",
            spec.target,
            labelled.len()
        ));
    }
    let (tr, te) = split(labelled.len(), &spec.split, spec.seed);
    let mut train_rows: Vec<usize> = tr.iter().map(|&i| labelled[i]).collect();
    let mut test_rows: Vec<usize> = te.iter().map(|&i| labelled[i]).collect();
    if let Holdout::Validation(share) = holdout {
        if !(share > 0.0 && share < 1.0) {
            return err(format!("validation share {share} must be between 0 and 1"));
        }
        let how = match spec.split {
            Split::Order { .. } => Split::Order { test: share },
            _ => Split::Random {
                test: share,
                seed: Some(spec.seed ^ 0x7E57),
            },
        };
        let (fit, val) = split(train_rows.len(), &how, spec.seed);
        test_rows = val.iter().map(|&i| train_rows[i]).collect();
        train_rows = fit.iter().map(|&i| train_rows[i]).collect();
    }
    if train_rows.is_empty() || test_rows.is_empty() {
        return err(format!(
            "the split leaves {} training and {} test rows; both need some",
            train_rows.len(),
            test_rows.len()
        ));
    }

    let slice_values: Vec<(String, Values)> = {
        let mut needed: Vec<&str> = slices.iter().flat_map(|(_, _, s)| s.columns()).collect();
        needed.sort();
        needed.dedup();
        needed
            .into_iter()
            .map(|c| {
                let raw = if c == spec.target {
                    target_raw.clone()
                } else {
                    columns[col(c)].clone()
                };
                (c.to_string(), infer(c, spec, raw))
            })
            .collect()
    };
    let inputs: Vec<Values> = features
        .iter()
        .map(|f| infer(f, spec, std::mem::take(&mut columns[col(f)])))
        .collect();
    let regression = spec.task == Task::Regression;
    let classes: Vec<String> = if regression {
        Vec::new()
    } else {
        classes_of(spec, &labelled, &target_raw)?
    };
    let positive = positive_of(spec, &classes)?;
    if spec.recency.is_some()
        && matches!(
            spec.algorithm,
            Algorithm::LinearRegression
                | Algorithm::Ridge
                | Algorithm::OnlineLogisticRegression
                | Algorithm::AdaptiveRandomForest
                | Algorithm::HoeffdingAdaptiveTree
        )
    {
        return err(format!(
            "recency weights apply to logistic_regression and the tree learners, not {:?}",
            spec.algorithm
        ));
    }
    let last_row = labelled.last().copied().unwrap_or(0);
    let fit = Fit {
        spec,
        features: &features,
        inputs: &inputs,
        target: &target_raw,
        classes: &classes,
        last_row,
    };
    let (pipeline, fitted) = fit.rows(&train_rows)?;
    let refs: Vec<&Values> = inputs.iter().collect();
    let names_out = pipeline.feature_names();
    let width = names_out.len();
    let iterations = match &fitted {
        learner::Learner::Boosted(b) => Some(b.iterations()),
        _ => None,
    };
    let importance = fitted
        .importance()
        .map(|imp| crate::model::column_importance(&pipeline, &imp))
        .unwrap_or_default();

    let signature = Signature {
        inputs: features
            .iter()
            .zip(&inputs)
            .map(|(f, v)| InputColumn {
                name: f.clone(),
                kind: match v {
                    Values::Numeric(_) => ColumnKind::Number,
                    Values::Text(_) => ColumnKind::Text,
                },
            })
            .collect(),
        target: spec.target.clone(),
        classes: classes.clone(),
    };
    let mut model = Model {
        algorithm: spec.algorithm,
        signature,
        features: names_out,
        pipeline,
        learner: fitted,
        lineage,
        metrics: Vec::new(),
        importance: importance.clone(),
        // Kept when the spec names the positive class or a threshold, so that serving,
        // the gate and monitoring agree on both.
        decision: match (spec.threshold, positive) {
            (Some(Threshold::Fixed(at)), Some(class)) => Some(Cutoff {
                class,
                at,
                tuned: false,
            }),
            (_, Some(class)) if spec.threshold.is_some() || spec.positive.is_some() => {
                Some(Cutoff {
                    class,
                    at: 0.5,
                    tuned: false,
                })
            }
            _ => None,
        },
    };

    // Evaluation on the test rows, then on each slice of them.
    let mut pred = model
        .predict(&refs, &test_rows)
        .map_err(|e| TrainError(e.to_string()))?;
    if let (Some(Threshold::Tuned(TuneThreshold::F1)), Some(class)) = (spec.threshold, positive) {
        let positives: Vec<(f64, bool)> = test_rows
            .iter()
            .enumerate()
            .map(|(i, &r)| {
                (
                    pred.row(i)[class as usize],
                    target_raw[r].as_deref() == Some(classes[class as usize].as_str()),
                )
            })
            .collect();
        let cutoff = Cutoff {
            class,
            at: best_f1_cutoff(positives),
            tuned: true,
        };
        model.decision = Some(cutoff);
        pred.cutoff = Some(cutoff);
    }
    let positive_name = positive.map(|c| classes[c as usize].as_str());
    let evaluate =
        |rows: &[usize], pick: &dyn Fn(usize) -> bool| -> Result<Option<Evaluation>, TrainError> {
            let keep: Vec<usize> = (0..rows.len()).filter(|&i| pick(i)).collect();
            if keep.is_empty() {
                return Ok(None);
            }
            evaluation(&model, &pred, &keep, rows, &target_raw, positive_name).map(Some)
        };
    let test = evaluate(&test_rows, &|_| true)?.expect("test rows exist");
    let mut slice_reports = Vec::new();
    for (name, cond, s) in &slices {
        let lookup = |c: &str| {
            &slice_values
                .iter()
                .find(|(n, _)| n == c)
                .expect("collected")
                .1
        };
        let picked = |i: usize| s.matches(test_rows[i], &lookup);
        let rows = (0..test_rows.len()).filter(|&i| picked(i)).count();
        slice_reports.push(SliceEvaluation {
            name: name.clone(),
            condition: cond.clone(),
            rows,
            metrics: evaluate(&test_rows, &picked)?,
        });
    }
    // `metrics` in the spec narrows what is reported.
    let all = test.flat();
    for m in &spec.metrics {
        if !all.iter().any(|(k, _)| k == m) {
            return err(format!(
                "metrics: `{m}` is not reported for this task; choose from {}",
                all.iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let wanted = |k: &str| spec.metrics.is_empty() || spec.metrics.iter().any(|m| m == k);
    model.metrics = all.into_iter().filter(|(k, _)| wanted(k)).collect();
    for s in &slice_reports {
        if let Some(m) = &s.metrics {
            for (k, v) in m.flat() {
                if wanted(&k) {
                    model.metrics.push((format!("{}.{k}", s.name), v));
                }
            }
        }
    }
    if spec.refit {
        let mut every: Vec<usize> = train_rows.iter().chain(&test_rows).copied().collect();
        every.sort_unstable();
        let (pipeline, learner) = fit.rows(&every)?;
        model.features = pipeline.feature_names();
        model.importance = learner
            .importance()
            .map(|imp| crate::model::column_importance(&pipeline, &imp))
            .unwrap_or_default();
        model.pipeline = pipeline;
        model.learner = learner;
    }
    Ok(Trained {
        report: Report {
            train_rows: train_rows.len(),
            test_rows: test_rows.len(),
            unlabelled_rows: unlabelled,
            features: width,
            test,
            slices: slice_reports,
            importance,
            iterations,
        },
        model,
    })
}

/// The sorted classes of a classification target, checked against the task.
fn classes_of(
    spec: &ModelSpec,
    labelled: &[usize],
    target: &[Option<String>],
) -> Result<Vec<String>, TrainError> {
    let mut classes: Vec<String> = labelled.iter().filter_map(|&r| target[r].clone()).collect();
    classes.sort();
    classes.dedup();
    match (spec.task, classes.len()) {
        (_, n) if n < 2 => err(format!(
            "`{}` has one class ({}); classification needs two or more",
            spec.target,
            classes.join(", ")
        )),
        (Task::Binary, n) if n != 2 => err(format!(
            "task is binary but `{}` has {n} classes: {}",
            spec.target,
            classes
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )),
        (Task::Multiclass, 2) => err(format!(
            "task is multiclass but `{}` has two classes; use task = \"binary\"",
            spec.target
        )),
        _ => Ok(classes),
    }
}

/// The index of the positive class of a two-class target: `positive` when the spec names
/// it, else the second of the two. None for more classes (an error when the task is not
/// `classification`, which may be either, and the spec asks for a threshold or a positive).
fn positive_of(spec: &ModelSpec, classes: &[String]) -> Result<Option<u32>, TrainError> {
    if classes.len() != 2 {
        // `task = "classification"` is either; there the two-class knobs wait for two.
        if spec.task != Task::Classification
            && (spec.threshold.is_some() || spec.positive.is_some())
        {
            return err(format!(
                "threshold and positive apply to two classes; `{}` has {}",
                spec.target,
                classes.len()
            ));
        }
        return Ok(None);
    }
    match &spec.positive {
        None => Ok(Some(1)),
        Some(p) => match classes.iter().position(|c| c == p) {
            Some(i) => Ok(Some(i as u32)),
            None => err(format!(
                "positive = `{p}` is not a class of `{}`: {}",
                spec.target,
                classes.join(", ")
            )),
        },
    }
}

/// The probability cutoff with the highest F1 of the positive class over `(probability of
/// the positive class, whether the row is positive)`: each distinct probability is a
/// candidate, swept from the top in one pass. Ties in F1 keep the cutoff nearest 0.5, so a
/// flat stretch does not move the threshold. No rows or no positives: 0.5.
pub fn best_f1_cutoff(mut rows: Vec<(f64, bool)>) -> f64 {
    rows.retain(|(p, _)| p.is_finite());
    let positives = rows.iter().filter(|(_, y)| *y).count() as f64;
    if rows.is_empty() || positives == 0.0 {
        return 0.5;
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut best, mut best_f1): (f64, f64) = (0.5, -1.0);
    let mut tp = 0.0;
    let mut predicted = 0.0;
    let mut i = 0;
    while i < rows.len() {
        // Every row at this probability turns positive together.
        let p = rows[i].0;
        while i < rows.len() && rows[i].0 == p {
            predicted += 1.0;
            if rows[i].1 {
                tp += 1.0;
            }
            i += 1;
        }
        let f1 = 2.0 * tp / (predicted + positives);
        let closer = (p - 0.5).abs() < (best - 0.5).abs();
        if f1 > best_f1 + 1e-12 || ((f1 - best_f1).abs() <= 1e-12 && closer) {
            best_f1 = f1;
            best = p;
        }
    }
    best
}

/// What one fit needs: the spec, the typed inputs and the target. [`Fit::rows`] fits the
/// transforms and the learner on a set of rows, so a refit repeats exactly the first fit.
struct Fit<'a> {
    spec: &'a ModelSpec,
    features: &'a [String],
    inputs: &'a [Values],
    target: &'a [Option<String>],
    classes: &'a [String],
    /// The last labelled row: recency weights count back from it.
    last_row: usize,
}

impl Fit<'_> {
    fn rows(&self, rows: &[usize]) -> Result<(Pipeline, learner::Learner), TrainError> {
        let spec = self.spec;
        let fitted = self
            .features
            .iter()
            .zip(self.inputs)
            .map(|(f, v)| {
                transform::fit(
                    f,
                    v,
                    rows,
                    &spec.transforms.get(f).cloned().unwrap_or_default(),
                )
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TrainError(e.to_string()))?;
        let pipeline = Pipeline { columns: fitted };
        let refs: Vec<&Values> = self.inputs.iter().collect();
        let width = pipeline.feature_names().len();
        let x = pipeline
            .transform(&refs, rows)
            .map_err(|e| TrainError(e.to_string()))?;
        let regression = self.classes.is_empty();
        let mut ynum = Vec::new();
        let mut yidx = Vec::new();
        for &r in rows {
            let s = self.target[r].as_deref().unwrap_or_default();
            if regression {
                match s.trim().parse::<f64>() {
                    Ok(y) if y.is_finite() => ynum.push(y),
                    _ => {
                        return err(format!(
                            "regression target `{}`: row {} holds `{s}`, not a number",
                            spec.target,
                            r + 1
                        ));
                    }
                }
            } else {
                let class = self
                    .classes
                    .binary_search_by(|c| c.as_str().cmp(s))
                    .map_err(|_| TrainError(format!("row {}: unknown class `{s}`", r + 1)))?;
                yidx.push(class as u32);
            }
        }
        let mut weights = match (&spec.class_weight, regression) {
            (Some(_), true) => return err("class_weight applies to classification only"),
            (Some(_), false) => Some(learner::balanced_weights(&yidx, self.classes.len())),
            (None, _) => None,
        };
        if let Some(recency) = &spec.recency {
            let w = weights.get_or_insert_with(|| vec![1.0; rows.len()]);
            for (w, &r) in w.iter_mut().zip(rows) {
                let age = self.last_row.saturating_sub(r) as f64;
                *w *= 0.5f64.powf(age / recency.half_life);
            }
        }
        let data = Data {
            x: &x,
            rows: rows.len(),
            cols: width,
            target: if regression {
                Target::Values(&ynum)
            } else {
                Target::Classes {
                    y: &yidx,
                    k: self.classes.len(),
                }
            },
            classes: self.classes,
            weights: weights.as_deref(),
        };
        let learner = learner::fit(spec.algorithm, &spec.params, &data, spec.seed)
            .map_err(|e| TrainError(format!("{:?}: {}", spec.algorithm, e.0)))?;
        Ok((pipeline, learner))
    }
}

/// Scores a model on a whole table (every labelled row): the model's own signature types
/// the columns, so a column it was trained on as numbers must hold numbers.
pub fn evaluate(
    model: &Model,
    names: &[String],
    mut columns: Vec<Vec<Option<String>>>,
) -> Result<Evaluation, TrainError> {
    let find = |c: &str| {
        names.iter().position(|n| n == c).ok_or_else(|| {
            TrainError(format!(
                "column `{c}` is not in the data; its columns: {}",
                names.join(", ")
            ))
        })
    };
    let t = find(&model.signature.target)?;
    let target = std::mem::take(&mut columns[t]);
    let mut inputs = Vec::new();
    for c in &model.signature.inputs {
        let i = find(&c.name)?;
        inputs.push(
            crate::model::typed(c.kind, std::mem::take(&mut columns[i])).map_err(|(row, v)| {
                TrainError(format!(
                    "data row {} column `{}`: `{v}` is not a number",
                    row + 1,
                    c.name
                ))
            })?,
        );
    }
    let rows: Vec<usize> = (0..target.len()).filter(|&r| target[r].is_some()).collect();
    if rows.is_empty() {
        return err(format!("`{}` has no labelled rows", model.signature.target));
    }
    let refs: Vec<&Values> = inputs.iter().collect();
    let pred = model
        .predict(&refs, &rows)
        .map_err(|e| TrainError(e.to_string()))?;
    let keep: Vec<usize> = (0..rows.len()).collect();
    let positive = model
        .decision
        .map(|c| model.signature.classes[c.class as usize].as_str());
    evaluation(model, &pred, &keep, &rows, &target, positive)
}

/// Metrics over `keep` (indices into `rows` and into `pred`).
fn evaluation(
    model: &Model,
    pred: &Predictions,
    keep: &[usize],
    rows: &[usize],
    target: &[Option<String>],
    positive: Option<&str>,
) -> Result<Evaluation, TrainError> {
    let classes = &model.signature.classes;
    let m = |e: metrics::MetricError| TrainError(e.to_string());
    if classes.is_empty() {
        let truth: Vec<f64> = keep
            .iter()
            .map(|&i| {
                target[rows[i]]
                    .as_deref()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(f64::NAN)
            })
            .collect();
        let p: Vec<f64> = keep.iter().map(|&i| pred.row(i)[0]).collect();
        return metrics::regression(&truth, &p)
            .map(Evaluation::Regression)
            .map_err(m);
    }
    let truth: Vec<&str> = keep
        .iter()
        .map(|&i| target[rows[i]].as_deref().unwrap_or_default())
        .collect();
    let labels: Vec<&str> = keep
        .iter()
        .map(|&i| classes[pred.class_of(i)].as_str())
        .collect();
    let probs: Vec<Vec<f64>> = keep.iter().map(|&i| pred.row(i).to_vec()).collect();
    // A test label never seen in training has no probability column: no AUC or log loss.
    let known = truth
        .iter()
        .all(|t| classes.binary_search_by(|c| c.as_str().cmp(t)).is_ok());
    let p = Probabilities {
        classes,
        rows: &probs,
    };
    metrics::classification(&truth, &labels, known.then_some(&p), positive)
        .map(Evaluation::Classification)
        .map_err(m)
}

/// A slice condition: comparisons joined by `and`.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice(Vec<(String, Cmp, Literal)>);

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Number(f64),
    Text(String),
}

impl Slice {
    /// Parses `col OP value [and col OP value]…`; a value is a number or a quoted string.
    pub fn parse(s: &str) -> Result<Slice, String> {
        let mut out = Vec::new();
        for part in split_and(s) {
            let part = part.trim();
            let ops = [
                ("<=", Cmp::Le),
                (">=", Cmp::Ge),
                ("!=", Cmp::Ne),
                ("=", Cmp::Eq),
                ("<", Cmp::Lt),
                (">", Cmp::Gt),
            ];
            let Some((at, (tok, op))) = ops
                .iter()
                .filter_map(|(t, o)| part.find(t).map(|i| (i, (*t, *o))))
                .min_by_key(|(i, (t, _))| (*i, std::cmp::Reverse(t.len())))
            else {
                return Err(format!(
                    "`{part}`: expected COLUMN OP VALUE (=, !=, <, <=, >, >=)"
                ));
            };
            let column = part[..at].trim();
            let raw = part[at + tok.len()..].trim();
            if column.is_empty() || raw.is_empty() {
                return Err(format!("`{part}`: expected COLUMN OP VALUE"));
            }
            let value = if let Some(q) = raw
                .strip_prefix('\'')
                .and_then(|r| r.strip_suffix('\''))
                .or_else(|| raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')))
            {
                Literal::Text(q.to_string())
            } else if let Ok(n) = raw.parse::<f64>() {
                Literal::Number(n)
            } else {
                return Err(format!("`{raw}`: quote text ('…') or give a number"));
            };
            out.push((column.to_string(), op, value));
        }
        Ok(Slice(out))
    }

    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(c, _, _)| c.as_str())
    }

    /// Whether `row` satisfies every comparison; a null never does.
    pub fn matches<'a>(&self, row: usize, column: &dyn Fn(&str) -> &'a Values) -> bool {
        self.0.iter().all(|(c, op, lit)| {
            let ord = match (column(c), lit) {
                (Values::Numeric(v), Literal::Number(n)) => v[row].and_then(|x| x.partial_cmp(n)),
                (Values::Text(v), Literal::Text(t)) => v[row].as_deref().map(|x| x.cmp(t)),
                (Values::Numeric(v), Literal::Text(t)) => {
                    v[row].map(|x| format!("{x}").as_str().cmp(t.as_str()))
                }
                (Values::Text(v), Literal::Number(n)) => v[row]
                    .as_deref()
                    .and_then(|x| x.trim().parse::<f64>().ok())
                    .and_then(|x| x.partial_cmp(n)),
            };
            let Some(o) = ord else { return false };
            use std::cmp::Ordering::*;
            match op {
                Cmp::Eq => o == Equal,
                Cmp::Ne => o != Equal,
                Cmp::Lt => o == Less,
                Cmp::Le => o != Greater,
                Cmp::Gt => o == Greater,
                Cmp::Ge => o != Less,
            }
        })
    }
}

/// Splits on ` and ` outside quotes.
fn split_and(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut quote, mut start) = (None, 0);
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match (quote, b[i]) {
            (None, q @ (b'\'' | b'"')) => quote = Some(q),
            (Some(q), c) if c == q => quote = None,
            (None, _) if s[i..].to_ascii_lowercase().starts_with(" and ") => {
                parts.push(&s[start..i]);
                i += 5;
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_parse_and_match() {
        let s = Slice::parse("sex = 'Female' and age >= 40").unwrap();
        let sex = Values::Text(vec![Some("Female".into()), Some("Male".into()), None]);
        let age = Values::Numeric(vec![Some(45.0), Some(50.0), Some(41.0)]);
        let col = |c: &str| if c == "sex" { &sex } else { &age };
        assert!(s.matches(0, &col));
        assert!(!s.matches(1, &col));
        assert!(!s.matches(2, &col), "null never matches");
        let q = Slice::parse("name = 'a and b'").unwrap();
        assert_eq!(q.0.len(), 1);
        assert!(Slice::parse("age").unwrap_err().contains("COLUMN OP VALUE"));
        assert!(Slice::parse("sex = Female").unwrap_err().contains("quote"));
    }
}
