//! ADWIN, the adaptive window (Bifet and Gavaldà 2007): it keeps a window of recent values
//! in an exponential histogram and drops its older part whenever the means of the two parts
//! differ by more than chance allows (a Hoeffding-style bound at confidence δ). A drop is a
//! detected change.
//!
//! Hand-written: no maintained Rust crate provides ADWIN (river's is Python and C++).

use std::collections::VecDeque;

/// Buckets kept per level before the two oldest merge.
const PER_LEVEL: usize = 5;
/// Checks for a cut every this many values (river's `clock`).
const CLOCK: u32 = 32;
/// Neither part of a cut may hold fewer values.
const MIN_PART: f64 = 5.0;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct Bucket {
    n: f64,
    sum: f64,
    /// Sum of squared deviations from the bucket's mean.
    m2: f64,
}

impl Bucket {
    fn merge(a: Bucket, b: Bucket) -> Bucket {
        let n = a.n + b.n;
        let d = a.sum / a.n - b.sum / b.n;
        Bucket {
            n,
            sum: a.sum + b.sum,
            m2: a.m2 + b.m2 + a.n * b.n / n * d * d,
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Adwin {
    delta: f64,
    /// `levels[i]` holds buckets of 2^i values, oldest first; higher levels are older.
    levels: Vec<VecDeque<Bucket>>,
    total: Bucket,
    tick: u32,
}

impl Adwin {
    pub fn new(delta: f64) -> Adwin {
        Adwin {
            delta,
            levels: vec![VecDeque::new()],
            total: Bucket {
                n: 0.0,
                sum: 0.0,
                m2: 0.0,
            },
            tick: 0,
        }
    }

    pub fn width(&self) -> f64 {
        self.total.n
    }

    /// The window agrees with its buckets: at least one level, each within its size, and the
    /// total's count the buckets' (else a cut could loop without end).
    pub fn check(&self) -> Result<(), String> {
        let held: f64 = self.levels.iter().flatten().map(|b| b.n).sum();
        let ok = !self.levels.is_empty()
            && self.levels.iter().all(|l| l.len() <= PER_LEVEL)
            && self
                .levels
                .iter()
                .flatten()
                .all(|b| b.n.is_finite() && b.n >= 1.0)
            && held == self.total.n
            && self.delta > 0.0
            && self.delta < 1.0;
        if ok {
            Ok(())
        } else {
            Err("an ADWIN window disagrees with its buckets".into())
        }
    }

    pub fn mean(&self) -> f64 {
        if self.total.n > 0.0 {
            self.total.sum / self.total.n
        } else {
            0.0
        }
    }

    /// Adds a value; true when a change was detected (and the window shrank).
    pub fn add(&mut self, x: f64) -> bool {
        let b = Bucket {
            n: 1.0,
            sum: x,
            m2: 0.0,
        };
        self.total = if self.total.n == 0.0 {
            b
        } else {
            Bucket::merge(self.total, b)
        };
        self.levels[0].push_back(b);
        let mut level = 0;
        while self.levels[level].len() > PER_LEVEL {
            let a = self.levels[level].pop_front().expect("more than five");
            let b = self.levels[level].pop_front().expect("more than five");
            if self.levels.len() == level + 1 {
                self.levels.push(VecDeque::new());
            }
            self.levels[level + 1].push_back(Bucket::merge(a, b));
            level += 1;
        }
        self.tick += 1;
        if !self.tick.is_multiple_of(CLOCK) || self.total.n < 2.0 * MIN_PART {
            return false;
        }
        let mut changed = false;
        while self.cut() {
            self.drop_oldest();
            changed = true;
        }
        changed
    }

    /// Whether some split of the window into older and newer parts differs in mean.
    fn cut(&self) -> bool {
        let n = self.total.n;
        let variance = self.total.m2 / n;
        let dd = (2.0 * n.ln() / self.delta).ln();
        let mut old = Bucket {
            n: 0.0,
            sum: 0.0,
            m2: 0.0,
        };
        // Oldest first: highest level, front to back.
        for level in self.levels.iter().rev() {
            for b in level {
                old.n += b.n;
                old.sum += b.sum;
                let new_n = n - old.n;
                if new_n < MIN_PART {
                    return false;
                }
                if old.n < MIN_PART {
                    continue;
                }
                let new_sum = self.total.sum - old.sum;
                let m = 1.0 / (1.0 / old.n + 1.0 / new_n);
                let eps = (2.0 / m * variance * dd).sqrt() + 2.0 / (3.0 * m) * dd;
                if (old.sum / old.n - new_sum / new_n).abs() > eps {
                    return true;
                }
            }
        }
        false
    }

    fn drop_oldest(&mut self) {
        let Some(level) = self.levels.iter().rposition(|l| !l.is_empty()) else {
            return;
        };
        let b = self.levels[level].pop_front().expect("non-empty");
        let n = self.total.n - b.n;
        if n <= 0.0 {
            *self = Adwin::new(self.delta);
            return;
        }
        let mean_rest = (self.total.sum - b.sum) / n;
        let d = b.sum / b.n - mean_rest;
        self.total = Bucket {
            n,
            sum: self.total.sum - b.sum,
            m2: (self.total.m2 - b.m2 - b.n * n / self.total.n * d * d).max(0.0),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_in_mean_is_found_and_the_old_part_dropped() {
        let mut a = Adwin::new(0.002);
        let mut found = None;
        for i in 0..4000u32 {
            let x = if i < 2000 {
                f64::from(u8::from(i % 10 == 0))
            } else {
                f64::from(u8::from(i % 2 == 0))
            };
            if a.add(x) && found.is_none() {
                found = Some(i);
            }
        }
        let at = found.expect("a change");
        assert!((2000..2300).contains(&at), "found at {at}");
        // After the change the window holds mostly the new regime.
        assert!((a.mean() - 0.5).abs() < 0.1, "mean {}", a.mean());
        assert!(a.width() < 2600.0);
    }

    #[test]
    fn a_steady_stream_keeps_growing_the_window() {
        let mut a = Adwin::new(0.002);
        let changed = (0..5000u32).any(|i| a.add(f64::from(u8::from(i % 5 == 0))));
        assert!(!changed);
        assert_eq!(a.width(), 5000.0);
        assert!((a.mean() - 0.2).abs() < 1e-9);
    }
}
