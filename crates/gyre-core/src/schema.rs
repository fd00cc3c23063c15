//! A dataset schema: what the data is expected to look like, as an editable TOML file
//! (`schemas/NAME.toml`) versioned with the project. Inferred from a profile, then owned by
//! the user.

use crate::{ColumnType, CoreError};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A check `gyre data validate` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The row count is outside `[rows] min..max`.
    RowCount,
    /// A required column is absent.
    MissingColumn,
    /// The data has a column the schema does not describe.
    ExtraColumn,
    /// A value does not parse as the column's type.
    Type,
    /// The share of missing values exceeds `max_null_share`.
    Nulls,
    /// A number is outside `min..max`.
    Range,
    /// Values outside `categories` exceed `max_unseen_share`.
    Categories,
    /// A value repeats in a column marked `unique`.
    Unique,
}

impl Rule {
    pub const ALL: [Rule; 8] = [
        Rule::RowCount,
        Rule::MissingColumn,
        Rule::ExtraColumn,
        Rule::Type,
        Rule::Nulls,
        Rule::Range,
        Rule::Categories,
        Rule::Unique,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::RowCount => "row_count",
            Rule::MissingColumn => "missing_column",
            Rule::ExtraColumn => "extra_column",
            Rule::Type => "type",
            Rule::Nulls => "nulls",
            Rule::Range => "range",
            Rule::Categories => "categories",
            Rule::Unique => "unique",
        }
    }

    /// How bad a breach is unless the schema says otherwise. An extra column is only a
    /// warning: new data often gains columns that no model uses yet.
    pub fn default_severity(self) -> Severity {
        match self {
            Rule::ExtraColumn => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors fail validation (exit 1); warnings are reported; `off` disables the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Off,
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Off => "off",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// Row-count bounds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowBounds {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
}

/// What one column must satisfy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSchema {
    /// `integer`, `float`, `boolean`, `string`, `timestamp`, or `empty` (no type check).
    #[serde(rename = "type")]
    pub dtype: ColumnType,
    /// Whether the column must be present.
    #[serde(default = "yes")]
    pub required: bool,
    /// The largest share of missing values (0 = never missing, 1 = may be all missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_null_share: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "number"
    )]
    pub min: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "number"
    )]
    pub max: Option<f64>,
    /// The values allowed; others count as unseen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// The largest share of non-missing values that may fall outside `categories`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_unseen_share: f64,
    /// No value may repeat.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
    /// Per-rule severity for this column, over the schema-wide `[severity]`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub severity: BTreeMap<Rule, Severity>,
}

fn yes() -> bool {
    true
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Integral bounds are written as integers (`17`, not `17.0`).
fn number<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => s.serialize_i64(*x as i64),
        Some(x) => s.serialize_f64(*x),
        None => s.serialize_none(),
    }
}

/// A dataset's schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// The dataset it describes; files validated against it are read the way that dataset is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    #[serde(default)]
    pub rows: RowBounds,
    /// Severity per rule for every column, over the defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub severity: BTreeMap<Rule, Severity>,
    pub columns: IndexMap<String, ColumnSchema>,
}

impl Schema {
    pub fn parse(text: &str, file: &str) -> Result<Schema, CoreError> {
        let schema: Schema = toml::from_str(text).map_err(|e| CoreError::Spec {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        schema.check().map_err(|message| CoreError::Spec {
            file: file.to_string(),
            message,
        })?;
        Ok(schema)
    }

    /// Rules that TOML cannot express: bounds in order, shares within 0..1.
    fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if let (Some(lo), Some(hi)) = (self.rows.min, self.rows.max)
            && lo > hi
        {
            problems.push(format!("[rows] min {lo} is above max {hi}"));
        }
        for (name, c) in &self.columns {
            if let (Some(lo), Some(hi)) = (c.min, c.max)
                && lo > hi
            {
                problems.push(format!("column `{name}`: min {lo} is above max {hi}"));
            }
            for (key, share) in [
                ("max_null_share", c.max_null_share.unwrap_or(0.0)),
                ("max_unseen_share", c.max_unseen_share),
            ] {
                if !(0.0..=1.0).contains(&share) {
                    problems.push(format!(
                        "column `{name}`: {key} {share} is not between 0 and 1"
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// The severity of `rule` for `column` (or for the dataset when `None`).
    pub fn severity(&self, rule: Rule, column: Option<&str>) -> Severity {
        column
            .and_then(|c| self.columns.get(c))
            .and_then(|c| c.severity.get(&rule))
            .or_else(|| self.severity.get(&rule))
            .copied()
            .unwrap_or_else(|| rule.default_severity())
    }

    /// The schema as TOML, after a comment header.
    pub fn to_toml(&self, header: &str) -> String {
        let body = toml::to_string(self).expect("a schema always serialises");
        let mut out = String::new();
        for line in header.lines() {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reports_bad_files() {
        let text = r#"
dataset = "adult"
severity = { extra_column = "error" }

[rows]
min = 1

[columns.age]
type = "integer"
min = 17
max = 90

[columns.workclass]
type = "string"
max_null_share = 0.06
categories = ["Private", "State-gov"]
severity = { categories = "warning" }
"#;
        let s = Schema::parse(text, "schemas/adult.toml").unwrap();
        assert_eq!(s.columns["age"].min, Some(17.0));
        assert!(s.columns["age"].required);
        assert_eq!(
            s.severity(Rule::Categories, Some("workclass")),
            Severity::Warning
        );
        assert_eq!(s.severity(Rule::Categories, Some("age")), Severity::Error);
        assert_eq!(s.severity(Rule::ExtraColumn, None), Severity::Error);
        let again = Schema::parse(&s.to_toml("header"), "x").unwrap();
        assert_eq!(again, s);
        assert!(s.to_toml("h").contains("min = 17\n"), "{}", s.to_toml("h"));

        let bad = Schema::parse(
            "[columns.a]\ntype = \"integer\"\nmin = 5\nmax = 1\n",
            "s.toml",
        );
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("min 5 is above max 1")
        );
        let typo = Schema::parse("[columns.a]\ntype = \"integer\"\nmaximum = 1\n", "s.toml");
        assert!(typo.unwrap_err().to_string().contains("maximum"));
    }
}
