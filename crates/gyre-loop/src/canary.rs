//! The canary's verdict: is the candidate no worse than the champion, with stated
//! confidence, on the rows both answered?
//!
//! When both models predicted the same labelled rows (a shadow, or a backtest), the
//! comparison is paired: each bootstrap resample draws rows, and both models are scored on
//! the same draw, so the difference between them is measured without the noise of which
//! rows each happened to see. When each model answered its own share of traffic, the two
//! sides are resampled independently. Either way the verdict is
//!
//! - **promote** when the lower confidence bound of (candidate − champion) is at least
//!   −tolerance ("no worse", with the stated confidence);
//! - **roll back** when the upper bound is below −tolerance (worse, with that confidence),
//!   or the candidate is under its absolute floor;
//! - **wait** for more labels otherwise, up to `max_labels`, where the point estimate
//!   decides.
//!
//! Differences are oriented so that positive is better, for errors too.

use crate::outcome::{Outcome, metric, positives};
use gyre_learn::rng::SplitMix64;
use serde::Serialize;

/// What the canary policy asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryPolicy {
    pub metric: String,
    pub tolerance: f64,
    pub min_labels: u64,
    pub min_positives: u64,
    pub max_labels: u64,
    pub confidence: f64,
    pub resamples: u32,
    pub floor: Option<f64>,
}

/// The rows a verdict is reached on.
#[derive(Debug, Clone, Copy)]
pub enum Rows<'a> {
    /// (champion, candidate) outcomes of the same labelled rows.
    Paired(&'a [(Outcome, Outcome)]),
    /// Each model's own labelled rows.
    Apart {
        champion: &'a [Outcome],
        candidate: &'a [Outcome],
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Promote,
    Rollback,
    Wait,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub decision: Decision,
    pub metric: String,
    pub candidate: f64,
    pub champion: f64,
    /// Bounds of (candidate − champion), oriented so that positive is better, at
    /// `confidence` each side.
    pub lower: f64,
    pub upper: f64,
    pub confidence: f64,
    pub paired: bool,
    /// Labelled rows of the candidate, and positives among them.
    pub labels: u64,
    pub positives: u64,
    pub reason: String,
}

impl Verdict {
    /// One line: `promoted: f1 0.71 vs 0.52 (+0.19, 90 % bound +0.12) on 400 paired labels`.
    pub fn summary(&self) -> String {
        let what = match self.decision {
            Decision::Promote => "promoted",
            Decision::Rollback => "rolled back",
            Decision::Wait => "waiting",
        };
        format!(
            "{what}: {} {} vs {} for the champion ({}); {}",
            self.metric,
            fmt(self.candidate),
            fmt(self.champion),
            self.reason,
            self.basis()
        )
    }

    fn basis(&self) -> String {
        format!(
            "{} {} labels, {} positive",
            self.labels,
            if self.paired { "paired" } else { "unpaired" },
            self.positives
        )
    }
}

fn fmt(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "n/a".into()
    }
}

