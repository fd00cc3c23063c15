//! A Hoeffding adaptive tree (Bifet and Gavaldà 2009) as river's
//! `HoeffdingAdaptiveTreeClassifier` grows it with its defaults: a Hoeffding tree (grace
//! period 200, δ = 1e-7, τ = 0.05, naive-Bayes-adaptive leaves) whose every node watches the
//! error of the answers given below it with ADWIN (δ = 0.002). When a split node's error
//! rises, it starts an alternate subtree that learns the same rows; once both have seen 300
//! rows, the alternate replaces the subtree when its error is lower by more than chance
//! allows (at 0.05), and is dropped when it is higher. Each leaf learns a row k ~ Poisson(1)
//! times (bootstrap sampling).
//!
//! The nodes live in one vector, children and alternates after their parent, so a walk ends
//! and a model file holds no recursion. Hand-written: no maintained Rust crate grows
//! Hoeffding trees.

use super::adwin::Adwin;
use super::hoeffding::{Candidate, Leaf, branch};
use crate::rng::SplitMix64;

const GRACE_PERIOD: f64 = 200.0;
const DELTA: f64 = 1e-7;
const ADWIN_DELTA: f64 = 0.002;
/// Rows both a subtree and its alternate must have been judged on before they are compared.
const DRIFT_WINDOW: f64 = 300.0;
const SWITCH_SIGNIFICANCE: f64 = 0.05;
/// Alternates within alternates learn down to this depth (a bound on the recursion).
const MAX_NESTING: u32 = 4;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
enum Node {
    Leaf {
        leaf: Leaf,
        error: Adwin,
    },
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
        error: Adwin,
        alternate: Option<usize>,
    },
}

