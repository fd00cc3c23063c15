//! Request bodies into typed columns, checked against the model's signature.
//!
//! MLflow's scoring formats (`dataframe_split`, `dataframe_records`, `instances`, `inputs`,
//! CSV) and the Open Inference Protocol v2 all become a [`Frame`]: column names and rows of
//! JSON values. A frame is then typed by the signature; every problem is reported at once.

use gyre_learn::model::{ColumnKind, InputColumn, Signature};
use gyre_learn::transform::Values;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Rows of named columns, as sent.
#[derive(Debug, Default)]
pub struct Frame {
    pub columns: Vec<String>,
    /// Column-major: one vector per column, all the same length.
    pub values: Vec<Vec<Cell>>,
}

/// One value as sent: a JSON scalar kept without `serde_json::Value`'s maps and boxes (the
/// serving path parses single rows at tens of thousands per second; see [`mlflow_body`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(String),
    /// A list or an object where a scalar belongs: always a problem for a column.
    Other(Value),
}

impl Cell {
    fn number(&self) -> Option<f64> {
        match self {
            Cell::I64(i) => Some(*i as f64),
            Cell::U64(u) => Some(*u as f64),
            Cell::F64(f) => Some(*f),
            _ => None,
        }
    }
}

impl From<Value> for Cell {
    fn from(v: Value) -> Cell {
        match v {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Cell::I64(i)
                } else if let Some(u) = n.as_u64() {
                    Cell::U64(u)
                } else {
                    Cell::F64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => Cell::Str(s),
            other => Cell::Other(other),
        }
    }
}

impl From<&Value> for Cell {
    fn from(v: &Value) -> Cell {
        match v {
            Value::Array(_) | Value::Object(_) => Cell::Other(v.clone()),
            Value::String(s) => Cell::Str(s.clone()),
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(*b),
            Value::Number(_) => Cell::from(v.clone()),
        }
    }
}

/// As JSON, for messages and for numbers sent to text columns (the digits serde_json writes).
impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::Null => f.write_str("null"),
            Cell::Bool(b) => write!(f, "{b}"),
            Cell::I64(i) => write!(f, "{i}"),
            Cell::U64(u) => write!(f, "{u}"),
            Cell::F64(x) => match serde_json::Number::from_f64(*x) {
                Some(n) => write!(f, "{n}"),
                None => f.write_str("null"),
            },
            Cell::Str(s) => write!(f, "{}", Value::String(s.clone())),
            Cell::Other(v) => write!(f, "{v}"),
        }
    }
}

