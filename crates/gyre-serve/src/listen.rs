//! The accept loop and the per-request limits.
//!
//! `axum::serve` gives hyper no timer, so a client that sends half a header holds its
//! connection (and a task) for as long as it likes. This loop serves each connection with
//! hyper's HTTP/1 builder, a Tokio timer and a header read timeout; shutdown stops
//! accepting, lets each connection finish the request it is on, then returns.
//!
//! [`limits`] is the middleware that bounds what requests cost together: at most
//! `max_concurrent` in flight and at most `max_inflight_body_bytes` of declared bodies; past
//! either, 503 with `Retry-After`. A request (its body included) that takes longer than
//! `request_timeout` gets 408.

use crate::error::ApiError;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// Serves `app` on `listener` until `shutdown` resolves, then waits for the connections'
/// requests in flight.
pub async fn run(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = watch::channel(());
    // Each connection task holds a receiver; when all are dropped, every connection is done.
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, rather than spin.
                    gyre_ops::note!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let mut stop = stop_rx.clone();
        let done = done_tx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(done);
        });
    }
    drop(listener);
    let _ = stop_tx.send(());
    drop(done_tx);
    let _ = done_rx.recv().await;
}

/// What the limits middleware holds.
pub struct Limits {
    requests: Semaphore,
    /// One permit per KiB of declared body.
    body_kib: Semaphore,
    body_budget_kib: u32,
    timeout: Duration,
}

impl Limits {
    pub fn new(max_concurrent: usize, max_inflight_body_bytes: usize, timeout: Duration) -> Limits {
        let kib = (max_inflight_body_bytes / 1024).clamp(1, Semaphore::MAX_PERMITS) as u32;
        Limits {
            requests: Semaphore::new(max_concurrent.max(1)),
            body_kib: Semaphore::new(kib as usize),
            body_budget_kib: kib,
            timeout,
        }
    }
}

fn busy(what: &str) -> Response {
    let mut r = ApiError::bad(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the server is at its limit of {what}; retry in a second"),
    )
    .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// Request headers larger than this get 431 (as JSON; hyper's own, far larger limit answers
/// with an empty body).
const MAX_HEADER_BYTES: usize = 32 << 10;

/// The middleware: admits a request within the limits, and times it out.
pub async fn limits(State(l): State<Arc<Limits>>, req: Request, next: Next) -> Response {
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return ApiError::bad(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("the request's headers take {header_bytes} bytes; at most {MAX_HEADER_BYTES}"),
        )
        .into_response();
    }
    let Ok(_request) = l.requests.try_acquire() else {
        return busy("requests in flight");
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    // Artifact uploads stream to disk, not memory, and may take their time.
    let streamed = req
        .uri()
        .path()
        .starts_with(crate::mlflow_artifacts::PREFIX);
    // A chunked body declares nothing; the body limit still caps it.
    let kib = if streamed {
        0
    } else {
        (declared.div_ceil(1024) as u32).min(l.body_budget_kib)
    };
    let _body = if kib > 0 {
        match l.body_kib.try_acquire_many(kib) {
            Ok(p) => Some(p),
            Err(_) => return busy("request bodies in memory"),
        }
    } else {
        None
    };
    if streamed {
        return next.run(req).await;
    }
    match tokio::time::timeout(l.timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::bad(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request took longer than {} s (its body included)",
                l.timeout.as_secs()
            ),
        )
        .into_response(),
    }
}
