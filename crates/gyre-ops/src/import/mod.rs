//! Models trained elsewhere: an XGBoost JSON or LightGBM text file read into a gyre model
//! (plain data; nothing in the file is run), or an ONNX graph (run by ONNX Runtime, which
//! only evaluates the graph's operators), with a signature from a signature file, the
//! file's own names, or a dataset version. The original file is kept in the store beside
//! the model it became.

use crate::datasets::blocking_here;
use crate::targets::options_for;
use crate::train::{LoadedModel, read};
use crate::{OpsError, Project, Result};
use gyre_core::{ContentHash, ReadOptions};
use gyre_learn::import::{self, ImportedTrees};
use gyre_learn::model::{Lineage, Model};
use gyre_learn::onnx::OnnxModel;
use serde::{Deserialize, Serialize};
use std::path::Path;

mod mlflow;
pub use mlflow::{MlflowOnnx, is_mlflow_source};

/// What a model takes and predicts, for a file that does not say: `--signature FILE`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    /// The input columns (numbers), in the model's feature order.
    #[serde(default)]
    pub inputs: Vec<String>,
    pub target: String,
    /// Class labels in the model's class order; none for a model that predicts a number.
    #[serde(default)]
    pub classes: Vec<String>,
}

/// What completes a model trained elsewhere. Its signature: each part is optional, and the
/// first that says wins: the signature file, then the model file's own names, then the
/// dataset. Its test figures: what the training script measured, when it reports them.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub file: Option<std::path::PathBuf>,
    /// A JSON object of the test figures the training script measured
    /// (`{"accuracy": 0.91, "f1": 0.88}`), recorded as the model's metrics for `[gate]`.
    pub metrics: Option<std::path::PathBuf>,
    /// A dataset version (`NAME@V`) or a data file: its columns are the inputs (all but the
    /// target, in order, when the model file names none) and its target's values the classes.
    pub dataset: Option<String>,
    /// The input columns, in the model's order, when nothing else names them (an MLflow
    /// signature's columns); the signature file and the model's own names come first.
    pub inputs: Vec<String>,
    pub target: Option<String>,
}

impl ImportOptions {
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
            && self.file.is_none()
            && self.metrics.is_none()
            && self.dataset.is_none()
            && self.target.is_none()
    }
}

/// Class labels as a library encoded them: numbers in numeric order (scikit-learn's
/// `LabelEncoder` and XGBoost's `0..k`), else text in text order.
fn class_order(mut values: Vec<String>) -> Vec<String> {
    values.sort();
    values.dedup();
    let numbers: Option<Vec<f64>> = values.iter().map(|v| v.trim().parse().ok()).collect();
    if let Some(n) = numbers {
        let mut both: Vec<(f64, String)> = n.into_iter().zip(values).collect();
        both.sort_by(|a, b| a.0.total_cmp(&b.0));
        return both.into_iter().map(|(_, v)| v).collect();
    }
    values
}

/// A model file trained elsewhere, read.
enum Graph {
    Trees(ImportedTrees),
    Onnx(OnnxModel),
}

impl Graph {
    fn read(bytes: &[u8]) -> std::result::Result<Graph, String> {
        match import::sniff(bytes) {
            Some(_) => import::parse(bytes)
                .map(Graph::Trees)
                .map_err(|e| e.to_string()),
            None => OnnxModel::inspect(bytes.to_vec())
                .map(Graph::Onnx)
                .map_err(|e| e.to_string()),
        }
    }

    fn names(&self) -> Option<Vec<String>> {
        match self {
            Graph::Trees(t) => t.names().map(<[String]>::to_vec),
            Graph::Onnx(o) => o.names(),
        }
    }

    fn classes(&self) -> usize {
        match self {
            Graph::Trees(t) => t.classes(),
            Graph::Onnx(o) => o.classes(),
        }
    }

    fn algorithm(&self) -> gyre_core::Algorithm {
        match self {
            Graph::Trees(t) => t.algorithm(),
            Graph::Onnx(_) => gyre_core::Algorithm::Onnx,
        }
    }

    fn into_model(
        self,
        sig: Resolved,
        lineage: Lineage,
    ) -> std::result::Result<Model, import::ImportError> {
        match self {
            Graph::Trees(t) => t.into_model(sig.inputs, sig.target, sig.classes, lineage),
            Graph::Onnx(o) => o.into_model(sig.inputs, sig.target, sig.classes, lineage),
        }
    }
}

/// Whether `bytes` (from `path`) are a model trained elsewhere: XGBoost JSON or LightGBM
/// text by their first bytes, ONNX by its `.onnx` name or a protobuf's first field
/// (`ir_version`); never a gyre model file.
fn trained_elsewhere(path: &Path, bytes: &[u8]) -> bool {
    if bytes.starts_with(gyre_learn::model::MAGIC) {
        return false;
    }
    import::sniff(bytes).is_some()
        || path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
        || bytes.first() == Some(&0x08)
}

