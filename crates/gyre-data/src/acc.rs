//! Column accumulators: one pass over a column's values builds its profile.
//!
//! Accumulators are mergeable, so workers profile batches of rows in parallel and combine
//! their results. Memory is bounded: exact values and exact value counts are kept only up to a
//! budget per column; past it, quantiles come from a t-digest and distinct counts from a
//! HyperLogLog sketch, and the profile says so.

use gyre_core::profile::{HISTOGRAM_BINS, QUANTILE_LEVELS, TOP_VALUES};
use gyre_core::{ColumnProfile, ColumnType, Histogram, NumericStats, Quantile, ValueCount};
use hyperloglogplus::{HyperLogLog, HyperLogLogPlus};
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;

/// Deterministic hashing, so sketches built by different workers can be merged.
type Hll = HyperLogLogPlus<[u8], BuildHasherDefault<std::collections::hash_map::DefaultHasher>>;

/// Budgets shared by all columns of a dataset.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Finite numeric values kept exactly (per column) before switching to a t-digest.
    pub exact_values: usize,
    /// Distinct values counted exactly (per column) before switching to HyperLogLog.
    pub distinct_values: usize,
}

impl Budget {
    /// Splits global budgets (8 M values, about 64 MB; 1 M distinct keys) across `columns`.
    pub fn for_columns(columns: usize) -> Self {
        let c = columns.max(1);
        Budget {
            exact_values: (8_000_000 / c).max(50_000),
            distinct_values: (1_000_000 / c).max(1_000),
        }
    }

    /// This budget shared by `n` workers, each holding its own accumulators: their sum stays
    /// within the whole.
    pub fn split(self, n: usize) -> Self {
        let n = n.max(1);
        Budget {
            exact_values: (self.exact_values / n).max(1),
            distinct_values: (self.distinct_values / n).max(1),
        }
    }
}

/// How a column's values arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Text (CSV): the type is inferred from the values.
    Text,
    /// A typed source (Parquet) declares the type.
    Typed(ColumnType),
}

/// The power of two at or above `a` (a > 1, finite).
fn scale_for(a: f64) -> f64 {
    let e = a.log2().ceil();
    // 2^1024 is not an f64; the largest power of two is.
    if e >= 1024.0 {
        2f64.powi(1023)
    } else {
        2f64.powi(e as i32).max(a)
    }
}

#[derive(Debug, Clone)]
struct Numeric {
    n: u64,
    mean: f64,
    /// The second moment divided by `scale²`, so that values near f64's limits (1e155 and
    /// up, whose squares overflow) still give a finite standard deviation.
    m2: f64,
    /// A power of two at least as large as every |value| seen (1 to start).
    scale: f64,
    min: f64,
    max: f64,
    zeros: u64,
    infinite: u64,
    /// Exact values, while within budget.
    values: Option<Vec<f64>>,
    digest: Option<tdigest::TDigest>,
}

impl Numeric {
    fn new() -> Self {
        Numeric {
            n: 0,
            mean: 0.0,
            m2: 0.0,
            scale: 1.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            zeros: 0,
            infinite: 0,
            values: Some(Vec::new()),
            digest: None,
        }
    }

    #[inline]
    fn push(&mut self, x: f64, budget: &Budget) {
        if !x.is_finite() {
            self.infinite += 1;
            return;
        }
        // Welford's update (stable for large counts and large offsets), in units of `scale`.
        self.n += 1;
        if x.abs() > self.scale {
            self.rescale(scale_for(x.abs()));
        }
        // Differences taken in units of `scale`: x - mean itself may overflow near f64::MAX.
        let inv = 1.0 / self.scale;
        let d = x * inv - self.mean * inv;
        self.mean += d * (self.scale / self.n as f64);
        self.m2 += d * (x * inv - self.mean * inv);
        if x < self.min {
            self.min = x;
        }
        if x > self.max {
            self.max = x;
        }
        if x == 0.0 {
            self.zeros += 1;
        }
        match &mut self.values {
            Some(v) if v.len() < budget.exact_values => v.push(x),
            Some(_) => {
                let v = self.values.take().expect("checked above");
                let mut digest = tdigest::TDigest::new_with_size(200);
                digest.extend_values(v);
                digest.push(x);
                self.digest = Some(digest);
            }
            None => self.digest.as_mut().expect("values or digest").push(x),
        }
    }

