//! Tree learners: decision tree, random forest and histogram gradient boosting, on one engine.
//!
//! Written here rather than taken from a crate, because no single crate does what the model
//! file and the issue need together: smartcore 0.7's forest has no class probabilities and
//! keeps its trees private; forust-ml 0.8 has no multiclass; hessboost and forust each bring
//! their own model format. One engine gives every tree learner class probabilities, sample
//! and class weights, gain-based feature importance, early stopping, and trees that are
//! gyre's own plain data (checked on load, never code).
//!
//! Training works on binned features, as scikit-learn's HistGradientBoosting and LightGBM
//! do: each feature is cut into at most 255 bins at quantile midpoints, a node's split is
//! found from per-bin sums, and the chosen bin becomes a threshold on the raw value, so
//! prediction needs no binning. Every sum is accumulated in a fixed order, so the same data,
//! parameters and seed give the same trees bit for bit, whatever the number of threads.

use crate::linear::FitError;
use crate::split::SplitMix64;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// `feature` of a leaf node.
const LEAF: u32 = u32::MAX;

/// One tree, as flat arrays. Node 0 is the root. An inner node sends a row to `left[i]` when
/// `row[feature[i]] <= threshold[i]` (NaN never does), else to `left[i] + 1`; children always
/// come after their parent. A leaf's `left` indexes its `width` values in `values`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub feature: Vec<u32>,
    pub threshold: Vec<f64>,
    pub left: Vec<u32>,
    pub width: u32,
    pub values: Vec<f64>,
}

impl Tree {
    /// The values of the leaf `row` falls into.
    pub fn leaf(&self, row: &[f64]) -> &[f64] {
        let mut i = 0usize;
        loop {
            let f = self.feature[i];
            let l = self.left[i] as usize;
            if f == LEAF {
                let w = self.width as usize;
                return &self.values[l * w..(l + 1) * w];
            }
            i = if row[f as usize] <= self.threshold[i] {
                l
            } else {
                l + 1
            };
        }
    }

    /// Structural checks, so that a loaded tree can be walked without an index out of
    /// bounds or a cycle.
    pub fn check(&self, n_features: usize, width: usize) -> Result<(), String> {
        let n = self.feature.len();
        if n == 0 || self.threshold.len() != n || self.left.len() != n {
            return Err(format!(
                "a tree's arrays disagree: {n} features, {} thresholds, {} children",
                self.threshold.len(),
                self.left.len()
            ));
        }
        if self.width as usize != width {
            return Err(format!("a tree has width {}, expected {width}", self.width));
        }
        for i in 0..n {
            let (f, l) = (self.feature[i], self.left[i] as usize);
            if f == LEAF {
                if (l + 1) * width > self.values.len() {
                    return Err(format!("leaf {i} points past the tree's values"));
                }
            } else if f as usize >= n_features {
                return Err(format!("node {i} splits on feature {f} of {n_features}"));
            } else if l <= i || l + 1 >= n {
                return Err(format!("node {i} has children out of order ({l})"));
            }
        }
        Ok(())
    }
}

/// Binned training features: row-major codes plus each feature's thresholds.
struct Bins {
    cols: usize,
    codes: Vec<u8>,
    thresholds: Vec<Vec<f64>>,
    /// First histogram slot of each feature; the last entry is the total.
    offsets: Vec<usize>,
    /// Each feature's most frequent bin.
    default: Vec<u8>,
    /// Per row, the (feature, bin) pairs off their default bin, when that is under a third
    /// of the features (one-hot columns): a histogram then costs the non-default entries,
    /// and each default bin is the node's total minus the feature's other bins.
    sparse: Option<Sparse>,
}

struct Sparse {
    start: Vec<usize>,
    feature: Vec<u32>,
    code: Vec<u8>,
}

const MAX_BINS: usize = 255;

impl Bins {
    /// Bins from the training rows `rows` of the row-major matrix `x`.
    fn new(x: &[f64], cols: usize, rows: &[u32]) -> Bins {
        let thresholds: Vec<Vec<f64>> = (0..cols)
            .into_par_iter()
            .map(|f| {
                let mut v: Vec<f64> = rows
                    .iter()
                    .map(|&r| x[r as usize * cols + f])
                    .filter(|v| !v.is_nan())
                    .collect();
                v.sort_by(f64::total_cmp);
                let mut distinct = v.clone();
                distinct.dedup();
                let mut t: Vec<f64> = if distinct.len() <= MAX_BINS {
                    distinct.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect()
                } else {
                    let n = v.len() - 1;
                    (1..MAX_BINS)
                        .map(|q| {
                            let pos = q as f64 * n as f64 / MAX_BINS as f64;
                            (v[pos.floor() as usize] + v[pos.ceil() as usize]) / 2.0
                        })
                        .collect()
                };
                t.dedup();
                t
            })
            .collect();
        let mut offsets = Vec::with_capacity(cols + 1);
        let mut at = 0;
        for t in &thresholds {
            offsets.push(at);
            at += t.len() + 1;
        }
        offsets.push(at);
        let n = x.len() / cols.max(1);
        let mut codes = vec![0u8; n * cols];
        codes
            .par_chunks_mut(cols.max(1))
            .zip(x.par_chunks(cols.max(1)))
            .for_each(|(c, row)| {
                for f in 0..cols {
                    let t = &thresholds[f];
                    c[f] = if row[f].is_nan() {
                        t.len() as u8
                    } else {
                        t.partition_point(|&v| v < row[f]) as u8
                    };
                }
            });
        let mut counts = vec![0u32; offsets[cols]];
        for &r in rows {
            let row = &codes[r as usize * cols..(r as usize + 1) * cols];
            for (f, &c) in row.iter().enumerate() {
                counts[offsets[f] + c as usize] += 1;
            }
        }
        let default: Vec<u8> = (0..cols)
            .map(|f| {
                let c = &counts[offsets[f]..offsets[f + 1]];
                // The first of the most frequent bins.
                (0..c.len()).rev().max_by_key(|&b| c[b]).unwrap_or(0) as u8
            })
            .collect();
        let off_default: usize = counts
            .iter()
            .enumerate()
            .map(|(slot, &c)| {
                let f = offsets.partition_point(|&o| o <= slot) - 1;
                if slot == offsets[f] + default[f] as usize {
                    0
                } else {
                    c as usize
                }
            })
            .sum();
        let sparse = (off_default * 3 < rows.len() * cols).then(|| {
            let mut sp = Sparse {
                start: Vec::with_capacity(n + 1),
                feature: Vec::new(),
                code: Vec::new(),
            };
            for r in 0..n {
                sp.start.push(sp.feature.len());
                for (f, &c) in codes[r * cols..(r + 1) * cols].iter().enumerate() {
                    if c != default[f] {
                        sp.feature.push(f as u32);
                        sp.code.push(c);
                    }
                }
            }
            sp.start.push(sp.feature.len());
            sp
        });
        Bins {
            cols,
            codes,
            thresholds,
            offsets,
            default,
            sparse,
        }
    }

