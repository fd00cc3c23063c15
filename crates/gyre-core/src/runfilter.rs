//! The run filter language of `gyre runs list --where`:
//!
//! ```text
//! metrics.f1 > 0.8 and params.algorithm = 'random_forest' and status = 'finished'
//! ```
//!
//! Conditions joined by `and`. Metrics compare as numbers (`= != < <= > >=`); params, tags,
//! `status` and `name` are text and compare with `=` and `!=` (as MLflow's params do).

use crate::CoreError;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Metric(String),
    Param(String),
    Tag(String),
    Status,
    Name,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    pub fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "<>",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
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
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
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
        _ => None,
    }
}

impl std::str::FromStr for RunOrder {
    type Err = CoreError;
    /// `started`, `name` or `metrics.NAME`, then optionally `asc` or `desc`.
    fn from_str(s: &str) -> Result<Self, CoreError> {
        let mut words = s.split_whitespace();
        let key = match words.next() {
            Some("started") => OrderKey::Started,
            Some("name") => OrderKey::Name,
            Some(w) => match parse_field(w) {
                Some(Field::Metric(m)) => OrderKey::Metric(m),
                _ => return Err(err(s, 0, "order by `started`, `name` or `metrics.NAME`")),
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
                err(input, start, format!("unknown field `{name}` (use metrics.NAME, params.NAME, tags.NAME, status or name)"))
            })?;
            skip(&mut i);
            let op_start = i;
            let op = match (b.get(i), b.get(i + 1)) {
                (Some(b'!'), Some(b'=')) => (Op::Ne, 2),
                (Some(b'<'), Some(b'=')) => (Op::Le, 2),
                (Some(b'>'), Some(b'=')) => (Op::Ge, 2),
                (Some(b'='), Some(b'=')) => (Op::Eq, 2),
                (Some(b'<'), Some(b'>')) => (Op::Ne, 2),
                (Some(b'='), _) => (Op::Eq, 1),
                (Some(b'<'), _) => (Op::Lt, 1),
                (Some(b'>'), _) => (Op::Gt, 1),
                _ => return Err(err(input, i, "expected one of = != < <= > >=")),
            };
            i += op.1;
            let op = op.0;
            skip(&mut i);
            let value_start = i;
            let value = match b.get(i) {
                Some(&q @ (b'\'' | b'"')) => {
                    let close = input[i + 1..]
                        .find(q as char)
                        .ok_or_else(|| err(input, i, "unclosed quote"))?;
                    let text = input[i + 1..i + 1 + close].to_string();
                    i += close + 2;
                    Value::Text(text)
                }
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
                (Field::Metric(m), Value::Text(_)) => {
                    return Err(err(
                        input,
                        value_start,
                        format!("metrics.{m} compares with a number"),
                    ));
                }
                (Field::Param(_) | Field::Tag(_) | Field::Status | Field::Name, _)
                    if !matches!(op, Op::Eq | Op::Ne) =>
                {
                    return Err(err(
                        input,
                        op_start,
                        format!("text compares with = or != only, not {op}"),
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
            ("params.a > 'x'", "= or != only"),
            ("score > 1", "unknown field `score`"),
            ("metrics.f1 > 1 or name = 'a'", "expected `and`"),
            ("name = 'unclosed", "unclosed quote"),
            ("status = 'done'", "not a status"),
            ("metrics.f1 > 1 and", "must follow `and`"),
        ] {
            let e = bad.parse::<RunFilter>().unwrap_err().to_string();
            assert!(e.contains(want), "{bad}: {e}");
        }
        assert_eq!("".parse::<RunFilter>().unwrap(), RunFilter::default());
        let o: RunOrder = "metrics.f1 desc".parse().unwrap();
        assert_eq!((o.key, o.descending), (OrderKey::Metric("f1".into()), true));
    }
}
