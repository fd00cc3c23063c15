//! MLflow's model registry (`/api/2.0/mlflow/registered-models/…`, `model-versions/…`) onto
//! gyre's: a version an MLflow client creates is a gyre model version
//! (`Project::register_mlflow`): an ONNX model it logged is imported and serves; any other
//! source is recorded, never loaded (a pickled model runs code when loaded); an alias set through MLflow is a gyre alias move, audited under the caller's token, and
//! `champion` still needs a passing gate verdict (which a model gyre cannot load never has).
//! Versions gyre trained itself show here too.

use crate::access::Access::{Read, Token};
use crate::access::Caller;
use crate::mlflow::{MlflowError, Tracking};
use crate::{BodyKind, Route};
use axum::Json;
use axum::extract::{Extension, Query, State};
use axum::http::Method;
use axum::routing::{delete, get, post};
use gyre_core::access::Role;
use gyre_store::ModelVersion;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
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
    let read = |path, handler| Route::new(Method::GET, path, Read, BodyKind::None, handler);
    let search = |path, handler| Route::new(Method::POST, path, Read, BodyKind::Json, handler);
    vec![
        write(
            Method::POST,
            at!("/registered-models/create"),
            post(create_model),
        ),
        read(at!("/registered-models/get"), get(get_model)),
        search(at!("/registered-models/search"), post(search_models)),
        read(at!("/registered-models/search"), get(search_models_get)),
        write(
            Method::POST,
            at!("/model-versions/create"),
            post(create_version),
        ),
        read(at!("/model-versions/get"), get(get_version)),
        search(at!("/model-versions/search"), post(search_versions)),
        read(at!("/model-versions/search"), get(search_versions_get)),
        read(at!("/model-versions/get-download-uri"), get(download_uri)),
        write(
            Method::POST,
            at!("/registered-models/alias"),
            post(set_alias),
        ),
        write(
            Method::DELETE,
            at!("/registered-models/alias"),
            delete(delete_alias),
        ),
        read(at!("/registered-models/alias"), get(get_by_alias)),
    ]
}

fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, MlflowError> {
    serde_json::from_slice(bytes).map_err(|e| MlflowError::invalid(format!("the body: {e}")))
}

fn actor(c: &Caller) -> String {
    c.actor().unwrap_or_else(|| "anonymous".into())
}

/// The source an externally registered version records, or `models:/` for gyre's own.
async fn source_of(t: &Tracking, v: &ModelVersion) -> String {
    let Ok(hash) = v.model.parse::<gyre_core::ContentHash>() else {
        return String::new();
    };
    let Ok(bytes) = t.project().blobs.get_bytes(hash).await else {
        return String::new();
    };
    // A record of a source; a model imported from an MLflow source; or gyre's own.
    gyre_ops::registry::external_source(&bytes)
        .or_else(|| {
            let model = gyre_learn::model::Model::from_bytes(&bytes).ok()?;
            let (_, from) = gyre_ops::import::origin_of(&model)?;
            gyre_ops::import::is_mlflow_source(&from).then_some(from)
        })
        .unwrap_or_else(|| format!("models:/{}/{}", v.name, v.version))
}

async fn version_json(t: &Tracking, v: &ModelVersion, aliases: &[(String, i64)]) -> Value {
    json!({
        "name": v.name,
        "version": v.version.to_string(),
        "creation_timestamp": v.created_ms,
        "last_updated_timestamp": v.created_ms,
        "user_id": v.user,
        "current_stage": "None",
        "description": "",
        "source": source_of(t, v).await,
        "run_id": v.run_id.clone().unwrap_or_default(),
        "status": "READY",
        "tags": [],
        "aliases": aliases.iter().filter(|(_, n)| *n == v.version).map(|(a, _)| a).collect::<Vec<_>>(),
    })
}