    fn bins(&self, f: usize) -> usize {
        self.offsets[f + 1] - self.offsets[f]
    }
}

/// How a node's sums score. Per row the engine sums a count and `s` statistics.
#[derive(Clone, Copy)]
enum Criterion {
    /// Statistics (g, h): score G²/(H + λ), leaf G/(H + λ). With g = w·y and h = w this is
    /// least squares (the leaf is the mean); with g the negative gradient and h the hessian
    /// it is a Newton boosting step.
    Newton { lambda: f64, min_hessian: f64 },
    /// Statistics: one weight per class; score Σc²/W (Gini), leaf c/W.
    Gini,
}

impl Criterion {
    fn score(self, s: &[f64]) -> f64 {
        match self {
            Criterion::Newton { lambda, .. } => {
                let d = s[1] + lambda;
                if d > 0.0 { s[0] * s[0] / d } else { 0.0 }
            }
            Criterion::Gini => {
                let w: f64 = s.iter().sum();
                if w > 0.0 {
                    s.iter().map(|c| c * c).sum::<f64>() / w
                } else {
                    0.0
                }
            }
        }
    }

    fn valid(self, s: &[f64]) -> bool {
        match self {
            Criterion::Newton { min_hessian, .. } => s[1] >= min_hessian,
            Criterion::Gini => s.iter().sum::<f64>() > 0.0,
        }
    }

    fn leaf(self, s: &[f64], scale: f64, out: &mut Vec<f64>) {
        match self {
            Criterion::Newton { lambda, .. } => {
                let d = s[1] + lambda;
                out.push(if d > 0.0 { scale * s[0] / d } else { 0.0 });
            }
            Criterion::Gini => {
                let w: f64 = s.iter().sum();
                out.extend(s.iter().map(|c| if w > 0.0 { c / w } else { 0.0 }));
            }
        }
    }

    /// A node that cannot improve: one class only.
    fn pure(self, s: &[f64]) -> bool {
        match self {
            Criterion::Newton { .. } => false,
            Criterion::Gini => s.iter().filter(|&&c| c > 0.0).count() <= 1,
        }
    }
}

#[derive(Clone, Copy)]
struct GrowParams {
    max_depth: usize,
    max_leaves: usize,
    min_leaf: usize,
    /// Features tried per split; the search goes on past this many until a valid split is
    /// found, as scikit-learn's does.
    max_features: usize,
    criterion: Criterion,
    /// Leaf values are multiplied by this (the learning rate).
    scale: f64,
}

#[derive(Clone, Copy)]
struct Best {
    gain: f64,
    feature: usize,
    bin: usize,
}

struct Pending {
    node: usize,
    lo: usize,
    hi: usize,
    depth: usize,
    /// count, then the statistics.
    total: Vec<f64>,
    best: Option<Best>,
    hist: Option<Vec<f64>>,
    /// Features found constant in this node or an ancestor (a bit per feature): they cannot
    /// split it or its descendants, so the random search skips them, as scikit-learn's does.
    constant: Vec<u64>,
}

/// Order for the best-first frontier: larger gain first, then the earlier node.
struct ByGain(f64, usize, Pending);

impl PartialEq for ByGain {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for ByGain {}
impl PartialOrd for ByGain {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for ByGain {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0).then(o.1.cmp(&self.1))
    }
}

struct Grower<'a> {
    bins: &'a Bins,
    /// Row-major, `s` per row.
    stats: &'a [f64],
    s: usize,
    p: GrowParams,
}

