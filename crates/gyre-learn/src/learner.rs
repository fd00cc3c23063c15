//! Every learner behind one trait, with gyre's parameter names and defaults.
//!
//! | algorithm | params (default) |
//! |---|---|
//! | `logistic_regression` | `l2` (1.0; scikit-learn's C = 1/l2) |
//! | `linear_regression` | — |
//! | `ridge` | `l2` (1.0) |
//! | `decision_tree` | `max_depth` (none), `min_samples_leaf` (1), `max_features` (all) |
//! | `random_forest` | `trees` (100), `max_depth` (none), `min_samples_leaf` (1), `max_features` ("sqrt" for classes, "all" for values), `bootstrap` (true) |
//! | `online_logistic_regression` | `learning_rate` (0.01), `l2` (0.0); learns rows one at a time, in order |
//! | `adaptive_random_forest` | none (river's `ARFClassifier` defaults); learns rows one at a time, in order |
//! | `hoeffding_adaptive_tree` | none (river's `HoeffdingAdaptiveTreeClassifier` defaults); learns rows one at a time, in order |
//! | `gradient_boosting` | `iterations` (100), `learning_rate` (0.1), `max_leaves` (31), `max_depth` (none), `min_samples_leaf` (20), `l2` (0.0), `early_stopping` ("auto": over 10,000 rows), `validation_fraction` (0.1), `patience` (10) |

use crate::import::ImportedTrees;
use crate::linear::{FitError, LinearModel};
use crate::onnx::OnnxModel;
use crate::transform::Values;
use crate::trees::{BoostParams, Boosted, Forest, ForestParams, Target};
use gyre_core::Algorithm;
use serde::{Deserialize, Serialize};

/// What a fitted learner can do.
pub trait Predictor {
    /// Values per prediction: class probabilities, or 1 for a value.
    fn outputs(&self) -> usize;
    /// Predicts one row of features into `out` (`outputs()` long).
    fn predict_row(&self, row: &[f64], out: &mut [f64]);
    /// Importance per feature, summing to 1, where the learner has one.
    fn importance(&self) -> Option<Vec<f64>>;
    /// Checks a loaded model against the number of features it will be given.
    fn check(&self, n_features: usize) -> Result<(), String>;
}

/// A fitted learner: plain data, serialised into the model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Learner {
    Linear(LinearModel),
    Forest(Forest),
    Boosted(Boosted),
    /// Keeps learning after the fit ([`crate::model::Model::learn`]).
    Online(crate::online::Online),
    /// Trees trained by XGBoost or LightGBM ([`crate::import`]).
    Imported(ImportedTrees),
    /// An ONNX graph, run by ONNX Runtime ([`crate::onnx`]).
    Onnx(OnnxModel),
}

impl Predictor for OnnxModel {
    fn outputs(&self) -> usize {
        self.width
    }
    /// One row through the runtime: numbers only (a model with text inputs is scored in
    /// batches by [`crate::model::Model::predict`], which hands it the columns as given).
    fn predict_row(&self, row: &[f64], out: &mut [f64]) {
        let cols: Vec<Values> = row
            .iter()
            .map(|&x| Values::Numeric(vec![Some(x)]))
            .collect();
        let refs: Vec<&Values> = cols.iter().collect();
        match self.predict(&refs, &[0]) {
            Ok(v) => out.copy_from_slice(&v),
            Err(_) => out.iter_mut().for_each(|o| *o = f64::NAN),
        }
    }
    fn importance(&self) -> Option<Vec<f64>> {
        None
    }
    fn check(&self, n_features: usize) -> Result<(), String> {
        if self.columns() != n_features {
            return Err(format!(
                "ONNX model for {} inputs, given {n_features}",
                self.columns()
            ));
        }
        OnnxModel::check(self)
    }
}

impl Predictor for ImportedTrees {
    fn outputs(&self) -> usize {
        ImportedTrees::outputs(self)
    }
    fn predict_row(&self, row: &[f64], out: &mut [f64]) {
        self.predict(row, out)
    }
    fn importance(&self) -> Option<Vec<f64>> {
        None
    }
    fn check(&self, n_features: usize) -> Result<(), String> {
        if self.n_features != n_features {
            return Err(format!(
                "imported trees for {} features, given {n_features}",
                self.n_features
            ));
        }
        ImportedTrees::check(self)
    }
}