/// Every registered name (recorded empty, or with gyre versions), with its versions.
async fn models(t: &Tracking) -> Result<BTreeMap<String, (i64, Vec<ModelVersion>)>, MlflowError> {
    let mut out: BTreeMap<String, (i64, Vec<ModelVersion>)> = BTreeMap::new();
    for (name, _, at) in t.project().meta.model_names().await? {
        out.insert(name, (at, Vec::new()));
    }
    for v in t.project().meta.model_versions(None).await? {
        let e = out
            .entry(v.name.clone())
            .or_insert((v.created_ms, Vec::new()));
        e.0 = e.0.min(v.created_ms);
        e.1.push(v);
    }
    Ok(out)
}

async fn model_json(
    t: &Tracking,
    name: &str,
    created: i64,
    versions: &[ModelVersion],
) -> Result<Value, MlflowError> {
    let aliases = t.project().meta.aliases(name).await?;
    let latest = match versions.iter().max_by_key(|v| v.version) {
        Some(v) => vec![version_json(t, v, &aliases).await],
        None => Vec::new(),
    };
    Ok(json!({
        "name": name,
        "creation_timestamp": created,
        "last_updated_timestamp": versions.iter().map(|v| v.created_ms).max().unwrap_or(created),
        "description": "",
        "latest_versions": latest,
        "tags": [],
        "aliases": aliases.iter().map(|(a, v)| json!({"alias": a, "version": v.to_string()})).collect::<Vec<_>>(),
    }))
}

#[derive(Deserialize)]
struct CreateModel {
    name: String,
    #[serde(default)]
    description: String,
}

async fn create_model(State(t): St, raw: axum::body::Bytes) -> Answer {
    let b: CreateModel = body(&raw)?;
    if models(&t).await?.contains_key(&b.name) {
        return Err(MlflowError::exists(format!(
            "a registered model named `{}` exists",
            b.name
        )));
    }
    t.project()
        .meta
        .create_model_name(&b.name, &b.description, gyre_ops::runs::now_ms())
        .await?;
    let m = model_json(&t, &b.name, gyre_ops::runs::now_ms(), &[]).await?;
    Ok(Json(json!({ "registered_model": m })))
}

async fn get_model(State(t): St, Query(q): Query<HashMap<String, String>>) -> Answer {
    let name = q.get("name").cloned().unwrap_or_default();
    let all = models(&t).await?;
    let (created, versions) = all
        .get(&name)
        .ok_or_else(|| MlflowError::missing(format!("no registered model `{name}`")))?;
    Ok(Json(
        json!({ "registered_model": model_json(&t, &name, *created, versions).await? }),
    ))
}

/// One condition of a registry filter.
enum Cond {
    /// `name = 'x'`, `name LIKE 'x%'`, `run_id = 'x'`.
    Field {
        field: String,
        like: bool,
        negated: bool,
        value: String,
    },
    /// `tag.KEY = 'v'` or `!=`: registered models and versions carry no tags here yet, so an
    /// equality never holds and an inequality always does.
    Tag { negated: bool },
}

/// The registry filters clients send: conditions joined by `AND` on `name`, `run_id` and
/// tags (the client adds `tag.mlflow.prompt.is_prompt != 'true'` to every search).
fn parse_filter(filter: Option<&str>) -> Result<Vec<Cond>, MlflowError> {
    let Some(f) = filter.map(str::trim).filter(|f| !f.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for part in split_and(f) {
        let part = part.trim();
        let bad =
            || MlflowError::invalid(format!("filter `{f}`: name, run_id or tags, joined by AND"));
        let (key, _) = part
            .split_once(|c: char| c.is_whitespace() || c == '=' || c == '!')
            .ok_or_else(bad)?;
        let rest = part[key.len()..].trim_start();
        let (op, value) = ["!=", "=", "ILIKE ", "LIKE ", "ilike ", "like "]
            .iter()
            .find_map(|op| rest.strip_prefix(op).map(|v| (op.trim(), v)))
            .ok_or_else(bad)?;
        let value = value
            .trim()
            .trim_matches(|c| c == '\'' || c == '"')
            .to_string();
        let negated = op == "!=";
        let like = op.eq_ignore_ascii_case("like") || op.eq_ignore_ascii_case("ilike");
        let key = key.replace('`', "");
        if key.starts_with("tag.") || key.starts_with("tags.") {
            out.push(Cond::Tag { negated });
        } else if key == "name" || key == "run_id" {
            out.push(Cond::Field {
                field: key,
                like,
                negated,
                value,
            });
        } else {
            return Err(bad());
        }
    }
    Ok(out)
}

/// Splits on ` AND ` (any case) outside quotes.
fn split_and(f: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let chars: Vec<char> = f.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) if c == q => quote = None,
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == ' ' => {
                let rest: String = chars[i..].iter().take(5).collect();
                if rest.eq_ignore_ascii_case(" and ") {
                    parts.push(std::mem::take(&mut cur));
                    i += 5;
                    continue;
                }
            }
            _ => {}
        }
        cur.push(c);
        i += 1;
    }
    parts.push(cur);
    parts
}