impl Grower<'_> {
    fn channels(&self) -> usize {
        1 + self.s
    }

    fn total(&self, rows: &[u32]) -> Vec<f64> {
        let mut t = vec![0.0; self.channels()];
        for &r in rows {
            t[0] += 1.0;
            let st = &self.stats[r as usize * self.s..(r as usize + 1) * self.s];
            for (a, b) in t[1..].iter_mut().zip(st) {
                *a += b;
            }
        }
        t
    }

    /// Per-bin sums of all features (`feats` is `0..cols`) over `rows`.
    /// Per-bin sums of all features over `rows` from the sparse entries; `total` is the
    /// node's sums. Large nodes are cut into fixed chunks of rows summed in order, so the
    /// result does not depend on the number of threads.
    fn sparse_histogram(&self, sp: &Sparse, rows: &[u32], total: &[f64]) -> Vec<f64> {
        let c = self.channels();
        let size = self.bins.offsets[self.bins.cols] * c;
        let fill = |rows: &[u32]| {
            let mut hist = vec![0.0; size];
            for &r in rows {
                let r = r as usize;
                let st = &self.stats[r * self.s..(r + 1) * self.s];
                for e in sp.start[r]..sp.start[r + 1] {
                    let f = sp.feature[e] as usize;
                    let at = (self.bins.offsets[f] + sp.code[e] as usize) * c;
                    let h = &mut hist[at..at + c];
                    h[0] += 1.0;
                    for (a, b) in h[1..].iter_mut().zip(st) {
                        *a += b;
                    }
                }
            }
            hist
        };
        const CHUNK: usize = 8192;
        let mut hist = if rows.len() > CHUNK {
            let parts: Vec<Vec<f64>> = rows.par_chunks(CHUNK).map(fill).collect();
            let mut parts = parts.into_iter();
            let mut first = parts.next().unwrap_or_else(|| vec![0.0; size]);
            for p in parts {
                for (a, b) in first.iter_mut().zip(&p) {
                    *a += b;
                }
            }
            first
        } else {
            fill(rows)
        };
        for f in 0..self.bins.cols {
            let (lo, hi) = (self.bins.offsets[f], self.bins.offsets[f + 1]);
            let d = lo + self.bins.default[f] as usize;
            for k in 0..c {
                let others: f64 = (lo..hi).filter(|&b| b != d).map(|b| hist[b * c + k]).sum();
                hist[d * c + k] = total[k] - others;
            }
        }
        hist
    }

    fn histogram(&self, rows: &[u32], feats: &[usize], total: &[f64]) -> Vec<f64> {
        if let Some(sp) = &self.bins.sparse {
            return self.sparse_histogram(sp, rows, total);
        }
        let c = self.channels();
        let mut hist = vec![0.0; self.bins.offsets[self.bins.cols] * c];
        let cols = self.bins.cols;
        let fill = |hist: &mut [f64], base: usize, feats: &[usize]| {
            for &r in rows {
                let r = r as usize;
                let codes = &self.bins.codes[r * cols..(r + 1) * cols];
                let st = &self.stats[r * self.s..(r + 1) * self.s];
                for &f in feats {
                    let at = (self.bins.offsets[f] + codes[f] as usize) * c - base;
                    let h = &mut hist[at..at + c];
                    h[0] += 1.0;
                    for (a, b) in h[1..].iter_mut().zip(st) {
                        *a += b;
                    }
                }
            }
        };
        // Large nodes over all features: features split between threads. Each feature's
        // sums are still added in row order, so the result does not depend on threads.
        if rows.len() * feats.len() >= 1 << 18 && cols >= 4 {
            let parts = rayon::current_num_threads().clamp(1, 8);
            let per = cols.div_ceil(parts);
            let mut chunks: Vec<(usize, &mut [f64], Vec<usize>)> = Vec::new();
            let mut rest: &mut [f64] = &mut hist;
            let mut base = 0;
            for p in 0..parts {
                let (lo, hi) = (p * per, ((p + 1) * per).min(cols));
                if lo >= hi {
                    break;
                }
                let len = (self.bins.offsets[hi] - self.bins.offsets[lo]) * c;
                let (head, tail) = rest.split_at_mut(len);
                chunks.push((base, head, (lo..hi).collect()));
                base += len;
                rest = tail;
            }
            chunks
                .into_par_iter()
                .for_each(|(base, h, fs)| fill(h, base, &fs));
        } else {
            fill(&mut hist, 0, feats);
        }
        hist
    }

    /// The best split among `feats`, whose bins start at slot `offs[j]` of `hist`.
    fn best_split(
        &self,
        hist: &[f64],
        total: &[f64],
        feats: &[usize],
        offs: &[usize],
    ) -> Option<Best> {
        let c = self.channels();
        let crit = self.p.criterion;
        let parent = crit.score(&total[1..]);
        let min_gain = 1e-10 * (1.0 + parent.abs());
        let mut best: Option<Best> = None;
        let mut left = vec![0.0; c];
        let mut right = vec![0.0; c];
        let min_leaf = self.p.min_leaf as f64;
        for (&f, &off) in feats.iter().zip(offs) {
            let nb = self.bins.bins(f);
            if nb < 2 {
                continue;
            }
            left.iter_mut().for_each(|v| *v = 0.0);
            for b in 0..nb - 1 {
                let h = &hist[(off + b) * c..(off + b + 1) * c];
                if h[0] == 0.0 {
                    continue;
                }
                for k in 0..c {
                    left[k] += h[k];
                }
                if left[0] < min_leaf {
                    continue;
                }
                for k in 0..c {
                    right[k] = total[k] - left[k];
                }
                if right[0] < min_leaf {
                    break;
                }
                if !crit.valid(&left[1..]) || !crit.valid(&right[1..]) {
                    continue;
                }
                let gain = crit.score(&left[1..]) + crit.score(&right[1..]) - parent;
                if gain > min_gain && best.is_none_or(|b| gain > b.gain) {
                    best = Some(Best {
                        gain,
                        feature: f,
                        bin: b,
                    });
                }
            }
        }
        best
    }

    /// Evaluates a node: its histogram (kept for the subtraction trick when all features
    /// are searched) and best split.
    fn evaluate(&self, pend: &mut Pending, rows: &[u32], rng: &mut SplitMix64) {
        if pend.depth >= self.p.max_depth
            || pend.total[0] < 2.0 * self.p.min_leaf as f64
            || self.p.criterion.pure(&pend.total[1..])
        {
            pend.best = None;
            pend.hist = None;
            return;
        }
        let cols = self.bins.cols;
        if self.p.max_features >= cols {
            let feats: Vec<usize> = (0..cols).collect();
            let hist = match pend.hist.take() {
                Some(h) => h,
                None => self.histogram(rows, &feats, &pend.total),
            };
            let offs: Vec<usize> = feats.iter().map(|&f| self.bins.offsets[f]).collect();
            pend.best = self.best_split(&hist, &pend.total, &feats, &offs);
            pend.hist = Some(hist);
            return;
        }
        // Random features until max_features non-constant ones were tried and a valid split
        // was found (scikit-learn's rule).
        let is_const = |c: &[u64], f: usize| c[f / 64] >> (f % 64) & 1 == 1;
        let mut order: Vec<usize> = (0..cols)
            .filter(|&f| !is_const(&pend.constant, f))
            .collect();
        for i in 0..order.len() {
            let j = i + rng.below((order.len() - i) as u64) as usize;
            order.swap(i, j);
        }
        pend.hist = None;
        pend.best = None;
        let c = self.channels();
        let (mut next, mut visited) = (0, 0);
        while next < order.len() {
            // Just enough features to reach max_features tried, in one pass over the rows.
            let want = if visited < self.p.max_features {
                self.p.max_features - visited
            } else {
                self.p.max_features
            };
            let batch = &order[next..(next + want).min(order.len())];
            next += batch.len();
            let (hist, offs) = self.subset_histogram(rows, batch);
            for (&f, &o) in batch.iter().zip(&offs) {
                let nb = self.bins.bins(f);
                if (o..o + nb).filter(|&b| hist[b * c] > 0.0).count() <= 1 {
                    pend.constant[f / 64] |= 1 << (f % 64);
                    continue;
                }
                visited += 1;
                if let Some(b) = self.best_split(&hist, &pend.total, &[f], &[o])
                    && pend.best.is_none_or(|p| b.gain > p.gain)
                {
                    pend.best = Some(b);
                }
            }
            if visited >= self.p.max_features && pend.best.is_some() {
                break;
            }
        }
    }

    /// Per-bin sums of a few features only (the random subset a forest tries), laid out
    /// one after another: `offs[j]` is the first slot of `feats[j]`. Deep trees have many
    /// small nodes, so the histogram is sized to the subset rather than to every feature.
    fn subset_histogram(&self, rows: &[u32], feats: &[usize]) -> (Vec<f64>, Vec<usize>) {
        let c = self.channels();
        let mut offs = Vec::with_capacity(feats.len());
        let mut at = 0;
        for &f in feats {
            offs.push(at);
            at += self.bins.bins(f);
        }
        let mut hist = vec![0.0; at * c];
        let cols = self.bins.cols;
        for &r in rows {
            let r = r as usize;
            let codes = &self.bins.codes[r * cols..(r + 1) * cols];
            let st = &self.stats[r * self.s..(r + 1) * self.s];
            for (&f, &o) in feats.iter().zip(&offs) {
                let at = (o + codes[f] as usize) * c;
                let h = &mut hist[at..at + c];
                h[0] += 1.0;
                for (a, b) in h[1..].iter_mut().zip(st) {
                    *a += b;
                }
            }
        }
        (hist, offs)
    }

    /// Grows one tree on `rows` (sorted; repeats allowed, as in a bootstrap sample).
    /// Adds each split's gain to `importance`.
    fn grow(&self, rows: &mut [u32], rng: &mut SplitMix64, importance: &mut [f64]) -> Tree {
        let mut tree = Tree {
            feature: vec![LEAF],
            threshold: vec![0.0],
            left: vec![0],
            width: 0,
            values: Vec::new(),
        };
        let mut root = Pending {
            node: 0,
            lo: 0,
            hi: rows.len(),
            depth: 0,
            total: self.total(rows),
            best: None,
            hist: None,
            constant: vec![0; self.bins.cols.div_ceil(64)],
        };
        self.evaluate(&mut root, rows, rng);
        let best_first = self.p.max_leaves != usize::MAX;
        let mut heap = BinaryHeap::new();
        let mut stack = Vec::new();
        let gain = |p: &Pending| p.best.map_or(f64::NEG_INFINITY, |b| b.gain);
        if best_first {
            heap.push(ByGain(gain(&root), 0, root));
        } else {
            stack.push(root);
        }
        let mut leaves = 1usize;
        let mut leaf_count = 0u32;
        let mut scratch: Vec<u32> = Vec::new();
        loop {
            let pend = if best_first {
                heap.pop().map(|b| b.2)
            } else {
                stack.pop()
            };
            let Some(pend) = pend else { break };
            let split = match pend.best {
                Some(b) if leaves < self.p.max_leaves => b,
                _ => {
                    tree.feature[pend.node] = LEAF;
                    tree.left[pend.node] = leaf_count;
                    leaf_count += 1;
                    self.p
                        .criterion
                        .leaf(&pend.total[1..], self.p.scale, &mut tree.values);
                    continue;
                }
            };
            // Stable partition: rows stay sorted on each side.
            let (f, bin) = (split.feature, split.bin);
            let cols = self.bins.cols;
            scratch.clear();
            let mut w = pend.lo;
            for i in pend.lo..pend.hi {
                let r = rows[i];
                if (self.bins.codes[r as usize * cols + f] as usize) <= bin {
                    rows[w] = r;
                    w += 1;
                } else {
                    scratch.push(r);
                }
            }
            rows[w..pend.hi].copy_from_slice(&scratch);
            let l = tree.feature.len();
            tree.feature[pend.node] = f as u32;
            tree.threshold[pend.node] = self.bins.thresholds[f][bin];
            tree.left[pend.node] = l as u32;
            tree.feature.extend([LEAF, LEAF]);
            tree.threshold.extend([0.0, 0.0]);
            tree.left.extend([0, 0]);
            importance[f] += split.gain;
            leaves += 1;

            let ltotal = self.total(&rows[pend.lo..w]);
            let rtotal: Vec<f64> = pend.total.iter().zip(&ltotal).map(|(t, a)| t - a).collect();
            let mut lp = Pending {
                node: l,
                lo: pend.lo,
                hi: w,
                depth: pend.depth + 1,
                total: ltotal,
                best: None,
                hist: None,
                constant: pend.constant.clone(),
            };
            let mut rp = Pending {
                node: l + 1,
                lo: w,
                hi: pend.hi,
                depth: pend.depth + 1,
                total: rtotal,
                best: None,
                hist: None,
                constant: pend.constant.clone(),
            };
            // Subtraction: build the smaller child's histogram; the other is the parent's
            // minus it.
            if let Some(parent) = pend.hist {
                let (small, big) = if w - pend.lo <= pend.hi - w {
                    (&mut lp, &mut rp)
                } else {
                    (&mut rp, &mut lp)
                };
                let feats: Vec<usize> = (0..cols).collect();
                let sh = self.histogram(&rows[small.lo..small.hi], &feats, &small.total);
                let bh: Vec<f64> = parent.iter().zip(&sh).map(|(p, s)| p - s).collect();
                small.hist = Some(sh);
                big.hist = Some(bh);
            }
            self.evaluate(&mut lp, &rows[pend.lo..w], rng);
            self.evaluate(&mut rp, &rows[w..pend.hi], rng);
            if best_first {
                heap.push(ByGain(gain(&lp), lp.node, lp));
                heap.push(ByGain(gain(&rp), rp.node, rp));
            } else {
                stack.push(rp);
                stack.push(lp);
            }
        }
        tree.width = (tree.values.len() / leaf_count.max(1) as usize) as u32;
        tree
    }
}

