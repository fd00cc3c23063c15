//! One labelled prediction, and the figures of a set of them.

use std::collections::{BTreeMap, HashMap};

/// A labelled prediction as the loop judges it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Classification: class ids from the loop's [`Classes`], and the predicted probability
    /// of the positive class (NaN when the model gave none).
    Class {
        truth: u32,
        predicted: u32,
        score: f64,
    },
    Value {
        truth: f64,
        predicted: f64,
    },
}

impl Outcome {
    /// The error the change detectors watch: 0 or 1 for a class, the absolute error for a
    /// value.
    pub fn error(&self) -> f64 {
        match *self {
            Outcome::Class {
                truth, predicted, ..
            } => f64::from(u8::from(truth != predicted)),
            Outcome::Value { truth, predicted } => (truth - predicted).abs(),
        }
    }
}

/// Class names as small ids, and which one is positive.
#[derive(Debug, Clone, Default)]
pub struct Classes {
    names: Vec<String>,
    ids: HashMap<String, u32>,
    positive: Option<u32>,
}

impl Classes {
    /// The model's classes; `positive` names the positive class, else a binary model's
    /// second sorted class is (scikit-learn's `pos_label` default for sorted labels).
    pub fn new(model_classes: &[String], positive: Option<&str>) -> Classes {
        let mut c = Classes::default();
        let mut sorted: Vec<&String> = model_classes.iter().collect();
        sorted.sort();
        for n in &sorted {
            c.id(n);
        }
        c.positive = match positive {
            Some(p) => Some(c.id(p)),
            None if sorted.len() == 2 => Some(c.id(sorted[1])),
            None => None,
        };
        c
    }

    /// The id of a class name, adding it when it is new (a label the model never saw).
    pub fn id(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.ids.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), i);
        i
    }

    /// The id of a class name already known (`u32::MAX` for one never seen).
    pub fn ids_of(&self, name: &str) -> u32 {
        self.ids.get(name).copied().unwrap_or(u32::MAX)
    }

    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("?", String::as_str)
    }

    pub fn positive(&self) -> Option<u32> {
        self.positive
    }
}

/// Named figures of a set of outcomes: `labels`, and `positives`, `accuracy`, `precision`,
/// `recall`, `f1`, `roc_auc` (classification) or `rmse`, `mae`, `r2` (regression).
pub type Figures = BTreeMap<String, f64>;

/// Sufficient counts of a set of outcomes, so one metric of a bootstrap resample costs one
/// pass and no allocation.
#[derive(Debug, Default, Clone)]
struct Counts {
    n: u64,
    // Binary, by the positive class.
    tp: u64,
    fp: u64,
    fn_: u64,
    correct: u64,
    // Regression.
    sum_sq: f64,
    sum_abs: f64,
    sum_y: f64,
    sum_y2: f64,
}

impl Counts {
    fn add(&mut self, o: &Outcome, positive: Option<u32>) {
        self.n += 1;
        match *o {
            Outcome::Class {
                truth, predicted, ..
            } => {
                self.correct += u64::from(truth == predicted);
                if let Some(p) = positive {
                    let (t, q) = (truth == p, predicted == p);
                    self.tp += u64::from(t && q);
                    self.fp += u64::from(!t && q);
                    self.fn_ += u64::from(t && !q);
                }
            }
            Outcome::Value { truth, predicted } => {
                let e = truth - predicted;
                self.sum_sq += e * e;
                self.sum_abs += e.abs();
                self.sum_y += truth;
                self.sum_y2 += truth * truth;
            }
        }
    }

    fn value(&self, metric: &str) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let n = self.n as f64;
        // scikit-learn's default zero_division gives 0.
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        Some(match metric {
            "accuracy" => self.correct as f64 / n,
            "precision" => ratio(self.tp, self.tp + self.fp),
            "recall" => ratio(self.tp, self.tp + self.fn_),
            "f1" => ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_),
            "rmse" => (self.sum_sq / n).sqrt(),
            "mae" => self.sum_abs / n,
            "r2" => {
                let ss_tot = self.sum_y2 - self.sum_y * self.sum_y / n;
                if ss_tot <= 0.0 || self.n < 2 {
                    return None;
                }
                1.0 - self.sum_sq / ss_tot
            }
            _ => return None,
        })
    }
}

/// One metric of the outcomes at `index` (a bootstrap resample), or of all when `index` is
/// `None`. Binary metrics need the positive class; multi-class precision, recall and F1
/// are macro averages over the classes present.
pub fn metric(
    outcomes: &[Outcome],
    index: Option<&[u32]>,
    metric: &str,
    positive: Option<u32>,
) -> Option<f64> {
    let pick = |f: &mut dyn FnMut(&Outcome)| match index {
        Some(ix) => ix.iter().for_each(|&i| f(&outcomes[i as usize])),
        None => outcomes.iter().for_each(f),
    };
    let is_class = matches!(outcomes.first(), Some(Outcome::Class { .. }));
    if metric == "roc_auc" {
        let (mut pos, mut score) = (Vec::new(), Vec::new());
        let p = positive?;
        pick(&mut |o| {
            if let Outcome::Class {
                truth, score: s, ..
            } = *o
            {
                pos.push(truth == p);
                score.push(s);
            }
        });
        if score.iter().any(|s| !s.is_finite()) {
            return None;
        }
        return gyre_learn::metrics::roc_auc(&pos, &score);
    }
    if is_class && positive.is_none() && matches!(metric, "precision" | "recall" | "f1") {
        return macro_average(outcomes, index, metric);
    }
    let mut c = Counts::default();
    pick(&mut |o| c.add(o, positive));
    c.value(metric)
}

