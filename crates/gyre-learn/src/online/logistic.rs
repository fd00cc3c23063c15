//! Multinomial logistic regression learnt by stochastic gradient descent, one row at a time,
//! on features standardised by running means and variances (Welford). Missing values are
//! the running mean (0 after standardising).

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Logistic {
    classes: usize,
    learning_rate: f64,
    l2: f64,
    /// `weights[c * (d + 1) + j]`; the last of each class's row is its intercept.
    weights: Vec<f64>,
    n: f64,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

impl Logistic {
    pub fn new(width: usize, classes: usize, learning_rate: f64, l2: f64) -> Logistic {
        Logistic {
            classes: classes.max(2),
            learning_rate,
            l2,
            weights: vec![0.0; classes.max(2) * (width + 1)],
            n: 0.0,
            mean: vec![0.0; width],
            m2: vec![0.0; width],
        }
    }

    fn standardise(&self, x: &[f64]) -> Vec<f64> {
        x.iter()
            .enumerate()
            .map(|(j, v)| {
                let sd = if self.n > 1.0 {
                    (self.m2[j] / (self.n - 1.0)).sqrt()
                } else {
                    0.0
                };
                if !v.is_finite() || sd == 0.0 {
                    0.0
                } else {
                    (v - self.mean[j]) / sd
                }
            })
            .collect()
    }

    fn scores(&self, z: &[f64]) -> Vec<f64> {
        let d = z.len();
        let mut s: Vec<f64> = (0..self.classes)
            .map(|c| {
                let w = &self.weights[c * (d + 1)..(c + 1) * (d + 1)];
                w[d] + z.iter().zip(w).map(|(a, b)| a * b).sum::<f64>()
            })
            .collect();
        let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut total = 0.0;
        for v in s.iter_mut() {
            *v = (*v - max).exp();
            total += *v;
        }
        for v in s.iter_mut() {
            *v /= total;
        }
        s
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Every length agrees (a decoded file is checked before it predicts or learns).
    pub fn check(&self) -> Result<(), String> {
        let d = self.mean.len();
        if self.classes < 2 || self.m2.len() != d || self.weights.len() != self.classes * (d + 1) {
            return Err(format!(
                "online logistic regression: {} classes, {d} means, {} variances, {} weights",
                self.classes,
                self.m2.len(),
                self.weights.len()
            ));
        }
        Ok(())
    }

    pub fn width(&self) -> usize {
        self.mean.len()
    }

    pub fn predict(&self, x: &[f64]) -> Vec<f64> {
        self.scores(&self.standardise(x))
    }

    pub fn learn(&mut self, x: &[f64], y: usize) {
        self.n += 1.0;
        for (j, v) in x.iter().enumerate() {
            if v.is_finite() {
                let d = v - self.mean[j];
                self.mean[j] += d / self.n;
                self.m2[j] += d * (v - self.mean[j]);
            }
        }
        let z = self.standardise(x);
        let p = self.scores(&z);
        let d = z.len();
        for (c, pc) in p.iter().enumerate() {
            let g = pc - f64::from(u8::from(c == y));
            let w = &mut self.weights[c * (d + 1)..(c + 1) * (d + 1)];
            for j in 0..d {
                w[j] -= self.learning_rate * (g * z[j] + self.l2 * w[j]);
            }
            w[d] -= self.learning_rate * g;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_separable_boundary_and_follows_when_it_moves() {
        let mut m = Logistic::new(2, 2, 0.05, 0.0);
        let point = |i: u32| [f64::from(i % 17) / 17.0, f64::from(i % 13) / 13.0];
        let class = |x: &[f64; 2], flip: bool| usize::from((x[0] > x[1]) != flip);
        for i in 0..3000 {
            let x = point(i);
            m.learn(&x, class(&x, false));
        }
        let right = |m: &Logistic, flip: bool| {
            (0..500u32)
                .filter(|&i| {
                    let x = point(i * 7 + 1);
                    let p = m.predict(&x);
                    usize::from(p[1] > p[0]) == class(&x, flip)
                })
                .count()
        };
        assert!(right(&m, false) > 450, "{}", right(&m, false));
        for i in 0..3000 {
            let x = point(i);
            m.learn(&x, class(&x, true));
        }
        assert!(right(&m, true) > 400, "{}", right(&m, true));
    }
}