/// What a tree model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Regression: least squares.
    Squared,
    /// Two classes: log loss on the second class's log-odds.
    Logistic,
    /// Several classes: softmax cross-entropy.
    Softmax,
}

/// The target of a fit: class indices (with the number of classes), or values.
pub enum Target<'a> {
    Classes { y: &'a [u32], k: usize },
    Values(&'a [f64]),
}

impl Target<'_> {
    fn len(&self) -> usize {
        match self {
            Target::Classes { y, .. } => y.len(),
            Target::Values(v) => v.len(),
        }
    }
}

fn check_shape(x: &[f64], rows: usize, cols: usize, target: &Target) -> Result<(), FitError> {
    if rows == 0 || cols == 0 {
        return Err(FitError("no training rows or no features".into()));
    }
    if x.len() != rows * cols || target.len() != rows {
        return Err(FitError(format!(
            "{rows} rows × {cols} features needs {} values and {rows} targets; got {} and {}",
            rows * cols,
            x.len(),
            target.len()
        )));
    }
    if let Target::Classes { y, k } = target
        && let Some(bad) = y.iter().find(|&&c| c as usize >= *k)
    {
        return Err(FitError(format!("class index {bad} of {k} classes")));
    }
    Ok(())
}

/// Normalises gains to sum to 1 (all zeros stay zeros).
fn normalise(v: &mut [f64]) {
    let s: f64 = v.iter().sum();
    if s > 0.0 {
        v.iter_mut().for_each(|x| *x /= s);
    }
}

