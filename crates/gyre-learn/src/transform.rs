//! Feature transforms: fitted on training rows, stored in the model, applied identically at
//! serving time. Defaults follow the quality bar's preprocessing: numbers are median-imputed
//! and standardised; text is imputed with its most frequent value and one-hot encoded, with
//! categories unseen in training encoded as all zeros.

use gyre_core::Transform;
use gyre_core::model::Impute;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A raw input column.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Numeric(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::Numeric(v) => v.len(),
            Values::Text(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TransformError {
    #[error("column `{column}`: {message}")]
    Column { column: String, message: String },
    /// The learner could not score (an ONNX model's runtime failed): the model's fault or
    /// the machine's, not the input's.
    #[error("the model could not score: {0}")]
    Model(String),
}

fn col_err(column: &str, message: impl Into<String>) -> TransformError {
    TransformError::Column {
        column: column.to_string(),
        message: message.into(),
    }
}

/// One column's fitted transform: data only, serialisable into the model artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fitted {
    Numeric {
        column: String,
        fill: f64,
        log: bool,
        /// Bucket edges: the value becomes a one-hot bucket index instead of a number.
        buckets: Option<Vec<f64>>,
        /// (mean, scale) when standardised.
        scale: Option<(f64, f64)>,
    },
    Categorical {
        column: String,
        fill: String,
        categories: Vec<String>,
        /// Unseen values are an error instead of all zeros.
        strict: bool,
    },
    /// A number handed to the learner as given: a missing value stays missing (NaN), for
    /// learners that route missing values themselves (imported trees, ONNX models).
    Raw { column: String },
    /// Text handed to the learner as given (an ONNX model that encodes text itself); it has
    /// no numeric feature.
    RawText { column: String },
    /// Text coded as a library coded it: the category's index in `categories` (pandas'
    /// category codes, which LightGBM splits on); missing or unseen is NaN.
    Code {
        column: String,
        categories: Vec<String>,
    },
}

impl Fitted {
    /// The input column this transform reads.
    pub fn column(&self) -> &str {
        match self {
            Fitted::Numeric { column, .. }
            | Fitted::Categorical { column, .. }
            | Fitted::Raw { column }
            | Fitted::RawText { column }
            | Fitted::Code { column, .. } => column,
        }
    }

    /// The kind of value the input column holds.
    pub fn kind(&self) -> crate::model::ColumnKind {
        match self {
            Fitted::Categorical { .. } | Fitted::RawText { .. } | Fitted::Code { .. } => {
                crate::model::ColumnKind::Text
            }
            Fitted::Numeric { .. } | Fitted::Raw { .. } => crate::model::ColumnKind::Number,
        }
    }

    /// Names of the output features, in order.
    pub fn feature_names(&self) -> Vec<String> {
        match self {
            Fitted::Numeric {
                column,
                buckets: Some(edges),
                ..
            } => (0..=edges.len())
                .map(|i| format!("{column}#bucket{i}"))
                .collect(),
            Fitted::Numeric { column, .. }
            | Fitted::Raw { column }
            | Fitted::RawText { column }
            | Fitted::Code { column, .. } => vec![column.clone()],
            Fitted::Categorical {
                column, categories, ..
            } => categories.iter().map(|c| format!("{column}={c}")).collect(),
        }
    }

    pub fn width(&self) -> usize {
        match self {
            Fitted::Numeric {
                buckets: Some(edges),
                ..
            } => edges.len() + 1,
            Fitted::Numeric { .. }
            | Fitted::Raw { .. }
            | Fitted::RawText { .. }
            | Fitted::Code { .. } => 1,
            Fitted::Categorical { categories, .. } => categories.len(),
        }
    }

    /// Writes this column's features for `row` into `out` (length [`Fitted::width`]).
    pub fn apply(
        &self,
        values: &Values,
        row: usize,
        out: &mut [f64],
    ) -> Result<(), TransformError> {
        match (self, values) {
            (
                Fitted::Numeric {
                    fill,
                    log,
                    buckets,
                    scale,
                    column,
                },
                Values::Numeric(v),
            ) => {
                let mut x = v[row].filter(|x| !x.is_nan()).unwrap_or(*fill);
                if *log {
                    x = log1p_checked(x)
                        .ok_or_else(|| col_err(column, format!("log of {x} (below -1)")))?;
                }
                if let Some(edges) = buckets {
                    out.iter_mut().for_each(|o| *o = 0.0);
                    out[edges.partition_point(|&e| e <= x)] = 1.0;
                    return Ok(());
                }
                if let Some((mean, sd)) = scale {
                    x = (x - mean) / sd;
                }
                out[0] = x;
                Ok(())
            }
            (
                Fitted::Categorical {
                    column,
                    fill,
                    categories,
                    strict,
                },
                Values::Text(v),
            ) => {
                let value = v[row].as_deref().unwrap_or(fill);
                out.iter_mut().for_each(|o| *o = 0.0);
                match categories.binary_search_by(|c| c.as_str().cmp(value)) {
                    Ok(i) => out[i] = 1.0,
                    Err(_) if *strict => {
                        return Err(col_err(
                            column,
                            format!("value `{value}` was not seen in training"),
                        ));
                    }
                    Err(_) => {}
                }
                Ok(())
            }
            (Fitted::Raw { .. }, Values::Numeric(v)) => {
                out[0] = v[row].unwrap_or(f64::NAN);
                Ok(())
            }
            (Fitted::Code { categories, .. }, Values::Text(v)) => {
                // A model's categories are few: a scan beats hashing at this size.
                out[0] = v[row]
                    .as_deref()
                    .and_then(|t| categories.iter().position(|c| c == t))
                    .map_or(f64::NAN, |i| i as f64);
                Ok(())
            }
            (Fitted::RawText { column }, _) => Err(col_err(
                column,
                "text is read by the model itself, never turned into a number",
            )),
            (f, _) => Err(col_err(
                f.column(),
                "the column's type differs from training",
            )),
        }
    }
}

fn log1p_checked(x: f64) -> Option<f64> {
    (x >= -1.0).then(|| x.ln_1p())
}

/// The median as numpy computes it (the mean of the two middle values for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Fits one column's transform on the training rows.
pub fn fit(
    column: &str,
    values: &Values,
    train: &[usize],
    spec: &Transform,
) -> Result<Fitted, TransformError> {
    match values {
        Values::Numeric(v) => {
            // A learner given ±inf fails far from the cause ("Hessian not positive definite");
            // name the column and the row instead.
            if let Some(&i) = train.iter().find(|&&i| v[i].is_some_and(f64::is_infinite)) {
                return Err(col_err(
                    column,
                    format!(
                        "row {} holds {}: drop or replace infinite values before training",
                        i + 1,
                        v[i].unwrap_or_default()
                    ),
                ));
            }
            let seen: Vec<f64> = train
                .iter()
                .filter_map(|&i| v[i])
                .filter(|x| !x.is_nan())
                .collect();
            let fill = match spec.impute.unwrap_or(Impute::Median) {
                Impute::Median => median(seen.clone()),
                Impute::MostFrequent => {
                    let mut counts: BTreeMap<u64, (f64, u64)> = BTreeMap::new();
                    for &x in &seen {
                        counts.entry(x.to_bits()).or_insert((x, 0)).1 += 1;
                    }
                    // Ties go to the smallest value (scipy's mode, as scikit-learn).
                    counts
                        .values()
                        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.total_cmp(&a.0)))
                        .map(|p| p.0)
                        .unwrap_or(0.0)
                }
                Impute::Constant => spec
                    .fill
                    .as_ref()
                    .and_then(|f| f.as_float().or_else(|| f.as_integer().map(|i| i as f64)))
                    .ok_or_else(|| {
                        col_err(column, "impute = \"constant\" needs a numeric `fill`")
                    })?,
            };
            let log = spec.log.unwrap_or(false);
            let passthrough = spec.passthrough.unwrap_or(false);
            let imputed: Vec<f64> = train
                .iter()
                .map(|&i| v[i].filter(|x| !x.is_nan()).unwrap_or(fill))
                .map(|x| {
                    if log {
                        log1p_checked(x).unwrap_or(f64::NAN)
                    } else {
                        x
                    }
                })
                .collect();
            if imputed.iter().any(|x| x.is_nan()) {
                return Err(col_err(column, "log of a value below -1"));
            }
            let scale =
                if passthrough || spec.buckets.is_some() || !spec.standardize.unwrap_or(true) {
                    None
                } else {
                    let n = imputed.len().max(1) as f64;
                    let mean = imputed.iter().sum::<f64>() / n;
                    let var = imputed.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
                    // A constant column is left unscaled, as scikit-learn does.
                    let sd = if var > 0.0 { var.sqrt() } else { 1.0 };
                    Some((mean, sd))
                };
            Ok(Fitted::Numeric {
                column: column.to_string(),
                fill,
                log,
                buckets: spec.buckets.clone(),
                scale,
            })
        }
        Values::Text(v) => {
            let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
            for &i in train {
                if let Some(s) = &v[i] {
                    *counts.entry(s.as_str()).or_insert(0) += 1;
                }
            }
            let fill = match spec.impute.unwrap_or(Impute::MostFrequent) {
                // Ties go to the first in sorted order, as scikit-learn's.
                Impute::MostFrequent | Impute::Median => counts
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                    .map(|(k, _)| k.to_string())
                    .unwrap_or_default(),
                Impute::Constant => spec
                    .fill
                    .as_ref()
                    .map(|f| {
                        f.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| f.to_string())
                    })
                    .ok_or_else(|| col_err(column, "impute = \"constant\" needs a `fill`"))?,
            };
            let mut categories: Vec<String> = counts.keys().map(|s| s.to_string()).collect();
            if !categories.contains(&fill) {
                categories.push(fill.clone());
                categories.sort();
            }
            Ok(Fitted::Categorical {
                column: column.to_string(),
                fill,
                categories,
                strict: spec.unseen.as_deref() == Some("error"),
            })
        }
    }
}