impl Predictor for crate::online::Online {
    fn outputs(&self) -> usize {
        self.classes()
    }
    fn predict_row(&self, row: &[f64], out: &mut [f64]) {
        out.copy_from_slice(&self.predict(row));
    }
    fn importance(&self) -> Option<Vec<f64>> {
        None
    }
    fn check(&self, n_features: usize) -> Result<(), String> {
        if self.width() != n_features {
            return Err(format!(
                "online model for {} features, given {n_features}",
                self.width()
            ));
        }
        crate::online::Online::check(self)
    }
}

impl Predictor for LinearModel {
    fn outputs(&self) -> usize {
        if self.classes.is_empty() {
            1
        } else {
            self.classes.len()
        }
    }

    fn predict_row(&self, row: &[f64], out: &mut [f64]) {
        if self.classes.is_empty() {
            out[0] = self.predict_value(row);
        } else {
            out.copy_from_slice(&self.predict_proba(row));
        }
    }

    fn importance(&self) -> Option<Vec<f64>> {
        None
    }

    fn check(&self, n_features: usize) -> Result<(), String> {
        if self.classes.len() == 1 {
            return Err("linear model: a classifier needs two classes or more".into());
        }
        let rows = self.coefficients.len();
        let want = match self.classes.len() {
            0 | 2 => 1,
            k => k,
        };
        if rows != want
            || self.intercepts.len() != rows
            || self.coefficients.iter().any(|c| c.len() != n_features)
        {
            return Err(format!(
                "linear model: {rows} coefficient rows for {} classes and {n_features} features",
                self.classes.len()
            ));
        }
        Ok(())
    }
}

impl Predictor for Forest {
    fn outputs(&self) -> usize {
        self.outputs
    }
    fn predict_row(&self, row: &[f64], out: &mut [f64]) {
        self.predict(row, out)
    }
    fn importance(&self) -> Option<Vec<f64>> {
        Some(self.importance.clone())
    }
    fn check(&self, n_features: usize) -> Result<(), String> {
        if self.n_features != n_features {
            return Err(format!(
                "forest for {} features, given {n_features}",
                self.n_features
            ));
        }
        Forest::check(self)
    }
}

impl Predictor for Boosted {
    fn outputs(&self) -> usize {
        Boosted::outputs(self)
    }
    fn predict_row(&self, row: &[f64], out: &mut [f64]) {
        self.predict(row, out)
    }
    fn importance(&self) -> Option<Vec<f64>> {
        Some(self.importance.clone())
    }
    fn check(&self, n_features: usize) -> Result<(), String> {
        if self.n_features != n_features {
            return Err(format!(
                "boosted model for {} features, given {n_features}",
                self.n_features
            ));
        }
        Boosted::check(self)
    }
}

impl Learner {
    fn inner(&self) -> &dyn Predictor {
        match self {
            Learner::Linear(m) => m,
            Learner::Forest(m) => m,
            Learner::Boosted(m) => m,
            Learner::Online(m) => m,
            Learner::Imported(m) => m,
            Learner::Onnx(m) => m,
        }
    }
}

impl Predictor for Learner {
    fn outputs(&self) -> usize {
        self.inner().outputs()
    }
    fn predict_row(&self, row: &[f64], out: &mut [f64]) {
        self.inner().predict_row(row, out)
    }
    fn importance(&self) -> Option<Vec<f64>> {
        self.inner().importance()
    }
    fn check(&self, n_features: usize) -> Result<(), String> {
        self.inner().check(n_features)
    }
}

/// Reads gyre's learner parameters, refusing unknown names and wrong types.
struct Params<'a> {
    table: &'a toml::Table,
    algorithm: &'static str,
    known: &'static [&'static str],
}

