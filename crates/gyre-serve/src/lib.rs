//! gyre's model server.
//!
//! It serves the model behind an alias (`champion` by default) and swaps it atomically when
//! the alias moves, whoever moves it (the CLI, the API, another server on the same store):
//! requests in flight finish on the model they started with. A canary share of requests can
//! go to `challenger`, or the challenger can score every request in shadow. Every prediction
//! is logged with its request id through a bounded queue that a writer drains in batches; a
//! full queue slows requests down rather than dropping records, and shutdown flushes it.

mod access;
mod error;
mod exposition;
mod labels;
mod listen;
mod log;
pub mod mlflow;
mod mlflow_artifacts;
mod mlflow_models;
mod mlflow_registry;
mod oip;
pub mod payload;
mod traffic;
mod ui;

pub use access::{Access, BodyKind, Rule};
use error::ApiError;

use arc_swap::ArcSwap;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gyre_learn::model::{Model, Predictions};
use gyre_learn::transform::{TransformError, Values};
use gyre_ops::Project;
use gyre_store::PredictionRecord;
use payload::Frame;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Serialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The registered model's name.
    pub model: String,
    pub alias: String,
    pub challenger_alias: String,
    pub addr: SocketAddr,
    /// Share of requests the challenger answers (0 for none).
    pub canary_share: f64,
    /// The challenger scores every request; its answers are logged, never returned.
    pub shadow: bool,
    /// Leave out (and count) columns the model does not take, instead of answering 422.
    pub ignore_extra_columns: bool,
    pub max_body_bytes: usize,
    /// How often the alias is checked in the store.
    pub poll: Duration,
    /// Prediction records the log queue holds before requests wait.
    pub queue: usize,
    /// Run `[monitor]` passes and `[[trigger]]`s in the server (off: something else does,
    /// e.g. `gyre agent`, or a test with its own clock).
    pub automation: bool,
    pub monitor_every: Duration,
    pub tick_every: Duration,
    /// Who may call what without a token, and by which names (`[serve.access]`).
    pub access: gyre_core::access::AccessSpec,
    /// What `/feedback` keeps (`[serve.labels]`).
    pub labels: gyre_core::access::LabelLimits,
    /// Answer a prediction only once its records are committed (`[serve] log = "durable"`);
    /// by default they are committed within about 50 ms of the answer, in batches.
    pub durable_log: bool,
    /// Requests in flight at most; more get 503 with `Retry-After`.
    pub max_concurrent: usize,
    /// Declared request bodies held in memory at once, in bytes; more get 503.
    pub max_inflight_body_bytes: usize,
    /// A request's header must arrive within this.
    pub header_timeout: Duration,
    /// A request, its body included, must be read and answered within this (else 408).
    pub request_timeout: Duration,
}

impl ServeOptions {
    pub fn new(model: &str, addr: SocketAddr) -> ServeOptions {
        ServeOptions {
            model: model.to_string(),
            alias: "champion".into(),
            challenger_alias: "challenger".into(),
            addr,
            canary_share: 0.0,
            shadow: false,
            ignore_extra_columns: false,
            max_body_bytes: 8 << 20,
            poll: Duration::from_millis(500),
            queue: 65_536,
            automation: true,
            monitor_every: Duration::from_secs(2),
            tick_every: Duration::from_secs(1),
            access: Default::default(),
            labels: Default::default(),
            durable_log: false,
            max_concurrent: 1024,
            // Parsing a JSON body takes several times its size: 32 MiB of bodies in flight
            // is a few hundred MB at most.
            max_inflight_body_bytes: 32 << 20,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Ops(#[from] gyre_ops::OpsError),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
}

/// A loaded model version.
pub struct Served {
    pub name: String,
    pub version: i64,
    pub hash: String,
    pub model: Model,
    /// Its metric series, looked up once (a lookup builds and hashes the label strings).
    metrics: std::sync::OnceLock<ServedMetrics>,
    /// `name@version`, the `x-model-version` header of every answer.
    header: Option<HeaderValue>,
}

/// One version's request counters (by role: champion, challenger; by status: ok,
/// client_error) and latency histogram.
struct ServedMetrics {
    requests: [[Counter; 2]; 2],
    latency: Histogram,
}

impl ServedMetrics {
    fn new(m: &Metrics, name: &str, version: i64) -> ServedMetrics {
        let counter = |role: &str, status: &str| {
            m.requests
                .get_or_create(&RequestLabels {
                    model: name.to_string(),
                    version: version.to_string(),
                    role: role.into(),
                    status: status.into(),
                })
                .clone()
        };
        ServedMetrics {
            requests: [
                [
                    counter("champion", "ok"),
                    counter("champion", "client_error"),
                ],
                [
                    counter("challenger", "ok"),
                    counter("challenger", "client_error"),
                ],
            ],
            latency: m
                .latency
                .get_or_create(&LatencyLabels {
                    model: name.to_string(),
                    version: version.to_string(),
                })
                .clone(),
        }
    }
}

impl Served {
    fn metrics(&self, m: &Metrics) -> &ServedMetrics {
        self.metrics
            .get_or_init(|| ServedMetrics::new(m, &self.name, self.version))
    }
}

struct Deployment {
    champion: Arc<Served>,
    challenger: Option<Arc<Served>>,
}

impl Deployment {
    /// Live version `v` and its role, or the 404 that says which versions are live.
    fn pinned(&self, v: i64) -> Result<(Arc<Served>, &'static str), ApiError> {
        if self.champion.version == v {
            return Ok((self.champion.clone(), "champion"));
        }
        match &self.challenger {
            Some(c) if c.version == v => Ok((c.clone(), "challenger")),
            _ => Err(oip::not_served(self, v)),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    model: String,
    version: String,
    role: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    model: String,
    version: String,
}

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    queue_depth: Gauge,
    extra_columns: Counter,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.00005, 2.0, 16))
        });
        let queue_depth = Gauge::default();
        registry.register("gyre_requests", "Prediction requests", requests.clone());
        registry.register(
            "gyre_request_seconds",
            "Prediction request latency in seconds",
            latency.clone(),
        );
        registry.register(
            "gyre_log_queue_depth",
            "Prediction records waiting to be written",
            queue_depth.clone(),
        );
        let extra_columns = Counter::default();
        registry.register(
            "gyre_extra_columns_ignored",
            "Columns of requests the model does not take, left out ([serve] extra_columns = \"ignore\")",
            extra_columns.clone(),
        );
        Metrics {
            extra_columns,
            registry,
            requests,
            latency,
            queue_depth,
        }
    }
}

