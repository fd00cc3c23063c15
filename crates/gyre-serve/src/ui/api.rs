//! The JSON the web UI reads: each handler parses its query, calls one `Project` operation
//! (the same one the CLI calls) and returns its report as JSON. A client's mistake (a filter
//! that does not parse, a run that does not exist) is a 4xx with a JSON body.

use super::Ui;
use crate::ApiError;
use crate::access::Caller;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use gyre_core::DatasetRef;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

type St = State<Arc<Ui>>;
type Answer<T> = Result<Json<T>, ApiError>;

/// The most runs one page holds.
const MAX_PAGE: u64 = 500;
/// The most points a chart is sent per series (and the default).
const MAX_POINTS: usize = 5_000;
const DEFAULT_POINTS: usize = 1_000;
/// The end of a run's log that is shown.
const LOG_BYTES: usize = 256 << 10;

fn ops(e: gyre_ops::OpsError) -> ApiError {
    ApiError::from_ops(e)
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad(StatusCode::BAD_REQUEST, message)
}

/// Who the page is signed in as: a token's name and role, or nobody when reads are open.
pub async fn whoami(Extension(caller): Extension<Caller>) -> Json<Value> {
    Json(match &caller.token {
        Some(t) => json!({ "name": t.name, "role": t.role.as_str() }),
        None => json!({ "name": null, "role": null }),
    })
}

#[derive(Deserialize)]
pub struct RunsQuery {
    /// The run filter language of `gyre runs list --where`.
    #[serde(default, rename = "where")]
    filter: String,
    /// `started`, `name`, `metrics.KEY` or `params.KEY`, then `asc` or `desc`.
    order: Option<String>,
    #[serde(default)]
    offset: u64,
    limit: Option<u64>,
}

pub async fn runs(State(ui): St, Query(q): Query<RunsQuery>) -> Answer<gyre_ops::runs::RunPage> {
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let order = q.order.as_deref().map(str::trim).filter(|o| !o.is_empty());
    let page = ui
        .project
        .runs_page(q.filter.trim(), order, q.offset, limit)
        .await
        .map_err(ops)?;
    Ok(Json(page))
}

pub async fn run(State(ui): St, Path(id): Path<String>) -> Answer<gyre_ops::runs::RunDetail> {
    Ok(Json(ui.project.run_detail(&id).await.map_err(ops)?))
}

#[derive(Deserialize)]
pub struct SeriesQuery {
    from: Option<i64>,
    to: Option<i64>,
    points: Option<usize>,
}

/// A metric's points, cut down on the server to what a chart can draw; `from` and `to` (steps)
/// zoom in, and the cut is made again over the narrower range.
pub async fn series(
    State(ui): St,
    Path((id, key)): Path<(String, String)>,
    Query(q): Query<SeriesQuery>,
) -> Answer<gyre_ops::runs::Series> {
    let steps = match (q.from, q.to) {
        (None, None) => None,
        (from, to) => Some((from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX))),
    };
    if let Some((a, b)) = steps
        && a > b
    {
        return Err(invalid(format!("`from` ({a}) is after `to` ({b})")));
    }
    let points = q.points.unwrap_or(DEFAULT_POINTS).clamp(10, MAX_POINTS);
    Ok(Json(
        ui.project
            .metric_series(&id, &key, steps, points)
            .await
            .map_err(ops)?,
    ))
}

#[derive(Serialize)]
pub struct Log {
    log: Option<String>,
}

pub async fn log(State(ui): St, Path(id): Path<String>) -> Answer<Log> {
    Ok(Json(Log {
        log: ui.project.run_log(&id, LOG_BYTES).await.map_err(ops)?,
    }))
}

/// The report a `gyre backtest` run kept.
pub async fn backtest(State(ui): St, Path(id): Path<String>) -> Answer<Value> {
    Ok(Json(ui.project.backtest_report(&id).await.map_err(ops)?))
}

#[derive(Deserialize)]
pub struct CompareQuery {
    /// Run ids (or unique prefixes), comma-separated.
    runs: String,
}

pub async fn compare(
    State(ui): St,
    Query(q): Query<CompareQuery>,
) -> Answer<gyre_ops::runs::Comparison> {
    let ids: Vec<String> = q
        .runs
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if ids.len() > 50 {
        return Err(invalid(format!(
            "{} runs: compare at most 50 at a time",
            ids.len()
        )));
    }
    Ok(Json(ui.project.compare_runs(&ids).await.map_err(ops)?))
}

#[derive(Deserialize)]
pub struct LineageQuery {
    /// An artifact (`model:…`, `dataset:NAME@ID`, `NAME@V` of a model) or a run id.
    of: String,
}

pub async fn lineage(
    State(ui): St,
    Query(q): Query<LineageQuery>,
) -> Answer<gyre_ops::lineage::LineageGraph> {
    Ok(Json(ui.project.lineage(&q.of).await.map_err(ops)?))
}

pub async fn datasets(State(ui): St) -> Answer<Vec<gyre_store::DatasetSummary>> {
    Ok(Json(ui.project.list_datasets().await.map_err(ops)?))
}