impl Params<'_> {
    fn check_names(&self) -> Result<(), FitError> {
        for k in self.table.keys() {
            if !self.known.contains(&k.as_str()) {
                return Err(FitError(format!(
                    "{} has no parameter `{k}`; its parameters: {}",
                    self.algorithm,
                    if self.known.is_empty() {
                        "none".to_string()
                    } else {
                        self.known.join(", ")
                    }
                )));
            }
        }
        Ok(())
    }

    fn bad(&self, key: &str, want: &str, v: &toml::Value) -> FitError {
        FitError(format!(
            "{} parameter `{key}` = {v}: expected {want}",
            self.algorithm
        ))
    }

    fn float(&self, key: &str, default: f64) -> Result<f64, FitError> {
        match self.table.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_float()
                .or_else(|| v.as_integer().map(|i| i as f64))
                .filter(|f| f.is_finite() && *f >= 0.0)
                .ok_or_else(|| self.bad(key, "a non-negative number", v)),
        }
    }

    fn count(&self, key: &str, default: usize) -> Result<usize, FitError> {
        Ok(self.opt_count(key)?.unwrap_or(default))
    }

    fn opt_count(&self, key: &str) -> Result<Option<usize>, FitError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_integer()
                .filter(|i| *i >= 1)
                .map(|i| Some(i as usize))
                .ok_or_else(|| self.bad(key, "a whole number ≥ 1", v)),
        }
    }

    fn flag(&self, key: &str) -> Result<Option<bool>, FitError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) if s == "auto" => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.bad(key, "true, false or \"auto\"", v)),
        }
    }

    /// `max_features`: a count, "sqrt", or "all".
    fn features(&self, cols: usize) -> Result<Option<usize>, FitError> {
        match self.table.get("max_features") {
            None => Ok(None),
            Some(toml::Value::String(s)) if s == "sqrt" => {
                Ok(Some((cols as f64).sqrt().floor().max(1.0) as usize))
            }
            Some(toml::Value::String(s)) if s == "all" => Ok(Some(cols)),
            Some(_) => self.opt_count("max_features"),
        }
    }
}

/// The training data of one fit: a row-major matrix and its target.
pub struct Data<'a> {
    pub x: &'a [f64],
    pub rows: usize,
    pub cols: usize,
    pub target: Target<'a>,
    /// Class names, for classification.
    pub classes: &'a [String],
    pub weights: Option<&'a [f64]>,
}