impl<'de> Deserialize<'de> for Cell {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cell, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Cell;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Cell, E> {
                Ok(Cell::Null)
            }
            fn visit_none<E>(self) -> Result<Cell, E> {
                Ok(Cell::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Cell, E> {
                Ok(Cell::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> Result<Cell, E> {
                Ok(Cell::I64(i))
            }
            fn visit_u64<E>(self, u: u64) -> Result<Cell, E> {
                Ok(if let Ok(i) = i64::try_from(u) {
                    Cell::I64(i)
                } else {
                    Cell::U64(u)
                })
            }
            fn visit_f64<E>(self, x: f64) -> Result<Cell, E> {
                Ok(Cell::F64(x))
            }
            fn visit_str<E>(self, s: &str) -> Result<Cell, E> {
                Ok(Cell::Str(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Cell, E> {
                Ok(Cell::Str(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Cell, A::Error> {
                Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(Cell::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Cell, A::Error> {
                Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Cell::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// One record, `{column: value}`, with its keys in the order sent (a repeated key keeps its
/// last value, as a JSON object would).
#[derive(Debug)]
struct Record(Vec<(String, Cell)>);

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Record, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Record;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of column → value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
                let mut pairs: Vec<(String, Cell)> =
                    Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some((k, v)) = map.next_entry::<std::borrow::Cow<'de, str>, Cell>()? {
                    pairs.push((k.into_owned(), v));
                }
                Ok(Record(dedupe(pairs)))
            }
        }
        d.deserialize_map(V)
    }
}

/// Repeated keys keep their first place and their last value, as a JSON object would have
/// them. Checked by hash past a few dozen keys, so wide rows stay linear.
fn dedupe(pairs: Vec<(String, Cell)>) -> Vec<(String, Cell)> {
    let repeated = if pairs.len() <= 32 {
        pairs
            .iter()
            .enumerate()
            .any(|(i, (k, _))| pairs[..i].iter().any(|(c, _)| c == k))
    } else {
        let mut seen = std::collections::HashSet::with_capacity(pairs.len());
        !pairs.iter().all(|(k, _)| seen.insert(k.as_str()))
    };
    if !repeated {
        return pairs;
    }
    let mut out: Vec<(String, Cell)> = Vec::with_capacity(pairs.len());
    let mut at: std::collections::HashMap<String, usize> = Default::default();
    for (k, v) in pairs {
        match at.get(&k) {
            Some(&i) => out[i].1 = v,
            None => {
                at.insert(k.clone(), out.len());
                out.push((k, v));
            }
        }
    }
    out
}

#[derive(Deserialize)]
struct FastSplit {
    columns: Vec<String>,
    data: Vec<Vec<Cell>>,
}

/// The common shapes of MLflow's JSON formats, read straight into cells. Anything else
/// (columns as objects, tensors, malformed bodies) fails here and takes the general path.
#[derive(Deserialize)]
struct FastBody {
    dataframe_split: Option<FastSplit>,
    dataframe_records: Option<Vec<Record>>,
    instances: Option<Vec<Record>>,
    inputs: Option<Vec<Record>>,
}

impl Frame {
    pub fn rows(&self) -> usize {
        self.values.first().map_or(0, Vec::len)
    }
}

/// One typed row as a JSON array in the signature's input order: what the prediction log
/// keeps (the names are the model's, so they are not repeated in every record).
pub fn row_json(inputs: &[Values], r: usize) -> String {
    // zmij writes the shortest round-trip digits (serde_json's own formatter) several times
    // faster than `Display`, and about twice as fast as ryu; this runs for every logged row.
    let mut floats = zmij::Buffer::new();
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
    let mut recs = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(m) = item else {
            return Err(Problem::new(format!(
                "{what}[{i}] must be an object of column → value"
            )));
        };
        recs.push(Record(
            m.iter().map(|(k, v)| (k.clone(), Cell::from(v))).collect(),
        ));
    }
    Ok(records_frame(recs))
}

/// Records into columns: every key any record has, in the order first seen; a record
/// without a column gives null there. Records with the first record's keys in its order (the
/// usual case) are copied straight across; the others go through an index of the columns.
fn records_frame(recs: Vec<Record>) -> Frame {
    let Some(first) = recs.first() else {
        return Frame::default();
    };
    let same = |r: &Record, columns: &[String]| {
        r.0.len() == columns.len() && r.0.iter().zip(columns).all(|((k, _), c)| k == c)
    };
    let mut columns: Vec<String> = first.0.iter().map(|(k, _)| k.clone()).collect();
    let mut index: Option<std::collections::HashMap<String, usize>> = None;
    for r in &recs[1..] {
        if same(r, &columns) {
            continue;
        }
        let index = index.get_or_insert_with(|| column_index(&columns));
        for (k, _) in &r.0 {
            if !index.contains_key(k) {
                index.insert(k.clone(), columns.len());
                columns.push(k.clone());
            }
        }
    }
    let mut values: Vec<Vec<Cell>> = vec![Vec::with_capacity(recs.len()); columns.len()];
    for r in recs {
        if same(&r, &columns) {
            for (col, (_, v)) in values.iter_mut().zip(r.0) {
                col.push(v);
            }
            continue;
        }
        let index = index.get_or_insert_with(|| column_index(&columns));
        let mut row: Vec<Cell> = vec![Cell::Null; columns.len()];
        for (k, v) in r.0 {
            if let Some(&i) = index.get(&k) {
                row[i] = v;
            }
        }
        for (col, v) in values.iter_mut().zip(row) {
            col.push(v);
        }
    }
    Frame { columns, values }
}

fn column_index(columns: &[String]) -> std::collections::HashMap<String, usize> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.clone(), i))
        .collect()
}

fn split(columns: &Value, data: &Value, what: &str) -> Result<Frame, Problem> {
    let columns: Vec<String> = columns
        .as_array()
        .and_then(|a| a.iter().map(|c| c.as_str().map(String::from)).collect())
        .ok_or_else(|| Problem::new(format!("{what}.columns must be a list of names")))?;
    let data = data
        .as_array()
        .ok_or_else(|| Problem::new(format!("{what}.data must be a list of rows")))?;
    let mut rows = Vec::with_capacity(data.len());
    for (r, row) in data.iter().enumerate() {
        let row = row
            .as_array()
            .ok_or_else(|| split_row_problem(what, r, columns.len()))?;
        rows.push(row.iter().map(Cell::from).collect());
    }
    split_frame(columns, rows, what)
}

fn split_row_problem(what: &str, r: usize, n: usize) -> Problem {
    Problem {
        column: None,
        row: Some(r),
        message: format!("{what}.data[{r}] must be a list of {n} values"),
    }
}

fn split_frame(columns: Vec<String>, rows: Vec<Vec<Cell>>, what: &str) -> Result<Frame, Problem> {
    let mut values: Vec<Vec<Cell>> = vec![Vec::with_capacity(rows.len()); columns.len()];
    for (r, row) in rows.into_iter().enumerate() {
        if row.len() != columns.len() {
            return Err(split_row_problem(what, r, columns.len()));
        }
        for (col, v) in values.iter_mut().zip(row) {
            col.push(v);
        }
    }
    Ok(Frame { columns, values })
}

/// A JSON body in MLflow's formats. The common shapes are read straight into cells; the rest
/// goes through `serde_json::Value` and [`mlflow_json`], which also words every error.
pub fn mlflow_body(body: &[u8]) -> Result<Frame, BodyError> {
    if let Ok(fast) = serde_json::from_slice::<FastBody>(body) {
        if let Some(s) = fast.dataframe_split {
            return split_frame(s.columns, s.data, "dataframe_split").map_err(BodyError::Problem);
        }
        if let Some(r) = fast.dataframe_records.or(fast.instances).or(fast.inputs) {
            return Ok(records_frame(r));
        }
    }
    let v: Value = serde_json::from_slice(body).map_err(BodyError::Json)?;
    mlflow_json(&v).map_err(BodyError::Problem)
}

/// The signature path: `{"dataframe_records": [...]}` (or `instances`, `inputs`) whose every
/// record has exactly the model's inputs, in the signature's order, each of its kind (a
/// number or null for a number; text or null for text), read straight into typed columns.
/// No key is copied or checked as UTF-8 (it is compared as bytes with the input's name), and
/// no frame is built. Anything else gives `None` and takes the general path
/// ([`mlflow_body`], then [`typed`]), which words every problem; what this path accepts, the
/// general path accepts too, with the same columns (see the tests).
pub fn signature_records(body: &[u8], signature: &Signature) -> Option<Vec<Values>> {
    let inputs = &signature.inputs;
    let mut de = serde_json::Deserializer::from_slice(body);
    let columns = serde::de::DeserializeSeed::deserialize(SigBody(inputs), &mut de).ok()?;
    de.end().ok()?;
    (columns.first().is_some_and(|c| !c.is_empty())).then_some(columns)
}

/// A refusal: the body is not of the signature path's shape (never shown to anyone).
fn off_path<E: serde::de::Error>() -> E {
    E::custom("not the signature path")
}

struct SigBody<'m>(&'m [InputColumn]);

impl<'de> serde::de::DeserializeSeed<'de> for SigBody<'_> {
    type Value = Vec<Values>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Values>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SigBody<'_> {
    type Value = Vec<Values>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object with one list of records")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Values>, A::Error> {
        let Some(Key(true)) = map.next_key()? else {
            return Err(off_path());
        };
        let columns = map.next_value_seed(SigRecords(self.0))?;
        // Another key (`params`, or a second format) is for the general path to judge.
        if map.next_key::<Key>()?.is_some() {
            return Err(off_path());
        }
        Ok(columns)
    }
}

/// A map key, read as bytes without a copy or a UTF-8 pass: whether it names a list of
/// records (`dataframe_records`, `instances`, `inputs`).
struct Key(bool);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_bytes<E>(self, b: &[u8]) -> Result<Key, E> {
                Ok(Key(matches!(
                    b,
                    b"dataframe_records" | b"instances" | b"inputs"
                )))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Key, E> {
                self.visit_bytes(s.as_bytes())
            }
        }
        d.deserialize_bytes(V)
    }
}

