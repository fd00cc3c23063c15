//! MLflow's artifacts proxy (`/api/2.0/mlflow-artifacts/artifacts/…`): what `log_artifact`,
//! `log_text`, `log_dict` and `log_figure` upload, and what `list_artifacts` and
//! `download_artifacts` read. The bytes go into gyre's content-addressed object store (the same
//! bytes logged twice are kept once) and the path into the `artifacts` table; an artifact of a
//! known run is also one of the run's outputs (`artifact:PATH@HASH`), so lineage shows it.
//!
//! A path is data: it never becomes a file name. It is checked anyway (no empty, `.` or `..`
//! segment, no backslash, no leading slash) so that what a client lists is what it can fetch.

use crate::access::Access::{Read, Token};
use crate::mlflow::{MlflowError, Tracking};
use crate::{BodyKind, Route};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use futures_util::StreamExt;
use gyre_core::access::Role;
use gyre_store::ArtifactEntry;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;

type St = State<Arc<Tracking>>;

/// The largest artifact taken, in bytes.
const MAX_ARTIFACT: u64 = 4 << 30;

pub const PREFIX: &str = "/api/2.0/mlflow-artifacts/";

pub fn routes() -> Vec<Route<Arc<Tracking>>> {
    const ONE: &str = "/api/2.0/mlflow-artifacts/artifacts/{*path}";
    vec![
        Route::new(
            Method::PUT,
            ONE,
            Token(Role::Editor),
            BodyKind::Handler,
            put(upload),
        ),
        Route::new(Method::GET, ONE, Read, BodyKind::None, get(download)),
        Route::new(
            Method::DELETE,
            ONE,
            Token(Role::Editor),
            BodyKind::None,
            delete(remove),
        ),
        Route::new(
            Method::GET,
            "/api/2.0/mlflow-artifacts/artifacts",
            Read,
            BodyKind::None,
            get(list),
        ),
    ]
}

fn checked(path: &str) -> Result<String, MlflowError> {
    let p = path.trim_end_matches('/');
    let bad = p.is_empty()
        || p.len() > 1024
        || p.starts_with('/')
        || p.contains('\\')
        || p.split('/').any(|s| s.is_empty() || s == "." || s == "..");
    if bad {
        return Err(MlflowError::invalid(format!("artifact path `{path}`")));
    }
    Ok(p.to_string())
}

async fn upload(
    State(t): St,
    Path(path): Path<String>,
    body: Body,
) -> Result<Json<Value>, MlflowError> {
    let path = checked(&path)?;
    let project = t.project();
    // Streamed to a temporary file in the store's own folder, hashed on the way.
    let tmp_dir = project.state_dir().join("tmp");
    std::fs::create_dir_all(&tmp_dir).map_err(io)?;
    let mut file = tempfile::NamedTempFile::new_in(&tmp_dir).map_err(io)?;
    let mut hasher = blake3::Hasher::new();
    let mut size = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| MlflowError::invalid(format!("the upload broke off: {e}")))?;
        size += chunk.len() as u64;
        if size > MAX_ARTIFACT {
            return Err(MlflowError::invalid(format!(
                "artifacts are at most {MAX_ARTIFACT} bytes"
            )));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).map_err(io)?;
    }
    file.flush().map_err(io)?;
    let hash = gyre_core::ContentHash::from(hasher.finalize());
    project
        .blobs
        .put_file(file.path(), hash)
        .await
        .map_err(MlflowError::from)?;
    let hex = hash.to_hex();
    project
        .meta
        .put_artifact(&ArtifactEntry {
            path: path.clone(),
            hash: hex.clone(),
            size: size as i64,
            created_ms: gyre_ops::runs::now_ms(),
        })
        .await?;
    // `EXPERIMENT/RUN/artifacts/…`: the run's output too.
    let mut parts = path.splitn(4, '/');
    if let (Some(_), Some(run), Some("artifacts"), Some(rest)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
        && let Ok(id) = run.parse::<gyre_core::run::RunId>()
        && project.meta.get_run(&id).await.is_ok()
    {
        project
            .meta
            .add_io(
                &id,
                gyre_store::Direction::Output,
                &[format!("artifact:{rest}@{}", &hex[..12])],
            )
            .await?;
    }
    Ok(Json(json!({})))
}

fn io(e: std::io::Error) -> MlflowError {
    gyre_ops::note!("mlflow artifacts: {e}");
    MlflowError::internal()
}

async fn download(State(t): St, Path(path): Path<String>) -> Result<Response, MlflowError> {
    let path = checked(&path)?;
    let project = t.project();
    let a = project
        .meta
        .artifact(&path)
        .await?
        .ok_or_else(|| MlflowError::missing(format!("no artifact `{path}`")))?;
    let hash: gyre_core::ContentHash = a.hash.parse().map_err(|_| MlflowError::internal())?;
    // Verified against its hash on the way out, as every read of the store is.
    let bytes = project
        .blobs
        .get_bytes(hash)
        .await
        .map_err(MlflowError::from)?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

async fn remove(State(t): St, Path(path): Path<String>) -> Result<Json<Value>, MlflowError> {
    let path = checked(&path)?;
    if !t.project().meta.delete_artifact(&path).await? {
        return Err(MlflowError::missing(format!("no artifact `{path}`")));
    }
    Ok(Json(json!({})))
}

/// `?path=DIR`: DIR's children, by name relative to DIR, folders first as MLflow lists them.
async fn list(
    State(t): St,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, MlflowError> {
    let dir = match q.get("path").map(|p| p.trim_end_matches('/')) {
        Some(p) if !p.is_empty() => checked(p)?,
        _ => return Ok(Json(json!({ "files": [] }))),
    };
    let prefix = format!("{dir}/");
    let mut children: BTreeMap<String, Option<i64>> = BTreeMap::new();
    for a in t.project().meta.artifacts_under(&prefix).await? {
        let rest = &a.path[prefix.len()..];
        match rest.split_once('/') {
            Some((sub, _)) => {
                children.insert(sub.to_string(), None);
            }
            None => {
                children.entry(rest.to_string()).or_insert(Some(a.size));
            }
        }
    }
    let files: Vec<Value> = children
        .into_iter()
        .map(|(name, size)| match size {
            None => json!({ "path": name, "is_dir": true }),
            Some(s) => json!({ "path": name, "is_dir": false, "file_size": s }),
        })
        .collect();
    Ok(Json(json!({ "files": files })))
}
