//! Tree ensembles trained by other libraries (XGBoost's JSON model, LightGBM's text model),
//! read into plain data and evaluated the way their library evaluates them: the same split
//! rule, the same routing of missing values, the same link from raw score to output.
//!
//! Why our own evaluator: neither library has a Rust crate that reads its saved model
//! without linking the library's C++ build, and a model file is data: reading one must never
//! run code. Parsing is strict: a feature the evaluator does not reproduce exactly
//! (vector leaves, linear trees, an unknown objective) is refused with its name, never
//! approximated. Categorical splits are evaluated, with the categories pandas coded (kept in
//! the file by either library) carried to the inputs.

mod lightgbm;
mod xgboost;

use crate::learner::Learner;
use crate::model::{InputColumn, Lineage, Model, Signature};
use crate::transform::{Fitted, Pipeline};
use gyre_core::Algorithm;
use serde::{Deserialize, Serialize};

pub use lightgbm::parse as parse_lightgbm;
pub use xgboost::parse as parse_xgboost;

/// `feature` of a leaf.
const LEAF: u32 = u32::MAX;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{format} model: {message}")]
pub struct ImportError {
    pub format: &'static str,
    pub message: String,
}

/// The library a model came from, which fixes how a split is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A row goes left when `(x as f32) < threshold` (XGBoost compares in single precision);
    /// a missing value follows the node's default direction.
    Xgboost,
    /// A row goes left when `x <= threshold`; missing values follow each node's missing type
    /// (none: treated as 0; zero: 0 and missing take the default; NaN: missing takes it).
    Lightgbm,
}

/// What the summed raw scores become.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// A number, as summed.
    Identity,
    /// A number, `exp` of the sum (Poisson, gamma and Tweedie objectives).
    Exp,
    /// A number in (0, 1): the logistic of `scale ×` the sum (XGBoost's `reg:logistic`).
    SigmoidValue { scale: f64 },
    /// Two classes: the second's probability is the logistic of `scale ×` the sum.
    Binary { scale: f64 },
    /// Several classes: a softmax over one sum per class.
    Softmax,
}

/// One imported tree, as flat arrays. Node 0 is the root. A leaf's `threshold` is its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedTree {
    pub feature: Vec<u32>,
    pub threshold: Vec<f64>,
    pub left: Vec<u32>,
    pub right: Vec<u32>,
    /// Per node: bit 0, missing values go left; bits 1–2, LightGBM's missing type; bit 3,
    /// a categorical split, whose `threshold` indexes `cat_bounds`.
    pub flags: Vec<u8>,
    /// A categorical split `i`'s category set: the bits of `cat_words[cat_bounds[i]..
    /// cat_bounds[i + 1]]` (LightGBM's bitsets of category codes that go left).
    pub cat_bounds: Vec<u32>,
    pub cat_words: Vec<u32>,
}

const DEFAULT_LEFT: u8 = 1;
const MISSING_ZERO: u8 = 1 << 1;
const MISSING_NAN: u8 = 2 << 1;
const MISSING_MASK: u8 = 3 << 1;
pub(crate) const CATEGORICAL: u8 = 1 << 3;
/// LightGBM's `kZeroThreshold`: |x| at or under it is zero.
const ZERO: f64 = 1e-35;

impl ImportedTree {
    fn leaf(&self, source: Source, row: &[f64]) -> f64 {
        let mut i = 0usize;
        loop {
            let f = self.feature[i];
            if f == LEAF {
                return self.threshold[i];
            }
            let x = row[f as usize];
            let flags = self.flags[i];
            let default = flags & DEFAULT_LEFT != 0;
            let left = match source {
                // XGBoost sends the codes of a categorical split's set right, and any other
                // value (an unseen code, a negative one) left; missing takes the default.
                Source::Xgboost if flags & CATEGORICAL != 0 => {
                    if x.is_nan() {
                        default
                    } else {
                        !self.in_category(i, x)
                    }
                }
                Source::Xgboost => {
                    if x.is_nan() {
                        default
                    } else {
                        ((x as f32) as f64) < self.threshold[i]
                    }
                }
                Source::Lightgbm if flags & CATEGORICAL != 0 => self.in_category(i, x),
                Source::Lightgbm => {
                    let missing = flags & MISSING_MASK;
                    let x = if x.is_nan() && missing != MISSING_NAN {
                        0.0
                    } else {
                        x
                    };
                    if (missing == MISSING_ZERO && x.abs() <= ZERO)
                        || (missing == MISSING_NAN && x.is_nan())
                    {
                        default
                    } else {
                        x <= self.threshold[i]
                    }
                }
            };
            i = if left { self.left[i] } else { self.right[i] } as usize;
        }
    }