/// A record key that must be one input's name.
struct Named<'m>(&'m str);

impl<'de> serde::de::DeserializeSeed<'de> for Named<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_bytes(self)
    }
}

impl<'de> Visitor<'de> for Named<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "the key `{}`", self.0)
    }
    fn visit_bytes<E: serde::de::Error>(self, b: &[u8]) -> Result<(), E> {
        if b == self.0.as_bytes() {
            Ok(())
        } else {
            Err(off_path())
        }
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<(), E> {
        self.visit_bytes(s.as_bytes())
    }
}

struct SigRecords<'m>(&'m [InputColumn]);

impl<'de> serde::de::DeserializeSeed<'de> for SigRecords<'_> {
    type Value = Vec<Values>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Values>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for SigRecords<'_> {
    type Value = Vec<Values>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Values>, A::Error> {
        let rows = seq.size_hint().unwrap_or(1);
        let mut columns: Vec<Values> = self
            .0
            .iter()
            .map(|c| match c.kind {
                ColumnKind::Number => Values::Numeric(Vec::with_capacity(rows)),
                ColumnKind::Text => Values::Text(Vec::with_capacity(rows)),
            })
            .collect();
        while seq
            .next_element_seed(SigRecord(self.0, &mut columns))?
            .is_some()
        {}
        Ok(columns)
    }
}

