//! `POST /feedback`: the true labels of answered requests.
//!
//! Body: `{"request_id": "…", "label": …, "row": 0}`, a list of them, or `{"labels": [...]}`.
//! A label longer than `[serve.labels] max_bytes` is refused. A label for a request no server
//! has answered (yet) is kept for `unknown_seconds` at most, `unknown_max` of them at once, and
//! the answer names it: `unknown` (kept, waiting) or `refused`. The first label of a row wins;
//! `"correct": true` (an `editor` token) replaces it, and the audit keeps both.

use crate::access::Caller;
use crate::error::ApiError;
use crate::payload::Problem;
use crate::{AppState, json_body, now_ms};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use gyre_core::access::Role;
use gyre_store::{FeedbackRecord, UnknownLabels};
use serde_json::{Value, json};
use std::sync::Arc;

/// Labels one request may carry.
const MAX_LABELS: usize = 100_000;

pub async fn feedback(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let v: Value = json_body(&body)?;
    let (items, all_correct) = match v {
        Value::Array(a) => (a, false),
        Value::Object(mut o) if o.contains_key("labels") => {
            let correct = o.get("correct").and_then(Value::as_bool).unwrap_or(false);
            match o.remove("labels") {
                Some(Value::Array(a)) => (a, correct),
                _ => (Vec::new(), correct),
            }
        }
        one => (vec![one], false),
    };
    if items.len() > MAX_LABELS {
        return Err(ApiError::bad(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} labels in one request; send at most {MAX_LABELS}",
                items.len()
            ),
        ));
    }
    let limits = &state.opts.labels;
    let ts = now_ms();
    let mut fresh = Vec::new();
    let mut corrections = Vec::new();
    let mut problems = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let id = it["request_id"]
            .as_str()
            .filter(|s| !s.is_empty() && s.len() <= 128);
        let label = match &it["label"] {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        let row = match &it["row"] {
            Value::Null => Some(0),
            v => v.as_i64().filter(|r| *r >= 0),
        };
        let problem = |message: String| Problem {
            column: None,
            row: Some(i),
            message,
        };
        match (id, label, row) {
            (Some(_), Some(label), Some(_)) if label.len() > limits.max_bytes => {
                problems.push(problem(format!(
                    "the label is {} bytes; labels are at most {} ([serve.labels] max_bytes)",
                    label.len(),
                    limits.max_bytes
                )))
            }
            (Some(id), Some(label), Some(row)) => {
                let record = FeedbackRecord {
                    request_id: id.to_string(),
                    row_index: row,
                    label,
                    ts_ms: ts,
                };
                if all_correct || it["correct"].as_bool() == Some(true) {
                    corrections.push(record);
                } else {
                    fresh.push(record);
                }
            }
            _ => problems.push(problem(
                "each label needs request_id (text, up to 128 bytes), label, and optionally \
                 row (≥ 0)"
                    .into(),
            )),
        }
    }
    if !problems.is_empty() || (fresh.is_empty() && corrections.is_empty()) {
        return Err(ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_input",
            message: "feedback: give {request_id, label[, row]} or a list of them".into(),
            problems,
        });
    }
    if !corrections.is_empty() && !caller.allows(Role::Editor) {
        return Err(ApiError::forbidden(
            "`correct` replaces a stored label: it takes an editor token",
        ));
    }
    let meta = &state.project.meta;
    let outcome = meta
        .add_feedback(
            &fresh,
            UnknownLabels {
                drop_before_ms: ts - (limits.unknown_seconds as i64).saturating_mul(1000),
                max: limits.unknown_max,
            },
        )
        .await
        .map_err(|e| ApiError::internal("storing labels", e))?;
    let corrected = if corrections.is_empty() {
        0
    } else {
        let actor = caller.actor().unwrap_or_else(|| "anonymous".into());
        meta.correct_labels(&corrections, &actor)
            .await
            .map_err(|e| ApiError::internal("correcting labels", e))?
    };
    let ids = |v: &[(String, i64)]| -> Vec<Value> {
        v.iter()
            .map(|(id, row)| json!({ "request_id": id, "row": row }))
            .collect()
    };
    Ok(Json(json!({
        "stored": outcome.stored,
        "duplicates": outcome.duplicates,
        "corrected": corrected,
        "unknown": ids(&outcome.unknown),
        "refused": ids(&outcome.refused),
    })))
}