impl Node {
    fn error(&self) -> &Adwin {
        match self {
            Node::Leaf { error, .. } | Node::Split { error, .. } => error,
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdaptiveTree {
    nodes: Vec<Node>,
    width: usize,
    classes: usize,
    rng: SplitMix64,
    /// Subtrees replaced by their alternates, over the tree's life.
    pub switched: u64,
}

/// What a split node does with its alternate subtree on a row.
enum Alternate {
    None,
    Start,
    Judge(usize),
}

fn argmax(p: &[f64]) -> usize {
    (0..p.len()).fold(0, |b, i| if p[i] > p[b] { i } else { b })
}

impl AdaptiveTree {
    pub fn new(width: usize, classes: usize, seed: u64) -> AdaptiveTree {
        let mut t = AdaptiveTree {
            nodes: Vec::new(),
            width,
            classes: classes.max(2),
            rng: SplitMix64::new(seed),
            switched: 0,
        };
        let root = t.leaf(vec![0.0; t.classes], 0);
        t.nodes.push(root);
        t
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    pub fn width(&self) -> usize {
        self.width
    }

    fn leaf(&mut self, counts: Vec<f64>, depth: u32) -> Node {
        Node::Leaf {
            leaf: Leaf::new(counts, depth, self.width, self.width, &mut self.rng),
            error: Adwin::new(ADWIN_DELTA),
        }
    }

    /// Every index and length agrees: children and alternates come after their node (so a
    /// walk ends), leaves hold one count and one statistic per class, windows are sound.
    pub fn check(&self) -> Result<(), String> {
        let n = self.nodes.len();
        if n == 0 || self.classes < 2 {
            return Err("a Hoeffding adaptive tree needs a node and two classes or more".into());
        }
        for (i, node) in self.nodes.iter().enumerate() {
            let after = |j: usize| j > i && j < n;
            match node {
                Node::Split {
                    feature,
                    left,
                    right,
                    alternate,
                    error,
                    ..
                } => {
                    if *feature >= self.width
                        || !after(*left)
                        || !after(*right)
                        || alternate.is_some_and(|a| !after(a))
                    {
                        return Err(format!(
                            "Hoeffding adaptive tree node {i} points out of place"
                        ));
                    }
                    error.check()?;
                }
                Node::Leaf { leaf, error } => {
                    if !leaf.check(self.width, self.classes) {
                        return Err(format!(
                            "Hoeffding adaptive tree leaf {i} disagrees with its sizes"
                        ));
                    }
                    error.check()?;
                }
            }
        }
        Ok(())
    }

    /// The leaf reached from node `from`.
    fn find(&self, from: usize, x: &[f64]) -> usize {
        let mut at = from;
        while let Node::Split {
            feature,
            threshold,
            left,
            right,
            ..
        } = &self.nodes[at]
        {
            at = branch(x, *feature, *threshold, *left, *right);
        }
        at
    }

    fn predict_from(&self, from: usize, x: &[f64]) -> Vec<f64> {
        match &self.nodes[self.find(from, x)] {
            Node::Leaf { leaf, .. } => leaf.predict(x),
            Node::Split { .. } => unreachable!("find ends at a leaf"),
        }
    }

    /// Class probabilities: the leaf reached, and those reached in the alternate subtrees
    /// on the way, each a vote (river's "option tree, of sorts"), so a subtree grown after a
    /// change speaks before it has replaced the old one.
    pub fn predict(&self, x: &[f64]) -> Vec<f64> {
        let mut votes = vec![0.0; self.classes];
        let mut starts = vec![0usize];
        while let Some(mut at) = starts.pop() {
            loop {
                match &self.nodes[at] {
                    Node::Leaf { leaf, .. } => {
                        for (v, p) in votes.iter_mut().zip(leaf.predict(x)) {
                            *v += p;
                        }
                        break;
                    }
                    Node::Split {
                        feature,
                        threshold,
                        left,
                        right,
                        alternate,
                        ..
                    } => {
                        starts.extend(alternate.iter().copied());
                        at = branch(x, *feature, *threshold, *left, *right);
                    }
                }
            }
        }
        let total: f64 = votes.iter().sum();
        if total > 0.0 {
            votes.iter_mut().for_each(|v| *v /= total);
        }
        votes
    }

    pub fn learn(&mut self, x: &[f64], y: usize) {
        if y >= self.classes || x.len() != self.width {
            return;
        }
        let mut garbage = false;
        self.learn_from(0, x, y, 0, &mut garbage);
        if garbage {
            self.compact();
        }
    }

    /// Learns a row in the subtree at `start`: each split node on the way judges the answer
    /// its subtree gives, and starts, swaps in or drops its alternate; the leaf learns.
    fn learn_from(&mut self, start: usize, x: &[f64], y: usize, nesting: u32, garbage: &mut bool) {
        let mut at = start;
        loop {
            let wrong = f64::from(u8::from(argmax(&self.predict_from(at, x)) != y));
            let next = match &mut self.nodes[at] {
                Node::Leaf { leaf, error } => {
                    error.add(wrong);
                    let k = self.rng.poisson(1.0);
                    let w = f64::from(k.max(1));
                    if !leaf.learn(x, y, w, GRACE_PERIOD) {
                        return;
                    }
                    let Some(c) = leaf.split(self.classes, DELTA) else {
                        return;
                    };
                    let depth = leaf.depth + 1;
                    self.split(at, c, depth);
                    return;
                }
                Node::Split {
                    error, alternate, ..
                } => {
                    let before = error.mean();
                    let rose = error.add(wrong) && error.mean() > before;
                    match *alternate {
                        Some(alt) => Alternate::Judge(alt),
                        None if rose => Alternate::Start,
                        None => Alternate::None,
                    }
                }
            };
            match next {
                // The error rose: an alternate subtree starts here.
                Alternate::Start => {
                    let node = self.leaf(vec![0.0; self.classes], 0);
                    self.nodes.push(node);
                    let new = self.nodes.len() - 1;
                    if let Node::Split { alternate, .. } = &mut self.nodes[at] {
                        *alternate = Some(new);
                    }
                }
                Alternate::Judge(alt) => match self.compare(at, alt) {
                    Some(true) => {
                        // The alternate wins: it takes this node's place.
                        self.nodes.swap(at, alt);
                        self.switched += 1;
                        *garbage = true;
                        continue;
                    }
                    Some(false) => {
                        if let Node::Split { alternate, .. } = &mut self.nodes[at] {
                            *alternate = None;
                        }
                        *garbage = true;
                    }
                    None => {
                        if nesting < MAX_NESTING {
                            self.learn_from(alt, x, y, nesting + 1, garbage);
                        }
                    }
                },
                Alternate::None => {}
            }
            at = match &self.nodes[at] {
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    ..
                } => branch(x, *feature, *threshold, *left, *right),
                Node::Leaf { .. } => at,
            };
        }
    }

    /// Whether the alternate at `alt` beats the subtree at `at` (Some(true)), loses to it
    /// (Some(false)), or it is too early to tell (None).
    fn compare(&self, at: usize, alt: usize) -> Option<bool> {
        let (old, new) = (self.nodes[at].error(), self.nodes[alt].error());
        if old.width() <= DRIFT_WINDOW || new.width() <= DRIFT_WINDOW {
            return None;
        }
        let (e_old, e_new) = (old.mean(), new.mean());
        let n = 1.0 / new.width() + 1.0 / old.width();
        let bound = (2.0 * e_old * (1.0 - e_old) * (2.0 / SWITCH_SIGNIFICANCE).ln() * n).sqrt();
        if bound < e_old - e_new {
            Some(true)
        } else if bound < e_new - e_old {
            Some(false)
        } else {
            None
        }
    }

    /// The leaf at `at` becomes a split on `c`, with two new leaves.
    fn split(&mut self, at: usize, c: Candidate, depth: u32) {
        let (l, r) = (self.leaf(c.left, depth), self.leaf(c.right, depth));
        let li = self.nodes.len();
        self.nodes.push(l);
        self.nodes.push(r);
        self.nodes[at] = Node::Split {
            feature: c.feature,
            threshold: c.threshold,
            left: li,
            right: li + 1,
            error: Adwin::new(ADWIN_DELTA),
            alternate: None,
        };
    }

    /// Drops the nodes no longer reachable (replaced subtrees, dropped alternates),
    /// numbering the rest in pre-order so every child still comes after its parent.
    fn compact(&mut self) {
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut stack = vec![0usize];
        while let Some(i) = stack.pop() {
            order.push(i);
            if let Node::Split {
                left,
                right,
                alternate,
                ..
            } = &self.nodes[i]
            {
                stack.extend(alternate.iter().copied());
                stack.push(*right);
                stack.push(*left);
            }
        }
        let mut index = vec![usize::MAX; self.nodes.len()];
        for (new, &old) in order.iter().enumerate() {
            index[old] = new;
        }
        let mut old: Vec<Option<Node>> = std::mem::take(&mut self.nodes)
            .into_iter()
            .map(Some)
            .collect();
        self.nodes = order
            .iter()
            .filter_map(|&i| old[i].take())
            .map(|mut node| {
                if let Node::Split {
                    left,
                    right,
                    alternate,
                    ..
                } = &mut node
                {
                    *left = index[*left];
                    *right = index[*right];
                    *alternate = alternate.map(|a| index[a]);
                }
                node
            })
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alternate_subtree_replaces_one_that_stopped_being_right() {
        // Class 1 when x0 > 0.5 (x1 is noise); from row 20,000 when x1 > 0.5 instead.
        let mut t = AdaptiveTree::new(2, 2, 11);
        let mut rng = SplitMix64::new(5);
        let mut right_late = 0;
        for i in 0..40_000 {
            let x = [rng.unit(), rng.unit()];
            let y = usize::from(if i < 20_000 { x[0] > 0.5 } else { x[1] > 0.5 });
            if i >= 38_000 && argmax(&t.predict(&x)) == y {
                right_late += 1;
            }
            t.learn(&x, y);
        }
        t.check().unwrap();
        assert!(t.switched > 0, "no subtree was replaced");
        assert!(
            right_late > 1_800,
            "{right_late} of 2,000 right after the change"
        );
    }

    #[test]
    fn compaction_keeps_children_after_their_parents() {
        let mut t = AdaptiveTree::new(3, 2, 1);
        let mut rng = SplitMix64::new(9);
        for i in 0..30_000 {
            let x = [rng.unit(), rng.unit(), rng.unit()];
            let flip = (i / 7_500) % 2 == 1;
            t.learn(&x, usize::from((x[0] + x[2] > 1.0) != flip));
            if i % 5_000 == 0 {
                t.check().unwrap();
            }
        }
        t.check().unwrap();
        // A damaged file (a child before its parent) is refused.
        if t.nodes.len() > 1 {
            let mut bad = t.clone();
            if let Node::Split { left, .. } = &mut bad.nodes[0] {
                *left = 0;
            }
            assert!(bad.check().is_err());
        }
    }
}
