//! Validation of data against a schema. Every row is checked, every anomaly is collected
//! (never only the first), each with examples and their row numbers.

use crate::csv::{RowSink, scan_csv};
use crate::{DataError, InputFile, Progress, parse_timestamp};
use gyre_core::{ColumnType, FileFormat, ReadOptions, Rule, Schema, Severity};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

/// Examples kept per anomaly.
const EXAMPLES: usize = 5;
/// Bins of the histogram drawn inside a column's expected range.
pub const RANGE_BINS: usize = 20;
/// Distinct values counted per categorical column for the report.
const REPORT_VALUES: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Example {
    /// The file, when the data has several.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub file: String,
    /// 1 is the first data row (after any header).
    pub row: u64,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Anomaly {
    /// `None` for dataset-wide rules (row count).
    pub column: Option<String>,
    pub rule: Rule,
    pub severity: Severity,
    pub expected: String,
    pub found: String,
    /// How many values (or rows) break the rule.
    pub count: u64,
    pub examples: Vec<Example>,
}

/// One line for logs and messages: `` `date` range: expected 0 to 0.42, found 2880 values
/// outside (row 11521: 0.4245; …) ``.
impl std::fmt::Display for Anomaly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(c) => write!(f, "`{c}` {}", self.rule)?,
            None => write!(f, "{}", self.rule)?,
        }
        write!(f, ": expected {}, found {}", self.expected, self.found)?;
        if !self.examples.is_empty() {
            let shown: Vec<String> = self
                .examples
                .iter()
                .take(3)
                .map(|e| {
                    let file = if e.file.is_empty() {
                        String::new()
                    } else {
                        format!("{} ", e.file)
                    };
                    format!("{file}row {}: {}", e.row, e.value)
                })
                .collect();
            write!(f, " ({})", shown.join("; "))?;
        }
        Ok(())
    }
}

/// Counts of a numeric column inside its expected range, for the report's chart.
#[derive(Debug, Clone, Serialize)]
pub struct RangeHistogram {
    pub min: f64,
    pub max: f64,
    pub below: u64,
    pub counts: Vec<u64>,
    pub above: u64,
}

/// What the report shows of each column, anomalous or not.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnSummary {
    pub name: String,
    pub dtype: ColumnType,
    pub values: u64,
    pub nulls: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub histogram: Option<RangeHistogram>,
    /// Most frequent values of categorical columns, with whether the schema allows them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values_seen: Vec<(String, u64, bool)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    pub rows: u64,
    pub columns: Vec<ColumnSummary>,
    pub anomalies: Vec<Anomaly>,
}

impl ValidationReport {
    pub fn errors(&self) -> usize {
        self.anomalies
            .iter()
            .filter(|a| a.severity == Severity::Error)
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.anomalies
            .iter()
            .filter(|a| a.severity == Severity::Warning)
            .count()
    }
}

/// Occurrences of one problem, with the first few examples.
#[derive(Debug, Clone, Default)]
struct Hits {
    count: u64,
    examples: Vec<(u64, String)>,
}

impl Hits {
    #[inline]
    fn add(&mut self, row: u64, value: &str) {
        self.count += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push((row, value.to_string()));
        }
    }

    /// Workers see rows in increasing order, so the smallest rows of the union are among the
    /// first examples of each part.
    fn merge(&mut self, other: Hits) {
        self.count += other.count;
        self.examples.extend(other.examples);
        self.examples.sort_by_key(|e| e.0);
        self.examples.truncate(EXAMPLES);
    }
}

/// The checks of one schema column, compiled for speed.
struct Check {
    dtype: ColumnType,
    min: Option<f64>,
    max: Option<f64>,
    categories: Option<HashSet<String>>,
    unique: bool,
    hist: Option<(f64, f64)>,
}

#[derive(Default)]
struct Tally {
    values: u64,
    nulls: Hits,
    bad_type: Hits,
    out_of_range: Hits,
    unseen: Hits,
    duplicates: Hits,
    /// For `unique` columns: a 64-bit hash of each value and the row it was first seen in.
    seen: HashMap<u64, u64>,
    hist: Vec<u64>,
    below: u64,
    above: u64,
    value_counts: HashMap<String, u64>,
}

