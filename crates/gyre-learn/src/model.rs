//! The model file: one immutable, self-describing file holding the fitted transforms, the
//! learner, the signature, the lineage and the metrics. Data only: loading decodes plain
//! structs (postcard, a serde format with no type tags to resolve and nothing to execute),
//! then checks that every index and width agrees before anything is predicted.
//!
//! Layout: `GYREMODL` (8 bytes), format version (u32 LE), body length (u64 LE), BLAKE3 of
//! the body (32 bytes), the body. The same model always encodes to the same bytes: nothing
//! in it depends on the time or the run.

use crate::learner::{Learner, Predictor};
use crate::transform::{Fitted, Pipeline, TransformError, Values};
use gyre_core::Algorithm;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub const MAGIC: &[u8; 8] = b"GYREMODL";
/// The format this build writes and the newest it reads.
/// Version 2 adds the decision cutoff; version 3, imported learners and raw inputs (the body
/// is laid out as version 2's). A model writes the oldest version that holds it, so a
/// model without a cutoff is still written as version 1, its bytes (and hash) as they were,
/// and a gyre too old for an imported model says so instead of calling the file damaged.
pub const FORMAT_VERSION: u32 = 3;
const HEADER: usize = 8 + 4 + 8 + 32;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    #[error("not a gyre model file (no GYREMODL header)")]
    NotAModel,
    #[error(
        "model format version {0} is newer than this gyre reads ({FORMAT_VERSION}); upgrade gyre"
    )]
    TooNew(u32),
    #[error("the model file is truncated or damaged: {0}")]
    Damaged(String),
    #[error("the model file is inconsistent: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    Number,
    Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputColumn {
    pub name: String,
    pub kind: ColumnKind,
}

/// What the model takes and returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub inputs: Vec<InputColumn>,
    pub target: String,
    /// Class labels (the output is a label and one probability per class); empty for
    /// regression (the output is a number).
    pub classes: Vec<String>,
}

/// Where the model came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    /// `NAME@SEQ:ID` of each training dataset version.
    pub datasets: Vec<String>,
    /// The `[model]` spec as trained (after overrides), as TOML, and its BLAKE3.
    pub spec: String,
    pub spec_hash: String,
    pub seed: u64,
    pub git_commit: Option<String>,
    pub git_dirty: bool,
    pub gyre_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub algorithm: Algorithm,
    pub signature: Signature,
    /// The learner's features, in order (after transforms).
    pub features: Vec<String>,
    pub pipeline: Pipeline,
    pub learner: Learner,
    pub lineage: Lineage,
    /// Test-split metrics, in report order.
    pub metrics: Vec<(String, f64)>,
    /// Importance per input column (one-hot features summed), when the learner has one.
    pub importance: Vec<(String, f64)>,
    /// A binary model's positive class and the probability at which it is predicted (none:
    /// the most probable class).
    pub decision: Option<Cutoff>,
}

/// Class `class` is predicted when its probability reaches `at`; otherwise the other class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cutoff {
    pub class: u32,
    pub at: f64,
    /// Tuned on labels (`threshold = "f1"`), so an online model re-tunes it as it learns
    /// ([`crate::online::Retuner`]); a fixed cutoff stays where it was set.
    pub tuned: bool,
}

/// The body of a version 1 file: [`Model`] without `decision`. Postcard has no field names
/// or defaults, so each format version is a struct of its own.
#[derive(Serialize, Deserialize)]
struct ModelV1<A, S, F, P, L, G, M> {
    algorithm: A,
    signature: S,
    features: F,
    pipeline: P,
    learner: L,
    lineage: G,
    metrics: M,
    importance: M,
}

/// Predictions for a batch: `width` values per row (class probabilities, or one value).
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    pub width: usize,
    pub values: Vec<f64>,
    /// The model's decision cutoff, which [`Predictions::class_of`] applies.
    pub cutoff: Option<Cutoff>,
}

impl Predictions {
    pub fn rows(&self) -> usize {
        self.values.len() / self.width.max(1)
    }

    pub fn row(&self, r: usize) -> &[f64] {
        &self.values[r * self.width..(r + 1) * self.width]
    }

