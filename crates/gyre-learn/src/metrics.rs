//! Evaluation metrics, defined as scikit-learn 1.9 defines them (checked against its values
//! in `tests/fixtures/`). Labels are text; classes are ordered by sorting their labels, as
//! scikit-learn's `unique_labels` does.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MetricError {
    #[error("{what}: {found} values for {expected} true labels")]
    Length {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("no values to evaluate")]
    Empty,
    #[error("row {row} of the probabilities has {found} columns, expected {expected}")]
    Width {
        row: usize,
        expected: usize,
        found: usize,
    },
    #[error("probability {value} in row {row} is not between 0 and 1")]
    NotProbability { row: usize, value: f64 },
    #[error("the true label `{0}` has no probability column")]
    UnknownLabel(String),
    #[error("the positive label `{0}` is not among the classes")]
    UnknownPositive(String),
}

/// Predicted probabilities: one row per example, one column per class in `classes` order.
#[derive(Debug, Clone)]
pub struct Probabilities<'a> {
    pub classes: &'a [String],
    pub rows: &'a [Vec<f64>],
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// True examples of this class.
    pub support: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    /// Every class seen in the true or the predicted labels, sorted.
    pub labels: Vec<String>,
    /// `confusion[t][p]`: examples of true class `t` predicted as `p`.
    pub confusion: Vec<Vec<u64>>,
    pub per_class: Vec<ClassMetrics>,
    pub accuracy: f64,
    pub macro_avg: Prf,
    pub weighted_avg: Prf,
    /// For two classes: the positive class's figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary: Option<(String, Prf)>,
    /// Binary: from the positive class's probability. More classes: one-vs-rest, averaged
    /// over classes (scikit-learn's `multi_class="ovr"`, `average="macro"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roc_auc: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_loss: Option<f64>,
}

/// The number of examples, once there are some and as many predictions as true values.
fn check_lengths(n_true: usize, n_pred: usize) -> Result<usize, MetricError> {
    if n_true == 0 {
        return Err(MetricError::Empty);
    }
    if n_pred != n_true {
        return Err(MetricError::Length {
            what: "the predictions",
            expected: n_true,
            found: n_pred,
        });
    }
    Ok(n_true)
}

fn ratio(num: f64, den: f64) -> f64 {
    // scikit-learn's default `zero_division` yields 0 (with a warning).
    if den == 0.0 { 0.0 } else { num / den }
}

/// Classification metrics. `positive` names the positive class of a binary problem (default:
/// the last of the two sorted labels, so `1` over `0` and `>50K` over `<=50K`).
pub fn classification<S: AsRef<str>>(
    y_true: &[S],
    y_pred: &[S],
    probabilities: Option<&Probabilities<'_>>,
    positive: Option<&str>,
) -> Result<Classification, MetricError> {
    let n = check_lengths(y_true.len(), y_pred.len())?;
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for s in y_true.iter().chain(y_pred) {
        index.insert(s.as_ref(), 0);
    }
    for (i, v) in index.values_mut().enumerate() {
        *v = i;
    }
    let labels: Vec<String> = index.keys().map(|s| s.to_string()).collect();
    let k = labels.len();
    let mut confusion = vec![vec![0u64; k]; k];
    for (t, p) in y_true.iter().zip(y_pred) {
        confusion[index[t.as_ref()]][index[p.as_ref()]] += 1;
    }
    let mut per_class = Vec::with_capacity(k);
    for (c, label) in labels.iter().enumerate() {
        let tp = confusion[c][c] as f64;
        let predicted: f64 = (0..k).map(|t| confusion[t][c] as f64).sum();
        let support: u64 = confusion[c].iter().sum();
        let (fp, fn_) = (predicted - tp, support as f64 - tp);
        per_class.push(ClassMetrics {
            label: label.clone(),
            precision: ratio(tp, tp + fp),
            recall: ratio(tp, tp + fn_),
            f1: ratio(2.0 * tp, 2.0 * tp + fp + fn_),
            support,
        });
    }
    let correct: u64 = (0..k).map(|c| confusion[c][c]).sum();
    let mean = |f: fn(&ClassMetrics) -> f64| per_class.iter().map(f).sum::<f64>() / k as f64;
    let macro_avg = Prf {
        precision: mean(|c| c.precision),
        recall: mean(|c| c.recall),
        f1: mean(|c| c.f1),
    };
    let weighted = |f: fn(&ClassMetrics) -> f64| {
        per_class
            .iter()
            .map(|c| f(c) * c.support as f64)
            .sum::<f64>()
            / n as f64
    };
    let weighted_avg = Prf {
        precision: weighted(|c| c.precision),
        recall: weighted(|c| c.recall),
        f1: weighted(|c| c.f1),
    };
    let positive = match positive {
        Some(p) if !index.contains_key(p) => return Err(MetricError::UnknownPositive(p.into())),
        Some(p) => Some(p.to_string()),
        None if k == 2 => Some(labels[1].clone()),
        None => None,
    };
    let binary = match &positive {
        Some(p) if k <= 2 => {
            let c = &per_class[index[p.as_str()]];
            Some((
                p.clone(),
                Prf {
                    precision: c.precision,
                    recall: c.recall,
                    f1: c.f1,
                },
            ))
        }
        _ => None,
    };
    let (roc_auc, log_loss) = match probabilities {
        Some(p) => {
            check_probabilities(p, n)?;
            (
                auc_of(y_true, p, positive.as_deref())?,
                Some(log_loss_of(y_true, p)?),
            )
        }
        None => (None, None),
    };
    Ok(Classification {
        labels,
        confusion,
        per_class,
        accuracy: correct as f64 / n as f64,
        macro_avg,
        weighted_avg,
        binary,
        roc_auc,
        log_loss,
    })
}