/// The fitted transforms of all feature columns, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    pub columns: Vec<Fitted>,
}

impl Pipeline {
    pub fn feature_names(&self) -> Vec<String> {
        self.columns
            .iter()
            .flat_map(Fitted::feature_names)
            .collect()
    }

    /// A row-major matrix of `rows` (indices into `inputs`, which are in `columns` order).
    pub fn transform(
        &self,
        inputs: &[&Values],
        rows: &[usize],
    ) -> Result<Vec<f64>, TransformError> {
        let widths: Vec<usize> = self.columns.iter().map(Fitted::width).collect();
        let width: usize = widths.iter().sum();
        let mut out = vec![0.0; rows.len() * width];
        for (r, &row) in rows.iter().enumerate() {
            let mut at = r * width;
            for ((f, v), w) in self.columns.iter().zip(inputs).zip(&widths) {
                f.apply(v, row, &mut out[at..at + w])?;
                at += w;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_buckets_and_unseen_values() {
        let num = Values::Numeric(vec![Some(1.0), None, Some(3.0), Some(10.0)]);
        let cat = Values::Text(vec![
            Some("b".into()),
            Some("a".into()),
            None,
            Some("z".into()),
        ]);
        let train = [0, 1, 2];
        let f = fit("n", &num, &train, &Transform::default()).unwrap();
        let Fitted::Numeric { fill, scale, .. } = &f else {
            panic!()
        };
        assert_eq!(*fill, 2.0, "median of 1 and 3");
        assert_eq!(scale.unwrap().0, 2.0);
        let c = fit("c", &cat, &train, &Transform::default()).unwrap();
        assert_eq!(c.feature_names(), ["c=a", "c=b"]);
        let p = Pipeline {
            columns: vec![f, c],
        };
        let m = p.transform(&[&num, &cat], &[3]).unwrap();
        assert_eq!(&m[1..], &[0.0, 0.0], "`z` was not seen: all zeros");
        let strict = Transform {
            unseen: Some("error".into()),
            ..Transform::default()
        };
        let c = fit("c", &cat, &train, &strict).unwrap();
        let mut out = [0.0; 2];
        assert!(
            c.apply(&cat, 3, &mut out)
                .unwrap_err()
                .to_string()
                .contains("`z` was not seen")
        );
        let b = Transform {
            buckets: Some(vec![2.0, 5.0]),
            ..Transform::default()
        };
        let f = fit("n", &num, &train, &b).unwrap();
        let mut out = [0.0; 3];
        f.apply(&num, 3, &mut out).unwrap();
        assert_eq!(out, [0.0, 0.0, 1.0]);
    }
}
