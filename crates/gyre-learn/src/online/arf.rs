//! An adaptive random forest (Gomes et al. 2017), as river's `ARFClassifier` with its
//! defaults: ten Hoeffding trees, each leaf watching √d features at random, online bagging
//! (each row learnt k ~ Poisson(6) times by each tree), and per tree an ADWIN warning
//! detector (δ = 0.01) that starts a background tree and a drift detector (δ = 0.001) that
//! replaces the tree with it. Votes are weighted by each tree's accuracy.

use super::adwin::Adwin;
use super::hoeffding::Tree;
use crate::rng::SplitMix64;

const TREES: usize = 10;
const LAMBDA: f64 = 6.0;
const WARNING: f64 = 0.01;
const DRIFT: f64 = 0.001;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Member {
    tree: Tree,
    background: Option<Tree>,
    warning: Adwin,
    drift: Adwin,
    right: f64,
    seen: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Forest {
    members: Vec<Member>,
    width: usize,
    classes: usize,
    max_features: usize,
    rng: SplitMix64,
    /// Trees replaced after a detected drift, over the forest's life.
    pub replaced: u64,
}

impl Forest {
    pub fn new(width: usize, classes: usize, seed: u64) -> Forest {
        let max_features = ((width as f64).sqrt().round() as usize).max(1);
        let mut rng = SplitMix64::new(seed);
        let members = (0..TREES)
            .map(|_| Member {
                tree: Tree::new(width, classes, max_features, rng.next_u64()),
                background: None,
                warning: Adwin::new(WARNING),
                drift: Adwin::new(DRIFT),
                right: 0.0,
                seen: 0.0,
            })
            .collect();
        Forest {
            members,
            width,
            classes,
            max_features,
            rng,
            replaced: 0,
        }
    }

    pub fn classes(&self) -> usize {
        self.classes.max(2)
    }

    pub fn width(&self) -> usize {
        self.width
    }

    /// Every member's trees and windows agree with the forest.
    pub fn check(&self) -> Result<(), String> {
        if self.members.is_empty() || self.classes < 2 {
            return Err("an adaptive forest needs members and two classes or more".into());
        }
        for m in &self.members {
            m.tree.check(self.width, self.classes)?;
            if let Some(b) = &m.background {
                b.check(self.width, self.classes)?;
            }
            m.warning.check()?;
            m.drift.check()?;
        }
        Ok(())
    }

    pub fn predict(&self, x: &[f64]) -> Vec<f64> {
        let mut votes = vec![0.0; self.classes.max(2)];
        for m in &self.members {
            let weight = if m.seen > 0.0 { m.right / m.seen } else { 1.0 };
            for (v, p) in votes.iter_mut().zip(m.tree.predict(x)) {
                *v += weight * p;
            }
        }
        let total: f64 = votes.iter().sum();
        if total > 0.0 {
            votes.iter_mut().for_each(|v| *v /= total);
        } else {
            let k = votes.len() as f64;
            votes.iter_mut().for_each(|v| *v = 1.0 / k);
        }
        votes
    }

    pub fn learn(&mut self, x: &[f64], y: usize) {
        for m in self.members.iter_mut() {
            let p = m.tree.predict(x);
            let predicted = (0..p.len()).fold(0, |b, i| if p[i] > p[b] { i } else { b });
            let right = predicted == y;
            m.seen += 1.0;
            m.right += f64::from(u8::from(right));
            let k = self.rng.poisson(LAMBDA);
            if k > 0 {
                m.tree.learn(x, y, f64::from(k));
                if let Some(b) = &mut m.background {
                    b.learn(x, y, f64::from(k));
                }
            }
            let error = f64::from(u8::from(!right));
            if m.warning.add(error) {
                m.background = Some(Tree::new(
                    self.width,
                    self.classes,
                    self.max_features,
                    self.rng.next_u64(),
                ));
                m.warning = Adwin::new(WARNING);
            }
            if m.drift.add(error) {
                m.tree = m.background.take().unwrap_or_else(|| {
                    Tree::new(
                        self.width,
                        self.classes,
                        self.max_features,
                        self.rng.next_u64(),
                    )
                });
                m.warning = Adwin::new(WARNING);
                m.drift = Adwin::new(DRIFT);
                m.right = 0.0;
                m.seen = 0.0;
                self.replaced += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_from_an_abrupt_change_of_concept() {
        // Class 1 when x0 + x1 > 1; from row 6,000 the opposite.
        let mut f = Forest::new(3, 2, 42);
        let mut rng = SplitMix64::new(3);
        let mut right_after = 0;
        for i in 0..12_000 {
            let x = [rng.unit(), rng.unit(), rng.unit()];
            let y = usize::from((x[0] + x[1] > 1.0) != (i >= 6_000));
            let p = f.predict(&x);
            if i >= 10_000 && usize::from(p[1] > p[0]) == y {
                right_after += 1;
            }
            f.learn(&x, y);
        }
        assert!(f.replaced > 0, "a drift was detected");
        assert!(
            right_after > 1_700,
            "{right_after} of 2,000 right after the change"
        );
    }
}