    /// Moves the second moment to a larger power-of-two scale (exact: only exponents change,
    /// unless it underflows, which is below any precision that matters).
    fn rescale(&mut self, scale: f64) {
        let r = self.scale / scale;
        self.m2 *= r * r;
        self.scale = scale;
    }

    fn merge(&mut self, mut other: Numeric, budget: &Budget) {
        if other.n > 0 {
            // Chan et al.'s parallel combination of means and second moments, on one scale.
            let scale = self.scale.max(other.scale);
            self.rescale(scale);
            other.rescale(scale);
            let n = self.n + other.n;
            let d = other.mean / scale - self.mean / scale;
            self.mean += d * (scale * (other.n as f64 / n as f64));
            self.m2 += other.m2 + d * d * self.n as f64 * other.n as f64 / n as f64;
            self.n = n;
            self.min = self.min.min(other.min);
            self.max = self.max.max(other.max);
        }
        self.zeros += other.zeros;
        self.infinite += other.infinite;
        match (&mut self.values, other.values) {
            (Some(a), Some(b)) if a.len() + b.len() <= budget.exact_values => a.extend(b),
            (_, b) => {
                let mut parts = Vec::new();
                for mut d in [self.digest.take(), other.digest].into_iter().flatten() {
                    d.flush();
                    parts.push(d);
                }
                for v in [self.values.take(), b].into_iter().flatten() {
                    let mut d = tdigest::TDigest::new_with_size(200);
                    d.extend_values(v);
                    d.flush();
                    parts.push(d);
                }
                let mut merged = tdigest::TDigest::merge_digests(parts);
                merged.flush();
                self.digest = Some(merged);
            }
        }
    }

    fn finish(mut self) -> Option<NumericStats> {
        if self.n == 0 {
            return None;
        }
        let std = if self.n > 1 {
            // A spread wider than f64 can hold (values at both of its ends) saturates.
            ((self.m2 / (self.n - 1) as f64).sqrt() * self.scale).min(f64::MAX)
        } else {
            0.0
        };
        // numpy's linspace: start + i * step, with the last edge exactly the stop.
        let step = (self.max - self.min) / HISTOGRAM_BINS as f64;
        let mut edges: Vec<f64> = (0..=HISTOGRAM_BINS)
            .map(|i| {
                let e = i as f64 * step + self.min;
                if e.is_finite() {
                    e
                } else {
                    // Near f64's ends `i * step` overflows; the weighted form cannot.
                    let t = i as f64 / HISTOGRAM_BINS as f64;
                    self.min * (1.0 - t) + self.max * t
                }
            })
            .collect();
        *edges.last_mut().expect("bins > 0") = self.max;
        let mut histogram = Histogram {
            counts: vec![0; HISTOGRAM_BINS],
            edges,
        };
        let (quantiles, exact) = match self.values.take() {
            Some(mut v) => {
                v.sort_unstable_by(f64::total_cmp);
                for &x in &v {
                    if let Some(i) = histogram.bin_of(x) {
                        histogram.counts[i] += 1;
                    }
                }
                let q = QUANTILE_LEVELS
                    .iter()
                    .map(|&q| Quantile {
                        q,
                        value: quantile_sorted(&v, q),
                    })
                    .collect();
                (q, true)
            }
            None => {
                let mut d = self.digest.take().expect("values or digest");
                d.flush();
                let q = QUANTILE_LEVELS
                    .iter()
                    .map(|&q| Quantile {
                        q,
                        value: d.estimate_quantile(q).unwrap_or(f64::NAN),
                    })
                    .collect();
                // Bin counts from the digest's CDF at each edge.
                let cdf: Vec<f64> = histogram
                    .edges
                    .iter()
                    .map(|&e| d.estimate_rank(e).unwrap_or(0.0))
                    .collect();
                let mut assigned = 0u64;
                for i in 0..HISTOGRAM_BINS {
                    let hi = if i + 1 == HISTOGRAM_BINS {
                        1.0
                    } else {
                        cdf[i + 1]
                    };
                    let lo = if i == 0 { 0.0 } else { cdf[i] };
                    let c = ((hi - lo).max(0.0) * self.n as f64).round() as u64;
                    histogram.counts[i] = c;
                    assigned += c;
                }
                // Keep the total equal to the count despite rounding.
                let last = HISTOGRAM_BINS - 1;
                histogram.counts[last] =
                    (histogram.counts[last] as i64 + self.n as i64 - assigned as i64).max(0) as u64;
                (q, false)
            }
        };
        Some(NumericStats {
            min: self.min,
            max: self.max,
            mean: self.mean,
            std,
            zeros: self.zeros,
            infinite: self.infinite,
            quantiles,
            histogram,
            exact,
        })
    }
}

