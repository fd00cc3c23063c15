//! ONNX models an MLflow client logged: a source (`models:/m-…`, `mlflow-artifacts:/…`)
//! resolved to its artifact folder, its MLmodel file read for the `onnx` flavour and the
//! signature's columns.

use crate::{OpsError, Project, Result};
use serde::Deserialize;

/// What MLflow's MLmodel file says that gyre uses.
#[derive(Deserialize)]
struct MlModel {
    #[serde(default)]
    flavors: std::collections::BTreeMap<String, serde_norway::Value>,
    #[serde(default)]
    signature: Option<MlSignature>,
}

#[derive(Deserialize)]
struct MlSignature {
    /// JSON, as a string: `[{"type": "double", "name": "age"}, …]` for columns.
    #[serde(default)]
    inputs: Option<String>,
}

/// An ONNX model an MLflow client logged: the graph and its MLflow signature's columns.
pub struct MlflowOnnx {
    pub bytes: Vec<u8>,
    pub columns: Vec<String>,
}

/// Whether a model reference is an MLflow source (`models:/m-…`, `mlflow-artifacts:/…`).
pub fn is_mlflow_source(reference: &str) -> bool {
    reference.starts_with("models:/m-") || reference.starts_with("mlflow-artifacts:/")
}

impl Project {
    /// The artifact folder an MLflow source names: a logged model's (`models:/m-ID`) or a
    /// path of the artifacts proxy (`mlflow-artifacts:/…`).
    async fn mlflow_folder(&self, source: &str) -> Result<Option<String>> {
        if let Some(id) = source.strip_prefix("models:/") {
            let Some(m) = self.meta.logged_model(id.trim_end_matches('/')).await? else {
                return Ok(None);
            };
            return Ok(Some(format!(
                "{}/models/{}/artifacts/",
                m.experiment_id, m.id
            )));
        }
        Ok(source
            .strip_prefix("mlflow-artifacts:/")
            .map(|p| format!("{}/", p.trim_matches('/'))))
    }

    /// The ONNX graph an MLflow source holds (an MLmodel with the `onnx` flavour), or `None`
    /// when it holds none (a pickled model, say).
    pub async fn mlflow_onnx(&self, source: &str) -> Result<Option<MlflowOnnx>> {
        let Some(folder) = self.mlflow_folder(source).await? else {
            return Ok(None);
        };
        let read = |path: String| async move {
            match self.meta.artifact(&path).await? {
                Some(e) => {
                    let hash: gyre_core::ContentHash = e
                        .hash
                        .parse()
                        .map_err(|e: gyre_core::CoreError| OpsError::Invalid(e.to_string()))?;
                    Ok::<_, OpsError>(Some(self.blobs.get_bytes(hash).await?))
                }
                None => Ok(None),
            }
        };
        let Some(text) = read(format!("{folder}MLmodel")).await? else {
            return Ok(None);
        };
        let ml: MlModel = serde_norway::from_slice(&text)
            .map_err(|e| OpsError::Invalid(format!("{source}: its MLmodel file: {e}")))?;
        let Some(data) = ml
            .flavors
            .get("onnx")
            .and_then(|f| f.get("data"))
            .and_then(|d| d.as_str())
        else {
            return Ok(None);
        };
        if !gyre_core::dataset::is_safe_relative_path(data) {
            return Err(OpsError::Invalid(format!(
                "{source}: the onnx flavour's data `{data}` leaves the model's folder"
            )));
        }
        let Some(bytes) = read(format!("{folder}{data}")).await? else {
            return Err(OpsError::NotFound(format!(
                "{source}: the onnx flavour names `{data}`, which was never uploaded"
            )));
        };
        let columns = ml
            .signature
            .and_then(|s| s.inputs)
            .and_then(|i| serde_json::from_str::<Vec<serde_json::Value>>(&i).ok())
            .map(|cols| {
                cols.iter()
                    .filter(|c| c["type"] != "tensor")
                    .filter_map(|c| c["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(MlflowOnnx { bytes, columns }))
    }
}