/// Decision-tree and random-forest parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ForestParams {
    pub trees: usize,
    pub max_depth: Option<usize>,
    pub min_samples_leaf: usize,
    /// Features tried per split; `None`: √features for classification, all for regression.
    pub max_features: Option<usize>,
    pub bootstrap: bool,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            trees: 100,
            max_depth: None,
            min_samples_leaf: 1,
            max_features: None,
            bootstrap: true,
        }
    }
}

/// A decision tree (one tree, no bootstrap) or a random forest: the mean of its trees'
/// leaves — class probabilities, or a value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    pub n_features: usize,
    /// Values per leaf: classes, or 1 for regression.
    pub outputs: usize,
    pub trees: Vec<Tree>,
    /// Mean decrease in impurity per feature, summing to 1.
    pub importance: Vec<f64>,
}

impl Forest {
    /// Fits on the row-major `x` (`rows` × `cols`), with optional per-row weights.
    pub fn fit(
        x: &[f64],
        rows: usize,
        cols: usize,
        target: &Target,
        weights: Option<&[f64]>,
        params: &ForestParams,
        seed: u64,
    ) -> Result<Forest, FitError> {
        check_shape(x, rows, cols, target)?;
        if params.trees == 0 {
            return Err(FitError("trees must be at least 1".into()));
        }
        let w = |r: usize| weights.map_or(1.0, |w| w[r]);
        let (stats, s, criterion, outputs) = match target {
            Target::Classes { y, k } => {
                let mut st = vec![0.0; rows * k];
                for r in 0..rows {
                    st[r * k + y[r] as usize] = w(r);
                }
                (st, *k, Criterion::Gini, *k)
            }
            Target::Values(v) => {
                let mut st = vec![0.0; rows * 2];
                for r in 0..rows {
                    st[2 * r] = w(r) * v[r];
                    st[2 * r + 1] = w(r);
                }
                let c = Criterion::Newton {
                    lambda: 0.0,
                    min_hessian: 0.0,
                };
                (st, 2, c, 1)
            }
        };
        let all: Vec<u32> = (0..rows as u32).collect();
        let bins = Bins::new(x, cols, &all);
        let max_features = params
            .max_features
            .unwrap_or(match target {
                Target::Classes { .. } => (cols as f64).sqrt().floor().max(1.0) as usize,
                Target::Values(_) => cols,
            })
            .clamp(1, cols);
        let grower = Grower {
            bins: &bins,
            stats: &stats,
            s,
            p: GrowParams {
                max_depth: params.max_depth.unwrap_or(usize::MAX),
                max_leaves: usize::MAX,
                min_leaf: params.min_samples_leaf.max(1),
                max_features,
                criterion,
                scale: 1.0,
            },
        };
        // Each tree's generator starts from an output of the master generator: states a
        // fixed step apart would give every tree nearly the same bootstrap sample.
        let mut master = SplitMix64(seed);
        let seeds: Vec<u64> = (0..params.trees).map(|_| master.next()).collect();
        let grown: Vec<(Tree, Vec<f64>)> = seeds
            .into_par_iter()
            .map(|tree_seed| {
                let mut rng = SplitMix64(tree_seed);
                let mut sample: Vec<u32> = if params.bootstrap {
                    let mut s: Vec<u32> =
                        (0..rows).map(|_| rng.below(rows as u64) as u32).collect();
                    s.sort_unstable();
                    s
                } else {
                    all.clone()
                };
                let mut imp = vec![0.0; cols];
                let tree = grower.grow(&mut sample, &mut rng, &mut imp);
                normalise(&mut imp);
                (tree, imp)
            })
            .collect();
        let mut importance = vec![0.0; cols];
        for (_, imp) in &grown {
            for (a, b) in importance.iter_mut().zip(imp) {
                *a += b;
            }
        }
        normalise(&mut importance);
        Ok(Forest {
            n_features: cols,
            outputs,
            trees: grown.into_iter().map(|(t, _)| t).collect(),
            importance,
        })
    }

