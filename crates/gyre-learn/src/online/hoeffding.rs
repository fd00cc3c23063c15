//! A Hoeffding tree for classification (Domingos and Hulten 2000) as river's
//! `HoeffdingTreeClassifier` grows it with its defaults: numeric features watched by one
//! Gaussian per class at each leaf, ten candidate thresholds between the smallest and the
//! largest value seen, information gain, a split once the best candidate beats the second
//! by the Hoeffding bound (δ = 0.01, ties broken at τ = 0.05) after every 50 rows, and
//! leaves that answer by majority class or naive Bayes, whichever has been right more often
//! there ("nba").
//!
//! A leaf may watch a random subset of the features (`max_features`), as each tree of an
//! adaptive random forest does. Hand-written: no maintained Rust crate grows Hoeffding
//! trees.

use crate::rng::SplitMix64;

const GRACE_PERIOD: f64 = 50.0;
const DELTA: f64 = 0.01;
const TAU: f64 = 0.05;
const SPLITS: usize = 10;

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Gauss {
    n: f64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

impl Gauss {
    fn add(&mut self, x: f64, w: f64) {
        if self.n == 0.0 {
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.n += w;
        let d = x - self.mean;
        self.mean += w * d / self.n;
        self.m2 += w * d * (x - self.mean);
    }

    fn sd(&self) -> f64 {
        if self.n > 1.0 {
            (self.m2 / (self.n - 1.0)).max(0.0).sqrt()
        } else {
            0.0
        }
    }

    /// The share of this class's values at or below `t`.
    fn cdf(&self, t: f64) -> f64 {
        if t < self.min {
            return 0.0;
        }
        if t >= self.max {
            return 1.0;
        }
        let sd = self.sd();
        if sd <= 0.0 {
            return if t >= self.mean { 1.0 } else { 0.0 };
        }
        0.5 * (1.0 + erf((t - self.mean) / (sd * std::f64::consts::SQRT_2)))
    }

    fn log_pdf(&self, x: f64) -> f64 {
        let sd = self.sd().max(1e-6);
        let z = (x - self.mean) / sd;
        -0.5 * z * z - sd.ln() - 0.918_938_533_204_672_7
    }
}

/// The error function (Abramowitz and Stegun 7.1.26, |error| < 1.5e-7).
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let y = 1.0
        - t * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))))
            * (-x * x).exp();
    if x >= 0.0 { y } else { -y }
}

fn entropy(counts: &[f64]) -> f64 {
    let total: f64 = counts.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|&&c| c > 0.0)
        .map(|&c| {
            let p = c / total;
            -p * p.log2()
        })
        .sum()
}

/// A candidate split: its merit, feature, threshold, and the class weights each side.
pub(super) struct Candidate {
    merit: f64,
    pub(super) feature: usize,
    pub(super) threshold: f64,
    pub(super) left: Vec<f64>,
    pub(super) right: Vec<f64>,
}

/// A leaf's statistics: class weights, and per watched feature one Gaussian per class.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Leaf {
    counts: Vec<f64>,
    features: Vec<usize>,
    /// `stats[i][class]` for feature `features[i]`.
    stats: Vec<Vec<Gauss>>,
    seen_at_eval: f64,
    majority_right: f64,
    bayes_right: f64,
    pub(super) depth: u32,
}

impl Leaf {
    /// A leaf with `counts` watching `max_features` of `width` features (drawn with `rng`
    /// when fewer than all).
    pub(super) fn new(
        counts: Vec<f64>,
        depth: u32,
        width: usize,
        max_features: usize,
        rng: &mut SplitMix64,
    ) -> Leaf {
        let classes = counts.len();
        let features = if max_features >= width {
            (0..width).collect()
        } else {
            // A partial Fisher-Yates shuffle.
            let mut all: Vec<usize> = (0..width).collect();
            for i in 0..max_features {
                let j = i + rng.below(width - i);
                all.swap(i, j);
            }
            all.truncate(max_features);
            all
        };
        Leaf {
            stats: vec![vec![Gauss::default(); classes]; features.len()],
            features,
            counts,
            seen_at_eval: 0.0,
            majority_right: 0.0,
            bayes_right: 0.0,
            depth,
        }
    }

    /// Its sizes agree with `width` features and `classes` classes.
    pub(super) fn check(&self, width: usize, classes: usize) -> bool {
        self.counts.len() == classes
            && self.stats.len() == self.features.len()
            && self.features.iter().all(|f| *f < width)
            && self.stats.iter().all(|s| s.len() == classes)
    }

    /// Class probabilities: majority class or naive Bayes, whichever has been right more
    /// often here.
    pub(super) fn predict(&self, x: &[f64]) -> Vec<f64> {
        if self.bayes_right > self.majority_right {
            naive_bayes(self, x)
        } else {
            majority(self)
        }
    }