struct Validator {
    /// Data column → schema column, when the schema knows it.
    checks: Vec<Option<Check>>,
    tallies: Vec<Tally>,
    hasher: foldhash::quality::FixedState,
}

impl Validator {
    fn new(names: &[String], schema: &Schema) -> Self {
        let checks = compile(names, schema);
        Validator {
            tallies: checks
                .iter()
                .map(|_| Tally {
                    hist: vec![0; RANGE_BINS],
                    ..Tally::default()
                })
                .collect(),
            checks,
            hasher: foldhash::quality::FixedState::with_seed(0x6779_7265),
        }
    }

    #[inline]
    fn number(check: &Check, value: &str) -> Option<f64> {
        match check.dtype {
            ColumnType::Integer => value.parse::<i64>().ok().map(|i| i as f64),
            ColumnType::Float => value.parse::<f64>().ok(),
            _ => None,
        }
    }
}

impl RowSink for Validator {
    #[inline]
    fn field(&mut self, row: u64, col: usize, value: Option<&str>) {
        let Some(check) = &self.checks[col] else {
            return;
        };
        let t = &mut self.tallies[col];
        let shown = row + 1;
        let Some(v) = value else {
            t.nulls.add(shown, "");
            return;
        };
        // A bare NaN is a missing number, as in profiles.
        if check.dtype.is_numeric() && v.eq_ignore_ascii_case("nan") {
            t.nulls.add(shown, v);
            return;
        }
        t.values += 1;
        let type_ok = match check.dtype {
            ColumnType::Integer | ColumnType::Float => match Self::number(check, v) {
                Some(x) => {
                    if check.min.is_some_and(|m| x < m) || check.max.is_some_and(|m| x > m) {
                        t.out_of_range.add(shown, v);
                    }
                    if let Some((lo, hi)) = check.hist {
                        if x < lo {
                            t.below += 1;
                        } else if x > hi {
                            t.above += 1;
                        } else {
                            let i = if hi > lo {
                                (((x - lo) / (hi - lo)) * RANGE_BINS as f64) as usize
                            } else {
                                0
                            };
                            t.hist[i.min(RANGE_BINS - 1)] += 1;
                        }
                    }
                    true
                }
                None => false,
            },
            ColumnType::Boolean => {
                v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")
            }
            ColumnType::Timestamp => parse_timestamp(v).is_some(),
            ColumnType::String | ColumnType::Empty => true,
        };
        if !type_ok {
            t.bad_type.add(shown, v);
        }
        if let Some(cats) = &check.categories {
            if !cats.contains(v) {
                t.unseen.add(shown, v);
            }
            if let Some(c) = t.value_counts.get_mut(v) {
                *c += 1;
            } else if t.value_counts.len() < REPORT_VALUES * 4 {
                t.value_counts.insert(v.to_string(), 1);
            }
        }
        if check.unique {
            let key = self.hasher.hash_one(v);
            if let Some(first) = t.seen.get(&key) {
                t.duplicates.add(shown, &format!("{v} (as in row {first})"));
            } else {
                t.seen.insert(key, shown);
            }
        }
    }
}