fn dataset_ref(name: &str, version: &str) -> Result<DatasetRef, ApiError> {
    format!("{name}@{version}")
        .parse()
        .map_err(|e: gyre_core::CoreError| invalid(e.to_string()))
}

pub async fn dataset(
    State(ui): St,
    Path(name): Path<String>,
) -> Answer<Vec<gyre_core::dataset::VersionInfo>> {
    let name = name
        .parse()
        .map_err(|e: gyre_core::CoreError| invalid(e.to_string()))?;
    Ok(Json(ui.project.dataset_log(&name).await.map_err(ops)?))
}

pub async fn dataset_version(
    State(ui): St,
    Path((name, version)): Path<(String, String)>,
) -> Answer<gyre_core::dataset::DatasetVersion> {
    let r = dataset_ref(&name, &version)?;
    Ok(Json(ui.project.dataset_version(&r).await.map_err(ops)?))
}

/// The version validated now against the dataset's schema (`schemas/NAME.toml`).
pub async fn validation(
    State(ui): St,
    Path((name, version)): Path<(String, String)>,
) -> Answer<gyre_ops::validation::ValidateReport> {
    let r = dataset_ref(&name, &version)?;
    Ok(Json(
        ui.project
            .validate(
                &r.to_string(),
                None,
                &Default::default(),
                &gyre_ops::NoProgress,
            )
            .await
            .map_err(ops)?,
    ))
}

#[derive(Deserialize)]
pub struct VersionPair {
    a: String,
    b: String,
}

/// Two versions of a dataset: what changed (files, rows, each column's profile) and the drift
/// of each column, measured against `a`'s stored profile.
pub async fn dataset_compare(
    State(ui): St,
    Path(name): Path<String>,
    Query(q): Query<VersionPair>,
) -> Answer<Value> {
    let (a, b) = (dataset_ref(&name, &q.a)?, dataset_ref(&name, &q.b)?);
    let diff = ui.project.dataset_diff(&a, &b).await.map_err(ops)?;
    let drift = ui
        .project
        .drift(
            &a.to_string(),
            &b.to_string(),
            true,
            &Default::default(),
            &Default::default(),
            &gyre_ops::NoProgress,
        )
        .await
        .map_err(ops)?;
    Ok(Json(json!({ "diff": diff, "drift": drift })))
}

pub async fn models(State(ui): St) -> Answer<Vec<gyre_ops::registry::ModelSummary>> {
    Ok(Json(ui.project.list_models().await.map_err(ops)?))
}

/// A model's versions (with their aliases and newest verdict) and its audit trail.
pub async fn model(State(ui): St, Path(name): Path<String>) -> Answer<Value> {
    let versions = ui.project.model_version_rows(&name).await.map_err(ops)?;
    let history = ui.project.alias_history(&name).await.map_err(ops)?;
    let gate = ui.project.spec.gate.is_some();
    Ok(Json(
        json!({ "name": name, "versions": versions, "history": history, "gate": gate }),
    ))
}

pub async fn model_version(
    State(ui): St,
    Path((name, version)): Path<(String, String)>,
) -> Answer<gyre_ops::registry::ModelDetail> {
    Ok(Json(
        ui.project
            .show_model(&format!("{name}@{version}"))
            .await
            .map_err(ops)?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasMove {
    version: i64,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    force: bool,
}

/// Moves an alias through the gate (`champion` needs a passing verdict), audited with the
/// caller's token; `force` skips the gate and takes an admin token.
pub async fn move_alias(
    State(ui): St,
    Path((name, alias)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Answer<gyre_store::AliasEvent> {
    let m: AliasMove = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the body: {e} (expected {{\"version\": N, \"reason\": \"…\"}})"),
        )
    })?;
    if m.force && !caller.allows(gyre_core::access::Role::Admin) {
        return Err(ApiError::forbidden(
            "`force` skips the gate: it takes an admin token",
        ));
    }
    let actor = caller.actor().unwrap_or_else(|| "anonymous".into());
    let event = ui
        .project
        .set_alias(
            &format!("{name}@{}", m.version),
            &alias,
            &m.reason,
            m.force,
            &actor,
        )
        .await
        .map_err(ops)?;
    if let Some(r) = &ui.reload {
        r.notify_one();
    }
    Ok(Json(event))
}

#[derive(Deserialize)]
pub struct DeliveryQuery {
    model: Option<String>,
}

/// A model's delivery metrics since its first alias move.
pub async fn delivery(
    State(ui): St,
    Query(q): Query<DeliveryQuery>,
) -> Answer<gyre_ops::delivery::DeliveryReport> {
    Ok(Json(
        ui.project
            .delivery_report(q.model.as_deref(), None, gyre_ops::runs::now_ms())
            .await
            .map_err(ops)?,
    ))
}

pub async fn monitor(State(ui): St) -> Answer<gyre_ops::monitor::Timeline> {
    Ok(Json(ui.project.monitor_timeline().await.map_err(ops)?))
}

pub async fn pipeline(State(ui): St) -> Answer<Vec<gyre_ops::pipeline::StepNode>> {
    Ok(Json(ui.project.pipeline_graph().await.map_err(ops)?))
}