/// The verdict on `rows` under `policy`; `positive` is the positive class. The resampling
/// is seeded by the number of rows, so the same rows always give the same verdict.
pub fn judge(rows: Rows<'_>, policy: &CanaryPolicy, positive: Option<u32>) -> Verdict {
    let lower_better = crate::lower_is_better(&policy.metric);
    let orient = |cand: f64, champ: f64| {
        if lower_better {
            champ - cand
        } else {
            cand - champ
        }
    };
    let (cand_rows, champ_rows): (Vec<Outcome>, Vec<Outcome>) = match rows {
        Rows::Paired(p) => (
            p.iter().map(|x| x.1).collect(),
            p.iter().map(|x| x.0).collect(),
        ),
        Rows::Apart {
            champion,
            candidate,
        } => (candidate.to_vec(), champion.to_vec()),
    };
    let labels = cand_rows.len() as u64;
    let pos = positives(&cand_rows, positive);
    let value = |rows: &[Outcome]| metric(rows, None, &policy.metric, positive).unwrap_or(f64::NAN);
    let (cand, champ) = (value(&cand_rows), value(&champ_rows));
    let mut v = Verdict {
        decision: Decision::Wait,
        metric: policy.metric.clone(),
        candidate: cand,
        champion: champ,
        lower: f64::NAN,
        upper: f64::NAN,
        confidence: policy.confidence,
        paired: matches!(rows, Rows::Paired(_)),
        labels,
        positives: pos,
        reason: String::new(),
    };
    let enough_positives = positive.is_none() || pos >= policy.min_positives;
    let at_limit = labels >= policy.max_labels;
    if labels < policy.min_labels || (!enough_positives && !at_limit) {
        v.reason = format!(
            "needs {} labels with {} positive",
            policy.min_labels, policy.min_positives
        );
        return v;
    }
    if !(cand.is_finite() && champ.is_finite()) {
        v.reason = format!("{} is not defined on these rows", policy.metric);
        return v;
    }
    if let Some(floor) = policy.floor {
        let under = if lower_better {
            cand > floor
        } else {
            cand < floor
        };
        if under {
            v.decision = Decision::Rollback;
            v.reason = format!("under the floor {floor}");
            return v;
        }
    }
    let diffs = bootstrap(rows, &cand_rows, &champ_rows, policy, positive, &orient);
    if diffs.is_empty() {
        v.reason = "no resample could be scored".into();
        return v;
    }
    let q = |p: f64| diffs[((diffs.len() - 1) as f64 * p).round() as usize];
    v.lower = q(1.0 - policy.confidence);
    v.upper = q(policy.confidence);
    let point = orient(cand, champ);
    let pct = (policy.confidence * 100.0).round();
    let tol = policy.tolerance;
    if v.lower >= -tol {
        v.decision = Decision::Promote;
        v.reason = format!("no worse with {pct} % confidence: {:+.3} at worst", v.lower);
    } else if v.upper < -tol {
        v.decision = Decision::Rollback;
        v.reason = format!("worse with {pct} % confidence: {:+.3} at best", v.upper);
    } else if at_limit {
        v.decision = if point >= -tol {
            Decision::Promote
        } else {
            Decision::Rollback
        };
        v.reason = format!(
            "inconclusive at {} labels; the point estimate {point:+.3} decides",
            policy.max_labels
        );
    } else {
        v.reason = format!(
            "inconclusive: {:+.3} to {:+.3} at {pct} %; more labels",
            v.lower, v.upper
        );
    }
    v
}

