//! The web UI: one page of HTML, CSS and JavaScript built into the binary (no CDN, works
//! offline, no Node.js at run time), and the JSON API it reads under `/api/`. Every API route
//! goes through the same access guard as the rest of the server: the page sends the token its
//! user signed in with as `Authorization: Bearer …`, so an alias moved from the page passes
//! the same gate and role check as one moved from the CLI.
//!
//! The assets hold no data, so they are open; everything they show comes through the API.

mod api;

use crate::access::Access::{Open, Read, Token};
use crate::{BodyKind, Route};
use axum::extract::{Path, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gyre_core::access::Role;
use gyre_ops::Project;
use std::sync::{Arc, OnceLock};

/// What the UI's handlers read: the project, and how to wake a model server's reloader after
/// an alias move (none in `gyre server`, which serves no model).
pub struct Ui {
    project: Arc<Project>,
    reload: Option<Arc<tokio::sync::Notify>>,
}

impl Ui {
    pub fn new(project: Arc<Project>, reload: Option<Arc<tokio::sync::Notify>>) -> Ui {
        Ui { project, reload }
    }
}

/// The page's files, by the name it asks for: (name, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../ui/app.js"),
    ),
    (
        "lib.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../ui/lib.js"),
    ),
    (
        "charts.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../ui/charts.js"),
    ),
    (
        "pages.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../ui/pages.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../ui/app.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../ui/favicon.svg"),
    ),
];

const INDEX: &[u8] = include_bytes!("../../ui/index.html");

/// Scripts, styles and images from this server only; no inline script, no framing, no
/// referrer: a value that slipped past the page's escaping still could not run.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn routes() -> Vec<Route<Arc<Ui>>> {
    use BodyKind::{Json, None};
    vec![
        Route::new(
            Method::GET,
            "/",
            Open,
            None,
            get(|| async { Redirect::to("/ui/") }),
        ),
        Route::new(
            Method::GET,
            "/ui",
            Open,
            None,
            get(|| async { Redirect::to("/ui/") }),
        ),
        Route::new(Method::GET, "/ui/", Open, None, get(index)),
        Route::new(Method::GET, "/ui/assets/{file}", Open, None, get(asset)),
        Route::new(Method::GET, "/api/whoami", Read, None, get(api::whoami)),
        Route::new(Method::GET, "/api/runs", Read, None, get(api::runs)),
        Route::new(Method::GET, "/api/runs/{id}", Read, None, get(api::run)),
        Route::new(
            Method::GET,
            "/api/runs/{id}/series/{key}",
            Read,
            None,
            get(api::series),
        ),
        Route::new(Method::GET, "/api/runs/{id}/log", Read, None, get(api::log)),
        Route::new(
            Method::GET,
            "/api/runs/{id}/backtest",
            Read,
            None,
            get(api::backtest),
        ),
        Route::new(Method::GET, "/api/compare", Read, None, get(api::compare)),
        Route::new(Method::GET, "/api/lineage", Read, None, get(api::lineage)),
        Route::new(Method::GET, "/api/datasets", Read, None, get(api::datasets)),
        Route::new(
            Method::GET,
            "/api/datasets/{name}",
            Read,
            None,
            get(api::dataset),
        ),
        Route::new(
            Method::GET,
            "/api/datasets/{name}/versions/{version}",
            Read,
            None,
            get(api::dataset_version),
        ),
        Route::new(
            Method::GET,
            "/api/datasets/{name}/versions/{version}/validation",
            Read,
            None,
            get(api::validation),
        ),
        Route::new(
            Method::GET,
            "/api/datasets/{name}/compare",
            Read,
            None,
            get(api::dataset_compare),
        ),
        Route::new(Method::GET, "/api/models", Read, None, get(api::models)),
        Route::new(
            Method::GET,
            "/api/models/{name}",
            Read,
            None,
            get(api::model),
        ),
        Route::new(
            Method::GET,
            "/api/models/{name}/versions/{version}",
            Read,
            None,
            get(api::model_version),
        ),
        Route::new(
            Method::POST,
            "/api/models/{name}/aliases/{alias}",
            Token(Role::Editor),
            Json,
            post(api::move_alias),
        ),
        Route::new(Method::GET, "/api/monitor", Read, None, get(api::monitor)),
        Route::new(Method::GET, "/api/delivery", Read, None, get(api::delivery)),
        Route::new(Method::GET, "/api/pipeline", Read, None, get(api::pipeline)),
    ]
}

/// The headers every page file carries.
fn page_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

async fn index() -> Response {
    let mut resp = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX,
    )
        .into_response();
    page_headers(&mut resp);
    resp
}

/// An asset's ETag: the first 16 hex digits of its BLAKE3 hash, computed once.
fn etag(i: usize) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    &TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(_, _, bytes)| format!("\"{}\"", &blake3::hash(bytes).to_hex()[..16]))
            .collect()
    })[i]
}

async fn asset(Path(file): Path<String>, req: Request) -> Response {
    // A name from the fixed table, never a path on disk.
    let Some(i) = ASSETS.iter().position(|(name, _, _)| *name == file) else {
        return crate::ApiError::bad(StatusCode::NOT_FOUND, format!("no asset `{file}`"))
            .into_response();
    };
    let (_, ctype, bytes) = ASSETS[i];
    let tag = etag(i);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == tag.as_bytes());
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, ctype)], bytes).into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(tag) {
        h.insert(header::ETAG, v);
    }
    page_headers(&mut resp);
    resp
}