fn macro_average(outcomes: &[Outcome], index: Option<&[u32]>, metric: &str) -> Option<f64> {
    let mut per: BTreeMap<u32, Counts> = BTreeMap::new();
    let mut add = |o: &Outcome| {
        if let Outcome::Class {
            truth, predicted, ..
        } = *o
        {
            for class in [truth, predicted] {
                per.entry(class).or_default();
            }
            for (class, c) in per.iter_mut() {
                if *class == truth || *class == predicted {
                    c.add(o, Some(*class));
                }
            }
        }
    };
    match index {
        Some(ix) => ix.iter().for_each(|&i| add(&outcomes[i as usize])),
        None => outcomes.iter().for_each(&mut add),
    }
    if per.is_empty() {
        return None;
    }
    let sum: f64 = per.values().filter_map(|c| c.value(metric)).sum();
    Some(sum / per.len() as f64)
}

/// Every figure of a set of outcomes.
pub fn figures(outcomes: &[Outcome], positive: Option<u32>) -> Figures {
    let mut out = Figures::new();
    out.insert("labels".into(), outcomes.len() as f64);
    let names: &[&str] = match outcomes.first() {
        None => return out,
        Some(Outcome::Class { .. }) => &["accuracy", "precision", "recall", "f1", "roc_auc"],
        Some(Outcome::Value { .. }) => &["rmse", "mae", "r2"],
    };
    for m in names {
        if let Some(v) = metric(outcomes, None, m, positive) {
            out.insert((*m).to_string(), v);
        }
    }
    if let Some(p) = positive {
        let n = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Class { truth, .. } if *truth == p))
            .count();
        out.insert("positives".into(), n as f64);
        // The base rate against the rate the model predicts: a gap is a moved base rate
        // (or a moved concept) that the model's cutoff no longer matches, which F1 alone
        // can hide while the base rate rises.
        let predicted = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Class { predicted, .. } if *predicted == p))
            .count();
        let total = outcomes.len() as f64;
        let (rate, predicted_rate) = (n as f64 / total, predicted as f64 / total);
        out.insert("positive_rate".into(), rate);
        out.insert("predicted_rate".into(), predicted_rate);
        out.insert("rate_gap".into(), (rate - predicted_rate).abs());
    }
    out
}

/// Positives among outcomes (0 without a positive class).
pub fn positives(outcomes: &[Outcome], positive: Option<u32>) -> u64 {
    positive.map_or(0, |p| {
        outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Class { truth, .. } if *truth == p))
            .count() as u64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(truth: u32, predicted: u32, score: f64) -> Outcome {
        Outcome::Class {
            truth,
            predicted,
            score,
        }
    }

    #[test]
    fn binary_figures_agree_with_the_learn_crates_metrics() {
        // Classes DOWN (0) and UP (1); UP is positive.
        let mut classes = Classes::new(&["UP".into(), "DOWN".into()], None);
        assert_eq!(classes.positive(), Some(classes.id("UP")));
        let rows = [
            class(1, 1, 0.9),
            class(0, 1, 0.6),
            class(1, 0, 0.4),
            class(0, 0, 0.1),
            class(1, 1, 0.8),
        ];
        let f = figures(&rows, Some(1));
        let name = |i: u32| if i == 1 { "UP" } else { "DOWN" };
        let truth: Vec<&str> = rows
            .iter()
            .map(|o| match o {
                Outcome::Class { truth, .. } => name(*truth),
                _ => unreachable!(),
            })
            .collect();
        let pred: Vec<&str> = rows
            .iter()
            .map(|o| match o {
                Outcome::Class { predicted, .. } => name(*predicted),
                _ => unreachable!(),
            })
            .collect();
        let want = gyre_learn::metrics::classification(&truth, &pred, None, Some("UP")).unwrap();
        let (_, prf) = want.binary.unwrap();
        assert_eq!(f["f1"], prf.f1);
        assert_eq!(f["precision"], prf.precision);
        assert_eq!(f["recall"], prf.recall);
        assert_eq!(f["accuracy"], want.accuracy);
        assert_eq!(f["positives"], 3.0);
        // 3 of 5 are positive, 3 of 5 predicted positive (one of them wrongly).
        assert_eq!(f["positive_rate"], 0.6);
        assert_eq!(f["predicted_rate"], 0.6);
        assert_eq!(f["rate_gap"], 0.0);
        // 5 of 6 positive-negative pairs ordered.
        assert!((f["roc_auc"] - 5.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn multiclass_f1_is_the_macro_average_as_scikit_learn_gives_it() {
        let rows = [
            class(0, 0, f64::NAN),
            class(1, 2, f64::NAN),
            class(2, 2, f64::NAN),
            class(1, 1, f64::NAN),
        ];
        let truth = ["a", "b", "c", "b"];
        let pred = ["a", "c", "c", "b"];
        let want = gyre_learn::metrics::classification(&truth, &pred, None, None).unwrap();
        let f = figures(&rows, None);
        assert!((f["f1"] - want.macro_avg.f1).abs() < 1e-12);
        assert!(!f.contains_key("roc_auc"));
    }

    #[test]
    fn regression_figures() {
        let rows = [
            Outcome::Value {
                truth: 1.0,
                predicted: 2.0,
            },
            Outcome::Value {
                truth: 5.0,
                predicted: 4.0,
            },
        ];
        let f = figures(&rows, None);
        assert_eq!(f["mae"], 1.0);
        assert_eq!(f["rmse"], 1.0);
        // ss_tot = 8, ss_res = 2.
        assert_eq!(f["r2"], 0.75);
    }
}
