//! Request bodies into typed columns, checked against the model's signature.
//!
//! MLflow's scoring formats (`dataframe_split`, `dataframe_records`, `instances`, `inputs`,
//! CSV) and the Open Inference Protocol v2 all become a [`Frame`]: column names and rows of
//! JSON values. A frame is then typed by the signature; every problem is reported at once.

use gyre_learn::model::{ColumnKind, Model};
use gyre_learn::transform::Values;
use serde::Serialize;
use serde_json::Value;

/// Rows of named columns, as sent.
#[derive(Debug, Default)]
pub struct Frame {
    pub columns: Vec<String>,
    /// Column-major: one vector per column, all the same length.
    pub values: Vec<Vec<Value>>,
}

impl Frame {
    pub fn rows(&self) -> usize {
        self.values.first().map_or(0, Vec::len)
    }
}

/// One typed row as a JSON array in the signature's input order: what the prediction log
/// keeps (the names are the model's, so they are not repeated in every record).
pub fn row_json(inputs: &[Values], r: usize) -> String {
    // ryu formats a float several times faster than `Display` (the shortest round-trip
    // digits, as serde_json writes them); this runs for every logged row.
    let mut floats = ryu::Buffer::new();
    let mut out = String::with_capacity(16 * inputs.len() + 2);
    out.push('[');
    for (i, v) in inputs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match v {
            Values::Numeric(x) => match x[r] {
                Some(f) if f.is_finite() => out.push_str(floats.format_finite(f)),
                _ => out.push_str("null"),
            },
            Values::Text(t) => match &t[r] {
                Some(s) => out.push_str(&Value::String(s.clone()).to_string()),
                None => out.push_str("null"),
            },
        }
    }
    out.push(']');
    out
}

/// One thing wrong with a request.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Problem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<usize>,
    pub message: String,
}

impl Problem {
    pub fn new(message: impl Into<String>) -> Problem {
        Problem {
            column: None,
            row: None,
            message: message.into(),
        }
    }
}

fn records(items: &[Value], what: &str) -> Result<Frame, Problem> {
    let mut columns: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(m) = item else {
            return Err(Problem::new(format!(
                "{what}[{i}] must be an object of column → value"
            )));
        };
        for k in m.keys() {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    let values = columns
        .iter()
        .map(|c| {
            items
                .iter()
                .map(|item| item.get(c).cloned().unwrap_or(Value::Null))
                .collect()
        })
        .collect();
    Ok(Frame { columns, values })
}

fn split(columns: &Value, data: &Value, what: &str) -> Result<Frame, Problem> {
    let columns: Vec<String> = columns
        .as_array()
        .and_then(|a| a.iter().map(|c| c.as_str().map(String::from)).collect())
        .ok_or_else(|| Problem::new(format!("{what}.columns must be a list of names")))?;
    let data = data
        .as_array()
        .ok_or_else(|| Problem::new(format!("{what}.data must be a list of rows")))?;
    let mut values: Vec<Vec<Value>> = vec![Vec::with_capacity(data.len()); columns.len()];
    for (r, row) in data.iter().enumerate() {
        let row = row
            .as_array()
            .filter(|a| a.len() == columns.len())
            .ok_or_else(|| Problem {
                column: None,
                row: Some(r),
                message: format!(
                    "{what}.data[{r}] must be a list of {} values",
                    columns.len()
                ),
            })?;
        for (c, v) in row.iter().enumerate() {
            values[c].push(v.clone());
        }
    }
    Ok(Frame { columns, values })
}

/// MLflow's JSON formats.
pub fn mlflow_json(body: &Value) -> Result<Frame, Problem> {
    let Value::Object(top) = body else {
        return Err(Problem::new(
            "the body must be a JSON object with one of dataframe_split, dataframe_records, instances, inputs",
        ));
    };
    if let Some(s) = top.get("dataframe_split") {
        return split(&s["columns"], &s["data"], "dataframe_split");
    }
    if let Some(Value::Array(r)) = top.get("dataframe_records") {
        return records(r, "dataframe_records");
    }
    for key in ["instances", "inputs"] {
        match top.get(key) {
            Some(Value::Array(items)) => return records(items, key),
            // Column-oriented: {"age": [..], "sex": [..]}.
            Some(Value::Object(cols)) => {
                let columns: Vec<String> = cols.keys().cloned().collect();
                let mut values = Vec::new();
                let mut n = None;
                for c in &columns {
                    let v = match &cols[c] {
                        Value::Array(a) => a.clone(),
                        one => vec![one.clone()],
                    };
                    if *n.get_or_insert(v.len()) != v.len() {
                        return Err(Problem::new(format!(
                            "{key}: columns have different lengths"
                        )));
                    }
                    values.push(v);
                }
                return Ok(Frame { columns, values });
            }
            Some(_) => {
                return Err(Problem::new(format!(
                    "{key} must be a list of records or an object of columns"
                )));
            }
            None => {}
        }
    }
    Err(Problem::new(
        "the body needs one of dataframe_split, dataframe_records, instances or inputs",
    ))
}

/// CSV with a header; every value arrives as text (numbers are parsed by the signature).
pub fn csv(body: &[u8]) -> Result<Frame, Problem> {
    let mut rdr = ::csv::ReaderBuilder::new().from_reader(body);
    let columns: Vec<String> = rdr
        .headers()
        .map_err(|e| Problem::new(format!("CSV header: {e}")))?
        .iter()
        .map(String::from)
        .collect();
    let mut values: Vec<Vec<Value>> = vec![Vec::new(); columns.len()];
    for (r, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| Problem {
            column: None,
            row: Some(r),
            message: format!("CSV: {e}"),
        })?;
        for (c, v) in rec.iter().enumerate() {
            values[c].push(if v.is_empty() {
                Value::Null
            } else {
                Value::String(v.to_string())
            });
        }
    }
    Ok(Frame { columns, values })
}