    /// Whether the code `x` is in a categorical split's set (LightGBM sends it left, XGBoost
    /// right). Neither library finds NaN, a negative code or one past `i32::MAX` in a set:
    /// LightGBM casts to a C `int` first, which on x86 turns NaN and values past `i32::MAX`
    /// into `i32::MIN`, and XGBoost calls such codes invalid.
    fn in_category(&self, node: usize, x: f64) -> bool {
        if x.is_nan() || x <= -1.0 || x >= 2_147_483_648.0 {
            return false;
        }
        let code = x.trunc() as usize;
        let set = self.threshold[node] as usize;
        let (lo, hi) = (
            self.cat_bounds[set] as usize,
            self.cat_bounds[set + 1] as usize,
        );
        let word = code / 32;
        word < hi - lo && (self.cat_words[lo + word] >> (code % 32)) & 1 == 1
    }

    /// Every index in bounds and every node reached once from the root, so a walk ends.
    fn check(&self, n_features: usize) -> Result<(), String> {
        let n = self.feature.len();
        if n == 0
            || self.threshold.len() != n
            || self.left.len() != n
            || self.right.len() != n
            || self.flags.len() != n
        {
            return Err("an imported tree's arrays disagree".into());
        }
        if self.cat_bounds.windows(2).any(|w| w[0] > w[1])
            || self
                .cat_bounds
                .last()
                .is_some_and(|&e| e as usize > self.cat_words.len())
        {
            return Err("an imported tree's category sets are out of order".into());
        }
        let mut seen = vec![false; n];
        let mut stack = vec![0usize];
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                return Err(format!("node {i} is reached twice: not a tree"));
            }
            let f = self.feature[i];
            if f == LEAF {
                continue;
            }
            if f as usize >= n_features {
                return Err(format!("node {i} splits on feature {f} of {n_features}"));
            }
            if self.flags[i] & CATEGORICAL != 0 {
                let set = self.threshold[i];
                let sets = self.cat_bounds.len().saturating_sub(1);
                if !(set >= 0.0 && (set as usize) < sets && set.fract() == 0.0) {
                    return Err(format!("node {i} names category set {set} of {sets}"));
                }
            }
            for c in [self.left[i] as usize, self.right[i] as usize] {
                if c >= n {
                    return Err(format!("node {i} has child {c} of {n} nodes"));
                }
                stack.push(c);
            }
        }
        Ok(())
    }
}

/// A tree ensemble from another library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedTrees {
    pub source: Source,
    pub n_features: usize,
    /// The feature names the file gives (empty when it has none), in feature order.
    pub feature_names: Vec<String>,
    pub link: Link,
    /// Each raw score before any tree.
    pub base: Vec<f64>,
    pub trees: Vec<ImportedTree>,
    /// The raw score each tree adds to.
    pub output: Vec<u32>,
    /// Sums are divided by the number of trees of their score (LightGBM's random forest).
    pub average: bool,
    /// Per feature, the categories whose codes it takes (LightGBM's `pandas_categorical`),
    /// in code order; empty for a number. Empty altogether when no feature has any.
    pub categories: Vec<Vec<String>>,
}

impl ImportedTrees {
    /// Values `predict` writes: class probabilities, or 1.
    pub fn outputs(&self) -> usize {
        match self.link {
            Link::Binary { .. } => 2,
            Link::Softmax => self.base.len(),
            _ => 1,
        }
    }

    pub fn predict(&self, row: &[f64], out: &mut [f64]) {
        let k = self.base.len();
        // A stack buffer for the usual case (up to 16 scores) keeps a served row off the heap.
        let mut small = [0.0f64; 16];
        let mut large = Vec::new();
        let z: &mut [f64] = if k <= small.len() {
            &mut small[..k]
        } else {
            large.resize(k, 0.0);
            &mut large
        };
        for (t, &o) in self.trees.iter().zip(&self.output) {
            z[o as usize] += t.leaf(self.source, row);
        }
        if self.average {
            let per = (self.trees.len() / k.max(1)).max(1) as f64;
            z.iter_mut().for_each(|v| *v /= per);
        }
        for (v, b) in z.iter_mut().zip(&self.base) {
            *v += b;
        }
        match self.link {
            Link::Identity => out[0] = z[0],
            Link::Exp => out[0] = z[0].exp(),
            Link::SigmoidValue { scale } => out[0] = sigmoid(scale * z[0]),
            Link::Binary { scale } => {
                let p = sigmoid(scale * z[0]);
                out[0] = 1.0 - p;
                out[1] = p;
            }
            Link::Softmax => {
                let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let mut s = 0.0;
                for (o, v) in out.iter_mut().zip(z.iter()) {
                    *o = (v - m).exp();
                    s += *o;
                }
                out.iter_mut().for_each(|o| *o /= s);
            }
        }
    }

