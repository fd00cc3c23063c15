//! The run filter language of `gyre runs list --where`:
//!
//! ```text
//! metrics.f1 > 0.8 and params.algorithm = 'random_forest' and status = 'finished'
//! ```
//!
//! Conditions joined by `and`. Metrics compare as numbers (`= != < <= > >=`); params, tags,
//! `status` and `name` are text and compare with `=`, `!=`, `like` (`%` any run of
//! characters, `_` one; case-sensitive), `ilike` (the same, any case), `in ('a', 'b')` and
//! `not in (…)`, as MLflow's search does.

use crate::CoreError;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Metric(String),
    Param(String),
    Tag(String),
    Status,
    Name,
    /// The run's id (`id` or `run_id`).
    Id,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// A `%`/`_` pattern, case-sensitive.
    Like,
    /// A `%`/`_` pattern, any case.
    ILike,
    /// One of a list.
    In,
    NotIn,
}

impl Op {
    /// The SQL of a comparison (`Like`, `ILike`, `In` and `NotIn` are written per database
    /// by the store).
    pub fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "<>",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Like => "LIKE",
            Op::ILike => "ILIKE",
            Op::In => "IN",
            Op::NotIn => "NOT IN",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Like => "like",
            Op::ILike => "ilike",
            Op::In => "in",
            Op::NotIn => "not in",
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
    /// The texts of `in (…)`.
    List(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub field: Field,
    pub op: Op,
    pub value: Value,
}

/// Conditions that must all hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFilter {
    pub conditions: Vec<Condition>,
}

/// How runs are ordered: by start time (default, newest first), name, or a metric.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOrder {
    pub key: OrderKey,
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OrderKey {
    Started,
    Name,
    Metric(String),
    /// A param's value, as text (runs without it come last).
    Param(String),
}

impl Default for RunOrder {
    fn default() -> Self {
        RunOrder {
            key: OrderKey::Started,
            descending: true,
        }
    }
}

fn err(input: &str, at: usize, message: impl fmt::Display) -> CoreError {
    CoreError::Spec {
        file: "--where".into(),
        message: format!("{message} at column {} of `{input}`", at + 1),
    }
}

fn parse_field(name: &str) -> Option<Field> {
    let (kind, key) = match name.split_once('.') {
        Some((k, rest)) if !rest.is_empty() => (k, Some(rest.to_string())),
        _ => (name, None),
    };
    match (kind, key) {
        ("metrics" | "metric", Some(k)) => Some(Field::Metric(k)),
        ("params" | "param", Some(k)) => Some(Field::Param(k)),
        ("tags" | "tag", Some(k)) => Some(Field::Tag(k)),
        ("status", None) => Some(Field::Status),
        ("name", None) => Some(Field::Name),
        ("id" | "run_id", None) => Some(Field::Id),
        _ => None,
    }
}

impl std::str::FromStr for RunOrder {
    type Err = CoreError;
    /// `started`, `name`, `metrics.NAME` or `params.NAME`, then optionally `asc` or `desc`.
    fn from_str(s: &str) -> Result<Self, CoreError> {
        let mut words = s.split_whitespace();
        let key = match words.next() {
            Some("started") => OrderKey::Started,
            Some("name") => OrderKey::Name,
            Some(w) => match parse_field(w) {
                Some(Field::Metric(m)) => OrderKey::Metric(m),
                Some(Field::Param(k)) => OrderKey::Param(k),
                _ => {
                    return Err(err(
                        s,
                        0,
                        "order by `started`, `name`, `metrics.NAME` or `params.NAME`",
                    ));
                }
            },
            None => return Err(err(s, 0, "empty order")),
        };
        let descending = match words.next() {
            None => !matches!(key, OrderKey::Name),
            Some(w) if w.eq_ignore_ascii_case("desc") => true,
            Some(w) if w.eq_ignore_ascii_case("asc") => false,
            Some(w) => {
                return Err(err(
                    s,
                    s.find(w).unwrap_or(0),
                    format!("`{w}` is not asc or desc"),
                ));
            }
        };
        Ok(RunOrder { key, descending })
    }
}