/// Linear interpolation between the closest ranks (numpy's default, "type 7").
pub fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let t = pos - lo as f64;
    let (a, b) = (v[lo], v[hi]);
    // numpy's _lerp: the form that is exact at both ends.
    if t >= 0.5 {
        b - (b - a) * (1.0 - t)
    } else {
        a + (b - a) * t
    }
}

/// Exact counts of each distinct value while within budget, then a sketch.
#[derive(Default)]
struct Counts {
    /// foldhash: several times faster than SipHash on short keys, and these keys are data,
    /// not attacker-chosen requests.
    map: HashMap<Box<[u8]>, u64, foldhash::fast::RandomState>,
    /// Set once the budget is exceeded; from then on, every value also goes to the sketch and
    /// new values are no longer counted in `map`.
    sketch: Option<Box<Hll>>,
}

impl Counts {
    #[inline]
    fn push(&mut self, value: &[u8], budget: &Budget) {
        if let Some(c) = self.map.get_mut(value) {
            *c += 1;
            if let Some(s) = &mut self.sketch {
                s.insert(value);
            }
            return;
        }
        match &mut self.sketch {
            Some(s) => s.insert(value),
            None => {
                self.map.insert(value.into(), 1);
                if self.map.len() > budget.distinct_values {
                    self.start_sketch();
                }
            }
        }
    }

    fn start_sketch(&mut self) {
        let mut s = Hll::new(14, BuildHasherDefault::default()).expect("precision 14 is valid");
        for k in self.map.keys() {
            s.insert(&k[..]);
        }
        self.sketch = Some(Box::new(s));
    }

    fn merge(&mut self, other: Counts, budget: &Budget) {
        if other.sketch.is_some() && self.sketch.is_none() {
            self.start_sketch();
        }
        if let Some(s) = &mut self.sketch {
            match &other.sketch {
                Some(o) => s.merge(o.as_ref()).expect("same precision"),
                None => other.map.keys().for_each(|k| s.insert(&k[..])),
            }
        }
        for (k, c) in other.map {
            *self.map.entry(k).or_insert(0) += c;
        }
        if self.sketch.is_none() && self.map.len() > budget.distinct_values {
            self.start_sketch();
        }
    }
}

/// A column's running state.
pub struct ColumnAcc {
    source: Source,
    count: u64,
    nulls: u64,
    maybe_int: bool,
    maybe_float: bool,
    maybe_bool: bool,
    maybe_time: bool,
    /// Present while the column may still be numeric.
    numeric: Option<Numeric>,
    /// Earliest and latest timestamps: (microseconds since the epoch, text).
    time: Option<((i64, String), (i64, String))>,
    counts: Counts,
}

impl ColumnAcc {
    pub fn new(source: Source) -> Self {
        let (i, f, b, t) = match source {
            Source::Text => (true, true, true, true),
            Source::Typed(ty) => (
                ty == ColumnType::Integer,
                ty.is_numeric(),
                ty == ColumnType::Boolean,
                ty == ColumnType::Timestamp,
            ),
        };
        ColumnAcc {
            source,
            count: 0,
            nulls: 0,
            maybe_int: i,
            maybe_float: f,
            maybe_bool: b,
            maybe_time: t,
            numeric: if f { Some(Numeric::new()) } else { None },
            time: None,
            counts: Counts::default(),
        }
    }

