//! MLflow 3's logged models (`/api/2.0/mlflow/logged-models…`): what `mlflow.<flavour>.
//! log_model` creates before it uploads the model's files to
//! `mlflow-artifacts:/EXPERIMENT/models/ID/artifacts/` (the artifacts proxy), then marks
//! ready; `runs/outputs` links it to its run. The files are stored, never loaded: a pickled
//! model runs code when loaded.

use crate::access::Access::{Read, Token};
use crate::mlflow::{MlflowError, Tracking};
use crate::{BodyKind, Route};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::{delete, get, patch, post};
use gyre_core::access::Role;
use gyre_store::{LoggedModel, ModelMetric};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

type St = State<Arc<Tracking>>;
type Answer = Result<Json<Value>, MlflowError>;

pub fn routes() -> Vec<Route<Arc<Tracking>>> {
    macro_rules! at {
        ($p:literal) => {
            concat!("/api/2.0/mlflow", $p)
        };
    }
    let write =
        |m, path, handler| Route::new(m, path, Token(Role::Editor), BodyKind::Json, handler);
    vec![
        write(Method::POST, at!("/logged-models"), post(create)),
        Route::new(
            Method::GET,
            at!("/logged-models/{model_id}"),
            Read,
            BodyKind::None,
            get(fetch),
        ),
        write(
            Method::PATCH,
            at!("/logged-models/{model_id}"),
            patch(finalize),
        ),
        write(
            Method::PATCH,
            at!("/logged-models/{model_id}/tags"),
            patch(set_tags),
        ),
        Route::new(
            Method::DELETE,
            at!("/logged-models/{model_id}/tags/{key}"),
            Token(Role::Editor),
            BodyKind::None,
            delete(delete_tag),
        ),
        write(
            Method::POST,
            at!("/logged-models/{model_id}/params"),
            post(log_params),
        ),
        Route::new(
            Method::POST,
            at!("/logged-models/search"),
            Read,
            BodyKind::Json,
            post(search),
        ),
        write(Method::POST, at!("/runs/outputs"), post(run_outputs)),
    ]
}

fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, MlflowError> {
    serde_json::from_slice(bytes).map_err(|e| MlflowError::invalid(format!("the body: {e}")))
}

fn pairs(m: &BTreeMap<String, String>) -> Vec<Value> {
    m.iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect()
}

/// A logged model as the client reads it, with the metrics linked to it.
async fn model_json(t: &Tracking, m: &LoggedModel) -> Result<Value, MlflowError> {
    let metrics = t.project().meta.model_metrics(&m.id).await?;
    Ok(model_json_with(m, &metrics))
}

fn model_json_with(m: &LoggedModel, metrics: &[ModelMetric]) -> Value {
    let metrics: Vec<Value> = metrics
        .iter()
        .map(|x| {
            json!({
                "key": x.key,
                "value": crate::mlflow::finite(x.value),
                "timestamp": x.timestamp_ms,
                "step": x.step,
                "run_id": x.run_id,
                "model_id": m.id,
                "dataset_name": x.dataset_name,
                "dataset_digest": x.dataset_digest,
            })
        })
        .collect();
    json!({
        "info": {
            "model_id": m.id,
            "experiment_id": m.experiment_id.to_string(),
            "name": m.name,
            "artifact_uri": format!("mlflow-artifacts:/{}/models/{}/artifacts", m.experiment_id, m.id),
            "creation_timestamp_ms": m.created_ms,
            "last_updated_timestamp_ms": m.updated_ms,
            "model_type": m.model_type,
            "source_run_id": m.source_run_id.clone().unwrap_or_default(),
            "status": m.status,
            "status_message": "",
            "tags": pairs(&m.tags),
        },
        "data": { "params": pairs(&m.params), "metrics": metrics },
    })
}