/// Fits `algorithm` with gyre's `params`.
pub fn fit(
    algorithm: Algorithm,
    params: &toml::Table,
    data: &Data,
    seed: u64,
) -> Result<Learner, FitError> {
    let p = |name, known| Params {
        table: params,
        algorithm: name,
        known,
    };
    let values = |name: &str| match &data.target {
        Target::Values(v) => Ok(*v),
        Target::Classes { .. } => Err(FitError(format!(
            "{name} predicts numbers; use logistic_regression or a tree learner for classes"
        ))),
    };
    match algorithm {
        Algorithm::LogisticRegression => {
            let p = p("logistic_regression", &["l2"]);
            p.check_names()?;
            let Target::Classes { y, .. } = &data.target else {
                return Err(FitError(
                    "logistic_regression predicts classes; use ridge for numbers".into(),
                ));
            };
            Ok(Learner::Linear(LinearModel::logistic(
                data.x,
                data.rows,
                data.cols,
                y,
                data.classes.to_vec(),
                p.float("l2", 1.0)?,
                data.weights,
            )?))
        }
        Algorithm::LinearRegression | Algorithm::Ridge => {
            let (name, l2) = if algorithm == Algorithm::Ridge {
                let p = p("ridge", &["l2"]);
                p.check_names()?;
                ("ridge", p.float("l2", 1.0)?)
            } else {
                p("linear_regression", &[]).check_names()?;
                ("linear_regression", 0.0)
            };
            let y = values(name)?;
            Ok(Learner::Linear(LinearModel::ridge(
                data.x, data.rows, data.cols, y, l2,
            )?))
        }
        Algorithm::DecisionTree | Algorithm::RandomForest => {
            let forest = algorithm == Algorithm::RandomForest;
            let p = if forest {
                p(
                    "random_forest",
                    &[
                        "trees",
                        "max_depth",
                        "min_samples_leaf",
                        "max_features",
                        "bootstrap",
                    ],
                )
            } else {
                p(
                    "decision_tree",
                    &["max_depth", "min_samples_leaf", "max_features"],
                )
            };
            p.check_names()?;
            let fp = ForestParams {
                trees: if forest { p.count("trees", 100)? } else { 1 },
                max_depth: p.opt_count("max_depth")?,
                min_samples_leaf: p.count("min_samples_leaf", 1)?,
                max_features: match p.features(data.cols)? {
                    Some(n) => Some(n),
                    None if forest => None,
                    None => Some(data.cols),
                },
                bootstrap: forest && p.flag("bootstrap")?.unwrap_or(true),
            };
            Ok(Learner::Forest(Forest::fit(
                data.x,
                data.rows,
                data.cols,
                &data.target,
                data.weights,
                &fp,
                seed,
            )?))
        }
        Algorithm::OnlineLogisticRegression
        | Algorithm::AdaptiveRandomForest
        | Algorithm::HoeffdingAdaptiveTree => {
            let (name, known): (&str, &'static [&'static str]) = match algorithm {
                Algorithm::AdaptiveRandomForest => ("adaptive_random_forest", &[]),
                Algorithm::HoeffdingAdaptiveTree => ("hoeffding_adaptive_tree", &[]),
                _ => ("online_logistic_regression", &["learning_rate", "l2"]),
            };
            let p = p(name, known);
            p.check_names()?;
            let Target::Classes { y, .. } = &data.target else {
                return Err(FitError(format!(
                    "{name} predicts classes; the online learners do not regress yet"
                )));
            };
            let classes = data.classes.len();
            let mut m = match algorithm {
                Algorithm::AdaptiveRandomForest => crate::online::Online::Forest(
                    crate::online::arf::Forest::new(data.cols, classes, seed),
                ),
                Algorithm::HoeffdingAdaptiveTree => crate::online::Online::AdaptiveTree(
                    crate::online::hat::AdaptiveTree::new(data.cols, classes, seed),
                ),
                _ => crate::online::Online::Logistic(crate::online::logistic::Logistic::new(
                    data.cols,
                    classes,
                    p.float("learning_rate", 0.01)?,
                    p.float("l2", 0.0)?,
                )),
            };
            // In order: the rows are a stream.
            for (r, &class) in y.iter().enumerate() {
                m.learn(&data.x[r * data.cols..(r + 1) * data.cols], class as usize);
            }
            Ok(Learner::Online(m))
        }
        Algorithm::Xgboost | Algorithm::Lightgbm | Algorithm::Onnx => {
            let (name, file) = match algorithm {
                Algorithm::Xgboost => ("XGBoost", "save_model(\"model.json\")"),
                Algorithm::Lightgbm => ("LightGBM", "booster_.save_model(\"model.txt\")"),
                _ => ("ONNX", "an exporter such as skl2onnx to model.onnx"),
            };
            Err(FitError(format!(
                "{name} models are trained elsewhere, not by gyre: train there, save with \
                 {file}, then `gyre models register NAME FILE` (or a `register` step with \
                 `file = …`)"
            )))
        }
        Algorithm::GradientBoosting => {
            let p = p(
                "gradient_boosting",
                &[
                    "iterations",
                    "learning_rate",
                    "max_leaves",
                    "max_depth",
                    "min_samples_leaf",
                    "l2",
                    "early_stopping",
                    "validation_fraction",
                    "patience",
                ],
            );
            p.check_names()?;
            let d = BoostParams::default();
            let bp = BoostParams {
                iterations: p.count("iterations", d.iterations)?,
                learning_rate: p.float("learning_rate", d.learning_rate)?,
                max_leaves: p.count("max_leaves", d.max_leaves)?,
                max_depth: p.opt_count("max_depth")?,
                min_samples_leaf: p.count("min_samples_leaf", d.min_samples_leaf)?,
                l2: p.float("l2", d.l2)?,
                early_stopping: p.flag("early_stopping")?,
                validation_fraction: p.float("validation_fraction", d.validation_fraction)?,
                patience: p.count("patience", d.patience)?,
            };
            if !(bp.validation_fraction > 0.0 && bp.validation_fraction < 1.0) {
                return Err(FitError(
                    "gradient_boosting: validation_fraction must be between 0 and 1".into(),
                ));
            }
            Ok(Learner::Boosted(Boosted::fit(
                data.x,
                data.rows,
                data.cols,
                &data.target,
                data.weights,
                &bp,
                seed,
            )?))
        }
    }
}