    /// The mean of the trees' leaves for one row.
    pub fn predict(&self, row: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|v| *v = 0.0);
        for t in &self.trees {
            for (o, v) in out.iter_mut().zip(t.leaf(row)) {
                *o += v;
            }
        }
        let n = self.trees.len() as f64;
        out.iter_mut().for_each(|v| *v /= n);
    }

    pub fn check(&self) -> Result<(), String> {
        if self.trees.is_empty() || self.importance.len() != self.n_features {
            return Err("a forest needs trees and one importance per feature".into());
        }
        self.trees
            .iter()
            .try_for_each(|t| t.check(self.n_features, self.outputs))
    }
}

/// Histogram gradient-boosting parameters (scikit-learn's HistGradientBoosting defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct BoostParams {
    pub iterations: usize,
    pub learning_rate: f64,
    pub max_leaves: usize,
    pub max_depth: Option<usize>,
    pub min_samples_leaf: usize,
    pub l2: f64,
    /// Hold out `validation_fraction` of the training rows and stop when the validation loss
    /// has not improved for `patience` iterations; `None`: on when there are over 10,000
    /// rows.
    pub early_stopping: Option<bool>,
    pub validation_fraction: f64,
    pub patience: usize,
}

impl Default for BoostParams {
    fn default() -> Self {
        BoostParams {
            iterations: 100,
            learning_rate: 0.1,
            max_leaves: 31,
            max_depth: None,
            min_samples_leaf: 20,
            l2: 0.0,
            early_stopping: None,
            validation_fraction: 0.1,
            patience: 10,
        }
    }
}

/// Gradient-boosted trees: raw scores are `init` plus the sum of the trees' leaves (one tree
/// per output per iteration), turned into probabilities by `loss`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Boosted {
    pub n_features: usize,
    pub loss: Loss,
    pub init: Vec<f64>,
    /// Iteration-major: `init.len()` trees per iteration.
    pub trees: Vec<Tree>,
    /// Validation loss after each iteration, when early stopping was on.
    pub validation_loss: Vec<f64>,
    pub importance: Vec<f64>,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn softmax_into(z: &[f64], out: &mut [f64]) {
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mut s = 0.0;
    for (o, v) in out.iter_mut().zip(z) {
        *o = (v - m).exp();
        s += *o;
    }
    out.iter_mut().for_each(|o| *o /= s);
}