    /// The class predicted for row `r`: by the model's cutoff when it has one, else the
    /// most probable (the first on a tie).
    pub fn class_of(&self, r: usize) -> usize {
        let row = self.row(r);
        if let Some(c) = self.cutoff
            && row.len() == 2
        {
            let class = c.class as usize;
            return if row[class] >= c.at { class } else { 1 - class };
        }
        (0..row.len()).fold(0, |best, i| if row[i] > row[best] { i } else { best })
    }
}

impl Model {
    pub fn to_bytes(&self) -> Vec<u8> {
        let imported = matches!(self.learner, Learner::Imported(_) | Learner::Onnx(_))
            || self.pipeline.columns.iter().any(|f| {
                matches!(
                    f,
                    Fitted::Raw { .. } | Fitted::RawText { .. } | Fitted::Code { .. }
                )
            });
        let (version, body) = match self.decision {
            _ if imported => (3, postcard::to_stdvec(self)),
            None => (
                1u32,
                postcard::to_stdvec(&ModelV1 {
                    algorithm: &self.algorithm,
                    signature: &self.signature,
                    features: &self.features,
                    pipeline: &self.pipeline,
                    learner: &self.learner,
                    lineage: &self.lineage,
                    metrics: &self.metrics,
                    importance: &self.importance,
                }),
            ),
            Some(_) => (2, postcard::to_stdvec(self)),
        };
        let body = body.expect("a model always serialises");
        let mut out = Vec::with_capacity(HEADER + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(blake3::hash(&body).as_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Decodes and checks a model file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(ModelError::NotAModel);
        }
        if bytes.len() < HEADER {
            return Err(ModelError::Damaged("the header is cut short".into()));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version > FORMAT_VERSION {
            return Err(ModelError::TooNew(version));
        }
        let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        let body = &bytes[HEADER..];
        if body.len() as u64 != len {
            return Err(ModelError::Damaged(format!(
                "the body has {} bytes, the header says {len}",
                body.len()
            )));
        }
        if blake3::hash(body).as_bytes() != &bytes[20..52] {
            return Err(ModelError::Damaged("the checksum does not match".into()));
        }
        let damaged = |e: postcard::Error| ModelError::Damaged(e.to_string());
        let model: Model = if version == 1 {
            type V1 = ModelV1<
                Algorithm,
                Signature,
                Vec<String>,
                Pipeline,
                Learner,
                Lineage,
                Vec<(String, f64)>,
            >;
            let v1: V1 = postcard::from_bytes(body).map_err(damaged)?;
            Model {
                algorithm: v1.algorithm,
                signature: v1.signature,
                features: v1.features,
                pipeline: v1.pipeline,
                learner: v1.learner,
                lineage: v1.lineage,
                metrics: v1.metrics,
                importance: v1.importance,
                decision: None,
            }
        } else {
            postcard::from_bytes(body).map_err(damaged)?
        };
        model.check().map_err(ModelError::Invalid)?;
        Ok(model)
    }

    /// Every width and index agrees, so predicting cannot go out of bounds.
    pub fn check(&self) -> Result<(), String> {
        let sig = &self.signature;
        let mut names = std::collections::HashSet::new();
        if let Some(twice) = sig.inputs.iter().find(|c| !names.insert(c.name.as_str())) {
            return Err(format!("input `{}` is named twice", twice.name));
        }
        if sig.classes.len() == 1 {
            return Err(format!(
                "one class (`{}`): a classifier needs two or more",
                sig.classes[0]
            ));
        }
        if let Some(c) = self.decision
            && (sig.classes.len() != 2 || c.class > 1 || !(0.0..=1.0).contains(&c.at))
        {
            return Err(format!(
                "a decision cutoff (class {}, at {}) needs two classes and a probability",
                c.class, c.at
            ));
        }
        if let Learner::Linear(l) = &self.learner
            && l.classes != sig.classes
        {
            return Err("the learner's classes are not the signature's".into());
        }
        if sig.inputs.len() != self.pipeline.columns.len() {
            return Err(format!(
                "{} inputs but {} transforms",
                sig.inputs.len(),
                self.pipeline.columns.len()
            ));
        }
        for (input, f) in sig.inputs.iter().zip(&self.pipeline.columns) {
            let (name, kind) = (f.column(), f.kind());
            if name != input.name || kind != input.kind {
                return Err(format!(
                    "input `{}` does not match its transform (`{name}`)",
                    input.name
                ));
            }
            if let Fitted::Categorical { categories, .. } = f
                && categories.windows(2).any(|w| w[0] >= w[1])
            {
                return Err(format!("`{name}`: categories are not sorted"));
            }
            if let Fitted::Numeric {
                buckets: Some(b), ..
            } = f
                && b.windows(2)
                    .any(|w| w[0].partial_cmp(&w[1]) != Some(std::cmp::Ordering::Less))
            {
                return Err(format!("`{name}`: bucket edges do not increase"));
            }
        }
        let width = self.pipeline.feature_names().len();
        if width != self.features.len() {
            return Err(format!(
                "{} feature names for {width} features",
                self.features.len()
            ));
        }
        self.learner.check(width)?;
        let outputs = self.learner.outputs();
        let want = if sig.classes.is_empty() {
            1
        } else {
            sig.classes.len()
        };
        if outputs != want {
            return Err(format!(
                "the learner gives {outputs} values, expected {want}"
            ));
        }
        Ok(())
    }

    /// The width of one prediction row.
    pub fn outputs(&self) -> usize {
        self.learner.outputs()
    }

    /// Whether the model keeps learning after its fit (an online learner).
    pub fn is_online(&self) -> bool {
        matches!(self.learner, Learner::Online(_))
    }

    /// An online model learns row `row` of `inputs`, labelled `label` (one of its classes);
    /// false when the model is not online or the label is a class it does not know.
    pub fn learn(
        &mut self,
        inputs: &[&Values],
        row: usize,
        label: &str,
    ) -> Result<bool, TransformError> {
        let Learner::Online(online) = &mut self.learner else {
            return Ok(false);
        };
        let Some(class) = self.signature.classes.iter().position(|c| c == label) else {
            return Ok(false);
        };
        let x = self.pipeline.transform(inputs, &[row])?;
        online.learn(&x, class);
        Ok(true)
    }

    /// Predicts `rows` of `inputs` (one per signature input, in order): the same transform
    /// code as training, then the learner; rows are scored in parallel chunks.
    pub fn predict(
        &self,
        inputs: &[&Values],
        rows: &[usize],
    ) -> Result<Predictions, TransformError> {
        let width = self.features.len();
        let k = self.outputs();
        let score = |chunk: &[usize]| -> Result<Vec<f64>, TransformError> {
            // An ONNX graph takes the columns as given and scores the chunk in one run.
            if let Learner::Onnx(onnx) = &self.learner {
                return onnx
                    .predict(inputs, chunk)
                    .map_err(|e| TransformError::Model(e.to_string()));
            }
            let x = self.pipeline.transform(inputs, chunk)?;
            let mut out = vec![0.0; chunk.len() * k];
            for (r, o) in out.chunks_mut(k).enumerate() {
                self.learner.predict_row(&x[r * width..(r + 1) * width], o);
            }
            Ok(out)
        };
        // A small batch (a served request) stays on the calling thread: handing it to the
        // thread pool would cost more than scoring it.
        if rows.len() <= 256 {
            return Ok(Predictions {
                width: k,
                values: score(rows)?,
                cutoff: self.decision,
            });
        }
        let chunks: Vec<Result<Vec<f64>, TransformError>> =
            rows.par_chunks(4096).map(score).collect();
        let mut values = Vec::with_capacity(rows.len() * k);
        for c in chunks {
            values.extend(c?);
        }
        Ok(Predictions {
            width: k,
            values,
            cutoff: self.decision,
        })
    }
}

/// Types a text column by the signature: numbers must parse. On failure, the row index and
/// the value.
pub fn typed(kind: ColumnKind, values: Vec<Option<String>>) -> Result<Values, (usize, String)> {
    match kind {
        ColumnKind::Text => Ok(Values::Text(values)),
        ColumnKind::Number => values
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                None => Ok(None),
                Some(s) => s.trim().parse::<f64>().map(Some).map_err(|_| (i, s)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Values::Numeric),
    }
}

/// Sums per-feature importance back to input columns (a one-hot column's features add up).
pub fn column_importance(pipeline: &Pipeline, per_feature: &[f64]) -> Vec<(String, f64)> {
    let mut at = 0;
    let mut out: Vec<(String, f64)> = pipeline
        .columns
        .iter()
        .map(|f| {
            let w = f.width();
            let s = per_feature[at..at + w].iter().sum();
            at += w;
            (f.column().to_string(), s)
        })
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}