impl Project {
    /// Reads `path` when it is a model trained elsewhere (XGBoost, LightGBM, ONNX), or `None`
    /// when it is not (a gyre model file, say).
    pub fn sniff_import(path: &Path) -> Result<Option<Vec<u8>>> {
        let bytes = std::fs::read(path).map_err(OpsError::io(format!(
            "reading the model file {}",
            path.display()
        )))?;
        Ok(trained_elsewhere(path, &bytes).then_some(bytes))
    }

    /// The gyre model a file trained elsewhere becomes, with its signature from `from`; the
    /// original file is kept in the store.
    pub async fn import_model(
        &self,
        label: &str,
        bytes: &[u8],
        from: &ImportOptions,
    ) -> Result<LoadedModel> {
        let graph = blocking_here(|| Graph::read(bytes))
            .map_err(|e| OpsError::Invalid(format!("{label}: {e}")))?;
        let source = self.blobs.put_bytes(bytes.to_vec()).await?;
        let sig = self.signature_for(label, &graph, from).await?;
        let spec = format!(
            "algorithm = \"{}\"\nimported_from = \"{label}\"\nsource = \"{source}\"\n",
            toml::Value::try_from(graph.algorithm())
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        );
        let (git_commit, git_dirty) = crate::runs::git_state(&self.root);
        let lineage = Lineage {
            datasets: sig.datasets.clone(),
            spec_hash: blake3::hash(spec.as_bytes()).to_hex().to_string(),
            spec,
            seed: 0,
            git_commit,
            git_dirty,
            gyre_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        let mut model = graph
            .into_model(sig, lineage)
            .map_err(|e| OpsError::Invalid(format!("{label}: {e}")))?;
        if let Some(path) = &from.metrics {
            model.metrics = reported_metrics(path)?;
        }
        let hash = self.blobs.put_bytes(model.to_bytes()).await?;
        Ok(LoadedModel {
            model,
            hash,
            run: None,
        })
    }

    async fn signature_for(
        &self,
        label: &str,
        graph: &Graph,
        from: &ImportOptions,
    ) -> Result<Resolved> {
        let given = match &from.file {
            Some(f) => Some(read_signature(f)?),
            None => None,
        };
        let target = given
            .as_ref()
            .map(|g| g.target.clone())
            .or_else(|| from.target.clone())
            .ok_or_else(|| {
                OpsError::Invalid(format!(
                    "{label}: name the target (--target COLUMN, with --dataset to take the \
                     classes from its values) or give --signature FILE"
                ))
            })?;
        let mut inputs = given
            .as_ref()
            .map(|g| g.inputs.clone())
            .filter(|i| !i.is_empty())
            .or_else(|| match graph.names() {
                // A graph's own names are an exporter's spelling of the columns given
                // (skl2onnx writes `education-num` as `education_num`): the given ones win.
                Some(names) if !from.inputs.is_empty() => Some(
                    names
                        .iter()
                        .map(|n| column_for(n, &from.inputs).unwrap_or_else(|| n.clone()))
                        .collect(),
                ),
                Some(names) => Some(names),
                None => None,
            })
            .or_else(|| (!from.inputs.is_empty()).then(|| from.inputs.clone()));
        let mut classes = given
            .as_ref()
            .map(|g| g.classes.clone())
            .filter(|c| !c.is_empty());
        let mut datasets = Vec::new();
        if let Some(d) = &from.dataset {
            let t = self.resolve_target(d).await?;
            let readable = self.readable_target(&t).await?;
            let table = read(
                &readable.files,
                &options_for(&t, &ReadOptions::default()),
                &crate::NoProgress,
            )?;
            let Some(at) = table.names.iter().position(|n| *n == target) else {
                return Err(OpsError::Invalid(format!(
                    "{}: no target column `{target}`; its columns: {}",
                    t.label(),
                    table.names.join(", ")
                )));
            };
            match &mut inputs {
                Some(names) => {
                    for n in names.iter_mut() {
                        *n = column_for(n, &table.names).ok_or_else(|| {
                            OpsError::Invalid(format!(
                                "{label} reads column `{n}`, which {} does not have",
                                t.label()
                            ))
                        })?;
                    }
                }
                None => {
                    inputs = Some(
                        table
                            .names
                            .iter()
                            .filter(|n| **n != target)
                            .cloned()
                            .collect(),
                    )
                }
            }
            if classes.is_none() && graph.classes() > 0 {
                classes = Some(class_order(
                    table.columns[at].iter().flatten().cloned().collect(),
                ));
            }
            if let crate::targets::Target::Version(v) = &t {
                datasets.push(format!("{}@{}:{}", v.info.dataset, v.info.seq, v.info.id));
            }
        }
        let inputs = inputs.ok_or_else(|| {
            OpsError::Invalid(format!(
                "{label} names no features: give --dataset (its columns but the target, in \
                 order) or --signature FILE with `inputs`"
            ))
        })?;
        // A classifier trained on encoded labels: XGBoost's and LightGBM's are 0..k.
        let classes =
            classes.unwrap_or_else(|| (0..graph.classes()).map(|c| c.to_string()).collect());
        Ok(Resolved {
            inputs,
            target,
            classes,
            datasets,
        })
    }
}

/// The figures a training script reports: a JSON object of finite numbers, in key order.
pub(crate) fn reported_metrics(path: &Path) -> Result<Vec<(String, f64)>> {
    let text = std::fs::read_to_string(path).map_err(OpsError::io(format!(
        "reading the metrics file {}",
        path.display()
    )))?;
    let bad = |m: String| OpsError::Invalid(format!("the metrics file {}: {m}", path.display()));
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| {
            bad(format!(
                "line {}, column {}: {e} (expected {{\"accuracy\": 0.9, …}})",
                e.line(),
                e.column()
            ))
        })?;
    map.into_iter()
        .map(|(k, v)| match v.as_f64().filter(|x| x.is_finite()) {
            Some(x) => Ok((k, x)),
            None => Err(bad(format!("`{k}` = {v} is not a finite number"))),
        })
        .collect()
}

