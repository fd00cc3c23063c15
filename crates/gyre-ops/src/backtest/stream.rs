//! The replayed table: rows in time order (a time column, or file order on a fixed clock),
//! each row's time, and the target.

use super::{BacktestError, BacktestOptions};
use crate::{OpsError, Result};
use gyre_core::model::ModelSpec;

/// The replayed table: rows in time order, their times, the truth.
pub(super) struct Stream {
    pub(super) data: String,
    pub(super) names: Vec<String>,
    /// Columns as read, rows in replay order.
    pub(super) columns: Vec<Vec<Option<String>>>,
    pub(super) times: Vec<i64>,
    pub(super) target: usize,
    pub(super) regression: bool,
}

impl Stream {
    pub(super) fn rows(&self) -> usize {
        self.times.len()
    }

    /// The columns of rows `from..to` (for training).
    pub(super) fn slice(&self, rows: &[std::ops::Range<usize>]) -> Vec<Vec<Option<String>>> {
        self.columns
            .iter()
            .map(|c| {
                rows.iter()
                    .flat_map(|r| c[r.clone()].iter().cloned())
                    .collect()
            })
            .collect()
    }
}

/// The table in replay order, with each row's time.
pub(super) fn order(
    opts: &BacktestOptions,
    spec: &ModelSpec,
    table: gyre_data::table::Table,
) -> Result<Stream> {
    let data = opts.data.clone();
    let target = table
        .names
        .iter()
        .position(|n| *n == spec.target)
        .ok_or_else(|| {
            OpsError::Invalid(format!(
                "{data}: the target column `{}` is not in the data; its columns: {}",
                spec.target,
                table.names.join(", ")
            ))
        })?;
    let regression = spec.task == gyre_core::model::Task::Regression;
    let n = table.rows;
    let (times, columns) = match &opts.time {
        None => (
            (0..n as i64).map(|i| i * opts.row_ms).collect::<Vec<_>>(),
            table.columns,
        ),
        Some(column) => {
            let c = table
                .names
                .iter()
                .position(|n| n == column)
                .ok_or_else(|| BacktestError::NoTimeColumn {
                    data: data.clone(),
                    column: column.clone(),
                    columns: table.names.join(", "),
                })?;
            let mut times = Vec::with_capacity(n);
            for (row, v) in table.columns[c].iter().enumerate() {
                let v = v.as_deref().unwrap_or("");
                times.push(parse_time(v).ok_or_else(|| BacktestError::BadTime {
                    data: data.clone(),
                    row: row + 1,
                    column: column.clone(),
                    value: v.to_string(),
                })?);
            }
            let mut index: Vec<usize> = (0..n).collect();
            index.sort_by_key(|&i| times[i]);
            let columns = table
                .columns
                .into_iter()
                .map(|col| index.iter().map(|&i| col[i].clone()).collect())
                .collect();
            (index.iter().map(|&i| times[i]).collect(), columns)
        }
    };
    Ok(Stream {
        data,
        names: table.names,
        columns,
        times,
        target,
        regression,
    })
}

/// A time in ms: RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]` (UTC), or seconds since 1970.
fn parse_time(v: &str) -> Option<i64> {
    let v = v.trim();
    if let Ok(s) = v.parse::<f64>() {
        return s.is_finite().then_some((s * 1000.0) as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Some(t.timestamp_millis());
    }
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, f) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_several_forms() {
        assert_eq!(parse_time("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_time("1970-01-01 00:01"), Some(60_000));
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_time("2.5"), Some(2500));
        assert_eq!(parse_time("yesterday"), None);
    }
}
