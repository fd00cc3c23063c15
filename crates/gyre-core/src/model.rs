//! The model spec: `[model]` in gyre.toml. What to learn, from which columns, with which
//! transforms, algorithm and split.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Two classes, or more: decided by the target's values.
    Classification,
    Binary,
    Multiclass,
    Regression,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    LogisticRegression,
    LinearRegression,
    Ridge,
    DecisionTree,
    RandomForest,
    GradientBoosting,
    /// Online: learns one labelled row at a time (in the loop, every label as it arrives).
    OnlineLogisticRegression,
    /// Online: an adaptive random forest of Hoeffding trees.
    AdaptiveRandomForest,
    /// Imported, never trained here: an XGBoost JSON model (`gyre models register`).
    Xgboost,
    /// Imported, never trained here: a LightGBM text model (`gyre models register`).
    Lightgbm,
    /// Imported, never trained here: an ONNX graph, run by ONNX Runtime.
    Onnx,
    /// Online: one Hoeffding adaptive tree, whose subtrees are replaced when their error rises.
    /// (Last, so the model files written before it keep their variant numbers.)
    HoeffdingAdaptiveTree,
}

impl Algorithm {
    /// Whether gyre only imports models of this kind (trained by another library).
    pub fn is_imported(self) -> bool {
        matches!(
            self,
            Algorithm::Xgboost | Algorithm::Lightgbm | Algorithm::Onnx
        )
    }
}

/// How rows are split into training and test sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case", deny_unknown_fields)]
pub enum Split {
    /// A seeded shuffle; `test` is the test share.
    Random {
        test: f64,
        #[serde(default)]
        seed: Option<u64>,
    },
    /// Row i (0-based) is a test row when i % every == index (the quality bar's rule is
    /// every = 5, index = 4).
    Rule { every: u64, index: u64 },
    /// The last `test` share of rows, in file order (time order for streams).
    Order { test: f64 },
}

impl Default for Split {
    fn default() -> Self {
        Split::Random {
            test: 0.2,
            seed: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impute {
    Median,
    MostFrequent,
    Constant,
}

/// One column's transforms, applied in this order: impute, log, bucketize or one-hot,
/// standardise. Unset keys take the defaults for the column's type (numbers: median and
/// standardise; text: most frequent and one-hot).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transform {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impute: Option<Impute>,
    /// The fill value for `impute = "constant"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill: Option<toml::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standardize: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_hot: Option<bool>,
    /// What a category unseen in training becomes: `ignore` (all zeros) or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unseen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<bool>,
    /// Bucket edges: a number becomes the index of its bucket (one-hot encoded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<Vec<f64>>,
    /// Use the value as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// The dataset to train on (`NAME` or `NAME@V`).
    pub dataset: String,
    pub task: Task,
    pub target: String,
    /// The feature columns; default: every column but the target and `drop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub transforms: BTreeMap<String, Transform>,
    pub algorithm: Algorithm,
    /// Learner parameters, in gyre's names (`trees`, `max_depth`, `learning_rate`, `l2`, …).
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub params: toml::Table,
    #[serde(default)]
    pub split: Split,
    #[serde(default)]
    pub seed: u64,
    /// Metrics to report; default: all that apply to the task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<String>,
    /// `balanced` weights classes inversely to their frequency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_weight: Option<String>,
    /// Named slices of the test rows to report metrics on: `where` expressions on columns,
    /// such as `"sex = 'Female' and age >= 40"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub slices: BTreeMap<String, String>,
    /// Hyperparameter search for `gyre tune`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tune: Option<TuneSpec>,
    /// Binary: the class whose precision, recall and F1 are reported and whose probability
    /// the decision threshold cuts (default: the second of the two, sorted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive: Option<String>,
    /// Binary: the positive class is predicted when its probability reaches this cutoff.
    /// A number fixes it; `"f1"` tunes it on the test rows to the F1 of the positive class
    /// (for a split by order: the most recent rows, so a moving base rate is followed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Threshold>,
    /// After the test figures are taken, fit again on every labelled row, the test rows
    /// included (the figures describe the model fitted without them).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refit: bool,
    /// Weights rows by recency, in row order: the last row weighs 1, a row `half_life` rows
    /// before it weighs 0.5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recency: Option<Recency>,
}

/// `threshold = 0.3` or `threshold = "f1"`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Threshold {
    Fixed(f64),
    Tuned(TuneThreshold),
}

/// What a tuned threshold maximises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TuneThreshold {
    F1,
}

/// `recency = { half_life = 2000 }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recency {
    /// Rows (in row order) over which a row's weight halves.
    pub half_life: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SearchMethod {
    /// Every combination of the listed values.
    #[default]
    Grid,
    /// `trials` draws from lists and ranges.
    Random,
}

/// `[model.tune]`: what to search, and how the best trial is chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuneSpec {
    #[serde(default)]
    pub method: SearchMethod,
    /// Draws for `random` (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trials: Option<u32>,
    /// The metric on the validation split that picks the best trial.
    pub metric: String,
    /// `max` or `min`; default: `min` for losses and errors (log_loss, rmse, mae, mape),
    /// else `max`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    /// The share of the training rows held out for validation (default 0.2). The test
    /// split is never used to choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<f64>,
    /// Per learner parameter: a list of values, or a range `{ min, max, log }`.
    pub params: BTreeMap<String, toml::Value>,
}