impl std::str::FromStr for RunFilter {
    type Err = CoreError;
    fn from_str(input: &str) -> Result<Self, CoreError> {
        let b = input.as_bytes();
        let mut i = 0;
        let skip = |i: &mut usize| {
            while *i < b.len() && b[*i].is_ascii_whitespace() {
                *i += 1;
            }
        };
        let mut conditions = Vec::new();
        loop {
            skip(&mut i);
            if i >= b.len() {
                if conditions.is_empty() {
                    return Ok(RunFilter::default());
                }
                return Err(err(input, i, "a condition must follow `and`"));
            }
            // Field: letters, digits, `_`, `-`, `.`
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'-' | b'.'))
            {
                i += 1;
            }
            let name = &input[start..i];
            let field = parse_field(name).ok_or_else(|| {
                err(input, start, format!("unknown field `{name}` (use metrics.NAME, params.NAME, tags.NAME, status, name or id)"))
            })?;
            skip(&mut i);
            let op_start = i;
            let word = |i: usize| {
                let mut j = i;
                while j < b.len() && b[j].is_ascii_alphabetic() {
                    j += 1;
                }
                (input[i..j].to_ascii_lowercase(), j)
            };
            let op = match (b.get(i), b.get(i + 1)) {
                (Some(b'!'), Some(b'=')) => (Op::Ne, i + 2),
                (Some(b'<'), Some(b'=')) => (Op::Le, i + 2),
                (Some(b'>'), Some(b'=')) => (Op::Ge, i + 2),
                (Some(b'='), Some(b'=')) => (Op::Eq, i + 2),
                (Some(b'<'), Some(b'>')) => (Op::Ne, i + 2),
                (Some(b'='), _) => (Op::Eq, i + 1),
                (Some(b'<'), _) => (Op::Lt, i + 1),
                (Some(b'>'), _) => (Op::Gt, i + 1),
                _ => match word(i) {
                    (w, j) if w == "like" => (Op::Like, j),
                    (w, j) if w == "ilike" => (Op::ILike, j),
                    (w, j) if w == "in" => (Op::In, j),
                    (w, j) if w == "not" => {
                        let mut k = j;
                        skip(&mut k);
                        match word(k) {
                            (w, j) if w == "in" => (Op::NotIn, j),
                            _ => return Err(err(input, k, "expected `in` after `not`")),
                        }
                    }
                    _ => {
                        return Err(err(
                            input,
                            i,
                            "expected one of = != < <= > >= like ilike in, not in",
                        ));
                    }
                },
            };
            i = op.1;
            let op = op.0;
            skip(&mut i);
            let value_start = i;
            let quoted = |i: &mut usize| -> Result<String, CoreError> {
                let q = b[*i] as char;
                let close = input[*i + 1..]
                    .find(q)
                    .ok_or_else(|| err(input, *i, "unclosed quote"))?;
                let text = input[*i + 1..*i + 1 + close].to_string();
                *i += close + 2;
                Ok(text)
            };
            let value = match b.get(i) {
                _ if matches!(op, Op::In | Op::NotIn) => {
                    if b.get(i) != Some(&b'(') {
                        return Err(err(input, i, format!("`{op}` takes a list: ('a', 'b')")));
                    }
                    i += 1;
                    let mut items = Vec::new();
                    loop {
                        skip(&mut i);
                        match b.get(i) {
                            Some(b'\'' | b'"') => items.push(quoted(&mut i)?),
                            _ => return Err(err(input, i, "expected a quoted text in the list")),
                        }
                        skip(&mut i);
                        match b.get(i) {
                            Some(b',') => i += 1,
                            Some(b')') => {
                                i += 1;
                                break;
                            }
                            _ => return Err(err(input, i, "expected `,` or `)` in the list")),
                        }
                    }
                    Value::List(items)
                }
                Some(b'\'' | b'"') => Value::Text(quoted(&mut i)?),
                Some(_) => {
                    let s = i;
                    while i < b.len() && !b[i].is_ascii_whitespace() {
                        i += 1;
                    }
                    let word = &input[s..i];
                    match word.parse::<f64>() {
                        Ok(x) => Value::Number(x),
                        Err(_) => {
                            return Err(err(
                                input,
                                s,
                                format!("`{word}` is neither a number nor a quoted text"),
                            ));
                        }
                    }
                }
                None => return Err(err(input, i, "expected a value")),
            };
            match (&field, &value) {
                (Field::Metric(m), Value::Text(_)) if !matches!(op, Op::Like | Op::ILike) => {
                    return Err(err(
                        input,
                        value_start,
                        format!("metrics.{m} compares with a number"),
                    ));
                }
                (Field::Metric(m), _)
                    if !matches!(op, Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge) =>
                {
                    return Err(err(
                        input,
                        op_start,
                        format!("metrics.{m} compares with = != < <= > >=, not {op}"),
                    ));
                }
                (Field::Param(_) | Field::Tag(_) | Field::Status | Field::Name | Field::Id, _)
                    if matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge) =>
                {
                    return Err(err(
                        input,
                        op_start,
                        format!("text compares with = != like ilike in, not {op}"),
                    ));
                }
                (_, Value::Number(_)) if matches!(op, Op::Like | Op::ILike) => {
                    return Err(err(
                        input,
                        value_start,
                        format!("`{op}` takes a quoted pattern"),
                    ));
                }
                _ => {}
            }
            let value = match (&field, value) {
                // A number written for a param means its text: params.trees = 300.
                (Field::Param(_) | Field::Tag(_), Value::Number(x)) => Value::Text(format!("{x}")),
                (_, v) => v,
            };
            if field == Field::Status
                && matches!(op, Op::Eq | Op::Ne)
                && let Value::Text(t) = &value
                && t.parse::<crate::RunStatus>().is_err()
            {
                return Err(err(
                    input,
                    value_start,
                    format!("`{t}` is not a status (running, finished, failed, killed)"),
                ));
            }
            conditions.push(Condition { field, op, value });
            skip(&mut i);
            if i >= b.len() {
                return Ok(RunFilter { conditions });
            }
            let word_start = i;
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            if !input[word_start..i].eq_ignore_ascii_case("and") {
                return Err(err(input, word_start, "expected `and` between conditions"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_explains_mistakes() {
        let f: RunFilter = "metrics.f1 > 0.8 and params.algorithm = 'random_forest' AND status = \"finished\" and params.trees = 300"
            .parse()
            .unwrap();
        assert_eq!(f.conditions.len(), 4);
        assert_eq!(f.conditions[0].field, Field::Metric("f1".into()));
        assert_eq!(f.conditions[0].op, Op::Gt);
        assert_eq!(f.conditions[3].value, Value::Text("300".into()));
        assert_eq!(
            "metrics.val.auc >= 1e-3"
                .parse::<RunFilter>()
                .unwrap()
                .conditions[0]
                .field,
            Field::Metric("val.auc".into())
        );
        for (bad, want) in [
            ("metrics.f1 > high", "neither a number"),
            ("metrics.f1 = 'x'", "compares with a number"),
            ("params.a > 'x'", "= != like ilike in, not >"),
            ("score > 1", "unknown field `score`"),
            ("metrics.f1 > 1 or name = 'a'", "expected `and`"),
            ("name = 'unclosed", "unclosed quote"),
            ("status = 'done'", "not a status"),
            ("metrics.f1 > 1 and", "must follow `and`"),
            ("metrics.f1 like '%a'", "compares with = != < <= > >="),
            ("params.a like 3", "quoted pattern"),
            ("params.a in 'x'", "takes a list"),
            ("params.a in ('x' 'y')", "`,` or `)`"),
            ("params.a not like 'x'", "expected `in` after `not`"),
            ("params.a ~ 'x'", "like ilike in"),
        ] {
            let e = bad.parse::<RunFilter>().unwrap_err().to_string();
            assert!(e.contains(want), "{bad}: {e}");
        }
        assert_eq!("".parse::<RunFilter>().unwrap(), RunFilter::default());
        let f: RunFilter =
            "tags.team LIKE 'ml-%' and name ILIKE \"%Train%\" and params.lr in ('0.1', \"0.2\") and status not in ('failed')"
                .parse()
                .unwrap();
        let ops: Vec<Op> = f.conditions.iter().map(|c| c.op).collect();
        assert_eq!(ops, [Op::Like, Op::ILike, Op::In, Op::NotIn]);
        assert_eq!(
            f.conditions[2].value,
            Value::List(vec!["0.1".into(), "0.2".into()])
        );
        assert_eq!(f.conditions[3].value, Value::List(vec!["failed".into()]));
        let o: RunOrder = "metrics.f1 desc".parse().unwrap();
        assert_eq!((o.key, o.descending), (OrderKey::Metric("f1".into()), true));
    }
}
