//! Linear learners: logistic regression (L2), linear and ridge regression. Fitting is
//! smartcore's; the fitted model is gyre's own: coefficients and intercepts, plain data, so
//! the model file never depends on a crate's internal layout and loading it runs no code.

use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FitError(pub String);

/// A fitted linear model. Classification: one row of coefficients per class (a single row
/// for two classes: the log-odds of the second); regression: one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    /// Class labels, sorted; empty for regression.
    pub classes: Vec<String>,
    pub coefficients: Vec<Vec<f64>>,
    pub intercepts: Vec<f64>,
}

fn matrix(x: &[f64], rows: usize, cols: usize) -> Result<DenseMatrix<f64>, FitError> {
    DenseMatrix::new(rows, cols, x.to_vec(), false).map_err(|e| FitError(e.to_string()))
}

fn dot(w: &[f64], x: &[f64]) -> f64 {
    w.iter().zip(x).map(|(a, b)| a * b).sum()
}

impl LinearModel {
    /// Logistic regression with an L2 penalty of strength `l2` (scikit-learn's `C` is 1/l2).
    /// `y` holds class indices into `classes`.
    pub fn logistic(
        x: &[f64],
        rows: usize,
        cols: usize,
        y: &[u32],
        classes: Vec<String>,
        l2: f64,
    ) -> Result<LinearModel, FitError> {
        use smartcore::linear::logistic_regression::{
            LogisticRegression, LogisticRegressionParameters,
        };
        let m = matrix(x, rows, cols)?;
        let y: Vec<i32> = y.iter().map(|&c| c as i32).collect();
        let params = LogisticRegressionParameters::default().with_alpha(l2);
        let fitted =
            LogisticRegression::fit(&m, &y, params).map_err(|e| FitError(e.to_string()))?;
        let coef = fitted.coefficients();
        let icpt = fitted.intercept();
        let (k, p) = coef.shape();
        if p != cols {
            return Err(FitError(format!("expected {cols} coefficients, got {p}")));
        }
        Ok(LinearModel {
            classes,
            coefficients: (0..k)
                .map(|r| (0..p).map(|c| *coef.get((r, c))).collect())
                .collect(),
            intercepts: (0..k).map(|r| *icpt.get((r, 0))).collect(),
        })
    }

    /// Ridge regression with penalty `alpha`; `alpha = 0` is ordinary least squares.
    pub fn ridge(
        x: &[f64],
        rows: usize,
        cols: usize,
        y: &[f64],
        alpha: f64,
    ) -> Result<LinearModel, FitError> {
        let m = matrix(x, rows, cols)?;
        let y = y.to_vec();
        let (coef, icpt) = if alpha == 0.0 {
            use smartcore::linear::linear_regression::{
                LinearRegression, LinearRegressionParameters,
            };
            let f = LinearRegression::fit(&m, &y, LinearRegressionParameters::default())
                .map_err(|e| FitError(e.to_string()))?;
            let c = f.coefficients();
            (
                (0..cols).map(|i| *c.get((i, 0))).collect::<Vec<f64>>(),
                *f.intercept(),
            )
        } else {
            use smartcore::linear::ridge_regression::{RidgeRegression, RidgeRegressionParameters};
            let params = RidgeRegressionParameters::default()
                .with_alpha(alpha)
                .with_normalize(false);
            let f = RidgeRegression::fit(&m, &y, params).map_err(|e| FitError(e.to_string()))?;
            let c = f.coefficients();
            (
                (0..cols).map(|i| *c.get((i, 0))).collect::<Vec<f64>>(),
                *f.intercept(),
            )
        };
        Ok(LinearModel {
            classes: Vec::new(),
            coefficients: vec![coef],
            intercepts: vec![icpt],
        })
    }

    /// Class probabilities for one row of features, in `classes` order.
    pub fn predict_proba(&self, row: &[f64]) -> Vec<f64> {
        if self.coefficients.len() == 1 {
            let z = dot(&self.coefficients[0], row) + self.intercepts[0];
            let p = 1.0 / (1.0 + (-z).exp());
            return vec![1.0 - p, p];
        }
        let z: Vec<f64> = self
            .coefficients
            .iter()
            .zip(&self.intercepts)
            .map(|(w, b)| dot(w, row) + b)
            .collect();
        let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        e.iter().map(|v| v / sum).collect()
    }

    /// The regression prediction for one row.
    pub fn predict_value(&self, row: &[f64]) -> f64 {
        dot(&self.coefficients[0], row) + self.intercepts[0]
    }
}