fn holds(conds: &[Cond], name: &str, run_id: Option<&str>) -> bool {
    conds.iter().all(|c| match c {
        Cond::Tag { negated } => *negated,
        Cond::Field {
            field,
            like,
            negated,
            value,
        } => {
            let have = if field == "name" {
                name
            } else {
                run_id.unwrap_or("")
            };
            let m = if *like {
                crate::mlflow::like(value, have)
            } else {
                value == have
            };
            m != *negated
        }
    })
}

#[derive(Deserialize, Default)]
struct Search {
    #[serde(default)]
    filter: Option<String>,
}

async fn search_models_of(t: &Tracking, s: Search) -> Answer {
    let f = parse_filter(s.filter.as_deref())?;
    let mut out = Vec::new();
    for (name, (created, versions)) in models(t).await? {
        if holds(&f, &name, None) {
            out.push(model_json(t, &name, created, &versions).await?);
        }
    }
    Ok(Json(json!({ "registered_models": out })))
}

async fn search_models(State(t): St, raw: axum::body::Bytes) -> Answer {
    let s = if raw.is_empty() {
        Search::default()
    } else {
        body(&raw)?
    };
    search_models_of(&t, s).await
}

async fn search_models_get(State(t): St, Query(q): Query<HashMap<String, String>>) -> Answer {
    search_models_of(
        &t,
        Search {
            filter: q.get("filter").cloned(),
        },
    )
    .await
}

#[derive(Deserialize)]
struct CreateVersion {
    name: String,
    source: String,
    #[serde(default)]
    run_id: Option<String>,
}

async fn create_version(
    State(t): St,
    Extension(caller): Extension<Caller>,
    raw: axum::body::Bytes,
) -> Answer {
    let b: CreateVersion = body(&raw)?;
    let run = b.run_id.filter(|r| !r.is_empty());
    let (v, _) = t
        .project()
        .register_mlflow(&b.name, &b.source, run.as_deref(), &actor(&caller))
        .await?;
    let aliases = t.project().meta.aliases(&v.name).await?;
    Ok(Json(
        json!({ "model_version": version_json(&t, &v, &aliases).await }),
    ))
}

async fn find_version(
    t: &Tracking,
    name: &str,
    version: &str,
) -> Result<ModelVersion, MlflowError> {
    let n: i64 = version
        .parse()
        .map_err(|_| MlflowError::invalid(format!("version `{version}` is not a number")))?;
    t.project()
        .meta
        .model_versions(Some(name))
        .await?
        .into_iter()
        .find(|v| v.version == n)
        .ok_or_else(|| MlflowError::missing(format!("no version {version} of `{name}`")))
}

async fn get_version(State(t): St, Query(q): Query<HashMap<String, String>>) -> Answer {
    let (name, version) = (
        q.get("name").cloned().unwrap_or_default(),
        q.get("version").cloned().unwrap_or_default(),
    );
    let v = find_version(&t, &name, &version).await?;
    let aliases = t.project().meta.aliases(&name).await?;
    Ok(Json(
        json!({ "model_version": version_json(&t, &v, &aliases).await }),
    ))
}