/// What the serving routes read (opaque outside this crate).
pub struct AppState {
    project: Arc<Project>,
    opts: ServeOptions,
    live: ArcSwap<Deployment>,
    log: mpsc::Sender<log::LogItem>,
    metrics: Metrics,
    requests: AtomicU64,
    id_prefix: String,
    /// The key of request ids' tags (see [`server_request_id`]).
    id_key: [u8; 32],
    guard: Arc<access::Guard>,
    limits: Arc<listen::Limits>,
    client_ids: std::sync::Mutex<RecentIds>,
    /// Wakes the reloader at once (after an alias move through the API).
    reload: Arc<tokio::sync::Notify>,
    /// The project's triggers, when the server runs them.
    scheduler: Option<Arc<gyre_ops::triggers::Scheduler>>,
    /// Traffic windows for the monitor's drift, shift and operational rules.
    traffic: Option<traffic::Traffic>,
}

fn now_ms() -> i64 {
    gyre_ops::runs::now_ms()
}

fn random_bytes<const N: usize>() -> Result<[u8; N], ServeError> {
    gyre_ops::tokens::random_bytes::<N>().map_err(ServeError::Ops)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn load(
    project: &Project,
    name: &str,
    alias: &str,
) -> Result<Option<Arc<Served>>, gyre_ops::OpsError> {
    let v = match project
        .resolve_model_version(&format!("{name}@{alias}"))
        .await
    {
        Ok(v) => v,
        Err(gyre_ops::OpsError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let loaded = project.load_model(&format!("model:{}", v.model)).await?;
    Ok(Some(Arc::new(Served {
        header: HeaderValue::from_str(&format!("{}@{}", v.name, v.version)).ok(),
        name: v.name,
        version: v.version,
        hash: v.model,
        model: loaded.model,
        metrics: Default::default(),
    })))
}

/// Starts serving; returns the bound address and a handle that stops the server (flushing
/// the prediction log) when `shutdown` resolves.
pub async fn serve(
    project: Arc<Project>,
    opts: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(SocketAddr, &Served),
) -> Result<(), ServeError> {
    let champion = load(&project, &opts.model, &opts.alias).await?.ok_or_else(|| {
        gyre_ops::OpsError::NotFound(format!(
            "`{}@{}` does not exist: register a model and point the alias at it (`gyre models alias {}@1 {}`)",
            opts.model, opts.alias, opts.model, opts.alias
        ))
    })?;
    let challenger = if opts.canary_share > 0.0 || opts.shadow {
        load(&project, &opts.model, &opts.challenger_alias).await?
    } else {
        None
    };
    let scheduler = if opts.automation && !project.spec.trigger.is_empty() {
        Some(gyre_ops::triggers::Scheduler::new(project.clone(), now_ms()).await?)
    } else {
        None
    };
    // Message triggers on NATS; serving goes on without them when NATS is unreachable.
    let nats = match &scheduler {
        Some(s) => gyre_ops::triggers::listen_nats(s.clone())
            .await
            .unwrap_or_else(|e| {
                gyre_ops::note!("triggers: {e}");
                None
            }),
        None => None,
    };
    let (traffic, traffic_rx) = match &project.spec.monitor {
        Some(m) if opts.automation && m.watches_traffic() => {
            let (ttx, trx) = mpsc::channel(16);
            (Some(traffic::Traffic::new(m, ttx)), Some(trx))
        }
        _ => (None, None),
    };
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: opts.addr,
            source,
        })?;
    let bound = listener.local_addr()?;
    let (tx, rx) = mpsc::channel::<log::LogItem>(opts.queue.max(1));
    let state = Arc::new(AppState {
        project: project.clone(),
        live: ArcSwap::from_pointee(Deployment {
            champion: champion.clone(),
            challenger,
        }),
        log: tx,
        metrics: Metrics::new(),
        requests: AtomicU64::new(0),
        id_prefix: hex(&random_bytes::<6>()?),
        id_key: random_bytes::<32>()?,
        guard: Arc::new(access::Guard::new(
            project.clone(),
            routes()
                .iter()
                .map(|r| ((r.method.clone(), r.path), r.rule))
                .chain(
                    mlflow::routes()
                        .iter()
                        .map(|r| ((r.method.clone(), r.path), r.rule)),
                )
                .chain(
                    ui::routes()
                        .iter()
                        .map(|r| ((r.method.clone(), r.path), r.rule)),
                )
                .collect(),
            &opts.access,
            // The address bound (with its port, when 0 asked for any).
            bound,
        )),
        client_ids: Default::default(),
        limits: Arc::new(listen::Limits::new(
            opts.max_concurrent,
            opts.max_inflight_body_bytes,
            opts.request_timeout,
        )),
        reload: Arc::new(tokio::sync::Notify::new()),
        scheduler: scheduler.clone(),
        traffic,
        opts: opts.clone(),
    });
    let (stop_writer, writer_stop) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(log::write_log(
        project.clone(),
        rx,
        writer_stop,
        opts.durable_log,
    ));
    let reloader = tokio::spawn(reload_loop(state.clone()));
    let automation = tokio::spawn(gyre_ops::triggers::automate(
        project.clone(),
        scheduler,
        traffic_rx,
        opts.automation,
        opts.monitor_every,
        opts.tick_every,
    ));

    let app = router(state.clone(), opts.max_body_bytes);
    on_bound(bound, &champion);
    listen::run(listener, app, opts.header_timeout, shutdown).await;
    // No request is in flight any more: flush the log and stop.
    reloader.abort();
    automation.abort();
    if let Some(n) = nats {
        n.abort();
    }
    // Stopped before the leases go, so it cannot take one back.
    let _ = automation.await;
    // Another server or agent takes triggers and monitoring over at once, not at the expiry.
    if let Err(e) = gyre_ops::team::release_all(&project).await {
        gyre_ops::note!("releasing leases: {e}");
    }
    let _ = stop_writer.send(());
    let _ = writer.await;
    drop(state);
    Ok(())
}

/// One route: where, how, and who may call it (`S`: the state its handler reads).
pub struct Route<S = Arc<AppState>> {
    pub method: Method,
    pub path: &'static str,
    pub rule: Rule,
    handler: axum::routing::MethodRouter<S>,
}

impl<S: Clone + Send + Sync + 'static> Route<S> {
    pub(crate) fn new(
        method: Method,
        path: &'static str,
        access: access::Access,
        body: BodyKind,
        handler: axum::routing::MethodRouter<S>,
    ) -> Route<S> {
        Route {
            method,
            path,
            rule: Rule { access, body },
            handler,
        }
    }
}

