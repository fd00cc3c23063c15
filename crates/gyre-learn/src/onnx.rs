//! ONNX models, run by ONNX Runtime through `ort`. The runtime is a shared library loaded
//! when the first ONNX model is used (never linked): from `GYRE_ONNXRUNTIME` or
//! `ORT_DYLIB_PATH`, else `libonnxruntime.so` on the loader's path. The `onnxruntime` wheel
//! from PyPI carries one. The model's bytes travel inside the gyre model file; a session is
//! made from them on first use, and sessions are pooled, since one runs one batch at a time.
//!
//! A model takes one float matrix (`[N, inputs]`, as `skl2onnx` exports a numeric pipeline),
//! or one `[N, 1]` tensor per column (float, double, int64 or string: a pipeline that encodes
//! text itself). It gives class probabilities (`[N, k]`, exported with `zipmap = False`) or a
//! value (`[N, 1]` or `[N]`).

use crate::transform::Values;
use ort::session::Session;
use ort::value::{DynValue, Tensor, TensorElementType, ValueType};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OnnxError {
    #[error(
        "ONNX Runtime is not available ({0}). Install it (`pip install onnxruntime`) and point \
         GYRE_ONNXRUNTIME at its library, for example: export GYRE_ONNXRUNTIME=$(python3 -c \
         \"import onnxruntime, glob, os; print(glob.glob(os.path.join(os.path.dirname(\
         onnxruntime.__file__), 'capi', 'libonnxruntime.so*'))[0])\")"
    )]
    NoRuntime(String),
    #[error("ONNX model: {0}")]
    Model(String),
}

/// The element type of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Element {
    F32,
    F64,
    I64,
    Text,
}

/// How the model's inputs are laid out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// One `[N, width]` tensor of numbers.
    Matrix {
        name: String,
        element: Element,
        width: usize,
    },
    /// One `[N, 1]` tensor per column.
    Columns(Vec<(String, Element)>),
}

/// An ONNX model: its bytes and what it takes and gives.
#[derive(Serialize, Deserialize)]
pub struct OnnxModel {
    pub bytes: Vec<u8>,
    pub layout: Layout,
    /// The output read: class probabilities or the value.
    pub output: String,
    /// Values per row of that output: k classes, or 1.
    pub width: usize,
    #[serde(skip)]
    sessions: Pool,
}

/// Idle sessions of one model.
#[derive(Default)]
struct Pool(Mutex<Vec<Session>>);

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("bytes", &self.bytes.len())
            .field("layout", &self.layout)
            .field("output", &self.output)
            .field("width", &self.width)
            .finish()
    }
}

impl Clone for OnnxModel {
    fn clone(&self) -> Self {
        OnnxModel {
            bytes: self.bytes.clone(),
            layout: self.layout.clone(),
            output: self.output.clone(),
            width: self.width,
            sessions: Pool::default(),
        }
    }
}

impl PartialEq for OnnxModel {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
            && self.layout == other.layout
            && self.output == other.output
            && self.width == other.width
    }
}

static ENV: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

fn load(path: &Path) -> Result<ort::environment::Environment, String> {
    ort::init_from(path)
        .map_err(|e| e.to_string())?
        .with_name("gyre")
        .build()
        .map_err(|e| e.to_string())
}

/// The process's ONNX Runtime environment, loaded once: from `GYRE_ONNXRUNTIME`, else
/// `ORT_DYLIB_PATH`, else `libonnxruntime.so` on the loader's path.
fn environment() -> Result<&'static ort::environment::Environment, OnnxError> {
    ENV.get_or_init(|| {
        let path = std::env::var_os("GYRE_ONNXRUNTIME")
            .or_else(|| std::env::var_os("ORT_DYLIB_PATH"))
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("libonnxruntime.so"));
        load(&path)
    })
    .as_ref()
    .map_err(|e| OnnxError::NoRuntime(e.clone()))
}