/// "balanced" class weights: n / (classes × count of the row's class), as scikit-learn's.
pub fn balanced_weights(y: &[u32], k: usize) -> Vec<f64> {
    let mut counts = vec![0usize; k];
    for &c in y {
        counts[c as usize] += 1;
    }
    let n = y.len() as f64;
    y.iter()
        .map(|&c| n / (k as f64 * counts[c as usize] as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_mistyped_params_are_named() {
        let x = [0.0, 1.0, 2.0, 3.0];
        let y = [0u32, 0, 1, 1];
        let classes = ["a".to_string(), "b".to_string()];
        let data = Data {
            x: &x,
            rows: 4,
            cols: 1,
            target: Target::Classes { y: &y, k: 2 },
            classes: &classes,
            weights: None,
        };
        let t: toml::Table = toml::from_str("tres = 3").unwrap();
        let e = fit(Algorithm::RandomForest, &t, &data, 0).unwrap_err().0;
        assert!(
            e.contains("no parameter `tres`") && e.contains("trees"),
            "{e}"
        );
        let t: toml::Table = toml::from_str("trees = -2").unwrap();
        let e = fit(Algorithm::RandomForest, &t, &data, 0).unwrap_err().0;
        assert!(e.contains("`trees` = -2: expected a whole number"), "{e}");
        let e = fit(Algorithm::Ridge, &toml::Table::new(), &data, 0)
            .unwrap_err()
            .0;
        assert!(e.contains("predicts numbers"), "{e}");
        let m = fit(Algorithm::DecisionTree, &toml::Table::new(), &data, 0).unwrap();
        assert_eq!(m.outputs(), 2);
        m.check(1).unwrap();
        assert!(m.check(2).is_err());
    }

    #[test]
    fn online_learners_fit_in_order_survive_the_model_file_and_refuse_values() {
        // Class b when x > 0.5.
        let x: Vec<f64> = (0..600).map(|i| f64::from(i % 100) / 100.0).collect();
        let y: Vec<u32> = x.iter().map(|v| u32::from(*v > 0.5)).collect();
        let classes = ["a".to_string(), "b".to_string()];
        let data = Data {
            x: &x,
            rows: x.len(),
            cols: 1,
            target: Target::Classes { y: &y, k: 2 },
            classes: &classes,
            weights: None,
        };
        for algorithm in [
            Algorithm::OnlineLogisticRegression,
            Algorithm::AdaptiveRandomForest,
            Algorithm::HoeffdingAdaptiveTree,
        ] {
            let m = fit(algorithm, &toml::Table::new(), &data, 7).unwrap();
            m.check(1).unwrap();
            let mut out = [0.0; 2];
            m.predict_row(&[0.9], &mut out);
            assert!(out[1] > out[0], "{algorithm:?}: {out:?}");
            m.predict_row(&[0.1], &mut out);
            assert!(out[0] > out[1], "{algorithm:?}: {out:?}");
            // Plain data through postcard, as in the model file.
            let bytes = postcard::to_allocvec(&m).unwrap();
            let back: Learner = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(back, m);
        }
        let values = [1.0, 2.0];
        let e = fit(
            Algorithm::AdaptiveRandomForest,
            &toml::Table::new(),
            &Data {
                x: &x[..2],
                rows: 2,
                cols: 1,
                target: Target::Values(&values),
                classes: &[],
                weights: None,
            },
            0,
        )
        .unwrap_err()
        .0;
        assert!(e.contains("predicts classes"), "{e}");
    }

    #[test]
    fn balanced_weights_match_scikit_learn() {
        // sklearn.utils.class_weight.compute_class_weight("balanced", ...) on [0,0,0,1]:
        // [0.6667, 2.0].
        let w = balanced_weights(&[0, 0, 0, 1], 2);
        assert!((w[0] - 2.0 / 3.0).abs() < 1e-12 && w[3] == 2.0);
    }
}