impl ModelSpec {
    /// Problems TOML cannot express, all at once.
    pub fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        match &self.split {
            Split::Random { test, .. } | Split::Order { test } if !(*test > 0.0 && *test < 1.0) => {
                problems.push(format!("split.test {test} must be between 0 and 1"));
            }
            Split::Rule { every, index } if *every < 2 || index >= every => {
                problems.push(format!(
                    "split rule: need every ≥ 2 and index < every (got {every}, {index})"
                ));
            }
            _ => {}
        }
        if self.drop.contains(&self.target) {
            problems.push(format!("the target `{}` is also in `drop`", self.target));
        }
        if let Some(f) = &self.features
            && f.contains(&self.target)
        {
            problems.push(format!("the target `{}` is also a feature", self.target));
        }
        if let Some(w) = &self.class_weight
            && w != "balanced"
        {
            problems.push(format!("class_weight `{w}`: only \"balanced\" is known"));
        }
        for (col, t) in &self.transforms {
            if t.impute == Some(Impute::Constant) && t.fill.is_none() {
                problems.push(format!(
                    "transforms.{col}: impute = \"constant\" needs `fill`"
                ));
            }
            if let Some(u) = &t.unseen
                && u != "ignore"
                && u != "error"
            {
                problems.push(format!(
                    "transforms.{col}: unseen = `{u}`; use \"ignore\" or \"error\""
                ));
            }
            if let Some(b) = &t.buckets
                && b.windows(2).any(|w| w[0] >= w[1])
            {
                problems.push(format!("transforms.{col}: bucket edges must increase"));
            }
        }
        let binary_only = matches!(self.task, Task::Regression | Task::Multiclass);
        if let Some(t) = &self.threshold {
            if binary_only {
                problems.push("threshold applies to binary classification only".to_string());
            }
            if let Threshold::Fixed(x) = t
                && !(*x > 0.0 && *x < 1.0)
            {
                problems.push(format!("threshold {x} must be between 0 and 1"));
            }
        }
        if self.positive.is_some() && binary_only {
            problems.push("positive applies to binary classification only".to_string());
        }
        if let Some(r) = &self.recency
            && !(r.half_life.is_finite() && r.half_life > 0.0)
        {
            problems.push(format!(
                "recency.half_life {} must be a positive number of rows",
                r.half_life
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// Applies `KEY.PATH=VALUE` overrides to a parsed TOML document, as `--set` does. The value
/// is read as TOML (`300`, `0.1`, `true`, `"text"`, `[1, 2]`); anything else is text.
pub fn apply_overrides(doc: &mut toml::Table, sets: &[String]) -> Result<(), String> {
    for set in sets {
        let (path, raw) = set
            .split_once('=')
            .ok_or_else(|| format!("--set `{set}`: use KEY.PATH=VALUE"))?;
        let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.to_string()));
        let keys: Vec<&str> = path.trim().split('.').collect();
        if keys.iter().any(|k| k.is_empty()) {
            return Err(format!("--set `{set}`: empty key in `{path}`"));
        }
        let mut table = &mut *doc;
        for k in &keys[..keys.len() - 1] {
            let entry = table
                .entry(k.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            table = entry
                .as_table_mut()
                .ok_or_else(|| format!("--set `{set}`: `{k}` is not a table"))?;
        }
        table.insert(keys[keys.len() - 1].to_string(), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
[model]
dataset = "adult"
task = "binary"
target = "income"
drop = ["fnlwgt"]
algorithm = "random_forest"
params = { trees = 100, max_depth = 12 }
split = { by = "rule", every = 5, index = 4 }
seed = 42
transforms.age = { impute = "median", standardize = false }
"#;

    #[test]
    fn parses_overrides_and_checks() {
        let mut doc: toml::Table = toml::from_str(SPEC).unwrap();
        apply_overrides(
            &mut doc,
            &[
                "model.params.trees=300".into(),
                "model.split.every=10".into(),
                "model.params.name=rf-big".into(),
            ],
        )
        .unwrap();
        let spec: ModelSpec = doc["model"].clone().try_into().unwrap();
        assert_eq!(spec.params["trees"].as_integer(), Some(300));
        assert_eq!(spec.params["max_depth"].as_integer(), Some(12));
        assert_eq!(spec.params["name"].as_str(), Some("rf-big"));
        assert_eq!(
            spec.split,
            Split::Rule {
                every: 10,
                index: 4
            }
        );
        assert_eq!(spec.transforms["age"].standardize, Some(false));
        spec.check().unwrap();

        let mut bad = spec.clone();
        bad.split = Split::Order { test: 1.5 };
        bad.drop.push("income".into());
        let e = bad.check().unwrap_err();
        assert!(
            e.contains("between 0 and 1") && e.contains("also in `drop`"),
            "{e}"
        );
        assert!(
            apply_overrides(&mut doc, &["nonsense".into()])
                .unwrap_err()
                .contains("KEY.PATH=VALUE")
        );
        assert!(
            apply_overrides(&mut doc, &["model.target.x=1".into()])
                .unwrap_err()
                .contains("not a table")
        );
    }
}
