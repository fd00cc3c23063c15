//! Column profiles: the statistics a dataset version keeps, so that later checks (drift,
//! validation, skew between training and serving) need no raw data.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A column's inferred type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Integer,
    Float,
    Boolean,
    /// Text; treated as categorical by profiles and drift checks.
    String,
    Timestamp,
    /// Every value is missing, so no type can be inferred.
    Empty,
}

impl ColumnType {
    pub fn is_numeric(self) -> bool {
        matches!(self, ColumnType::Integer | ColumnType::Float)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Integer => "integer",
            ColumnType::Float => "float",
            ColumnType::Boolean => "boolean",
            ColumnType::String => "string",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Empty => "empty",
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The quantile levels every numeric profile records.
pub const QUANTILE_LEVELS: [f64; 9] = [0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.99];

/// How many equal-width bins a numeric histogram has.
pub const HISTOGRAM_BINS: usize = 20;

/// How many of the most frequent values a profile keeps.
pub const TOP_VALUES: usize = 50;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantile {
    pub q: f64,
    pub value: f64,
}

/// Equal-width bins between the column's minimum and maximum. `edges` has one more entry than
/// `counts`; every bin is half-open `[lo, hi)` except the last, which is closed (as numpy's
/// `histogram`). The edges are fixed by the reference, so live data can be binned against them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

impl Histogram {
    /// The bin `x` falls in, or `None` when it is outside `[first edge, last edge]` or NaN.
    pub fn bin_of(&self, x: f64) -> Option<usize> {
        let n = self.counts.len();
        let (lo, hi) = (*self.edges.first()?, *self.edges.last()?);
        if n == 0 || !(x >= lo && x <= hi) {
            return None;
        }
        if hi == lo {
            return Some(0);
        }
        let mut i = ((x - lo) * (n as f64 / (hi - lo))) as usize;
        i = i.min(n - 1);
        // The division can land one bin off near an edge; the edges are the truth.
        if i > 0 && x < self.edges[i] {
            i -= 1;
        } else if i + 1 < n && x >= self.edges[i + 1] {
            i += 1;
        }
        Some(i)
    }
}

/// Statistics of a numeric column, over its finite values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericStats {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    /// Sample standard deviation (ddof = 1, as pandas). 0 for a single value.
    pub std: f64,
    pub zeros: u64,
    /// Values that were +inf or -inf; they are excluded from every other statistic.
    pub infinite: u64,
    pub quantiles: Vec<Quantile>,
    pub histogram: Histogram,
    /// False when the column was too large to keep every value and quantiles come from a
    /// t-digest sketch (relative rank error well under 1%).
    pub exact: bool,
}

impl NumericStats {
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.quantiles
            .iter()
            .find(|x| (x.q - q).abs() < 1e-9)
            .map(|x| x.value)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueCount {
    pub value: String,
    pub count: u64,
}

/// One column's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnProfile {
    pub name: String,
    #[serde(rename = "type")]
    pub dtype: ColumnType,
    /// Non-missing values.
    pub count: u64,
    /// Missing values (null markers, empty fields, NaN).
    pub nulls: u64,
    pub distinct: u64,
    /// False when the distinct count is a HyperLogLog estimate (about 1% error).
    pub distinct_exact: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric: Option<NumericStats>,
    /// The most frequent values, most frequent first (ties by value). Kept for every column
    /// whose values repeat; drift checks on categorical columns use them.
    pub top_values: Vec<ValueCount>,
    /// Non-missing values not among `top_values`.
    pub other_count: u64,
    /// False when the column had too many distinct values to count each one exactly.
    pub top_exact: bool,
    /// Earliest and latest value of a timestamp column, as written in the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_range: Option<(String, String)>,
}

impl ColumnProfile {
    pub fn null_share(&self) -> f64 {
        let n = self.count + self.nulls;
        if n == 0 {
            0.0
        } else {
            self.nulls as f64 / n as f64
        }
    }
}

/// A whole dataset's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetProfile {
    pub rows: u64,
    pub columns: Vec<ColumnProfile>,
}

impl DatasetProfile {
    pub fn column(&self, name: &str) -> Option<&ColumnProfile> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_follow_numpy_edges() {
        let h = Histogram {
            edges: vec![0.0, 0.1, 0.2, 0.30000000000000004],
            counts: vec![0, 0, 0],
        };
        assert_eq!(h.bin_of(0.0), Some(0));
        assert_eq!(h.bin_of(0.1), Some(1));
        assert_eq!(h.bin_of(0.2), Some(2));
        assert_eq!(h.bin_of(0.30000000000000004), Some(2));
        assert_eq!(h.bin_of(0.4), None);
        assert_eq!(h.bin_of(f64::NAN), None);
    }
}