/// A model file trained elsewhere, read without the store (a replay's fit): inputs from
/// the signature file, else the file's own names, else `columns`; classes from the signature
/// file, else `values` (the target's, in the order a library encodes them).
pub(crate) fn model_from_bytes(
    label: &str,
    bytes: &[u8],
    signature: Option<&Path>,
    columns: Vec<String>,
    target: String,
    values: Option<Vec<String>>,
) -> Result<Model> {
    let graph = Graph::read(bytes).map_err(|e| OpsError::Invalid(format!("{label}: {e}")))?;
    let given = match signature {
        Some(f) => Some(read_signature(f)?),
        None => None,
    };
    let inputs = given
        .as_ref()
        .map(|g| g.inputs.clone())
        .filter(|i| !i.is_empty())
        .or_else(|| graph.names())
        .unwrap_or(columns);
    let classes = given
        .as_ref()
        .map(|g| g.classes.clone())
        .filter(|c| !c.is_empty())
        .or_else(|| (graph.classes() > 0).then(|| class_order(values.unwrap_or_default())))
        .unwrap_or_default();
    let sig = Resolved {
        inputs,
        target: given.map_or(target, |g| g.target),
        classes,
        datasets: Vec::new(),
    };
    graph
        .into_model(sig, Lineage::default())
        .map_err(|e| OpsError::Invalid(format!("{label}: {e}")))
}

fn read_signature(f: &Path) -> Result<SignatureFile> {
    let text = std::fs::read_to_string(f).map_err(OpsError::io(format!(
        "reading the signature file {}",
        f.display()
    )))?;
    toml::from_str::<SignatureFile>(&text)
        .map_err(|e| OpsError::Invalid(format!("the signature file {}: {e}", f.display())))
}

/// The dataset column a model's input name stands for: the same name, or the one an
/// exporter made of it (skl2onnx writes `education-num` as `education_num`).
fn column_for(name: &str, columns: &[String]) -> Option<String> {
    let plain = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    };
    columns
        .iter()
        .find(|c| *c == name)
        .or_else(|| columns.iter().find(|c| plain(c) == plain(name)))
        .cloned()
}

#[derive(Clone)]
struct Resolved {
    inputs: Vec<String>,
    target: String,
    classes: Vec<String>,
    datasets: Vec<String>,
}

/// Where an imported model came from, as its lineage records it: the hash of the original
/// file, and what it was registered from (a path, or an MLflow source).
pub fn origin_of(model: &Model) -> Option<(ContentHash, String)> {
    if !model.algorithm.is_imported() {
        return None;
    }
    let spec: toml::Table = toml::from_str(&model.lineage.spec).ok()?;
    Some((
        spec.get("source")?.as_str()?.parse().ok()?,
        spec.get("imported_from")?.as_str()?.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::class_order;

    #[test]
    fn classes_in_the_order_a_library_encoded_them() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            class_order(s(&["10", "2", "0", "1", "2"])),
            s(&["0", "1", "2", "10"])
        );
        assert_eq!(class_order(s(&["UP", "DOWN", "UP"])), s(&["DOWN", "UP"]));
    }
}
