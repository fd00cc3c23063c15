//! The Open Inference Protocol (KServe v2), as its clients (`tritonclient.http`, KServe's)
//! call it: server metadata and health, model metadata and readiness, and inference, each
//! also under `/versions/{v}` for a live version (the champion or the challenger).
//!
//! Bodies are JSON, or a JSON header followed by binary tensors (Triton's binary tensor
//! extension, which `tritonclient` uses by default): `Inference-Header-Content-Length` gives
//! the header's length and each input's `parameters.binary_data_size` its bytes, decoded
//! here into the same cells a JSON `data` list gives. Outputs are always JSON; clients read
//! them whether or not they asked for binary. Errors are `{"error": message}`.

use crate::error::ApiError;
use crate::payload::{self, Problem};
use crate::{AppState, Deployment, Input, Served, bad_body, request_id_header, score_on};
use crate::{json_body, with_headers};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

/// The header of Triton's binary tensor extension.
const HEADER_LENGTH: &str = "inference-header-content-length";

/// `GET /v2`: who answers.
pub async fn server_metadata() -> Json<Value> {
    Json(json!({
        "name": "gyre",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data"],
    }))
}

/// `GET /v2/health/live`.
pub async fn live() -> Json<Value> {
    Json(json!({ "live": true }))
}

/// `GET /v2/health/ready`: a server answers once its champion is loaded.
pub async fn ready() -> Json<Value> {
    Json(json!({ "ready": true }))
}

/// 404 for a version that is not live here.
pub fn not_served(d: &Deployment, version: i64) -> ApiError {
    ApiError::bad(
        StatusCode::NOT_FOUND,
        format!(
            "version {version} is not served here (champion v{}{})",
            d.champion.version,
            d.challenger
                .as_ref()
                .map(|c| format!(", challenger v{}", c.version))
                .unwrap_or_default()
        ),
    )
}

/// The live version `version` of model `name` (the champion when `version` is None).
fn served(state: &AppState, name: &str, version: Option<&str>) -> Result<Arc<Served>, ApiError> {
    if name != state.opts.model {
        return Err(ApiError::bad(
            StatusCode::NOT_FOUND,
            format!(
                "no model `{name}` here; this server serves `{}`",
                state.opts.model
            ),
        ));
    }
    let d = state.live.load_full();
    let Some(v) = version else {
        return Ok(d.champion.clone());
    };
    let v: i64 = v.parse().map_err(|_| {
        ApiError::bad(
            StatusCode::NOT_FOUND,
            format!("version `{v}` is not a version number"),
        )
    })?;
    d.pinned(v).map(|(served, _)| served)
}

/// `GET /v2/models/{name}/ready`.
pub async fn model_ready(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    ready_of(&state, &name, None)
}

/// `GET /v2/models/{name}/versions/{version}/ready`.
pub async fn version_ready(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    ready_of(&state, &name, Some(&version))
}

fn ready_of(state: &AppState, name: &str, version: Option<&str>) -> Result<Json<Value>, ApiError> {
    let s = served(state, name, version)?;
    Ok(Json(
        json!({ "name": s.name, "version": s.version.to_string(), "ready": true }),
    ))
}

/// `GET /v2/models/{name}`.
pub async fn metadata(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    metadata_of(&state, &name, None)
}

/// `GET /v2/models/{name}/versions/{version}`.
pub async fn version_metadata(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    metadata_of(&state, &name, Some(&version))
}

fn metadata_of(
    state: &AppState,
    name: &str,
    version: Option<&str>,
) -> Result<Json<Value>, ApiError> {
    let s = served(state, name, version)?;
    let d = state.live.load_full();
    let m = &s.model;
    let inputs: Vec<Value> = m
        .signature
        .inputs
        .iter()
        .map(|c| {
            json!({ "name": c.name, "shape": [-1],
                    "datatype": match c.kind { gyre_learn::model::ColumnKind::Number => "FP64", gyre_learn::model::ColumnKind::Text => "BYTES" } })
        })
        .collect();
    let mut versions = vec![d.champion.version.to_string()];
    if let Some(c) = &d.challenger {
        versions.push(c.version.to_string());
    }
    Ok(Json(json!({
        "name": s.name,
        "versions": versions,
        "platform": "gyre",
        "inputs": inputs,
        "outputs": if m.signature.classes.is_empty() {
            json!([{ "name": "predict", "shape": [-1], "datatype": "FP64" }])
        } else {
            json!([{ "name": "label", "shape": [-1], "datatype": "BYTES" },
                   { "name": "probabilities", "shape": [-1, m.signature.classes.len()], "datatype": "FP64" }])
        },
        "champion": { "version": d.champion.version, "model": d.champion.hash },
    })))
}