/// How `gyre server` (tracking only, no model) serves.
#[derive(Debug, Clone)]
pub struct TrackingOptions {
    pub addr: SocketAddr,
    pub access: gyre_core::access::AccessSpec,
    pub max_body_bytes: usize,
}

/// Serves the MLflow tracking API (and `/health`) with no model: `gyre server`. The same
/// access rules, limits and error shapes as [`serve`].
pub async fn serve_tracking(
    project: Arc<Project>,
    opts: TrackingOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: opts.addr,
            source,
        })?;
    let bound = listener.local_addr()?;
    let mut routes = mlflow::routes();
    routes.push(Route::new(
        Method::GET,
        "/health",
        access::Access::Open,
        BodyKind::None,
        get(live),
    ));
    routes.push(Route::new(
        Method::GET,
        "/version",
        access::Access::Open,
        BodyKind::None,
        get(|| async { env!("CARGO_PKG_VERSION") }),
    ));
    let pages = ui::routes();
    let guard = Arc::new(access::Guard::new(
        project.clone(),
        routes
            .iter()
            .map(|r| ((r.method.clone(), r.path), r.rule))
            .chain(pages.iter().map(|r| ((r.method.clone(), r.path), r.rule)))
            .collect(),
        &opts.access,
        bound,
    ));
    let defaults = ServeOptions::new("", bound);
    let limits = Arc::new(listen::Limits::new(
        defaults.max_concurrent,
        defaults.max_inflight_body_bytes,
        defaults.request_timeout,
    ));
    let tracking = Arc::new(mlflow::Tracking::new(project.clone()));
    let ui = Arc::new(ui::Ui::new(project, None));
    let app = finish(
        guarded(routes, tracking, guard.clone()).merge(guarded(pages, ui, guard)),
        opts.max_body_bytes,
        limits,
    );
    on_bound(bound);
    listen::run(listener, app, defaults.header_timeout, shutdown).await;
    Ok(())
}