fn check_probabilities(p: &Probabilities<'_>, n: usize) -> Result<(), MetricError> {
    if p.rows.len() != n {
        return Err(MetricError::Length {
            what: "the probabilities",
            expected: n,
            found: p.rows.len(),
        });
    }
    for (row, r) in p.rows.iter().enumerate() {
        if r.len() != p.classes.len() {
            return Err(MetricError::Width {
                row,
                expected: p.classes.len(),
                found: r.len(),
            });
        }
        if let Some(&value) = r.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            return Err(MetricError::NotProbability { row, value });
        }
    }
    Ok(())
}

fn column(p: &Probabilities<'_>, label: &str) -> Result<usize, MetricError> {
    p.classes
        .iter()
        .position(|c| c == label)
        .ok_or_else(|| MetricError::UnknownLabel(label.to_string()))
}

/// Mean negative log-likelihood of the true class, probabilities clipped to [ε, 1 − ε].
fn log_loss_of<S: AsRef<str>>(y_true: &[S], p: &Probabilities<'_>) -> Result<f64, MetricError> {
    let eps = f64::EPSILON;
    let mut total = 0.0;
    for (t, row) in y_true.iter().zip(p.rows) {
        let c = column(p, t.as_ref())?;
        total -= row[c].clamp(eps, 1.0 - eps).ln();
    }
    Ok(total / y_true.len() as f64)
}

fn auc_of<S: AsRef<str>>(
    y_true: &[S],
    p: &Probabilities<'_>,
    positive: Option<&str>,
) -> Result<Option<f64>, MetricError> {
    if p.classes.len() == 2 {
        let pos = positive.unwrap_or(&p.classes[1]);
        let c = column(p, pos)?;
        let scores: Vec<f64> = p.rows.iter().map(|r| r[c]).collect();
        let is_pos: Vec<bool> = y_true.iter().map(|t| t.as_ref() == pos).collect();
        return Ok(roc_auc(&is_pos, &scores));
    }
    // One-vs-rest, averaged over classes.
    let mut sum = 0.0;
    for (c, label) in p.classes.iter().enumerate() {
        let scores: Vec<f64> = p.rows.iter().map(|r| r[c]).collect();
        let is_pos: Vec<bool> = y_true.iter().map(|t| t.as_ref() == label).collect();
        match roc_auc(&is_pos, &scores) {
            Some(a) => sum += a,
            None => return Ok(None),
        }
    }
    Ok(Some(sum / p.classes.len() as f64))
}

/// Area under the ROC curve: the probability that a random positive scores above a random
/// negative, ties counting half (the Mann–Whitney form, equal to the trapezoidal area over
/// distinct thresholds that scikit-learn computes). `None` when one class is absent.
pub fn roc_auc(is_positive: &[bool], scores: &[f64]) -> Option<f64> {
    let n_pos = is_positive.iter().filter(|&&p| p).count() as f64;
    let n_neg = is_positive.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Average ranks (1-based) over ties; sum them for the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            if is_positive[o] {
                rank_sum += avg_rank;
            }
        }
        i = j + 1;
    }
    Some((rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg))
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Regression {
    pub rmse: f64,
    pub mae: f64,
    pub r2: f64,
    /// Mean absolute percentage error, as a fraction; |y| below machine ε counts as ε.
    pub mape: f64,
}

/// Regression metrics.
pub fn regression(y_true: &[f64], y_pred: &[f64]) -> Result<Regression, MetricError> {
    let n = check_lengths(y_true.len(), y_pred.len())?;
    let nf = n as f64;
    let mean = y_true.iter().sum::<f64>() / nf;
    let (mut se, mut ae, mut ape, mut tot) = (0.0, 0.0, 0.0, 0.0);
    for (&t, &p) in y_true.iter().zip(y_pred) {
        let e = t - p;
        se += e * e;
        ae += e.abs();
        ape += e.abs() / t.abs().max(f64::EPSILON);
        tot += (t - mean) * (t - mean);
    }
    // scikit-learn's `force_finite`: a constant target scores 1 if predicted exactly, else 0.
    let r2 = if tot == 0.0 {
        if se == 0.0 { 1.0 } else { 0.0 }
    } else {
        1.0 - se / tot
    };
    Ok(Regression {
        rmse: (se / nf).sqrt(),
        mae: ae / nf,
        r2,
        mape: ape / nf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_hopeless() {
        let y = ["a", "b", "a", "c"];
        let m = classification(&y, &y, None, None).unwrap();
        assert_eq!((m.accuracy, m.macro_avg.f1), (1.0, 1.0));
        let wrong = ["b", "c", "b", "a"];
        let m = classification(&y, &wrong, None, None).unwrap();
        assert_eq!((m.accuracy, m.macro_avg.f1), (0.0, 0.0));
        assert_eq!(roc_auc(&[true, false], &[0.5, 0.5]), Some(0.5));
        assert_eq!(roc_auc(&[true, true], &[0.5, 0.6]), None);
        let r = regression(&[1.0, 1.0], &[1.0, 1.0]).unwrap();
        assert_eq!((r.rmse, r.r2), (0.0, 1.0));
        assert_eq!(
            classification::<&str>(&[], &[], None, None),
            Err(MetricError::Empty)
        );
    }
}
