//! Every answer that is not a success, as JSON: `{"error": message, "code": stable-code,
//! "problems": [...]}`. Handlers return [`ApiError`]; what axum itself rejects (an unknown
//! path, a wrong method, a body over the limit, a missing header) is rewritten into the same
//! shape by [`json_errors`]. A server fault keeps its detail in the server's log and tells the
//! client only that it happened, never database or file-system text.

use crate::payload::Problem;
use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A client's mistake or a server fault, as a JSON body.
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub problems: Vec<Problem>,
}

/// The stable code of a status, for errors that carry no more specific one.
fn code_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "invalid_input",
        429 => "too_many_requests",
        431 => "headers_too_large",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "error",
    }
}

impl ApiError {
    pub fn bad(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code_of(status),
            message: message.into(),
            problems: Vec::new(),
        }
    }

    pub fn with_code(mut self, code: &'static str) -> ApiError {
        self.code = code;
        self
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::bad(StatusCode::UNAUTHORIZED, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::bad(StatusCode::FORBIDDEN, message)
    }

    pub fn unsupported_media(message: impl Into<String>) -> ApiError {
        ApiError::bad(StatusCode::UNSUPPORTED_MEDIA_TYPE, message)
    }

    /// A fault of the server: logged whole, told to the client without its detail.
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> ApiError {
        gyre_ops::note!("{context}: {detail}");
        ApiError::bad(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{context} failed on the server (its log has the detail)"),
        )
    }

    /// The one mapping from an operation's error to HTTP: the error's code decides the
    /// status; client mistakes keep their message (it names what was wrong), faults do not.
    pub fn from_ops(e: gyre_ops::OpsError) -> ApiError {
        let code = e.code();
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            return ApiError::internal("the operation", e).with_code(code.as_str());
        }
        ApiError::bad(status, e.to_string()).with_code(code.as_str())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message, "code": self.code });
        if !self.problems.is_empty() {
            body["problems"] = json!(self.problems);
        }
        (self.status, Json(body)).into_response()
    }
}

/// Rewrites an error answer that is not JSON (axum's own rejections: 404, 405, 413, 415, a
/// missing header, a body that could not be read) into the JSON shape, keeping its status.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    // axum's rejection texts are short and fixed ("Failed to buffer the request body: length
    // limit exceeded"); read at most a little of it.
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() || status.is_server_error() {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string()
    } else {
        text
    };
    let body = json!({ "error": message, "code": code_of(status) });
    let mut out = Response::from_parts(parts, Body::from(body.to_string()));
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    out.headers_mut().remove(header::CONTENT_LENGTH);
    out
}