/// Every route of `gyre serve` (serving and the MLflow API) with its rule: what the access
/// test walks.
pub fn all_rules() -> Vec<(Method, &'static str, Rule)> {
    routes()
        .into_iter()
        .map(|r| (r.method, r.path, r.rule))
        .chain(
            mlflow::routes()
                .into_iter()
                .map(|r| (r.method, r.path, r.rule)),
        )
        .chain(ui::routes().into_iter().map(|r| (r.method, r.path, r.rule)))
        .collect()
}

/// `routes` behind `guard`, with `state`: the one way a route is served.
fn guarded<S: Clone + Send + Sync + 'static>(
    routes: Vec<Route<S>>,
    state: S,
    guard: Arc<access::Guard>,
) -> Router {
    let mut app = Router::new();
    for route in routes {
        app = app.route(route.path, route.handler);
    }
    app.route_layer(axum::middleware::from_fn_with_state(guard, access::guard))
        .with_state(state)
}

/// The layers every server has: JSON 404s, the body limit, admission limits and timeouts,
/// and JSON for axum's own rejections.
fn finish(app: Router, max_body_bytes: usize, limits: Arc<listen::Limits>) -> Router {
    app.fallback(|| async { ApiError::bad(StatusCode::NOT_FOUND, "no such route") })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(limits, listen::limits))
        .layer(axum::middleware::from_fn(error::json_errors))
}

/// Every route the server answers, each with its access decision. The router is built from
/// this list alone, so a route cannot exist without a rule.
pub fn routes() -> Vec<Route> {
    use access::Access::*;
    use gyre_core::access::Role;
    let r = |method: Method, path, access, body, handler| Route {
        method,
        path,
        rule: Rule { access, body },
        handler,
    };
    vec![
        r(
            Method::POST,
            "/invocations",
            Predict,
            BodyKind::Handler,
            post(invocations),
        ),
        // The Open Inference Protocol (oip.rs): its handlers read the body's type themselves
        // (JSON, binary tensors, or none as tritonclient sends).
        r(
            Method::POST,
            "/v2/models/{name}/infer",
            Predict,
            BodyKind::Handler,
            post(oip::infer),
        ),
        r(
            Method::POST,
            "/v2/models/{name}/versions/{version}/infer",
            Predict,
            BodyKind::Handler,
            post(oip::version_infer),
        ),
        r(
            Method::GET,
            "/v2/models/{name}",
            Read,
            BodyKind::None,
            get(oip::metadata),
        ),
        r(
            Method::GET,
            "/v2/models/{name}/versions/{version}",
            Read,
            BodyKind::None,
            get(oip::version_metadata),
        ),
        r(
            Method::GET,
            "/v2/models/{name}/ready",
            Open,
            BodyKind::None,
            get(oip::model_ready),
        ),
        r(
            Method::GET,
            "/v2/models/{name}/versions/{version}/ready",
            Open,
            BodyKind::None,
            get(oip::version_ready),
        ),
        r(
            Method::GET,
            "/v2",
            Open,
            BodyKind::None,
            get(oip::server_metadata),
        ),
        r(
            Method::GET,
            "/v2/health/live",
            Open,
            BodyKind::None,
            get(oip::live),
        ),
        r(
            Method::GET,
            "/v2/health/ready",
            Open,
            BodyKind::None,
            get(oip::ready),
        ),
        // MLflow's scoring server and tracking server answer their version here.
        r(
            Method::GET,
            "/version",
            Open,
            BodyKind::None,
            get(|| async { env!("CARGO_PKG_VERSION") }),
        ),
        r(Method::GET, "/health", Open, BodyKind::None, get(live)),
        r(Method::GET, "/ready", Open, BodyKind::None, get(ready)),
        r(
            Method::POST,
            "/feedback",
            Token(Role::Predictor),
            BodyKind::Json,
            post(labels::feedback),
        ),
        r(Method::GET, "/metrics", Read, BodyKind::None, get(metrics)),
        // A constant answer: the server's own floor, for benchmarks.
        r(
            Method::GET,
            "/ping",
            Open,
            BodyKind::None,
            get(|| async { "pong" }),
        ),
        r(
            Method::POST,
            "/api/triggers/{name}",
            Webhook,
            BodyKind::None,
            post(fire_trigger),
        ),
    ]
}