impl Boosted {
    pub fn fit(
        x: &[f64],
        rows: usize,
        cols: usize,
        target: &Target,
        weights: Option<&[f64]>,
        params: &BoostParams,
        seed: u64,
    ) -> Result<Boosted, FitError> {
        check_shape(x, rows, cols, target)?;
        if params.iterations == 0 || params.max_leaves < 2 || params.learning_rate <= 0.0 {
            return Err(FitError(
                "need iterations ≥ 1, max_leaves ≥ 2 and learning_rate > 0".into(),
            ));
        }
        let w = |r: usize| weights.map_or(1.0, |w| w[r]);
        let (loss, k) = match target {
            Target::Values(_) => (Loss::Squared, 1),
            Target::Classes { k, .. } if *k <= 2 => (Loss::Logistic, 1),
            Target::Classes { k, .. } => (Loss::Softmax, *k),
        };
        // Early stopping holds out a seeded share of rows, per class for classification.
        let stop = params.early_stopping.unwrap_or(rows > 10_000);
        let mut is_val = vec![false; rows];
        if stop {
            let mut rng = SplitMix64(seed ^ 0xE5);
            let groups: Vec<Vec<usize>> = match target {
                Target::Classes { y, k } => (0..*k as u32)
                    .map(|c| (0..rows).filter(|&r| y[r] == c).collect())
                    .collect(),
                Target::Values(_) => vec![(0..rows).collect()],
            };
            for mut g in groups {
                let take = (g.len() as f64 * params.validation_fraction).round() as usize;
                for i in 0..take.min(g.len()) {
                    let j = i + rng.below((g.len() - i) as u64) as usize;
                    g.swap(i, j);
                    is_val[g[i]] = true;
                }
            }
        }
        let train: Vec<u32> = (0..rows as u32).filter(|&r| !is_val[r as usize]).collect();
        let val: Vec<usize> = (0..rows).filter(|&r| is_val[r]).collect();
        if train.is_empty() {
            return Err(FitError(
                "no training rows left after the validation split".into(),
            ));
        }
        // Initial scores: the weighted mean, log-odds or log-prior.
        let init: Vec<f64> = match target {
            Target::Values(v) => {
                let (s, n) = train.iter().fold((0.0, 0.0), |(s, n), &r| {
                    (s + w(r as usize) * v[r as usize], n + w(r as usize))
                });
                vec![s / n]
            }
            Target::Classes { y, k } => {
                let mut c = vec![0.0; *k];
                for &r in &train {
                    c[y[r as usize] as usize] += w(r as usize);
                }
                let n: f64 = c.iter().sum();
                let p: Vec<f64> = c
                    .iter()
                    .map(|v| (v / n).clamp(1e-12, 1.0 - 1e-12))
                    .collect();
                if loss == Loss::Logistic {
                    vec![(p[1] / p[0]).ln()]
                } else {
                    p.iter().map(|v| v.ln()).collect()
                }
            }
        };
        let bins = Bins::new(x, cols, &train);
        let grow = GrowParams {
            max_depth: params.max_depth.unwrap_or(usize::MAX),
            max_leaves: params.max_leaves,
            min_leaf: params.min_samples_leaf.max(1),
            max_features: cols,
            criterion: Criterion::Newton {
                lambda: params.l2,
                min_hessian: 1e-3,
            },
            scale: params.learning_rate,
        };
        let mut raw: Vec<f64> = (0..rows).flat_map(|_| init.iter().copied()).collect();
        let mut stats = vec![0.0; rows * 2];
        let mut prob = vec![0.0; k.max(2)];
        let mut trees: Vec<Tree> = Vec::new();
        let mut importance = vec![0.0; cols];
        let mut history = Vec::new();
        let (mut best_loss, mut best_iter) = (f64::INFINITY, 0usize);
        let mut rng = SplitMix64(seed);
        let row_loss = |raw: &[f64], r: usize| -> f64 {
            match target {
                Target::Values(v) => 0.5 * (v[r] - raw[0]).powi(2),
                Target::Classes { y, .. } if k == 1 => {
                    let p = sigmoid(raw[0]).clamp(1e-15, 1.0 - 1e-15);
                    if y[r] == 1 { -p.ln() } else { -(1.0 - p).ln() }
                }
                Target::Classes { y, .. } => {
                    let mut p = vec![0.0; k];
                    softmax_into(raw, &mut p);
                    -p[y[r] as usize].max(1e-15).ln()
                }
            }
        };
        for iter in 0..params.iterations {
            for c in 0..k {
                for &r in &train {
                    let r = r as usize;
                    let z = &raw[r * k..(r + 1) * k];
                    let (g, h) = match target {
                        Target::Values(v) => (v[r] - z[0], 1.0),
                        Target::Classes { y, .. } if k == 1 => {
                            let p = sigmoid(z[0]);
                            (f64::from(y[r]) - p, p * (1.0 - p))
                        }
                        Target::Classes { y, .. } => {
                            softmax_into(z, &mut prob[..k]);
                            let p = prob[c];
                            (f64::from(y[r] as usize == c) - p, p * (1.0 - p))
                        }
                    };
                    stats[2 * r] = w(r) * g;
                    stats[2 * r + 1] = w(r) * h;
                }
                let grower = Grower {
                    bins: &bins,
                    stats: &stats,
                    s: 2,
                    p: grow,
                };
                let mut sample = train.clone();
                trees.push(grower.grow(&mut sample, &mut rng, &mut importance));
            }
            // Apply this iteration's trees to every row (training and validation).
            let new = &trees[trees.len() - k..];
            raw.par_chunks_mut(k)
                .zip(x.par_chunks(cols))
                .for_each(|(z, row)| {
                    for (zc, t) in z.iter_mut().zip(new) {
                        *zc += t.leaf(row)[0];
                    }
                });
            if stop && !val.is_empty() {
                let (mut l, mut n) = (0.0, 0.0);
                for &r in &val {
                    l += w(r) * row_loss(&raw[r * k..(r + 1) * k], r);
                    n += w(r);
                }
                let l = l / n;
                history.push(l);
                if l < best_loss - 1e-7 {
                    (best_loss, best_iter) = (l, iter);
                } else if iter - best_iter >= params.patience {
                    break;
                }
            }
        }
        if stop && !history.is_empty() {
            trees.truncate((best_iter + 1) * k);
        }
        normalise(&mut importance);
        Ok(Boosted {
            n_features: cols,
            loss,
            init,
            trees,
            validation_loss: history,
            importance,
        })
    }