/// `POST /v2/models/{name}/infer`.
pub async fn infer(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    infer_on(&state, &name, None, &headers, &body).await
}

/// `POST /v2/models/{name}/versions/{version}/infer`.
pub async fn version_infer(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    infer_on(&state, &name, Some(&version), &headers, &body).await
}

async fn infer_on(
    state: &Arc<AppState>,
    name: &str,
    version: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let pin = served(state, name, version)?.version;
    let v = request_body(headers, body)?;
    let (frame, id) = payload::v2(&v).map_err(bad_body)?;
    let s = score_on(
        state,
        Input::Frame(frame),
        id.or_else(|| request_id_header(headers)),
        version.map(|_| pin),
    )
    .await?;
    let n = s.pred.rows();
    let classes = &s.served.model.signature.classes;
    let outputs = if classes.is_empty() {
        json!([{ "name": "predict", "shape": [n], "datatype": "FP64",
                 "data": (0..n).map(|r| s.pred.row(r)[0]).collect::<Vec<_>>() }])
    } else {
        json!([
            { "name": "label", "shape": [n], "datatype": "BYTES",
              "data": (0..n).map(|r| classes[s.pred.class_of(r)].clone()).collect::<Vec<_>>() },
            { "name": "probabilities", "shape": [n, classes.len()], "datatype": "FP64",
              "data": s.pred.values.clone() }
        ])
    };
    let body = json!({
        "model_name": s.served.name,
        "model_version": s.served.version.to_string(),
        "id": s.request_id,
        "outputs": outputs,
    });
    Ok(with_headers(Json(body).into_response(), &s))
}

/// The request as JSON, with binary tensors decoded into `data` lists. The body may come
/// as `application/json`, as `application/octet-stream` (binary tensors), or with no
/// Content-Type (what `tritonclient` sends); a type a browser form can send is refused,
/// so a cross-site form cannot post here.
fn request_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    match ctype.as_deref() {
        None | Some("application/json") | Some("application/octet-stream") => {}
        Some(other) => {
            return Err(ApiError::unsupported_media(format!(
                "Content-Type `{other}`: send application/json (or binary tensors as \
                 application/octet-stream with {HEADER_LENGTH})"
            )));
        }
    }
    let Some(length) = headers.get(HEADER_LENGTH) else {
        return json_body(body);
    };
    let length: usize = length
        .to_str()
        .ok()
        .and_then(|l| l.trim().parse().ok())
        .filter(|&l| l <= body.len())
        .ok_or_else(|| {
            ApiError::bad(
                StatusCode::BAD_REQUEST,
                format!(
                    "{HEADER_LENGTH} must be a byte count within the body's {} bytes",
                    body.len()
                ),
            )
        })?;
    let mut v = json_body(&body[..length])?;
    decode_binary(&mut v, &body[length..]).map_err(bad_body)?;
    Ok(v)
}

/// Fills each input's `data` from the binary part, in input order.
fn decode_binary(v: &mut Value, mut rest: &[u8]) -> Result<(), Problem> {
    let Some(inputs) = v.get_mut("inputs").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    for (i, t) in inputs.iter_mut().enumerate() {
        let Some(size) = t["parameters"]["binary_data_size"].as_u64() else {
            continue;
        };
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if size > rest.len() {
            return Err(Problem::new(format!(
                "inputs[{i}]: binary_data_size {size} is more than the {} bytes left",
                rest.len()
            )));
        }
        let (bytes, after) = rest.split_at(size);
        rest = after;
        let datatype = t["datatype"].as_str().unwrap_or("").to_string();
        let data = tensor(&datatype, bytes)
            .map_err(|e| Problem::new(format!("inputs[{i}] ({datatype}): {e}")))?;
        if let Some(obj) = t.as_object_mut() {
            obj.insert("data".into(), Value::Array(data));
            if let Some(Value::Object(p)) = obj.get_mut("parameters") {
                p.remove("binary_data_size");
            }
        }
    }
    if !rest.is_empty() {
        return Err(Problem::new(format!(
            "{} bytes follow the last binary input",
            rest.len()
        )));
    }
    Ok(())
}