fn merge_tallies(into: &mut Tally, other: Tally) {
    into.values += other.values;
    into.nulls.merge(other.nulls);
    into.bad_type.merge(other.bad_type);
    into.out_of_range.merge(other.out_of_range);
    into.unseen.merge(other.unseen);
    into.duplicates.merge(other.duplicates);
    // A value seen by two workers repeats: the later row is the duplicate.
    let mut cross = Hits::default();
    for (key, row) in other.seen {
        match into.seen.get_mut(&key) {
            Some(first) => {
                let (early, late) = ((*first).min(row), (*first).max(row));
                *first = early;
                cross.add(late, &format!("(as in row {early})"));
            }
            None => {
                into.seen.insert(key, row);
            }
        }
    }
    into.duplicates.merge(cross);
    for (i, c) in other.hist.into_iter().enumerate() {
        into.hist[i] += c;
    }
    into.below += other.below;
    into.above += other.above;
    for (k, c) in other.value_counts {
        *into.value_counts.entry(k).or_insert(0) += c;
    }
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

fn bound(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

/// Validates files (the parts of one dataset) against a schema.
pub fn validate_files(
    files: &[InputFile],
    opts: &ReadOptions,
    schema: &Schema,
    progress: &Progress<'_>,
) -> Result<ValidationReport, DataError> {
    let mut names: Vec<String> = Vec::new();
    let mut tallies: Vec<Tally> = Vec::new();
    // Where each file's rows start in the dataset's numbering, to name them in examples.
    let mut starts: Vec<(u64, String)> = Vec::new();
    let mut rows = 0u64;
    for (i, file) in files.iter().enumerate() {
        let (file_names, file_tallies, file_rows) = validate_one(file, opts, schema, progress)?;
        starts.push((rows, file.display.clone()));
        if i == 0 {
            names = file_names;
            tallies = file_tallies;
        } else {
            if file_names != names {
                return Err(DataError::ColumnMismatch {
                    file: file.display.clone(),
                    first: files[0].display.clone(),
                    expected: names,
                    found: file_names,
                });
            }
            for (a, mut b) in tallies.iter_mut().zip(file_tallies) {
                for hits in [
                    &mut b.nulls,
                    &mut b.bad_type,
                    &mut b.out_of_range,
                    &mut b.unseen,
                    &mut b.duplicates,
                ] {
                    hits.examples.iter_mut().for_each(|e| e.0 += rows);
                }
                b.seen.values_mut().for_each(|r| *r += rows);
                merge_tallies(a, b);
            }
        }
        rows += file_rows;
    }
    if files.len() < 2 {
        starts.clear();
    }
    let checks = compile(&names, schema);
    Ok(report(schema, &names, &checks, tallies, rows, &starts))
}

fn compile(names: &[String], schema: &Schema) -> Vec<Option<Check>> {
    names
        .iter()
        .map(|n| {
            schema.columns.get(n).map(|c| Check {
                dtype: c.dtype,
                min: c.min,
                max: c.max,
                categories: c
                    .categories
                    .as_ref()
                    .filter(|_| schema.severity(Rule::Categories, Some(n)) != Severity::Off)
                    .map(|v| v.iter().cloned().collect()),
                unique: c.unique && schema.severity(Rule::Unique, Some(n)) != Severity::Off,
                hist: match (c.min, c.max) {
                    (Some(lo), Some(hi)) if c.dtype.is_numeric() => Some((lo, hi)),
                    _ => None,
                },
            })
        })
        .collect()
}

type OneFile = (Vec<String>, Vec<Tally>, u64);

fn validate_one(
    file: &InputFile,
    opts: &ReadOptions,
    schema: &Schema,
    progress: &Progress<'_>,
) -> Result<OneFile, DataError> {
    match file.format {
        FileFormat::Csv => {
            let scanned = scan_csv(&file.path, &file.display, opts, progress, |names| {
                Validator::new(names, schema)
            })?;
            let mut tallies = Validator::new(&scanned.names, schema).tallies;
            for part in scanned.sinks {
                for (a, b) in tallies.iter_mut().zip(part.tallies) {
                    merge_tallies(a, b);
                }
            }
            Ok((scanned.names, tallies, scanned.rows))
        }
        FileFormat::Parquet => {
            let names = crate::parquet::column_names(&file.path, &file.display)?;
            let mut v = Validator::new(&names, schema);
            let rows = crate::parquet::scan_text(&file.path, &file.display, progress, &mut v)?;
            Ok((names, v.tallies, rows))
        }
    }
}

fn report(
    schema: &Schema,
    names: &[String],
    checks: &[Option<Check>],
    tallies: Vec<Tally>,
    rows: u64,
    starts: &[(u64, String)],
) -> ValidationReport {
    let mut anomalies = Vec::new();
    let mut push =
        |column: Option<&str>, rule: Rule, expected: String, found: String, hits: Option<&Hits>| {
            let severity = schema.severity(rule, column);
            if severity == Severity::Off {
                return;
            }
            let examples = hits
                .map(|h| {
                    h.examples
                        .iter()
                        .map(|(row, value)| locate(starts, *row, value))
                        .collect()
                })
                .unwrap_or_default();
            anomalies.push(Anomaly {
                column: column.map(String::from),
                rule,
                severity,
                expected,
                found,
                count: hits.map(|h| h.count).unwrap_or(1),
                examples,
            });
        };

    let (lo, hi) = (schema.rows.min, schema.rows.max);
    if lo.is_some_and(|m| rows < m) || hi.is_some_and(|m| rows > m) {
        let expected = match (lo, hi) {
            (Some(a), Some(b)) => format!("{a} to {b} rows"),
            (Some(a), None) => format!("at least {a} rows"),
            (None, Some(b)) => format!("at most {b} rows"),
            (None, None) => unreachable!("checked above"),
        };
        push(None, Rule::RowCount, expected, format!("{rows} rows"), None);
    }
    for (name, c) in &schema.columns {
        if c.required && !names.contains(name) {
            push(
                Some(name),
                Rule::MissingColumn,
                "present".into(),
                "absent".into(),
                None,
            );
        }
    }
    for name in names {
        if !schema.columns.contains_key(name) {
            push(
                Some(name),
                Rule::ExtraColumn,
                "not in the schema".into(),
                "present".into(),
                None,
            );
        }
    }
    let mut columns = Vec::new();
    for ((name, check), t) in names.iter().zip(checks).zip(tallies) {
        let Some(check) = check else { continue };
        let c = &schema.columns[name];
        let col = Some(name.as_str());
        let total = t.values + t.nulls.count;
        let null_share = if total == 0 {
            0.0
        } else {
            t.nulls.count as f64 / total as f64
        };
        let allowed = c.max_null_share.unwrap_or(0.0);
        if null_share > allowed + 1e-12 {
            push(
                col,
                Rule::Nulls,
                format!("at most {} missing", pct(allowed)),
                format!("{} missing ({} of {total})", pct(null_share), t.nulls.count),
                Some(&t.nulls),
            );
        }
        if t.bad_type.count > 0 {
            push(
                col,
                Rule::Type,
                format!("{} values", c.dtype),
                format!("{} values that are not {}", t.bad_type.count, c.dtype),
                Some(&t.bad_type),
            );
        }
        if t.out_of_range.count > 0 {
            let expected = match (c.min, c.max) {
                (Some(a), Some(b)) => format!("{} to {}", bound(a), bound(b)),
                (Some(a), None) => format!("at least {}", bound(a)),
                (None, Some(b)) => format!("at most {}", bound(b)),
                (None, None) => String::new(),
            };
            push(
                col,
                Rule::Range,
                expected,
                format!("{} values outside", t.out_of_range.count),
                Some(&t.out_of_range),
            );
        }
        if let Some(cats) = &c.categories {
            let share = if t.values == 0 {
                0.0
            } else {
                t.unseen.count as f64 / t.values as f64
            };
            if share > c.max_unseen_share + 1e-12 {
                push(
                    col,
                    Rule::Categories,
                    format!(
                        "one of {} values (unseen at most {})",
                        cats.len(),
                        pct(c.max_unseen_share)
                    ),
                    format!("{} unseen values ({})", t.unseen.count, pct(share)),
                    Some(&t.unseen),
                );
            }
        }
        if t.duplicates.count > 0 {
            push(
                col,
                Rule::Unique,
                "no repeated value".into(),
                format!("{} repeated values", t.duplicates.count),
                Some(&t.duplicates),
            );
        }
        let mut values_seen: Vec<(String, u64, bool)> = t
            .value_counts
            .into_iter()
            .map(|(v, n)| {
                let ok = check.categories.as_ref().is_none_or(|s| s.contains(&v));
                (v, n, ok)
            })
            .collect();
        values_seen.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        values_seen.truncate(REPORT_VALUES);
        columns.push(ColumnSummary {
            name: name.clone(),
            dtype: c.dtype,
            values: t.values,
            nulls: t.nulls.count,
            histogram: check.hist.map(|(min, max)| RangeHistogram {
                min,
                max,
                below: t.below,
                counts: t.hist,
                above: t.above,
            }),
            values_seen,
        });
    }
    ValidationReport {
        rows,
        columns,
        anomalies,
    }
}

/// Turns a dataset-wide row number (1-based) into a file and that file's own row number.
fn locate(starts: &[(u64, String)], row: u64, value: &str) -> Example {
    let (file, row) = match starts.iter().rev().find(|(start, _)| *start < row) {
        Some((start, name)) => (name.clone(), row - start),
        None => (String::new(), row),
    };
    Example {
        file,
        row,
        value: value.to_string(),
    }
}
