//! Online learners: models that learn from one labelled row at a time, as labels arrive,
//! instead of being refitted on a batch.
//!
//! - [`logistic`]: multinomial logistic regression by SGD on running-standardised features;
//! - [`arf`]: an adaptive random forest (Gomes et al. 2017) of Hoeffding trees
//!   ([`hoeffding`]) with ADWIN ([`adwin`]) drift and warning detectors per tree, as river's
//!   `ARFClassifier` builds it.
//!
//! They read dense feature rows made by [`Encoder`]: numbers as they are (NaN when missing),
//! text one-hot over the categories the encoder was fitted on.

pub mod adwin;
pub mod arf;
pub mod hoeffding;
pub mod logistic;

use crate::transform::Values;

/// Turns typed input columns into dense feature rows for the online learners.
#[derive(Debug, Clone)]
pub struct Encoder {
    columns: Vec<Column>,
    width: usize,
}

#[derive(Debug, Clone)]
enum Column {
    Number,
    /// The categories seen when fitting, one feature each, and one for any other.
    Text(Vec<String>),
}

/// The most categories a text column gets its own feature for.
const MAX_CATEGORIES: usize = 32;

impl Encoder {
    /// Fits on the rows `rows` of `inputs`: a text column keeps its most frequent
    /// categories.
    pub fn fit(inputs: &[&Values], rows: &[usize]) -> Encoder {
        let columns: Vec<Column> = inputs
            .iter()
            .map(|v| match v {
                Values::Numeric(_) => Column::Number,
                Values::Text(t) => {
                    let mut counts: std::collections::HashMap<&str, usize> = Default::default();
                    for &r in rows {
                        if let Some(s) = t[r].as_deref() {
                            *counts.entry(s).or_default() += 1;
                        }
                    }
                    let mut top: Vec<(&str, usize)> = counts.into_iter().collect();
                    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                    top.truncate(MAX_CATEGORIES);
                    Column::Text(top.into_iter().map(|(s, _)| s.to_string()).collect())
                }
            })
            .collect();
        let width = columns
            .iter()
            .map(|c| match c {
                Column::Number => 1,
                Column::Text(cats) => cats.len() + 1,
            })
            .sum();
        Encoder { columns, width }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    /// Row `r` of `inputs` as features.
    pub fn row(&self, inputs: &[&Values], r: usize, out: &mut Vec<f64>) {
        out.clear();
        for (c, v) in self.columns.iter().zip(inputs) {
            match (c, v) {
                (Column::Number, Values::Numeric(x)) => out.push(x[r].unwrap_or(f64::NAN)),
                (Column::Text(cats), Values::Text(t)) => {
                    let at = out.len();
                    out.resize(at + cats.len() + 1, 0.0);
                    let k = t[r]
                        .as_deref()
                        .and_then(|s| cats.iter().position(|c| c == s))
                        .unwrap_or(cats.len());
                    out[at + k] = 1.0;
                }
                // A column typed differently from the fit: nothing to read.
                (Column::Number, _) => out.push(f64::NAN),
                (Column::Text(cats), _) => out.resize(out.len() + cats.len() + 1, 0.0),
            }
        }
    }
}

/// An online classifier over encoded rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Online {
    Logistic(logistic::Logistic),
    Forest(arf::Forest),
}

impl Online {
    /// Learns one row of class `y`.
    pub fn learn(&mut self, x: &[f64], y: usize) {
        match self {
            Online::Logistic(m) => m.learn(x, y),
            Online::Forest(m) => m.learn(x, y),
        }
    }

    /// Class probabilities for one row.
    pub fn predict(&self, x: &[f64]) -> Vec<f64> {
        match self {
            Online::Logistic(m) => m.predict(x),
            Online::Forest(m) => m.predict(x),
        }
    }

    pub fn classes(&self) -> usize {
        match self {
            Online::Logistic(m) => m.classes(),
            Online::Forest(m) => m.classes(),
        }
    }

    pub fn check(&self) -> Result<(), String> {
        match self {
            Online::Logistic(m) => m.check(),
            Online::Forest(m) => m.check(),
        }
    }

    /// Features per row.
    pub fn width(&self) -> usize {
        match self {
            Online::Logistic(m) => m.width(),
            Online::Forest(m) => m.width(),
        }
    }
}