/// One binary tensor's values, little-endian as the extension defines them; BYTES are
/// 4-byte lengths each followed by that many bytes.
fn tensor(datatype: &str, bytes: &[u8]) -> Result<Vec<Value>, String> {
    fn fixed<const N: usize>(
        bytes: &[u8],
        f: impl Fn([u8; N]) -> Value,
    ) -> Result<Vec<Value>, String> {
        if !bytes.len().is_multiple_of(N) {
            return Err(format!(
                "{} bytes is not a whole number of {N}-byte values",
                bytes.len()
            ));
        }
        Ok(bytes
            .chunks_exact(N)
            .map(|c| f(c.try_into().expect("exact chunks")))
            .collect())
    }
    let number = |x: f64| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
    match datatype {
        "FP64" => fixed::<8>(bytes, |b| number(f64::from_le_bytes(b))),
        "FP32" => fixed::<4>(bytes, |b| number(f32::from_le_bytes(b) as f64)),
        "INT64" => fixed::<8>(bytes, |b| json!(i64::from_le_bytes(b))),
        "INT32" => fixed::<4>(bytes, |b| json!(i32::from_le_bytes(b))),
        "INT16" => fixed::<2>(bytes, |b| json!(i16::from_le_bytes(b))),
        "INT8" => fixed::<1>(bytes, |b| json!(b[0] as i8)),
        "UINT64" => fixed::<8>(bytes, |b| json!(u64::from_le_bytes(b))),
        "UINT32" => fixed::<4>(bytes, |b| json!(u32::from_le_bytes(b))),
        "UINT16" => fixed::<2>(bytes, |b| json!(u16::from_le_bytes(b))),
        "UINT8" => fixed::<1>(bytes, |b| json!(b[0])),
        "BOOL" => fixed::<1>(bytes, |b| json!(b[0] != 0)),
        "BYTES" => {
            let mut out = Vec::new();
            let mut rest = bytes;
            while !rest.is_empty() {
                if rest.len() < 4 {
                    return Err("a BYTES element's 4-byte length is cut short".into());
                }
                let (len, after) = rest.split_at(4);
                let n = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
                if n > after.len() {
                    return Err(format!("a BYTES element of {n} bytes runs past the end"));
                }
                let (text, after) = after.split_at(n);
                out.push(Value::String(
                    std::str::from_utf8(text)
                        .map_err(|_| "a BYTES element is not UTF-8 text".to_string())?
                        .to_string(),
                ));
                rest = after;
            }
            Ok(out)
        }
        other => Err(format!("datatype `{other}` is not supported")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_tensors_decode_as_json_data() {
        let mut body = json!({ "inputs": [
            { "name": "a", "shape": [2], "datatype": "FP64", "parameters": { "binary_data_size": 16 } },
            { "name": "b", "shape": [2], "datatype": "BYTES", "parameters": { "binary_data_size": 11 } },
            { "name": "c", "shape": [2], "datatype": "INT32", "data": [1, 2] }
        ] });
        let mut bin = Vec::new();
        bin.extend(1.5f64.to_le_bytes());
        bin.extend((-2.0f64).to_le_bytes());
        bin.extend(2u32.to_le_bytes());
        bin.extend(b"UP");
        bin.extend(1u32.to_le_bytes());
        bin.extend(b"x");
        decode_binary(&mut body, &bin).unwrap();
        assert_eq!(body["inputs"][0]["data"], json!([1.5, -2.0]));
        assert_eq!(body["inputs"][1]["data"], json!(["UP", "x"]));
        assert_eq!(body["inputs"][2]["data"], json!([1, 2]));
        // Sizes that disagree with the bytes are named, never a panic.
        for (datatype, size, bytes) in [
            ("FP64", 8usize, vec![0u8; 4]),
            ("FP32", 3, vec![0; 3]),
            ("BYTES", 6, vec![9, 0, 0, 0, b'a', b'b']),
            ("BYTES", 2, vec![1, 0]),
            ("FP16", 2, vec![0, 0]),
        ] {
            let mut b = json!({ "inputs": [{ "name": "a", "datatype": datatype,
                                             "parameters": { "binary_data_size": size } }] });
            assert!(decode_binary(&mut b, &bytes).is_err(), "{datatype} {size}");
        }
    }
}