    pub fn check(&self) -> Result<(), String> {
        let k = self.base.len();
        let want = match self.link {
            Link::Softmax => k >= 2,
            _ => k == 1,
        };
        if !want {
            return Err(format!("{k} raw scores for a {:?} output", self.link));
        }
        if self.output.len() != self.trees.len() || self.output.iter().any(|&o| o as usize >= k) {
            return Err("imported trees: trees and scores disagree".into());
        }
        if !self.categories.is_empty() && self.categories.len() != self.n_features {
            return Err(format!(
                "categories for {} features, not {}",
                self.categories.len(),
                self.n_features
            ));
        }
        if !self.feature_names.is_empty() && self.feature_names.len() != self.n_features {
            return Err(format!(
                "{} feature names for {} features",
                self.feature_names.len(),
                self.n_features
            ));
        }
        self.trees.iter().try_for_each(|t| t.check(self.n_features))
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The library that wrote `bytes`, by their first bytes: XGBoost JSON opens with `{`,
/// LightGBM's text model with `tree`.
pub fn sniff(bytes: &[u8]) -> Option<Source> {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&[][..], |i| &bytes[i..]);
    if start.starts_with(b"{") {
        Some(Source::Xgboost)
    } else if start.starts_with(b"tree\n") || start.starts_with(b"tree\r\n") {
        Some(Source::Lightgbm)
    } else {
        None
    }
}

/// Reads a model of either library.
pub fn parse(bytes: &[u8]) -> Result<ImportedTrees, ImportError> {
    match sniff(bytes) {
        Some(Source::Xgboost) => parse_xgboost(bytes),
        Some(Source::Lightgbm) => parse_lightgbm(bytes),
        None => Err(ImportError {
            format: "imported",
            message: "neither an XGBoost JSON model (`{…}`) nor a LightGBM text model \
                      (`tree` on the first line)"
                .into(),
        }),
    }
}

impl ImportedTrees {
    /// The file's feature names, unless they are the library's placeholders (LightGBM's
    /// `Column_0…`, XGBoost's `f0…`) for a model trained on a bare matrix.
    pub fn names(&self) -> Option<&[String]> {
        let placeholder = |i: usize, n: &str| n == format!("Column_{i}") || n == format!("f{i}");
        let real = !self.feature_names.is_empty()
            && !self
                .feature_names
                .iter()
                .enumerate()
                .all(|(i, n)| placeholder(i, n));
        real.then_some(self.feature_names.as_slice())
    }

    pub fn algorithm(&self) -> Algorithm {
        match self.source {
            Source::Xgboost => Algorithm::Xgboost,
            Source::Lightgbm => Algorithm::Lightgbm,
        }
    }

    /// Whether it predicts classes (and how many), or a number (0).
    pub fn classes(&self) -> usize {
        match self.link {
            Link::Binary { .. } => 2,
            Link::Softmax => self.base.len(),
            _ => 0,
        }
    }

    /// A gyre model around these trees: `inputs` (numbers, in the trees' feature order,
    /// handed over as given, missing values included) and `target` with its `classes`
    /// (none for a number). Everything downstream (gate, serving, monitoring) then treats
    /// it as any model.
    pub fn into_model(
        self,
        inputs: Vec<String>,
        target: String,
        classes: Vec<String>,
        lineage: Lineage,
    ) -> Result<Model, ImportError> {
        let format = match self.source {
            Source::Xgboost => "XGBoost",
            Source::Lightgbm => "LightGBM",
        };
        // A category column is read as text and coded as the library coded it.
        let inputs = inputs
            .into_iter()
            .enumerate()
            .map(|(i, column)| match self.categories.get(i) {
                Some(c) if !c.is_empty() => Fitted::Code {
                    column,
                    categories: c.clone(),
                },
                _ => Fitted::Raw { column },
            })
            .collect();
        let classes_out = self.classes();
        wrap(
            format,
            self.algorithm(),
            Learner::Imported(self),
            (inputs, classes_out),
            target,
            classes,
            lineage,
        )
    }
}

/// What a model trained elsewhere takes (its input columns' transforms, in its order) and
/// how many classes it scores (0: a number).
pub type Takes = (Vec<Fitted>, usize);

/// A gyre model around a learner trained elsewhere: inputs handed over as given (`Raw`
/// numbers, `RawText` text), no test figures of its own.
pub fn wrap(
    format: &'static str,
    algorithm: Algorithm,
    learner: Learner,
    (inputs, scores): Takes,
    target: String,
    classes: Vec<String>,
    lineage: Lineage,
) -> Result<Model, ImportError> {
    let bad = |message: String| ImportError { format, message };
    let wanted = crate::learner::Predictor::check(&learner, inputs.len()).err();
    if let Some(e) = wanted {
        return Err(bad(format!(
            "{e}; {} inputs were given ({})",
            inputs.len(),
            inputs
                .iter()
                .map(Fitted::column)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if classes.len() != scores {
        return Err(bad(match scores {
            0 => format!(
                "the model predicts a number, but {} classes were given",
                classes.len()
            ),
            k => format!(
                "the model predicts {k} classes, but {} were given ({})",
                classes.len(),
                classes.join(", ")
            ),
        }));
    }
    let model = Model {
        algorithm,
        signature: Signature {
            inputs: inputs
                .iter()
                .map(|f| InputColumn {
                    name: f.column().to_string(),
                    kind: f.kind(),
                })
                .collect(),
            target,
            classes,
        },
        features: inputs.iter().map(|f| f.column().to_string()).collect(),
        pipeline: Pipeline { columns: inputs },
        learner,
        lineage,
        metrics: Vec::new(),
        importance: Vec::new(),
        decision: None,
    };
    model.check().map_err(bad)?;
    Ok(model)
}