    #[inline]
    pub fn push_null(&mut self) {
        self.nulls += 1;
    }

    /// A non-missing text value whose type is to be inferred.
    #[inline]
    pub fn push_text(&mut self, s: &str, budget: &Budget) {
        if self.maybe_float {
            let parsed = if self.maybe_int {
                match s.parse::<i64>() {
                    Ok(i) => Some(i as f64),
                    Err(_) => {
                        self.maybe_int = false;
                        s.parse::<f64>().ok()
                    }
                }
            } else {
                s.parse::<f64>().ok()
            };
            match parsed {
                // "nan" that is not a declared null marker is still a missing number.
                Some(x) if x.is_nan() => {
                    self.nulls += 1;
                    return;
                }
                Some(x) => self
                    .numeric
                    .as_mut()
                    .expect("numeric while maybe_float")
                    .push(x, budget),
                None => {
                    self.maybe_float = false;
                    self.maybe_int = false;
                    self.numeric = None;
                }
            }
        }
        if self.maybe_bool && !(s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false")) {
            self.maybe_bool = false;
        }
        if self.maybe_time {
            match parse_timestamp(s) {
                Some(t) => self.push_time_key(t, s),
                None => {
                    self.maybe_time = false;
                    self.time = None;
                }
            }
        }
        self.count += 1;
        self.counts.push(s.as_bytes(), budget);
    }

    /// A typed number (from Parquet). `text` is its display form, for value counts.
    #[inline]
    pub fn push_number(&mut self, x: f64, text: &str, budget: &Budget) {
        if x.is_nan() {
            self.nulls += 1;
            return;
        }
        if let Some(n) = &mut self.numeric {
            n.push(x, budget);
        }
        self.count += 1;
        self.counts.push(text.as_bytes(), budget);
    }

    /// A typed timestamp (from Parquet) in microseconds since the epoch.
    #[inline]
    pub fn push_timestamp(&mut self, micros: i64, text: &str, budget: &Budget) {
        self.push_time_key(micros, text);
        self.count += 1;
        self.counts.push(text.as_bytes(), budget);
    }

    /// A typed boolean or string (from Parquet).
    #[inline]
    pub fn push_category(&mut self, text: &str, budget: &Budget) {
        self.count += 1;
        self.counts.push(text.as_bytes(), budget);
    }

    fn push_time_key(&mut self, t: i64, s: &str) {
        match &mut self.time {
            None => self.time = Some(((t, s.to_string()), (t, s.to_string()))),
            Some((lo, hi)) => {
                if t < lo.0 {
                    *lo = (t, s.to_string());
                }
                if t > hi.0 {
                    *hi = (t, s.to_string());
                }
            }
        }
    }

    pub fn merge(&mut self, other: ColumnAcc, budget: &Budget) {
        self.count += other.count;
        self.nulls += other.nulls;
        self.maybe_int &= other.maybe_int;
        self.maybe_float &= other.maybe_float;
        self.maybe_bool &= other.maybe_bool;
        self.maybe_time &= other.maybe_time;
        self.numeric = match (self.numeric.take(), other.numeric) {
            (Some(mut a), Some(b)) if self.maybe_float => {
                a.merge(b, budget);
                Some(a)
            }
            _ => None,
        };
        self.time = match (self.time.take(), other.time) {
            _ if !self.maybe_time => None,
            (Some((alo, ahi)), Some((blo, bhi))) => Some((
                if blo.0 < alo.0 { blo } else { alo },
                if bhi.0 > ahi.0 { bhi } else { ahi },
            )),
            (a, b) => a.or(b),
        };
        self.counts.merge(other.counts, budget);
    }