    /// Learns one row of class `y` with weight `w`; true when `grace` more weight has come
    /// since the last split attempt (and the attempt is due now).
    pub(super) fn learn(&mut self, x: &[f64], y: usize, w: f64, grace: f64) -> bool {
        if y >= self.counts.len() {
            return false;
        }
        let argmax = |p: &[f64]| (0..p.len()).fold(0, |b, i| if p[i] > p[b] { i } else { b });
        if self.counts.iter().sum::<f64>() > 0.0 {
            if argmax(&majority(self)) == y {
                self.majority_right += w;
            }
            if argmax(&naive_bayes(self, x)) == y {
                self.bayes_right += w;
            }
        }
        self.counts[y] += w;
        for (i, &f) in self.features.iter().enumerate() {
            if x[f].is_finite() {
                self.stats[i][y].add(x[f], w);
            }
        }
        let total: f64 = self.counts.iter().sum();
        if total - self.seen_at_eval >= grace {
            self.seen_at_eval = total;
            return true;
        }
        false
    }

    /// The split the Hoeffding bound at confidence `delta` allows now, if any.
    pub(super) fn split(&self, classes: usize, delta: f64) -> Option<Candidate> {
        if self.counts.iter().filter(|&&c| c > 0.0).count() < 2 {
            return None;
        }
        let total: f64 = self.counts.iter().sum();
        let before = entropy(&self.counts);
        // The best threshold of each feature.
        let mut best: Vec<Candidate> = Vec::new();
        for (i, &f) in self.features.iter().enumerate() {
            let stats = &self.stats[i];
            let lo = stats
                .iter()
                .filter(|g| g.n > 0.0)
                .map(|g| g.min)
                .fold(f64::INFINITY, f64::min);
            let hi = stats
                .iter()
                .filter(|g| g.n > 0.0)
                .map(|g| g.max)
                .fold(f64::NEG_INFINITY, f64::max);
            if lo >= hi || lo.is_nan() || hi.is_nan() {
                continue;
            }
            let mut top: Option<Candidate> = None;
            for k in 0..SPLITS {
                let t = lo + (hi - lo) * (k + 1) as f64 / (SPLITS + 1) as f64;
                let left: Vec<f64> = stats.iter().map(|g| g.n * g.cdf(t)).collect();
                let right: Vec<f64> = stats.iter().zip(&left).map(|(g, l)| g.n - l).collect();
                let (wl, wr): (f64, f64) = (left.iter().sum(), right.iter().sum());
                if wl <= 0.0 || wr <= 0.0 {
                    continue;
                }
                let w = wl + wr;
                let merit = before - wl / w * entropy(&left) - wr / w * entropy(&right);
                if top.as_ref().is_none_or(|b| merit > b.merit) {
                    top = Some(Candidate {
                        merit,
                        feature: f,
                        threshold: t,
                        left,
                        right,
                    });
                }
            }
            best.extend(top);
        }
        best.sort_by(|a, b| b.merit.total_cmp(&a.merit));
        let first = best.first()?;
        let second = best.get(1).map_or(0.0, |b| b.merit);
        let range = (classes as f64).log2();
        let epsilon = (range * range * (1.0 / delta).ln() / (2.0 * total)).sqrt();
        if first.merit <= 0.0 || !(first.merit - second > epsilon || epsilon < TAU) {
            return None;
        }
        Some(best.swap_remove(0))
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
enum Node {
    Leaf(Leaf),
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tree {
    nodes: Vec<Node>,
    width: usize,
    classes: usize,
    max_features: usize,
    rng: SplitMix64,
}

impl Tree {
    /// A tree over `width` features and `classes` classes; each leaf watches
    /// `max_features` of them at random (all when it is `width` or more).
    pub fn new(width: usize, classes: usize, max_features: usize, seed: u64) -> Tree {
        let mut t = Tree {
            nodes: Vec::new(),
            width,
            classes: classes.max(2),
            max_features: max_features.clamp(1, width.max(1)),
            rng: SplitMix64::new(seed),
        };
        let root = t.leaf(vec![0.0; t.classes], 0);
        t.nodes.push(Node::Leaf(root));
        t
    }

    /// Every index and length agrees: splits name features within `width` and children
    /// after themselves (so a walk ends), leaves hold one count and one statistic per class.
    pub fn check(&self, width: usize, classes: usize) -> Result<(), String> {
        let n = self.nodes.len();
        if self.width != width || self.classes != classes || n == 0 {
            return Err(format!(
                "a Hoeffding tree for {} features and {} classes in a model of {width} and {classes}",
                self.width, self.classes
            ));
        }
        if self.max_features == 0 || self.max_features > width.max(1) {
            return Err(format!(
                "a Hoeffding tree watches {} features",
                self.max_features
            ));
        }
        for (i, node) in self.nodes.iter().enumerate() {
            match node {
                Node::Split {
                    feature,
                    left,
                    right,
                    ..
                } => {
                    if *feature >= width || *left <= i || *right <= i || *left >= n || *right >= n {
                        return Err(format!("Hoeffding tree node {i} points out of place"));
                    }
                }
                Node::Leaf(leaf) => {
                    if !leaf.check(width, classes) {
                        return Err(format!("Hoeffding tree leaf {i} disagrees with its sizes"));
                    }
                }
            }
        }
        Ok(())
    }

    fn leaf(&mut self, counts: Vec<f64>, depth: u32) -> Leaf {
        Leaf::new(counts, depth, self.width, self.max_features, &mut self.rng)
    }

    fn find(&self, x: &[f64]) -> usize {
        let mut at = 0;
        while let Node::Split {
            feature,
            threshold,
            left,
            right,
        } = &self.nodes[at]
        {
            at = branch(x, *feature, *threshold, *left, *right);
        }
        at
    }

    pub fn predict(&self, x: &[f64]) -> Vec<f64> {
        let Node::Leaf(leaf) = &self.nodes[self.find(x)] else {
            unreachable!("find ends at a leaf")
        };
        leaf.predict(x)
    }

    /// Learns one row of class `y` with weight `w`.
    pub fn learn(&mut self, x: &[f64], y: usize, w: f64) {
        let at = self.find(x);
        let Node::Leaf(leaf) = &mut self.nodes[at] else {
            unreachable!("find ends at a leaf")
        };
        if !leaf.learn(x, y, w, GRACE_PERIOD) {
            return;
        }
        let Some(Candidate {
            feature,
            threshold,
            left,
            right,
            ..
        }) = leaf.split(self.classes, DELTA)
        else {
            return;
        };
        let depth = leaf.depth + 1;
        let (l, r) = (self.leaf(left, depth), self.leaf(right, depth));
        let li = self.nodes.len();
        self.nodes.push(Node::Leaf(l));
        self.nodes.push(Node::Leaf(r));
        self.nodes[at] = Node::Split {
            feature,
            threshold,
            left: li,
            right: li + 1,
        };
    }
}

/// Which child a row goes to at a split: `left` at or below the threshold, or when the
/// value is missing.
pub(super) fn branch(
    x: &[f64],
    feature: usize,
    threshold: f64,
    left: usize,
    right: usize,
) -> usize {
    if x[feature].is_nan() || x[feature] <= threshold {
        left
    } else {
        right
    }
}

fn majority(leaf: &Leaf) -> Vec<f64> {
    let total: f64 = leaf.counts.iter().sum();
    if total <= 0.0 {
        return vec![1.0 / leaf.counts.len() as f64; leaf.counts.len()];
    }
    leaf.counts.iter().map(|c| c / total).collect()
}

fn naive_bayes(leaf: &Leaf, x: &[f64]) -> Vec<f64> {
    let total: f64 = leaf.counts.iter().sum();
    if total <= 0.0 {
        return majority(leaf);
    }
    let mut logp: Vec<f64> = leaf
        .counts
        .iter()
        .enumerate()
        .map(|(c, &n)| {
            if n <= 0.0 {
                return f64::NEG_INFINITY;
            }
            let mut lp = (n / total).ln();
            for (i, &f) in leaf.features.iter().enumerate() {
                let g = &leaf.stats[i][c];
                if x[f].is_finite() && g.n > 0.0 {
                    lp += g.log_pdf(x[f]);
                }
            }
            lp
        })
        .collect();
    let max = logp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for v in logp.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    logp.iter().map(|v| v / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        assert!((erf(0.5) - 0.520_499_877_8).abs() < 2e-7);
        assert!((erf(-1.0) + 0.842_700_792_9).abs() < 2e-7);
    }

    #[test]
    fn grows_splits_that_separate_the_classes() {
        // Class 1 when x0 > 0.6, whatever x1 (noise).
        let mut t = Tree::new(2, 2, 2, 7);
        let mut rng = SplitMix64::new(1);
        for _ in 0..5000 {
            let x = [rng.unit(), rng.unit()];
            t.learn(&x, usize::from(x[0] > 0.6), 1.0);
        }
        assert!(t.nodes.len() > 1, "the tree split");
        let right = (0..1000)
            .filter(|_| {
                let x = [rng.unit(), rng.unit()];
                let p = t.predict(&x);
                usize::from(p[1] > p[0]) == usize::from(x[0] > 0.6)
            })
            .count();
        assert!(right > 930, "{right} of 1000");
    }
}