/// One record, appended to the columns.
struct SigRecord<'m, 'c>(&'m [InputColumn], &'c mut [Values]);

impl<'de> serde::de::DeserializeSeed<'de> for SigRecord<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SigRecord<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a record with the signature's inputs in order")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        for (input, column) in self.0.iter().zip(self.1.iter_mut()) {
            if map.next_key_seed(Named(&input.name))?.is_none() {
                return Err(off_path());
            }
            match column {
                Values::Numeric(v) => v.push(map.next_value_seed(NumberOrNull)?),
                Values::Text(v) => v.push(map.next_value_seed(TextOrNull)?),
            }
        }
        // A key past the inputs (the target, or anything else) is for the general path.
        if map.next_key::<Key>()?.is_some() {
            return Err(off_path());
        }
        Ok(())
    }
}

/// A number (as [`typed`] reads `Cell::I64`, `U64` and `F64`) or null.
struct NumberOrNull;

impl<'de> serde::de::DeserializeSeed<'de> for NumberOrNull {
    type Value = Option<f64>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<f64>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NumberOrNull {
    type Value = Option<f64>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a number or null")
    }
    fn visit_i64<E>(self, i: i64) -> Result<Option<f64>, E> {
        Ok(Some(i as f64))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Option<f64>, E> {
        Ok(Some(u as f64))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Option<f64>, E> {
        Ok(Some(x))
    }
    fn visit_unit<E>(self) -> Result<Option<f64>, E> {
        Ok(None)
    }
}

/// Text or null.
struct TextOrNull;

impl<'de> serde::de::DeserializeSeed<'de> for TextOrNull {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TextOrNull {
    type Value = Option<String>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("text or null")
    }
    fn visit_str<E>(self, s: &str) -> Result<Option<String>, E> {
        Ok(Some(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Option<String>, E> {
        Ok(Some(s))
    }
    fn visit_unit<E>(self) -> Result<Option<String>, E> {
        Ok(None)
    }
}

/// Why a JSON body could not become a frame.
#[derive(Debug)]
pub enum BodyError {
    Json(serde_json::Error),
    Problem(Problem),
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
                    let v: Vec<Cell> = match &cols[c] {
                        Value::Array(a) => a.iter().map(Cell::from).collect(),
                        one => vec![Cell::from(one)],
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
    let mut values: Vec<Vec<Cell>> = vec![Vec::new(); columns.len()];
    for (r, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| Problem {
            column: None,
            row: Some(r),
            message: format!("CSV: {e}"),
        })?;
        for (c, v) in rec.iter().enumerate() {
            values[c].push(if v.is_empty() {
                Cell::Null
            } else {
                Cell::Str(v.to_string())
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
                    Value::Array(inner) => inner.iter().map(Cell::from).collect(),
                    one => vec![Cell::from(one)],
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
pub fn typed(signature: &Signature, frame: &Frame) -> Result<Vec<Values>, Vec<Problem>> {
    typed_with(signature, frame, false).map(|(columns, _)| columns)
}

/// [`typed`]; with `ignore_extra`, columns the model does not take are left out instead of
/// refused, and counted (the second value).
pub fn typed_with(
    signature: &Signature,
    frame: &Frame,
    ignore_extra: bool,
) -> Result<(Vec<Values>, usize), Vec<Problem>> {
    let mut problems = Vec::new();
    let mut ignored = 0;
    let inputs = &signature.inputs;
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
        if !names.contains(c.as_str()) && *c != signature.target {
            if ignore_extra {
                ignored += 1;
                continue;
            }
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
                        Cell::Null => v.push(None),
                        Cell::I64(_) | Cell::U64(_) | Cell::F64(_) => v.push(x.number()),
                        Cell::Str(s) if s.trim().parse::<f64>().is_ok() => {
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
                        Cell::Null => v.push(None),
                        Cell::Str(s) => v.push(Some(s.clone())),
                        Cell::I64(_) | Cell::U64(_) | Cell::F64(_) | Cell::Bool(_) => {
                            v.push(Some(x.to_string()))
                        }
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
        Ok((out, ignored))
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame as (column, values) sorted by column: the fast and general paths may list
    /// columns in different orders (sent order, or sorted keys).
    fn by_column(f: Frame) -> Vec<(String, Vec<Cell>)> {
        let mut v: Vec<_> = f.columns.into_iter().zip(f.values).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn both(body: &str) -> (Result<Frame, String>, Result<Frame, String>) {
        let fast = mlflow_body(body.as_bytes()).map_err(|e| format!("{e:?}"));
        let general = serde_json::from_slice::<Value>(body.as_bytes())
            .map_err(|e| e.to_string())
            .and_then(|v| mlflow_json(&v).map_err(|p| p.message));
        (fast, general)
    }

    #[test]
    fn the_fast_path_reads_what_the_general_path_reads() {
        for body in [
            r#"{"dataframe_records": [{"b": 1.5, "a": "x"}, {"a": null, "b": -2}]}"#,
            r#"{"dataframe_records": [{"a": 1}, {"b": 2}]}"#,
            r#"{"dataframe_records": [{"a": 1, "a": 2}]}"#,
            r#"{"dataframe_records": [{"a": [1, 2], "b": {"c": true}}]}"#,
            r#"{"dataframe_records": [{"a": 18446744073709551615, "b": 1e300, "c": false}]}"#,
            r#"{"dataframe_split": {"columns": ["a", "b"], "data": [[1, "y"], [2, null]]}}"#,
            r#"{"dataframe_split": {"index": [0], "columns": ["a"], "data": [[1]]}}"#,
            r#"{"instances": [{"a": 1}], "params": {"x": 1}}"#,
            r#"{"inputs": [{"a": "\u00e9t\u00e9"}]}"#,
            r#"{"inputs": {"a": [1, 2], "b": [3, 4]}}"#,
            r#"{"dataframe_records": []}"#,
        ] {
            let (fast, general) = both(body);
            let fast = fast.unwrap_or_else(|e| panic!("{body}: {e}"));
            let general = general.unwrap_or_else(|e| panic!("{body}: {e}"));
            assert_eq!(by_column(fast), by_column(general), "{body}");
        }
    }

    fn signature() -> Signature {
        let col = |name: &str, kind| InputColumn {
            name: name.into(),
            kind,
        };
        Signature {
            inputs: vec![
                col("size", ColumnKind::Number),
                col("colour", ColumnKind::Text),
                col("mean radius", ColumnKind::Number),
            ],
            target: "label".into(),
            classes: vec![],
        }
    }

    /// The general path's answer: the frame typed by the signature.
    fn general(body: &str, sig: &Signature) -> Option<Vec<Values>> {
        typed(sig, &mlflow_body(body.as_bytes()).ok()?).ok()
    }

    #[test]
    fn the_signature_path_reads_what_the_general_path_reads() {
        let sig = signature();
        // On the path: every record has exactly the inputs, in order, each of its kind.
        for body in [
            r#"{"dataframe_records": [{"size": 1.5, "colour": "red", "mean radius": 17.99}]}"#,
            r#"{"dataframe_records": [{"size": 1, "colour": null, "mean radius": -2},
                                     {"size": null, "colour": "bl\u00e9", "mean radius": 1e300}]}"#,
            r#"{"instances": [{"size": 18446744073709551615, "colour": "", "mean radius": 0}]}"#,
            r#"{"inputs": [{"size": 2, "colour": "x", "mean\u0020radius": 3}]}"#,
            r#" {"dataframe_records":[{"size":-0.0,"colour":"a\"b","mean radius":1E-5}]} "#,
        ] {
            let fast = signature_records(body.as_bytes(), &sig);
            assert!(fast.is_some(), "{body} should take the signature path");
            assert_eq!(fast, general(body, &sig), "{body}");
        }
        // Off the path (the general path reads, types or refuses them).
        for body in [
            r#"{"dataframe_records": [{"colour": "red", "size": 1.5, "mean radius": 1}]}"#,
            r#"{"dataframe_records": [{"size": 1.5, "colour": "red"}]}"#,
            r#"{"dataframe_records": [{"size": 1, "colour": "r", "mean radius": 1, "label": 0}]}"#,
            r#"{"dataframe_records": [{"size": 1, "colour": "r", "mean radius": 1, "size": 2}]}"#,
            r#"{"dataframe_records": [{"size": "1.5", "colour": "red", "mean radius": 1}]}"#,
            r#"{"dataframe_records": [{"size": 1, "colour": 7, "mean radius": 1}]}"#,
            r#"{"dataframe_records": [{"size": true, "colour": "r", "mean radius": 1}]}"#,
            r#"{"dataframe_records": [{"size": [1], "colour": "r", "mean radius": 1}]}"#,
            r#"{"dataframe_records": [{"size": 1e400, "colour": "r", "mean radius": 1}]}"#,
            r#"{"dataframe_records": [{"size": 1, "colour": {}, "mean radius": 1}]}"#,
            r#"{"dataframe_records": []}"#,
            r#"{"dataframe_records": [{"size": 1, "colour": "r", "mean radius": 1}], "params": {}}"#,
            r#"{"dataframe_split": {"columns": ["size", "colour", "mean radius"], "data": [[1, "r", 2]]}}"#,
            r#"{"dataframe_records": [{"size": 1, "colour": "r", "mean radius": 1}]} x"#,
            r#"{"dataframe_records": [{"size": 1, "colour": "r", "mean radius": 1}"#,
            r#"[]"#,
        ] {
            assert_eq!(signature_records(body.as_bytes(), &sig), None, "{body}");
        }
        // Those the general path accepts, it types as the signature says.
        assert_eq!(
            general(
                r#"{"dataframe_records": [{"colour": "red", "size": "1.5", "mean radius": 1, "label": 0}]}"#,
                &sig
            ),
            Some(vec![
                Values::Numeric(vec![Some(1.5)]),
                Values::Text(vec![Some("red".into())]),
                Values::Numeric(vec![Some(1.0)]),
            ])
        );
    }

    #[test]
    fn wide_records_in_any_order_with_repeated_keys() {
        let keys: Vec<String> = (0..300).map(|i| format!("c{i:03}")).collect();
        let forward: Vec<String> = keys.iter().map(|k| format!("\"{k}\": 1")).collect();
        let mut backward: Vec<String> = keys.iter().map(|k| format!("\"{k}\": 2.5")).collect();
        backward.reverse();
        backward.push("\"c007\": \"x\"".into());
        backward.push("\"extra\": null".into());
        let body = format!(
            "{{\"dataframe_records\": [{{{}}}, {{{}}}, {{\"c001\": 3}}]}}",
            forward.join(", "),
            backward.join(", ")
        );
        let (fast, general) = both(&body);
        let fast = fast.unwrap();
        assert_eq!(fast.columns.len(), 301);
        assert_eq!(fast.columns[..300], keys[..]);
        assert_eq!(
            fast.values[7],
            [Cell::I64(1), Cell::Str("x".into()), Cell::Null]
        );
        assert_eq!(by_column(fast), by_column(general.unwrap()));
    }

    #[test]
    fn records_keep_the_order_sent_and_the_last_of_a_repeated_key() {
        let f = mlflow_body(br#"{"dataframe_records": [{"z": 1, "a": 2, "z": 3}]}"#).unwrap();
        assert_eq!(f.columns, ["z", "a"]);
        assert_eq!(f.values, [vec![Cell::I64(3)], vec![Cell::I64(2)]]);
    }

    #[test]
    fn bad_bodies_get_the_general_paths_messages() {
        for (body, message) in [
            (
                r#"{"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}"#,
                "dataframe_split.data[0] must be a list of 2 values",
            ),
            (
                r#"{"dataframe_records": [1, 2]}"#,
                "dataframe_records[0] must be an object of column → value",
            ),
            (
                r#"{"dataframe_records": {"a": 1}}"#,
                "the body needs one of dataframe_split, dataframe_records, instances or inputs",
            ),
            (
                r#"{"rows": 1}"#,
                "the body needs one of dataframe_split, dataframe_records, instances or inputs",
            ),
        ] {
            match mlflow_body(body.as_bytes()) {
                Err(BodyError::Problem(p)) => assert_eq!(p.message, message, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        assert!(matches!(mlflow_body(b"{not json"), Err(BodyError::Json(_))));
    }

    #[test]
    fn cells_print_as_json() {
        let cells = [
            Cell::Null,
            Cell::Bool(true),
            Cell::I64(-3),
            Cell::U64(u64::MAX),
            Cell::F64(0.1),
            Cell::F64(1e300),
            Cell::Str("a\"b".into()),
        ];
        let printed: Vec<String> = cells.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            printed,
            [
                "null",
                "true",
                "-3",
                "18446744073709551615",
                "0.1",
                "1e+300",
                "\"a\\\"b\""
            ]
        );
    }
}