/// Sorted bootstrap differences (candidate − champion, oriented).
fn bootstrap(
    rows: Rows<'_>,
    cand: &[Outcome],
    champ: &[Outcome],
    policy: &CanaryPolicy,
    positive: Option<u32>,
    orient: &dyn Fn(f64, f64) -> f64,
) -> Vec<f64> {
    let mut rng = SplitMix64::new(0x6779_7265 ^ ((cand.len() as u64) << 20) ^ champ.len() as u64);
    let mut diffs = Vec::with_capacity(policy.resamples as usize);
    let draw = |n: usize, rng: &mut SplitMix64| -> Vec<u32> {
        (0..n).map(|_| rng.below(n) as u32).collect()
    };
    for _ in 0..policy.resamples {
        let (ci, hi) = match rows {
            Rows::Paired(_) => {
                let ix = draw(cand.len(), &mut rng);
                (ix.clone(), ix)
            }
            Rows::Apart { .. } => (draw(cand.len(), &mut rng), draw(champ.len(), &mut rng)),
        };
        let c = metric(cand, Some(&ci), &policy.metric, positive);
        let h = metric(champ, Some(&hi), &policy.metric, positive);
        if let (Some(c), Some(h)) = (c, h)
            && c.is_finite()
            && h.is_finite()
        {
            diffs.push(orient(c, h));
        }
    }
    diffs.sort_by(f64::total_cmp);
    diffs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CanaryPolicy {
        CanaryPolicy {
            metric: "f1".into(),
            tolerance: 0.0,
            min_labels: 200,
            min_positives: 10,
            max_labels: 800,
            confidence: 0.9,
            resamples: 500,
            floor: None,
        }
    }

    /// `n` rows, every other one positive; each model is right on a share of rows given by
    /// `right(i)`.
    fn pairs(
        n: usize,
        champ_right: impl Fn(usize) -> bool,
        cand_right: impl Fn(usize) -> bool,
    ) -> Vec<(Outcome, Outcome)> {
        (0..n)
            .map(|i| {
                let truth = (i % 2) as u32;
                let o = |right: bool| Outcome::Class {
                    truth,
                    predicted: if right { truth } else { 1 - truth },
                    score: f64::NAN,
                };
                (o(champ_right(i)), o(cand_right(i)))
            })
            .collect()
    }

    #[test]
    fn a_clearly_better_candidate_is_promoted() {
        let rows = pairs(300, |i| i % 5 < 2, |i| i % 5 < 4);
        let v = judge(Rows::Paired(&rows), &policy(), Some(1));
        assert_eq!(v.decision, Decision::Promote, "{}", v.summary());
        assert!(v.lower > 0.0 && v.paired);
    }

    #[test]
    fn a_clearly_worse_candidate_is_rolled_back() {
        let rows = pairs(300, |i| i % 5 < 4, |i| i % 5 < 2);
        let v = judge(Rows::Paired(&rows), &policy(), Some(1));
        assert_eq!(v.decision, Decision::Rollback, "{}", v.summary());
    }

    #[test]
    fn a_difference_within_chance_waits_then_the_point_estimate_decides() {
        // Each is wrong on one row in ten, different rows: equal F1, different errors.
        let champ = |i: usize| i % 10 != 3;
        let cand = |i: usize| i % 10 != 7;
        let rows = pairs(300, champ, cand);
        let v = judge(Rows::Paired(&rows), &policy(), Some(1));
        assert_eq!(v.decision, Decision::Wait, "{}", v.summary());
        let rows = pairs(800, champ, cand);
        let v = judge(Rows::Paired(&rows), &policy(), Some(1));
        assert_ne!(v.decision, Decision::Wait, "{}", v.summary());
    }

    #[test]
    fn too_few_labels_or_positives_wait() {
        let rows = pairs(150, |_| true, |_| true);
        assert_eq!(
            judge(Rows::Paired(&rows), &policy(), Some(1)).decision,
            Decision::Wait
        );
        // 300 labels but only 5 positives.
        let rows: Vec<(Outcome, Outcome)> = (0..300)
            .map(|i| {
                let o = Outcome::Class {
                    truth: u32::from(i < 5),
                    predicted: 0,
                    score: f64::NAN,
                };
                (o, o)
            })
            .collect();
        let v = judge(Rows::Paired(&rows), &policy(), Some(1));
        assert_eq!(v.decision, Decision::Wait);
        assert_eq!(v.positives, 5);
    }

    #[test]
    fn the_absolute_floor_rolls_back_whatever_the_champion_did() {
        let rows = pairs(300, |i| i % 5 < 1, |i| i % 5 < 2);
        let v = judge(
            Rows::Paired(&rows),
            &CanaryPolicy {
                floor: Some(0.6),
                ..policy()
            },
            Some(1),
        );
        assert_eq!(v.decision, Decision::Rollback, "{}", v.summary());
        assert!(v.reason.contains("floor"));
    }

    #[test]
    fn unpaired_rows_need_a_larger_difference_than_paired_ones() {
        // The candidate is right on 3 more rows in 100 than the champion: paired, the
        // difference is certain; apart, it is within chance.
        let rows = pairs(600, |i| i % 100 >= 30, |i| i % 100 >= 27);
        let paired = judge(Rows::Paired(&rows), &policy(), Some(1));
        assert_eq!(paired.decision, Decision::Promote, "{}", paired.summary());
        let (h, c): (Vec<Outcome>, Vec<Outcome>) = rows.iter().copied().unzip();
        let apart = judge(
            Rows::Apart {
                champion: &h,
                candidate: &c,
            },
            &policy(),
            Some(1),
        );
        assert_eq!(apart.decision, Decision::Wait, "{}", apart.summary());
        assert!(!apart.paired);
    }
}