/// The ONNX Runtime library inside `python`'s `onnxruntime` wheel, if it has one (for the
/// tests and benchmarks, and to say where a user's is).
pub fn wheel_library(python: &str) -> Option<PathBuf> {
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import onnxruntime, glob, os; print(sorted(glob.glob(os.path.join(\
             os.path.dirname(onnxruntime.__file__), 'capi', 'libonnxruntime.so*')))[0])",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Loads ONNX Runtime from `path` for this process, unless a runtime is already loaded (the
/// first one stays: a process holds one).
pub fn use_runtime(path: &Path) -> Result<(), OnnxError> {
    ENV.get_or_init(|| load(path));
    environment().map(|_| ())
}

fn session(bytes: &[u8]) -> Result<Session, OnnxError> {
    let env = environment()?;
    let model = |e: ort::Error| OnnxError::Model(e.to_string());
    // One thread per session: the server scores requests on its own threads, and batch
    // scoring splits rows across cores itself.
    Session::builder(env)
        .map_err(model)?
        .with_intra_threads(1)
        .map_err(|e| model(e.into()))?
        .commit_from_memory(bytes)
        .map_err(model)
}

fn element(ty: TensorElementType) -> Option<Element> {
    Some(match ty {
        TensorElementType::Float32 => Element::F32,
        TensorElementType::Float64 => Element::F64,
        TensorElementType::Int64 => Element::I64,
        TensorElementType::String => Element::Text,
        _ => return None,
    })
}

impl OnnxModel {
    /// Reads an ONNX file's inputs and outputs (through the runtime, which also proves it
    /// loads) and decides how gyre feeds it and reads it.
    pub fn inspect(bytes: Vec<u8>) -> Result<OnnxModel, OnnxError> {
        let s = session(&bytes)?;
        let bad = |m: String| Err(OnnxError::Model(m));
        let tensor = |t: &ValueType| match t {
            ValueType::Tensor { ty, shape, .. } => Some((*ty, shape.to_vec())),
            _ => None,
        };
        let mut inputs = Vec::new();
        for i in s.inputs() {
            let Some((ty, shape)) = tensor(i.dtype()) else {
                return bad(format!("input `{}` is not a tensor", i.name()));
            };
            let Some(el) = element(ty) else {
                return bad(format!(
                    "input `{}` holds {ty:?}; gyre feeds float, double, int64 or string",
                    i.name()
                ));
            };
            inputs.push((i.name().to_string(), el, shape));
        }
        let layout = match inputs.as_slice() {
            [(name, el, shape)] if *el != Element::Text && shape.len() == 2 && shape[1] > 1 => {
                Layout::Matrix {
                    name: name.clone(),
                    element: *el,
                    width: shape[1] as usize,
                }
            }
            _ => {
                if let Some((name, _, shape)) = inputs
                    .iter()
                    .find(|(_, _, s)| !(s.len() == 2 && s[1] == 1 || s.len() == 1))
                {
                    return bad(format!(
                        "input `{name}` has shape {shape:?}: gyre feeds one [N, k] number \
                         matrix or one [N, 1] tensor per column"
                    ));
                }
                Layout::Columns(inputs.into_iter().map(|(n, e, _)| (n, e)).collect())
            }
        };
        // Probabilities ([N, k], k ≥ 2) before a value ([N, 1] or [N]); by name on a tie.
        let mut best: Option<(u8, String, usize)> = None;
        for o in s.outputs() {
            let Some((ty, shape)) = tensor(o.dtype()) else {
                continue;
            };
            if !matches!(ty, TensorElementType::Float32 | TensorElementType::Float64) {
                continue;
            }
            let (rank, width) = match shape.as_slice() {
                [_, k] if *k >= 2 => (if o.name() == "probabilities" { 4 } else { 3 }, *k as usize),
                [_, 1] | [_] => (if o.name() == "variable" { 2 } else { 1 }, 1),
                _ => continue,
            };
            if best.as_ref().is_none_or(|b| rank > b.0) {
                best = Some((rank, o.name().to_string(), width));
            }
        }
        let Some((_, output, width)) = best else {
            let zipmap = s
                .outputs()
                .iter()
                .any(|o| matches!(o.dtype(), ValueType::Sequence(_)));
            return bad(if zipmap {
                "its probabilities are a sequence of maps (ZipMap): export with \
                 options={id(model): {'zipmap': False}} (skl2onnx)"
                    .into()
            } else {
                "no float output of shape [N, k] or [N, 1] to read".into()
            });
        };
        let model = OnnxModel {
            bytes,
            layout,
            output,
            width,
            sessions: Pool::default(),
        };
        model.sessions.0.lock().expect("not poisoned").push(s);
        Ok(model)
    }

    /// The number of input columns the model takes.
    pub fn columns(&self) -> usize {
        match &self.layout {
            Layout::Matrix { width, .. } => *width,
            Layout::Columns(c) => c.len(),
        }
    }

    /// Whether input column `i` is text.
    pub fn is_text(&self, i: usize) -> bool {
        matches!(&self.layout, Layout::Columns(c) if c[i].1 == Element::Text)
    }

    pub fn check(&self) -> Result<(), String> {
        if self.width == 0 || self.columns() == 0 || self.bytes.is_empty() {
            return Err("an ONNX model without inputs, outputs or bytes".into());
        }
        Ok(())
    }

    /// Scores `rows` of `inputs` (one per model input column, in order): `width` values each.
    pub fn predict(&self, inputs: &[&Values], rows: &[usize]) -> Result<Vec<f64>, OnnxError> {
        // Every `ort` call needs the runtime loaded first: left to itself, `ort` would look
        // for it under its default name and panic when it is not there.
        environment()?;
        let n = rows.len();
        let bad = |e: ort::Error| OnnxError::Model(e.to_string());
        let number = |v: &Values, r: usize| match v {
            Values::Numeric(v) => v[r].unwrap_or(f64::NAN),
            Values::Text(_) => f64::NAN,
        };
        let mut feed: Vec<(String, DynValue)> = Vec::new();
        match &self.layout {
            Layout::Matrix {
                name,
                element,
                width,
            } => {
                let shape = vec![n as i64, *width as i64];
                let at = |r: usize, c: usize| number(inputs[c], rows[r]);
                let value = match element {
                    Element::F64 => {
                        let v: Vec<f64> =
                            (0..n * width).map(|i| at(i / width, i % width)).collect();
                        Tensor::from_array((shape, v)).map_err(bad)?.into_dyn()
                    }
                    Element::I64 => {
                        let v: Vec<i64> = (0..n * width)
                            .map(|i| at(i / width, i % width) as i64)
                            .collect();
                        Tensor::<i64>::from_array((shape, v))
                            .map_err(bad)?
                            .into_dyn()
                    }
                    Element::F32 | Element::Text => {
                        let v: Vec<f32> = (0..n * width)
                            .map(|i| at(i / width, i % width) as f32)
                            .collect();
                        Tensor::<f32>::from_array((shape, v))
                            .map_err(bad)?
                            .into_dyn()
                    }
                };
                feed.push((name.clone(), value));
            }
            Layout::Columns(cols) => {
                for ((name, element), v) in cols.iter().zip(inputs) {
                    let shape = vec![n as i64, 1];
                    let value = match element {
                        Element::Text => {
                            let text: Vec<String> = rows
                                .iter()
                                .map(|&r| match v {
                                    Values::Text(t) => t[r].clone().unwrap_or_default(),
                                    Values::Numeric(x) => {
                                        x[r].map(|x| x.to_string()).unwrap_or_default()
                                    }
                                })
                                .collect();
                            Tensor::from_string_array((shape, text.as_slice()))
                                .map_err(bad)?
                                .into_dyn()
                        }
                        Element::F64 => {
                            let x: Vec<f64> = rows.iter().map(|&r| number(v, r)).collect();
                            Tensor::from_array((shape, x)).map_err(bad)?.into_dyn()
                        }
                        Element::I64 => {
                            let x: Vec<i64> = rows.iter().map(|&r| number(v, r) as i64).collect();
                            Tensor::from_array((shape, x)).map_err(bad)?.into_dyn()
                        }
                        Element::F32 => {
                            let x: Vec<f32> = rows.iter().map(|&r| number(v, r) as f32).collect();
                            Tensor::from_array((shape, x)).map_err(bad)?.into_dyn()
                        }
                    };
                    feed.push((name.clone(), value));
                }
            }
        }
        let idle = self.sessions.0.lock().expect("not poisoned").pop();
        let mut s = match idle {
            Some(s) => s,
            None => session(&self.bytes)?,
        };
        let out = {
            let outputs = s.run(feed).map_err(bad)?;
            let value = outputs
                .get(&self.output)
                .ok_or_else(|| OnnxError::Model(format!("no output `{}`", self.output)))?;
            let values: Vec<f64> = match value.try_extract_tensor::<f32>() {
                Ok((_, v)) => v.iter().map(|&x| x as f64).collect(),
                Err(_) => value.try_extract_tensor::<f64>().map_err(bad)?.1.to_vec(),
            };
            if values.len() != n * self.width {
                return Err(OnnxError::Model(format!(
                    "`{}` gave {} values for {n} rows of {}",
                    self.output,
                    values.len(),
                    self.width
                )));
            }
            values
        };
        self.sessions.0.lock().expect("not poisoned").push(s);
        Ok(out)
    }
}

impl OnnxModel {
    /// Class probabilities it scores (k), or 0 for a value.
    pub fn classes(&self) -> usize {
        if self.width >= 2 { self.width } else { 0 }
    }

    /// A gyre model around this graph: `inputs` name the columns it takes, in its order
    /// (its own input names when it has one per column); `target` and `classes` (none for a
    /// value) complete the signature.
    pub fn into_model(
        self,
        inputs: Vec<String>,
        target: String,
        classes: Vec<String>,
        lineage: crate::model::Lineage,
    ) -> Result<crate::model::Model, crate::import::ImportError> {
        use crate::transform::Fitted;
        let kinds = inputs
            .into_iter()
            .enumerate()
            .map(|(i, column)| match i < self.columns() && self.is_text(i) {
                true => Fitted::RawText { column },
                false => Fitted::Raw { column },
            })
            .collect();
        let scores = self.classes();
        crate::import::wrap(
            "ONNX",
            gyre_core::Algorithm::Onnx,
            crate::learner::Learner::Onnx(self),
            (kinds, scores),
            target,
            classes,
            lineage,
        )
    }

    /// The model's own names for its columns, when it takes one tensor per column.
    pub fn names(&self) -> Option<Vec<String>> {
        match &self.layout {
            Layout::Columns(c) => Some(c.iter().map(|(n, _)| n.clone()).collect()),
            Layout::Matrix { .. } => None,
        }
    }
}