/// Open Inference Protocol v2: `{"inputs": [{"name", "shape", "datatype", "data"}]}`.
pub fn v2(body: &Value) -> Result<(Frame, Option<String>), Problem> {
    let inputs = body["inputs"].as_array().ok_or_else(|| {
        Problem::new("the body needs `inputs`: a list of {name, shape, datatype, data}")
    })?;
    let mut frame = Frame::default();
    for (i, t) in inputs.iter().enumerate() {
        let name = t["name"]
            .as_str()
            .ok_or_else(|| Problem::new(format!("inputs[{i}].name is missing")))?;
        let data = match &t["data"] {
            Value::Array(a) => a
                .iter()
                .flat_map(|v| match v {
                    Value::Array(inner) => inner.clone(),
                    one => vec![one.clone()],
                })
                .collect::<Vec<_>>(),
            _ => return Err(Problem::new(format!("inputs[{i}].data must be a list"))),
        };
        if let Some(n) = frame.values.first().map(Vec::len)
            && n != data.len()
        {
            return Err(Problem::new(format!(
                "inputs[{i}] (`{name}`) has {} values; the others have {n}",
                data.len()
            )));
        }
        frame.columns.push(name.to_string());
        frame.values.push(data);
    }
    Ok((frame, body["id"].as_str().map(String::from)))
}

/// Types a frame by the signature. Missing, extra and mistyped columns are problems, all
/// reported together.
pub fn typed(model: &Model, frame: &Frame) -> Result<Vec<Values>, Vec<Problem>> {
    let mut problems = Vec::new();
    let inputs = &model.signature.inputs;
    // Most clients send the signature's columns in its order: then every lookup is a match.
    let in_order = frame.columns.len() == inputs.len()
        && frame.columns.iter().zip(inputs).all(|(c, i)| *c == i.name);
    // Otherwise (JSON objects come with their keys sorted), one hash lookup per column.
    let position: std::collections::HashMap<&str, usize> = if in_order {
        Default::default()
    } else {
        frame
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect()
    };
    let names: std::collections::HashSet<&str> = if in_order {
        Default::default()
    } else {
        inputs.iter().map(|i| i.name.as_str()).collect()
    };
    for c in frame.columns.iter().filter(|_| !in_order) {
        if !names.contains(c.as_str()) && *c != model.signature.target {
            problems.push(Problem {
                column: Some(c.clone()),
                row: None,
                message: format!("`{c}` is not an input of this model"),
            });
        }
    }
    let mut out = Vec::new();
    for (k, input) in inputs.iter().enumerate() {
        let found = if in_order {
            Some(k)
        } else {
            position.get(input.name.as_str()).copied()
        };
        let Some(i) = found else {
            problems.push(Problem {
                column: Some(input.name.clone()),
                row: None,
                message: format!(
                    "`{}` is missing ({})",
                    input.name,
                    match input.kind {
                        ColumnKind::Number => "a number",
                        ColumnKind::Text => "text",
                    }
                ),
            });
            continue;
        };
        let col = &frame.values[i];
        match input.kind {
            ColumnKind::Number => {
                let mut v = Vec::with_capacity(col.len());
                for (r, x) in col.iter().enumerate() {
                    match x {
                        Value::Null => v.push(None),
                        Value::Number(n) => v.push(n.as_f64()),
                        Value::String(s) if s.trim().parse::<f64>().is_ok() => {
                            v.push(s.trim().parse().ok())
                        }
                        other => {
                            problems.push(Problem {
                                column: Some(input.name.clone()),
                                row: Some(r),
                                message: format!("`{}` must be a number, not {other}", input.name),
                            });
                            v.push(None);
                        }
                    }
                }
                out.push(Values::Numeric(v));
            }
            ColumnKind::Text => {
                let mut v = Vec::with_capacity(col.len());
                for (r, x) in col.iter().enumerate() {
                    match x {
                        Value::Null => v.push(None),
                        Value::String(s) => v.push(Some(s.clone())),
                        Value::Number(n) => v.push(Some(n.to_string())),
                        Value::Bool(b) => v.push(Some(b.to_string())),
                        other => {
                            problems.push(Problem {
                                column: Some(input.name.clone()),
                                row: Some(r),
                                message: format!("`{}` must be text, not {other}", input.name),
                            });
                            v.push(None);
                        }
                    }
                }
                out.push(Values::Text(v));
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}
