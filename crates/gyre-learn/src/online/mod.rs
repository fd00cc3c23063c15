//! Online learners: models that learn from one labelled row at a time, as labels arrive,
//! instead of being refitted on a batch.
//!
//! - [`logistic`]: multinomial logistic regression by SGD on running-standardised features;
//! - [`arf`]: an adaptive random forest (Gomes et al. 2017) of Hoeffding trees
//!   ([`hoeffding`]) with ADWIN ([`adwin`]) drift and warning detectors per tree, as river's
//!   `ARFClassifier` builds it;
//! - [`hat`]: a Hoeffding adaptive tree (Bifet and Gavaldà 2009), whose subtrees are replaced
//!   by alternates grown when their error rises, as river's `HoeffdingAdaptiveTreeClassifier`.
//!
//! They read dense feature rows made by [`Encoder`]: numbers as they are (NaN when missing),
//! text one-hot over the categories the encoder was fitted on.

pub mod adwin;
pub mod arf;
pub mod hat;
pub mod hoeffding;
pub mod logistic;

use crate::model::Model;
use crate::transform::{TransformError, Values};

/// Keeps an online model's tuned decision cutoff (`threshold = "f1"`) current as it learns:
/// each label is first scored (prequentially: before it is learnt), and every
/// [`Retuner::EVERY`] labels the cutoff moves to the best F1 on them. A cutoff frozen at the
/// first fit while the model keeps learning lost 3 points of mean F1 on Elec2
/// (`bench/README.md`); re-tuned, it gained 5 on Agrawal and 12 under prior shift.
#[derive(Debug, Clone, Default)]
pub struct Retuner {
    recent: Vec<(f64, bool)>,
}

impl Retuner {
    /// Labels per re-tune: one monitoring window's worth.
    pub const EVERY: usize = 500;

    /// Learns row `row` of `inputs` labelled `label`, as [`Model::learn`] does, re-tuning the
    /// cutoff first when it is due. False when the model did not learn the row.
    pub fn learn(
        &mut self,
        model: &mut Model,
        inputs: &[&Values],
        row: usize,
        label: &str,
    ) -> Result<bool, TransformError> {
        if let Some(cut) = model.decision.filter(|c| c.tuned)
            && model.is_online()
            && let Some(class) = model.signature.classes.get(cut.class as usize)
        {
            let p = model.predict(inputs, &[row])?;
            self.recent
                .push((p.row(0)[cut.class as usize], class == label));
            if self.recent.len() >= Self::EVERY {
                let at = crate::train::best_f1_cutoff(std::mem::take(&mut self.recent));
                if let Some(d) = model.decision.as_mut() {
                    d.at = at;
                }
            }
        }
        model.learn(inputs, row, label)
    }
}

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
    AdaptiveTree(hat::AdaptiveTree),
}

impl Online {
    /// Learns one row of class `y`.
    pub fn learn(&mut self, x: &[f64], y: usize) {
        match self {
            Online::Logistic(m) => m.learn(x, y),
            Online::Forest(m) => m.learn(x, y),
            Online::AdaptiveTree(m) => m.learn(x, y),
        }
    }

    /// Class probabilities for one row.
    pub fn predict(&self, x: &[f64]) -> Vec<f64> {
        match self {
            Online::Logistic(m) => m.predict(x),
            Online::Forest(m) => m.predict(x),
            Online::AdaptiveTree(m) => m.predict(x),
        }
    }

    pub fn classes(&self) -> usize {
        match self {
            Online::Logistic(m) => m.classes(),
            Online::Forest(m) => m.classes(),
            Online::AdaptiveTree(m) => m.classes(),
        }
    }

    pub fn check(&self) -> Result<(), String> {
        match self {
            Online::Logistic(m) => m.check(),
            Online::Forest(m) => m.check(),
            Online::AdaptiveTree(m) => m.check(),
        }
    }

    /// Features per row.
    pub fn width(&self) -> usize {
        match self {
            Online::Logistic(m) => m.width(),
            Online::Forest(m) => m.width(),
            Online::AdaptiveTree(m) => m.width(),
        }
    }
}