/// The server's router: [`routes`] and the MLflow API behind the access guard, errors as
/// JSON.
fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    let tracking = Arc::new(mlflow::Tracking::new(state.project.clone()));
    let ui = Arc::new(ui::Ui::new(
        state.project.clone(),
        Some(state.reload.clone()),
    ));
    let app = guarded(routes(), state.clone(), state.guard.clone())
        .merge(guarded(mlflow::routes(), tracking, state.guard.clone()))
        .merge(guarded(ui::routes(), ui, state.guard.clone()));
    finish(app, max_body_bytes, state.limits.clone())
}

/// `POST /api/triggers/{name}`: fires a `message` trigger. The caller shows the bearer token
/// held in the trigger's `token_env` (default `GYRE_TRIGGER_TOKEN`); while that variable is
/// unset the webhook refuses every call.
async fn fire_trigger(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Extension(caller): Extension<access::Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(s) = &state.scheduler else {
        return Err(ApiError::bad(
            StatusCode::NOT_FOUND,
            "this server runs no triggers ([[trigger]] in gyre.toml)",
        ));
    };
    let t = s
        .triggers()
        .iter()
        .find(|t| t.name == name && t.on == gyre_core::monitor::TriggerKind::Message)
        .ok_or_else(|| {
            ApiError::bad(
                StatusCode::NOT_FOUND,
                format!("no message trigger named `{name}`"),
            )
        })?;
    // An editor token (checked by the guard) will do; else the trigger's own secret.
    if caller.token.is_none() {
        let var = t.token_env.as_deref().unwrap_or("GYRE_TRIGGER_TOKEN");
        let Some(secret) = std::env::var(var).ok().filter(|t| !t.is_empty()) else {
            return Err(ApiError::forbidden(format!(
                "the webhook takes an editor token, or the secret in {var}, which is unset"
            )));
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !constant_time_eq(given.as_bytes(), secret.as_bytes()) {
            return Err(ApiError::unauthorized(
                "a valid `Authorization: Bearer …` token is required",
            ));
        }
    }
    let note = String::from_utf8_lossy(&body[..body.len().min(200)]).to_string();
    let cause = if note.trim().is_empty() {
        "webhook".to_string()
    } else {
        format!("webhook: {}", note.trim())
    };
    let (fired, _) = s
        .fire(&name, &cause, now_ms())
        .await
        .map_err(ApiError::from_ops)?;
    Ok((StatusCode::ACCEPTED, Json(json!(fired.firing))).into_response())
}

/// Compares secrets without leaking where they differ through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Follows the aliases in the store and swaps models when they move.
async fn reload_loop(state: Arc<AppState>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(state.opts.poll) => {}
            _ = state.reload.notified() => {}
        }
        let _ = reload_once(&state).await;
    }
}

async fn reload_once(state: &AppState) -> Result<(), gyre_ops::OpsError> {
    let o = &state.opts;
    let current = state.live.load_full();
    let want = |alias: &str| {
        let p = state.project.clone();
        let name = o.model.clone();
        let alias = alias.to_string();
        async move {
            p.resolve_model_version(&format!("{name}@{alias}"))
                .await
                .ok()
        }
    };
    let champion = match want(&o.alias).await {
        Some(v) if v.version != current.champion.version => {
            match load(&state.project, &o.model, &o.alias).await? {
                Some(s) => {
                    gyre_ops::note!(
                        "{}@{}: v{} → v{}",
                        o.model,
                        o.alias,
                        current.champion.version,
                        s.version
                    );
                    s
                }
                None => current.champion.clone(),
            }
        }
        _ => current.champion.clone(),
    };
    let challenger = if o.canary_share > 0.0 || o.shadow {
        match (want(&o.challenger_alias).await, &current.challenger) {
            (Some(v), Some(c)) if v.version == c.version => Some(c.clone()),
            (Some(_), _) => load(&state.project, &o.model, &o.challenger_alias).await?,
            (None, _) => None,
        }
    } else {
        None
    };
    let same = Arc::ptr_eq(&champion, &current.champion)
        && match (&challenger, &current.challenger) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
    if !same {
        state.live.store(Arc::new(Deployment {
            champion,
            challenger,
        }));
    }
    Ok(())
}