async fn search_versions_of(t: &Tracking, s: Search) -> Answer {
    let f = parse_filter(s.filter.as_deref())?;
    let mut out = Vec::new();
    let mut aliases: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    for v in t.project().meta.model_versions(None).await? {
        if !holds(&f, &v.name, v.run_id.as_deref()) {
            continue;
        }
        if !aliases.contains_key(&v.name) {
            aliases.insert(v.name.clone(), t.project().meta.aliases(&v.name).await?);
        }
        out.push(version_json(t, &v, &aliases[&v.name]).await);
    }
    Ok(Json(json!({ "model_versions": out })))
}

async fn search_versions(State(t): St, raw: axum::body::Bytes) -> Answer {
    let s = if raw.is_empty() {
        Search::default()
    } else {
        body(&raw)?
    };
    search_versions_of(&t, s).await
}

async fn search_versions_get(State(t): St, Query(q): Query<HashMap<String, String>>) -> Answer {
    search_versions_of(
        &t,
        Search {
            filter: q.get("filter").cloned(),
        },
    )
    .await
}

async fn download_uri(State(t): St, Query(q): Query<HashMap<String, String>>) -> Answer {
    let (name, version) = (
        q.get("name").cloned().unwrap_or_default(),
        q.get("version").cloned().unwrap_or_default(),
    );
    let v = find_version(&t, &name, &version).await?;
    Ok(Json(json!({ "artifact_uri": source_of(&t, &v).await })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_filters_as_clients_send_them() {
        let f = parse_filter(Some(
            "name = 'churn model' AND tag.`mlflow.prompt.is_prompt` != 'true'",
        ))
        .unwrap();
        assert!(holds(&f, "churn model", None));
        assert!(!holds(&f, "other", None));
        let f = parse_filter(Some("name LIKE 'churn%' and run_id = 'abc'")).unwrap();
        assert!(holds(&f, "churn-2", Some("abc")));
        assert!(!holds(&f, "churn-2", Some("abd")));
        assert!(parse_filter(Some("owner = 'x'")).is_err());
    }
}

#[derive(Deserialize)]
struct SetAlias {
    name: String,
    alias: String,
    version: String,
}

async fn set_alias(
    State(t): St,
    Extension(caller): Extension<Caller>,
    raw: axum::body::Bytes,
) -> Answer {
    let b: SetAlias = body(&raw)?;
    find_version(&t, &b.name, &b.version).await?;
    t.project()
        .set_alias(
            &format!("{}@{}", b.name, b.version),
            &b.alias,
            "set through the MLflow API",
            false,
            &actor(&caller),
        )
        .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct AliasRef {
    name: String,
    alias: String,
}

/// The client sends a DELETE's fields as a JSON body.
async fn delete_alias(
    State(t): St,
    Extension(caller): Extension<Caller>,
    raw: axum::body::Bytes,
) -> Answer {
    let AliasRef { name, alias } = body(&raw)?;
    t.project()
        .remove_alias(
            &name,
            &alias,
            "removed through the MLflow API",
            &actor(&caller),
        )
        .await?;
    Ok(Json(json!({})))
}

async fn get_by_alias(State(t): St, Query(q): Query<HashMap<String, String>>) -> Answer {
    let (name, alias) = (
        q.get("name").cloned().unwrap_or_default(),
        q.get("alias").cloned().unwrap_or_default(),
    );
    let v = t
        .project()
        .resolve_model_version(&format!("{name}@{alias}"))
        .await
        .map_err(|_| MlflowError::missing(format!("`{name}` has no alias `{alias}`")))?;
    let aliases = t.project().meta.aliases(&name).await?;
    Ok(Json(
        json!({ "model_version": version_json(&t, &v, &aliases).await }),
    ))
}