    pub fn iterations(&self) -> usize {
        self.trees.len() / self.init.len().max(1)
    }

    /// Class probabilities (two or more) or the value, for one row.
    pub fn predict(&self, row: &[f64], out: &mut [f64]) {
        let k = self.init.len();
        let mut z = self.init.clone();
        for (i, t) in self.trees.iter().enumerate() {
            z[i % k] += t.leaf(row)[0];
        }
        match self.loss {
            Loss::Squared => out[0] = z[0],
            Loss::Logistic => {
                let p = sigmoid(z[0]);
                out[0] = 1.0 - p;
                out[1] = p;
            }
            Loss::Softmax => softmax_into(&z, out),
        }
    }

    /// Values `predict` writes.
    pub fn outputs(&self) -> usize {
        match self.loss {
            Loss::Squared => 1,
            Loss::Logistic => 2,
            Loss::Softmax => self.init.len(),
        }
    }

    pub fn check(&self) -> Result<(), String> {
        let k = self.init.len();
        let want = if self.loss == Loss::Softmax {
            k >= 3
        } else {
            k == 1
        };
        if !want || !self.trees.len().is_multiple_of(k) || self.importance.len() != self.n_features
        {
            return Err("boosted model: scores, trees and features disagree".into());
        }
        self.trees
            .iter()
            .try_for_each(|t| t.check(self.n_features, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// y = 1 when x0 > 0.5, x1 is noise.
    fn data() -> (Vec<f64>, Vec<u32>) {
        let mut x = Vec::new();
        let mut y = Vec::new();
        let mut rng = SplitMix64(7);
        for _ in 0..400 {
            let a = rng.below(100) as f64 / 100.0;
            let b = rng.below(100) as f64 / 100.0;
            x.extend([a, b]);
            y.push(u32::from(a > 0.5));
        }
        (x, y)
    }

    #[test]
    fn a_tree_finds_the_threshold_and_forests_repeat_exactly() {
        let (x, y) = data();
        let t = Target::Classes { y: &y, k: 2 };
        let p = ForestParams {
            trees: 1,
            bootstrap: false,
            max_features: Some(2),
            ..ForestParams::default()
        };
        let f = Forest::fit(&x, 400, 2, &t, None, &p, 1).unwrap();
        f.check().unwrap();
        assert_eq!(f.trees[0].feature[0], 0);
        assert!((f.trees[0].threshold[0] - 0.5).abs() < 0.01);
        assert_eq!(f.trees[0].feature.len(), 3, "one split makes it pure");
        assert_eq!(f.importance, vec![1.0, 0.0]);
        let mut out = [0.0; 2];
        f.predict(&[0.9, 0.1], &mut out);
        assert_eq!(out, [0.0, 1.0]);

        let rf = ForestParams::default();
        let a = Forest::fit(&x, 400, 2, &t, None, &rf, 3).unwrap();
        let b = Forest::fit(&x, 400, 2, &t, None, &rf, 3).unwrap();
        assert_eq!(a, b);
        let c = Forest::fit(&x, 400, 2, &t, None, &rf, 4).unwrap();
        assert_ne!(a, c, "the seed matters");
    }

    #[test]
    fn boosting_learns_and_checks_catch_broken_trees() {
        let (x, y) = data();
        let t = Target::Classes { y: &y, k: 2 };
        let m = Boosted::fit(&x, 400, 2, &t, None, &BoostParams::default(), 0).unwrap();
        m.check().unwrap();
        let mut out = [0.0; 2];
        m.predict(&[0.9, 0.3], &mut out);
        assert!(out[1] > 0.9, "{out:?}");
        m.predict(&[0.1, 0.3], &mut out);
        assert!(out[1] < 0.1, "{out:?}");

        let mut broken = m.clone();
        broken.trees[0].left[0] = 0;
        assert!(broken.check().unwrap_err().contains("out of order"));
        let mut broken = m.clone();
        broken.trees[0].feature[0] = 9;
        assert!(broken.check().unwrap_err().contains("feature 9"));

        // Early stopping on a target that is pure noise stops long before 100 iterations.
        let mut rng = SplitMix64(1);
        let noise: Vec<u32> = (0..400).map(|_| rng.below(2) as u32).collect();
        let p = BoostParams {
            early_stopping: Some(true),
            ..BoostParams::default()
        };
        let m = Boosted::fit(
            &x,
            400,
            2,
            &Target::Classes { y: &noise, k: 2 },
            None,
            &p,
            0,
        )
        .unwrap();
        assert!(m.iterations() < 30, "{} iterations", m.iterations());
    }

    #[test]
    fn regression_leaves_are_means() {
        let x: Vec<f64> = (0..100).map(f64::from).collect();
        let y: Vec<f64> = x
            .iter()
            .map(|v| if *v < 50.0 { 1.0 } else { 3.0 })
            .collect();
        let p = ForestParams {
            trees: 1,
            bootstrap: false,
            max_depth: Some(1),
            ..ForestParams::default()
        };
        let f = Forest::fit(&x, 100, 1, &Target::Values(&y), None, &p, 0).unwrap();
        let mut out = [0.0];
        f.predict(&[10.0], &mut out);
        assert_eq!(out[0], 1.0);
        f.predict(&[80.0], &mut out);
        assert_eq!(out[0], 3.0);
    }
}