/// What one row's prediction looks like in the log: a number, or
/// `{"label": .., "probabilities": {class: p, ..}}`.
fn row_output(model: &Model, pred: &Predictions, r: usize) -> String {
    struct Probs<'a>(&'a [String], &'a [f64]);
    impl Serialize for Probs<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut m = s.serialize_map(Some(self.0.len()))?;
            for (c, p) in self.0.iter().zip(self.1) {
                m.serialize_entry(c, p)?;
            }
            m.end()
        }
    }
    #[derive(Serialize)]
    struct Classified<'a> {
        label: &'a str,
        probabilities: Probs<'a>,
    }
    let classes = &model.signature.classes;
    let out = if classes.is_empty() {
        serde_json::to_string(&pred.row(r)[0])
    } else {
        serde_json::to_string(&Classified {
            label: &classes[pred.class_of(r)],
            probabilities: Probs(classes, pred.row(r)),
        })
    };
    // Serialising numbers and strings cannot fail (non-finite numbers become null).
    out.unwrap_or_else(|_| "null".into())
}

fn predict_rows(model: &Model, inputs: &[Values], rows: usize) -> Result<Predictions, ApiError> {
    let refs: Vec<&Values> = inputs.iter().collect();
    let all: Vec<usize> = (0..rows).collect();
    // Loading checks every invariant a prediction relies on; should one still be missed, the
    // client gets a 500 naming a model fault instead of a dropped connection.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.predict(&refs, &all)))
        .map_err(|_| ApiError::internal("predicting", "the model panicked"))?
        .map_err(|e| match e {
            // The model's runtime failed (an ONNX graph): not the client's doing.
            TransformError::Model(m) => ApiError::internal("predicting", m),
            e => ApiError::bad(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        })
}

struct Scored {
    served: Arc<Served>,
    role: &'static str,
    request_id: String,
    pred: Predictions,
}

/// A request's rows: a frame already read (CSV, v2), or an MLflow JSON body that the model
/// chosen to answer reads by its signature.
enum Input {
    Frame(Frame),
    Mlflow(Bytes),
}

fn bad_body(p: payload::Problem) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "bad_request",
        message: p.message.clone(),
        problems: vec![p],
    }
}

/// Typed columns, or why the input does not fit the signature (422).
type Typed = Result<Vec<Values>, ApiError>;

/// The input typed by a model's signature, with its row count. Body errors are `Err` (400);
/// a body that does not fit the signature is `Ok((Err(..), _))`.
/// Columns left out under `[serve] extra_columns = "ignore"` are counted when `count` (not
/// again when a shadow reads the same request).
fn read(
    state: &AppState,
    input: &Input,
    served: &Served,
    count: bool,
) -> Result<(Typed, usize), ApiError> {
    let from_frame = |frame: &Frame| {
        let rows = frame.rows();
        if rows == 0 {
            return Err(ApiError::bad(
                StatusCode::BAD_REQUEST,
                "the request has no rows",
            ));
        }
        let typed = payload::typed_with(
            &served.model.signature,
            frame,
            state.opts.ignore_extra_columns,
        )
        .map(|(columns, ignored)| {
            if count && ignored > 0 {
                state.metrics.extra_columns.inc_by(ignored as u64);
            }
            columns
        })
        .map_err(|problems| ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_input",
            message: format!(
                "the input does not match the signature of {}@{}",
                served.name, served.version
            ),
            problems,
        });
        Ok((typed, rows))
    };
    match input {
        Input::Frame(f) => from_frame(f),
        Input::Mlflow(body) => {
            if let Some(columns) = payload::signature_records(body, &served.model.signature) {
                let rows = columns[0].len();
                return Ok((Ok(columns), rows));
            }
            match payload::mlflow_body(body) {
                Err(payload::BodyError::Json(e)) => Err(ApiError::bad(
                    StatusCode::BAD_REQUEST,
                    format!("the body is not JSON: {e}"),
                )),
                Err(payload::BodyError::Problem(p)) => Err(bad_body(p)),
                Ok(f) => from_frame(&f),
            }
        }
    }
}

fn shutting_down() -> ApiError {
    ApiError::bad(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is shutting down",
    )
}

/// A client's own request id names one request: a second use is refused (409), since its
/// prediction could not be logged (the log keeps the first) and a label could not tell the
/// two apart. Ids seen lately are held in memory (the log is written up to 50 ms later);
/// older ones are looked up in the log.
async fn claim_client_id(state: &AppState, id: &str) -> Result<(), ApiError> {
    let fresh = state
        .client_ids
        .lock()
        .map(|mut recent| recent.insert(id))
        .unwrap_or(true);
    let reused = !fresh
        || !state
            .project
            .meta
            .predictions_of(id)
            .await
            .map_err(|e| ApiError::internal("looking up the request id", e))?
            .is_empty();
    if reused {
        return Err(ApiError::bad(
            StatusCode::CONFLICT,
            format!(
                "x-request-id `{id}` was used before: each request needs its own id (or send none \
                 and the server makes one)"
            ),
        )
        .with_code("request_id_reused"));
    }
    Ok(())
}