#[derive(Deserialize, Default)]
struct Kv {
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
struct Create {
    experiment_id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    model_type: Option<String>,
    #[serde(default)]
    source_run_id: Option<String>,
    #[serde(default)]
    params: Vec<Kv>,
    #[serde(default)]
    tags: Vec<Kv>,
}

async fn create(State(t): St, raw: axum::body::Bytes) -> Answer {
    let b: Create = body(&raw)?;
    let experiment: i64 = b
        .experiment_id
        .parse()
        .map_err(|_| MlflowError::invalid(format!("experiment id `{}`", b.experiment_id)))?;
    t.project()
        .meta
        .experiment(experiment)
        .await?
        .ok_or_else(|| MlflowError::missing(format!("no experiment with id {experiment}")))?;
    let bytes = gyre_ops::tokens::random_bytes::<16>()?;
    let id = format!(
        "m-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let now = gyre_ops::runs::now_ms();
    let m = LoggedModel {
        id,
        experiment_id: experiment,
        name: b.name.unwrap_or_else(|| "model".into()),
        model_type: b.model_type.unwrap_or_default(),
        source_run_id: b.source_run_id.filter(|r| !r.is_empty()),
        status: "LOGGED_MODEL_PENDING".into(),
        params: b.params.into_iter().map(|kv| (kv.key, kv.value)).collect(),
        tags: b.tags.into_iter().map(|kv| (kv.key, kv.value)).collect(),
        created_ms: now,
        updated_ms: now,
    };
    t.project().meta.put_logged_model(&m).await?;
    Ok(Json(json!({ "model": model_json(&t, &m).await? })))
}

async fn load(t: &Tracking, id: &str) -> Result<LoggedModel, MlflowError> {
    t.project()
        .meta
        .logged_model(id)
        .await?
        .ok_or_else(|| MlflowError::missing(format!("no logged model `{id}`")))
}

async fn fetch(State(t): St, Path(id): Path<String>) -> Answer {
    let m = load(&t, &id).await?;
    Ok(Json(json!({ "model": model_json(&t, &m).await? })))
}

#[derive(Deserialize)]
struct Finalize {
    status: String,
}

async fn finalize(State(t): St, Path(id): Path<String>, raw: axum::body::Bytes) -> Answer {
    let b: Finalize = body(&raw)?;
    if !matches!(
        b.status.as_str(),
        "LOGGED_MODEL_READY" | "LOGGED_MODEL_UPLOAD_FAILED" | "LOGGED_MODEL_PENDING"
    ) {
        return Err(MlflowError::invalid(format!("status `{}`", b.status)));
    }
    let mut m = load(&t, &id).await?;
    m.status = b.status;
    m.updated_ms = gyre_ops::runs::now_ms();
    t.project().meta.put_logged_model(&m).await?;
    Ok(Json(json!({ "model": model_json(&t, &m).await? })))
}

#[derive(Deserialize)]
struct Tags {
    #[serde(default)]
    tags: Vec<Kv>,
}

async fn set_tags(State(t): St, Path(id): Path<String>, raw: axum::body::Bytes) -> Answer {
    let b: Tags = body(&raw)?;
    let mut m = load(&t, &id).await?;
    m.tags
        .extend(b.tags.into_iter().map(|kv| (kv.key, kv.value)));
    m.updated_ms = gyre_ops::runs::now_ms();
    t.project().meta.put_logged_model(&m).await?;
    Ok(Json(json!({ "model": model_json(&t, &m).await? })))
}

async fn delete_tag(State(t): St, Path((id, key)): Path<(String, String)>) -> Answer {
    let mut m = load(&t, &id).await?;
    m.tags.remove(&key);
    t.project().meta.put_logged_model(&m).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct Params {
    #[serde(default)]
    params: Vec<Kv>,
}

async fn log_params(State(t): St, Path(id): Path<String>, raw: axum::body::Bytes) -> Answer {
    let b: Params = body(&raw)?;
    let mut m = load(&t, &id).await?;
    m.params
        .extend(b.params.into_iter().map(|kv| (kv.key, kv.value)));
    t.project().meta.put_logged_model(&m).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, Default)]
struct Search {
    #[serde(default)]
    experiment_ids: Vec<String>,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    max_results: Option<usize>,
}

/// The experiments' logged models; a filter, when given, is on `source_run_id` or `name`
/// (`=` joined by AND), the ones clients send to find a run's model.
async fn search(State(t): St, raw: axum::body::Bytes) -> Answer {
    let b: Search = if raw.is_empty() {
        Search::default()
    } else {
        body(&raw)?
    };
    let mut conds: Vec<(String, String)> = Vec::new();
    if let Some(f) = b.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        for part in f.split(" AND ").flat_map(|p| p.split(" and ")) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                MlflowError::invalid(format!("filter `{f}`: source_run_id or name with ="))
            })?;
            let k = k.trim().trim_start_matches("attributes.").replace('`', "");
            if k != "source_run_id" && k != "name" {
                return Err(MlflowError::invalid(format!(
                    "filter `{f}`: source_run_id or name with ="
                )));
            }
            conds.push((
                k,
                v.trim().trim_matches(|c| c == '\'' || c == '"').to_string(),
            ));
        }
    }
    let mut out = Vec::new();
    for e in &b.experiment_ids {
        let e: i64 = e
            .parse()
            .map_err(|_| MlflowError::invalid(format!("experiment id `{e}`")))?;
        for m in t.project().meta.logged_models(e).await? {
            let ok = conds.iter().all(|(k, v)| match k.as_str() {
                "name" => m.name == *v,
                _ => m.source_run_id.as_deref() == Some(v.as_str()),
            });
            if ok {
                out.push(model_json(&t, &m).await?);
            }
        }
    }
    out.truncate(b.max_results.unwrap_or(1000).max(1));
    Ok(Json(json!({ "models": out })))
}

#[derive(Deserialize)]
struct Outputs {
    run_id: String,
    #[serde(default)]
    models: Vec<ModelOutput>,
}

#[derive(Deserialize)]
struct ModelOutput {
    model_id: String,
}

/// `runs/outputs`: the run made these models; each is one of the run's outputs
/// (`mlflow-model:ID`), so lineage shows it.
async fn run_outputs(State(t): St, raw: axum::body::Bytes) -> Answer {
    let b: Outputs = body(&raw)?;
    let id: gyre_core::run::RunId = b
        .run_id
        .parse()
        .map_err(|_| MlflowError::missing(format!("no run `{}`", b.run_id)))?;
    let meta = &t.project().meta;
    meta.get_run(&id)
        .await
        .map_err(|_| MlflowError::missing(format!("no run `{id}`")))?;
    let refs: Vec<String> = b
        .models
        .iter()
        .map(|m| format!("mlflow-model:{}", m.model_id))
        .collect();
    meta.add_io(&id, gyre_store::Direction::Output, &refs)
        .await?;
    Ok(Json(json!({})))
}