    pub fn finish(mut self, name: &str) -> ColumnProfile {
        let dtype = if self.count == 0 {
            ColumnType::Empty
        } else {
            match self.source {
                Source::Typed(t) => t,
                Source::Text if self.maybe_int => ColumnType::Integer,
                Source::Text if self.maybe_float => ColumnType::Float,
                Source::Text if self.maybe_bool => ColumnType::Boolean,
                Source::Text if self.maybe_time => ColumnType::Timestamp,
                Source::Text => ColumnType::String,
            }
        };
        let numeric = if dtype.is_numeric() {
            self.numeric.take().and_then(Numeric::finish)
        } else {
            None
        };
        let top_exact = self.counts.sketch.is_none();
        let (distinct, distinct_exact) = match &mut self.counts.sketch {
            Some(s) => (s.count().round() as u64, false),
            // "1" and "1.0" are one number: count numeric values by value, not by text.
            None if dtype.is_numeric() => {
                let set: HashSet<u64> = self
                    .counts
                    .map
                    .keys()
                    .filter_map(|k| std::str::from_utf8(k).ok()?.parse::<f64>().ok())
                    .map(|x| if x == 0.0 { 0u64 } else { x.to_bits() })
                    .collect();
                (set.len() as u64, true)
            }
            None => (self.counts.map.len() as u64, true),
        };
        let keep_top = !dtype.is_numeric() || distinct <= TOP_VALUES as u64;
        let mut top_values: Vec<ValueCount> = if keep_top {
            let mut all: Vec<(&[u8], u64)> =
                self.counts.map.iter().map(|(k, &c)| (&k[..], c)).collect();
            all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            all.into_iter()
                .take(TOP_VALUES)
                .map(|(k, c)| ValueCount {
                    value: String::from_utf8_lossy(k).into_owned(),
                    count: c,
                })
                .collect()
        } else {
            Vec::new()
        };
        top_values.shrink_to_fit();
        let in_top: u64 = top_values.iter().map(|v| v.count).sum();
        ColumnProfile {
            name: name.to_string(),
            dtype,
            count: self.count,
            nulls: self.nulls,
            distinct,
            distinct_exact,
            numeric,
            other_count: self.count.saturating_sub(in_top),
            top_values,
            top_exact,
            time_range: if dtype == ColumnType::Timestamp {
                self.time.map(|(lo, hi)| (lo.1, hi.1))
            } else {
                None
            },
        }
    }
}