/// The client request ids seen lately, oldest dropped first.
#[derive(Default)]
struct RecentIds {
    set: std::collections::HashSet<String>,
    order: std::collections::VecDeque<String>,
}

impl RecentIds {
    const CAPACITY: usize = 100_000;

    /// Adds an id; false when it was there.
    fn insert(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() == Self::CAPACITY
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.set.insert(id.to_string());
        self.order.push_back(id.to_string());
        true
    }
}

/// Routes, types, predicts and logs one request.
async fn score(
    state: &Arc<AppState>,
    input: Input,
    request_id: Option<String>,
) -> Result<Scored, ApiError> {
    score_on(state, input, request_id, None).await
}

/// [`score`] on the live version `pin` when given (an Open Inference Protocol
/// `/versions/{v}` path), else on the champion or the canary's share.
async fn score_on(
    state: &Arc<AppState>,
    input: Input,
    request_id: Option<String>,
    pin: Option<i64>,
) -> Result<Scored, ApiError> {
    let deployment = state.live.load_full();
    let pinned = pin.map(|v| deployment.pinned(v)).transpose()?;
    let started = Instant::now();
    let n = state.requests.fetch_add(1, Ordering::Relaxed);
    let request_id = match request_id.filter(|r| !r.is_empty() && r.len() <= 128) {
        Some(id) => {
            claim_client_id(state, &id).await?;
            id
        }
        None => server_request_id(&state.id_prefix, &state.id_key, n),
    };
    // A low-discrepancy sequence gives the challenger its exact share over any stretch.
    let canary = state.opts.canary_share > 0.0
        && !state.opts.shadow
        && deployment.challenger.is_some()
        && ((n as f64) * 0.618_033_988_749_894_9).fract() < state.opts.canary_share;
    let (served, role) = if let Some(p) = pinned {
        p
    } else if canary {
        (
            deployment.challenger.clone().expect("checked"),
            "challenger",
        )
    } else {
        (deployment.champion.clone(), "champion")
    };
    let (typed, rows) = read(state, &input, &served, true)?;
    let result = match typed {
        Err(e) => Err(e),
        Ok(inputs) => {
            if rows > 512 {
                let s = served.clone();
                tokio::task::spawn_blocking(move || {
                    predict_rows(&s.model, &inputs, rows).map(|p| (p, inputs))
                })
                .await
                .map_err(|e| ApiError::internal("predicting", e))?
            } else {
                predict_rows(&served.model, &inputs, rows).map(|p| (p, inputs))
            }
        }
    };
    if role == "champion"
        && let Some(t) = &state.traffic
    {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match &result {
            Ok((p, inputs)) => t.observe(&served, Some(inputs), Some(p), rows, ms, now_ms()),
            Err(_) => t.observe(&served, None, None, rows, ms, now_ms()),
        }
    }
    let series = served.metrics(&state.metrics);
    series.requests[usize::from(role != "champion")][usize::from(result.is_err())].inc();
    let (pred, inputs) = result?;
    let ts = now_ms();
    for r in 0..rows {
        let rec = PredictionRecord {
            request_id: request_id.clone(),
            row_index: r as i64,
            role: role.into(),
            ts_ms: ts,
            model: served.name.clone(),
            version: served.version,
            inputs: payload::row_json(&inputs, r),
            output: row_output(&served.model, &pred, r),
        };
        // Waits when the queue is full: back-pressure, not loss.
        if state.log.send(log::LogItem::Record(rec)).await.is_err() {
            return Err(shutting_down());
        }
    }
    // Durable: answer only once the records are committed (a kill -9 then loses none).
    if state.opts.durable_log {
        let (done, committed) = tokio::sync::oneshot::channel();
        if state.log.send(log::LogItem::Ack(done)).await.is_err() || committed.await.is_err() {
            return Err(shutting_down());
        }
    }
    if state.opts.shadow
        && let Some(ch) = deployment.challenger.clone()
    {
        let st = state.clone();
        let id = request_id.clone();
        tokio::spawn(async move {
            if let Ok((Ok(shadow_inputs), rows)) = read(&st, &input, &ch, false)
                && let Ok(p) = predict_rows(&ch.model, &shadow_inputs, rows)
            {
                for r in 0..rows {
                    let _ = st
                        .log
                        .send(log::LogItem::Record(PredictionRecord {
                            request_id: id.clone(),
                            row_index: r as i64,
                            role: "shadow".into(),
                            ts_ms: ts,
                            model: ch.name.clone(),
                            version: ch.version,
                            inputs: payload::row_json(&shadow_inputs, r),
                            output: row_output(&ch.model, &p, r),
                        }))
                        .await;
                }
            }
        });
    }
    series.latency.observe(started.elapsed().as_secs_f64());
    Ok(Scored {
        served,
        role,
        request_id,
        pred,
    })
}

fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {e}"),
        )
    })
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_MODEL_VERSION: HeaderName = HeaderName::from_static("x-model-version");

/// A server-made request id: `{prefix}-{n:010x}-{tag}`, the server's random prefix, the
/// request's number in at least ten hex digits (the log finds a request's records by it), and
/// a tag of 16 hex digits, a keyed BLAKE3 hash of the number under the server's random key, so
/// that no one can name a request before it is answered. Written by hand at a fraction of
/// `format!`'s cost (this runs for every request).
fn server_request_id(prefix: &str, key: &[u8; 32], n: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = (16 - n.leading_zeros() as usize / 4).max(10);
    let mut id = String::with_capacity(prefix.len() + digits + 18);
    id.push_str(prefix);
    id.push('-');
    for i in (0..digits).rev() {
        id.push(char::from(HEX[(n >> (4 * i)) as usize & 0xf]));
    }
    id.push('-');
    let tag = blake3::keyed_hash(key, &n.to_le_bytes());
    for b in &tag.as_bytes()[..8] {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    id
}

fn with_headers(mut resp: Response, s: &Scored) -> Response {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&s.request_id) {
        h.insert(X_REQUEST_ID, v);
    }
    if let Some(v) = &s.served.header {
        h.insert(X_MODEL_VERSION, v.clone());
    }
    resp
}

fn request_id_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

async fn invocations(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let input = if ctype.starts_with("text/csv") {
        Input::Frame(payload::csv(&body).map_err(bad_body)?)
    } else if ctype.starts_with("application/json") {
        // Read by the signature of the model that answers (see `read`).
        Input::Mlflow(body)
    } else {
        return Err(ApiError::bad(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type `{ctype}`: send application/json or text/csv"),
        ));
    };
    let s = score(&state, input, request_id_header(&headers)).await?;
    let n = s.pred.rows();
    let classes = &s.served.model.signature.classes;
    #[derive(Serialize)]
    #[serde(untagged)]
    enum Prediction<'a> {
        Number(f64),
        Label(&'a str),
    }
    #[derive(Serialize)]
    struct ModelRef<'a> {
        name: &'a str,
        role: &'a str,
        version: i64,
    }
    // Keys in the order serde_json gives an object's.
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        classes: Option<&'a [String]>,
        model: ModelRef<'a>,
        predictions: Vec<Prediction<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        probabilities: Option<Vec<&'a [f64]>>,
        request_id: &'a str,
    }
    let body = Body {
        classes: (!classes.is_empty()).then_some(classes.as_slice()),
        model: ModelRef {
            name: &s.served.name,
            role: s.role,
            version: s.served.version,
        },
        predictions: (0..n)
            .map(|r| {
                if classes.is_empty() {
                    Prediction::Number(s.pred.row(r)[0])
                } else {
                    Prediction::Label(&classes[s.pred.class_of(r)])
                }
            })
            .collect(),
        probabilities: (!classes.is_empty()).then(|| (0..n).map(|r| s.pred.row(r)).collect()),
        request_id: &s.request_id,
    };
    Ok(with_headers(Json(body).into_response(), &s))
}

/// `GET /health`: the process answers.
async fn live() -> Json<Value> {
    Json(json!({ "status": "live", "live": true }))
}

/// `GET /ready`: the champion is loaded; which versions serve.
async fn ready(State(state): State<Arc<AppState>>) -> Json<Value> {
    let d = state.live.load_full();
    Json(json!({
        "status": "ready",
        "ready": true,
        "model": d.champion.name,
        "version": d.champion.version,
        "challenger": d.challenger.as_ref().map(|c| c.version),
    }))
}

/// `GET /metrics`: OpenMetrics when the scraper's `Accept` prefers it, else Prometheus'
/// classic text format, each labelled as what it is.
async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    state
        .metrics
        .queue_depth
        .set((state.log.max_capacity() - state.log.capacity()) as i64);
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &state.metrics.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (kind, body) = if exposition::wants_openmetrics(accept) {
        (exposition::OPENMETRICS, text)
    } else {
        (exposition::CLASSIC, exposition::classic(&text))
    };
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_written_as_format_writes_them() {
        let key = [9u8; 32];
        for n in [
            0,
            1,
            0xa,
            0xff_ffff_ffff,
            1 << 40,
            0x1234_5678_9abc,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let tag = blake3::keyed_hash(&key, &n.to_le_bytes()).to_hex();
            assert_eq!(
                super::server_request_id("4444ddff6fbc", &key, n),
                format!("4444ddff6fbc-{n:010x}-{}", &tag[..16])
            );
        }
        assert_ne!(
            super::server_request_id("ab", &key, 1),
            super::server_request_id("ab", &[8u8; 32], 1),
            "another key, another tag"
        );
    }
}
