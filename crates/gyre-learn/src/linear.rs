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
        weights: Option<&[f64]>,
    ) -> Result<LinearModel, FitError> {
        if classes.len() == 2 {
            let (w, b) = newton_logistic(x, rows, cols, y, l2, weights)?;
            return Ok(LinearModel {
                classes,
                coefficients: vec![w],
                intercepts: vec![b],
            });
        }
        if weights.is_some() {
            return Err(FitError(
                "class weights with more than two classes are not supported by logistic_regression; use a tree learner".into(),
            ));
        }
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
            ridge_normal_equations(x, rows, cols, &y, alpha)?
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

/// Binary logistic regression by Newton's method (iteratively reweighted least squares):
/// minimises Σ weight·log-loss + (l2 / 2)·‖w‖², the intercept unpenalised — scikit-learn's objective
/// with C = 1/l2. Written here because smartcore's gradient-based fit took ~100× longer than
/// scikit-learn on Adult; Newton needs about ten passes, each one X'WX and a Cholesky solve of a
/// (features + 1)² system.
fn newton_logistic(
    x: &[f64],
    rows: usize,
    cols: usize,
    y: &[u32],
    l2: f64,
    weights: Option<&[f64]>,
) -> Result<(Vec<f64>, f64), FitError> {
    let weight = |i: usize| weights.map_or(1.0, |w| w[i]);
    let p = cols + 1; // the last parameter is the intercept
    let mut beta = vec![0.0; p];
    let loss = |beta: &[f64]| -> f64 {
        let mut l = 0.0;
        for i in 0..rows {
            let z = dot(&beta[..cols], &x[i * cols..(i + 1) * cols]) + beta[cols];
            // log(1 + e^z) − y·z, computed without overflow.
            l += weight(i) * (z.max(0.0) + (-z.abs()).exp().ln_1p() - f64::from(y[i]) * z);
        }
        l + 0.5 * l2 * beta[..cols].iter().map(|w| w * w).sum::<f64>()
    };
    let mut current = loss(&beta);
    for _ in 0..100 {
        let mut grad = vec![0.0; p];
        let mut hess = vec![0.0; p * p];
        let mut row = vec![0.0; p];
        for i in 0..rows {
            row[..cols].copy_from_slice(&x[i * cols..(i + 1) * cols]);
            row[cols] = 1.0;
            let z = dot(&beta, &row);
            let mu = 1.0 / (1.0 + (-z).exp());
            let r = weight(i) * (mu - f64::from(y[i]));
            let w = weight(i) * mu * (1.0 - mu);
            for a in 0..p {
                grad[a] += r * row[a];
                let wa = w * row[a];
                if wa != 0.0 {
                    // Lower triangle only; mirrored below.
                    for (h, &rb) in hess[a * p..a * p + a + 1].iter_mut().zip(&row[..=a]) {
                        *h += wa * rb;
                    }
                }
            }
        }
        for a in 0..cols {
            grad[a] += l2 * beta[a];
            hess[a * p + a] += l2;
        }
        for a in 0..p {
            for b in 0..a {
                hess[b * p + a] = hess[a * p + b];
            }
        }
        let step = cholesky_solve(&mut hess, &grad, p).ok_or_else(|| {
            FitError("the logistic regression's Hessian is not positive definite".into())
        })?;
        // Halve the step until the loss does not increase.
        let mut t = 1.0;
        let mut next: Vec<f64>;
        let mut next_loss;
        loop {
            next = beta.iter().zip(&step).map(|(b, s)| b - t * s).collect();
            next_loss = loss(&next);
            if next_loss <= current || t < 1e-10 {
                break;
            }
            t /= 2.0;
        }
        let moved = step.iter().map(|s| (t * s).abs()).fold(0.0, f64::max);
        beta = next;
        let improved = current - next_loss;
        current = next_loss;
        if moved < 1e-9 || improved.abs() <= 1e-12 * current.abs().max(1.0) {
            break;
        }
    }
    let b = beta[cols];
    beta.truncate(cols);
    Ok((beta, b))
}

/// Ridge with an unpenalised intercept, as scikit-learn's `Ridge` solves it: centre the
/// features and the target, solve (XᵀX + αI)·w = Xᵀy by Cholesky (positive definite for
/// α > 0), and recover the intercept from the means. One pass over the rows; smartcore's
/// ridge took ~9× longer than scikit-learn on California housing.
fn ridge_normal_equations(
    x: &[f64],
    rows: usize,
    cols: usize,
    y: &[f64],
    alpha: f64,
) -> Result<(Vec<f64>, f64), FitError> {
    let n = rows as f64;
    let mut mean = vec![0.0; cols];
    for r in 0..rows {
        for (m, v) in mean.iter_mut().zip(&x[r * cols..(r + 1) * cols]) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let ymean = y.iter().sum::<f64>() / n;
    let mut a = vec![0.0; cols * cols];
    let mut b = vec![0.0; cols];
    let mut row = vec![0.0; cols];
    for r in 0..rows {
        for ((c, v), m) in row.iter_mut().zip(&x[r * cols..(r + 1) * cols]).zip(&mean) {
            *c = v - m;
        }
        let yc = y[r] - ymean;
        for i in 0..cols {
            b[i] += row[i] * yc;
            let ri = row[i];
            if ri != 0.0 {
                for (aij, rj) in a[i * cols..i * cols + i + 1].iter_mut().zip(&row[..=i]) {
                    *aij += ri * rj;
                }
            }
        }
    }
    for i in 0..cols {
        a[i * cols + i] += alpha;
        for j in 0..i {
            a[j * cols + i] = a[i * cols + j];
        }
    }
    let w = cholesky_solve(&mut a, &b, cols)
        .ok_or_else(|| FitError("ridge: the system is not positive definite".into()))?;
    let intercept = ymean - w.iter().zip(&mean).map(|(a, b)| a * b).sum::<f64>();
    Ok((w, intercept))
}

/// Solves A·x = b for a symmetric positive definite A (overwritten by its Cholesky factor).
fn cholesky_solve(a: &mut [f64], b: &[f64], n: usize) -> Option<Vec<f64>> {
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
    }
    // L·z = b, then Lᵀ·x = z.
    let mut z = b.to_vec();
    for i in 0..n {
        for k in 0..i {
            z[i] -= a[i * n + k] * z[k];
        }
        z[i] /= a[i * n + i];
    }
    for i in (0..n).rev() {
        for k in i + 1..n {
            z[i] -= a[k * n + i] * z[k];
        }
        z[i] /= a[i * n + i];
    }
    Some(z)
}