/// Parses the timestamp forms a CSV usually holds: `2024-05-07`, `2024-05-07 13:45:00`,
/// `2024-05-07T13:45:00.123`, and RFC 3339 with an offset. Naive times are taken as UTC.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' || !b[0].is_ascii_digit() {
        return None;
    }
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    if b.len() == 10 {
        let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(values: &[Option<&str>]) -> ColumnProfile {
        let budget = Budget::for_columns(1);
        let mut a = ColumnAcc::new(Source::Text);
        for v in values {
            match v {
                Some(s) => a.push_text(s, &budget),
                None => a.push_null(),
            }
        }
        a.finish("c")
    }

    #[test]
    fn infers_types() {
        assert_eq!(profile(&[Some("1"), Some("2")]).dtype, ColumnType::Integer);
        assert_eq!(profile(&[Some("1"), Some("2.5")]).dtype, ColumnType::Float);
        assert_eq!(
            profile(&[Some("true"), Some("FALSE")]).dtype,
            ColumnType::Boolean
        );
        assert_eq!(
            profile(&[Some("2024-01-01"), Some("2024-01-02 10:00:00")]).dtype,
            ColumnType::Timestamp
        );
        assert_eq!(profile(&[Some("1"), Some("x")]).dtype, ColumnType::String);
        assert_eq!(profile(&[None, None]).dtype, ColumnType::Empty);
    }

    #[test]
    fn numeric_statistics_skip_nan_and_count_infinities() {
        let p = profile(&[Some("1"), Some("nan"), Some("inf"), Some("3"), None]);
        assert_eq!(p.dtype, ColumnType::Float);
        let n = p.numeric.unwrap();
        assert_eq!((n.min, n.max, n.mean, n.infinite), (1.0, 3.0, 2.0, 1));
        assert_eq!(p.nulls, 2);
        assert!((n.std - std::f64::consts::SQRT_2).abs() < 1e-12);
    }

    #[test]
    fn huge_values_keep_every_statistic_finite() {
        // numpy: np.std([1, 2, 1e155], ddof=1) = 5.773502691896258e+154 (= 1e155 / sqrt(3)).
        let mut n = Numeric::new();
        let budget = Budget::for_columns(1);
        for x in [1.0, 2.0, 1e155] {
            n.push(x, &budget);
        }
        let s = n.finish().unwrap();
        assert!(
            (s.std / 5.773502691896258e154 - 1.0).abs() < 1e-12,
            "{}",
            s.std
        );
        assert!((s.mean / 3.3333333333333334e154 - 1.0).abs() < 1e-12);
        assert!(s.histogram.edges.iter().all(|e| e.is_finite()));
        // The extremes of f64 on both sides, merged from two halves.
        let (mut a, mut b) = (Numeric::new(), Numeric::new());
        a.push(f64::MAX, &budget);
        a.push(1.0, &budget);
        b.push(-f64::MAX, &budget);
        b.push(f64::INFINITY, &budget);
        a.merge(b, &budget);
        let s = a.finish().unwrap();
        assert!(
            s.std.is_finite() && s.mean.is_finite(),
            "{} {}",
            s.std,
            s.mean
        );
        assert_eq!(s.infinite, 1);
        assert!(s.histogram.edges.iter().all(|e| e.is_finite()));
    }

    #[test]
    fn merging_equals_one_pass() {
        let budget = Budget {
            exact_values: 1000,
            distinct_values: 10,
        };
        let values: Vec<String> = (0..100).map(|i| (i % 37).to_string()).collect();
        let mut whole = ColumnAcc::new(Source::Text);
        let (mut a, mut b) = (ColumnAcc::new(Source::Text), ColumnAcc::new(Source::Text));
        for (i, v) in values.iter().enumerate() {
            whole.push_text(v, &budget);
            if i < 40 { &mut a } else { &mut b }.push_text(v, &budget);
        }
        a.merge(b, &budget);
        let (w, m) = (whole.finish("c"), a.finish("c"));
        let (wn, mn) = (w.numeric.unwrap(), m.numeric.unwrap());
        assert!((wn.mean - mn.mean).abs() < 1e-12 && (wn.std - mn.std).abs() < 1e-12);
        assert_eq!(wn.quantiles, mn.quantiles);
        assert!(!m.distinct_exact && (m.distinct as i64 - 37).abs() <= 1);
    }

    #[test]
    fn past_the_budget_quantiles_are_estimated() {
        let budget = Budget {
            exact_values: 1000,
            distinct_values: 100,
        };
        let mut a = ColumnAcc::new(Source::Text);
        for i in 0..100_000 {
            a.push_text(&i.to_string(), &budget);
        }
        let p = a.finish("c");
        let n = p.numeric.unwrap();
        assert!(!n.exact);
        let median = n.quantile(0.5).unwrap();
        assert!((median - 49_999.5).abs() < 500.0, "{median}");
        assert_eq!(n.histogram.counts.iter().sum::<u64>(), 100_000);
        assert!((p.distinct as f64 - 100_000.0).abs() < 2_000.0);
    }

    #[test]
    fn sketches_from_several_workers_merge() {
        let budget = Budget {
            exact_values: 100,
            distinct_values: 100,
        };
        let mut parts: Vec<ColumnAcc> = (0..3).map(|_| ColumnAcc::new(Source::Text)).collect();
        for i in 0..30_000 {
            parts[i % 3].push_text(&(i % 1000).to_string(), &budget);
        }
        let mut all = parts.pop().unwrap();
        for p in parts {
            all.merge(p, &budget);
        }
        let n = all.finish("c").numeric.unwrap();
        assert!(!n.exact);
        assert!((n.quantile(0.5).unwrap() - 499.5).abs() < 10.0);
        assert_eq!(n.histogram.counts.iter().sum::<u64>(), 30_000);
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&v, 0.5), 2.5);
        assert_eq!(quantile_sorted(&v, 0.25), 1.75);
        assert_eq!(quantile_sorted(&v, 1.0), 4.0);
    }
}
