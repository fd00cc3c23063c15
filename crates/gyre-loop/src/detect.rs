//! Change detection on the stream of a model's errors (0/1 for a class, the absolute error
//! for a value), one labelled prediction at a time.
//!
//! Both detectors say when a change is confirmed and where it likely began, so a retrain can
//! train on the rows since the change rather than on a fixed window.

use gyre_core::monitor::{DetectMethod, DetectSpec};

/// A detector's alarm: the change is confirmed at observation `at`, and began around
/// observation `since` (both counted from the detector's last reset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alarm {
    pub at: u64,
    pub since: u64,
}

#[derive(Debug, Clone)]
pub enum Detector {
    PageHinkley(PageHinkley),
    Ddm(Ddm),
}

impl Detector {
    /// A detector of 0/1 errors, or of a value's absolute errors when `values`.
    pub fn from_spec(spec: &DetectSpec, values: bool) -> Detector {
        match spec.method {
            DetectMethod::PageHinkley => Detector::PageHinkley(PageHinkley::new(
                spec.delta.unwrap_or(0.005),
                spec.threshold.unwrap_or(50.0),
                values,
            )),
            DetectMethod::Ddm => Detector::Ddm(Ddm::default()),
        }
    }

    /// Adds an error; an alarm resets the detector.
    pub fn add(&mut self, error: f64) -> Option<Alarm> {
        match self {
            Detector::PageHinkley(d) => d.add(error),
            Detector::Ddm(d) => d.add(error),
        }
    }

    pub fn reset(&mut self) {
        match self {
            Detector::PageHinkley(d) => *d = PageHinkley::new(d.delta, d.threshold, d.scaled),
            Detector::Ddm(d) => *d = Ddm::default(),
        }
    }
}

/// Page-Hinkley for a rise in the mean (Page 1954; as river's `PageHinkley` with
/// `mode="up"`): the cumulative deviation from the running mean, less δ per observation;
/// an alarm when it exceeds its running minimum by λ. The change began where that minimum
/// was reached. Errors of a value are scaled by the mean of the first 30, so λ means the
/// same in any unit.
#[derive(Debug, Clone)]
pub struct PageHinkley {
    delta: f64,
    threshold: f64,
    n: u64,
    mean: f64,
    sum: f64,
    min: f64,
    min_at: u64,
    scaled: bool,
    scale: Option<f64>,
    warm: Vec<f64>,
}

const MIN_OBSERVATIONS: u64 = 30;

impl PageHinkley {
    /// `scaled` for errors of a value (scaled by the mean of the first 30), not for 0/1.
    pub fn new(delta: f64, threshold: f64, scaled: bool) -> PageHinkley {
        PageHinkley {
            scaled,
            delta,
            threshold,
            n: 0,
            mean: 0.0,
            sum: 0.0,
            min: 0.0,
            min_at: 0,
            scale: None,
            warm: Vec::new(),
        }
    }

    pub fn add(&mut self, error: f64) -> Option<Alarm> {
        if self.scaled && self.scale.is_none() {
            self.warm.push(error);
            if self.warm.len() < MIN_OBSERVATIONS as usize {
                return None;
            }
            let m = self.warm.iter().sum::<f64>() / self.warm.len() as f64;
            self.scale = Some(if m > 0.0 { m } else { 1.0 });
            let mut alarm = None;
            for e in std::mem::take(&mut self.warm) {
                alarm = alarm.or(self.observe(e));
            }
            return alarm;
        }
        self.observe(error)
    }

    fn observe(&mut self, error: f64) -> Option<Alarm> {
        let x = error / self.scale.unwrap_or(1.0);
        self.n += 1;
        self.mean += (x - self.mean) / self.n as f64;
        self.sum += x - self.mean - self.delta;
        if self.sum < self.min {
            self.min = self.sum;
            self.min_at = self.n;
        }
        if self.n >= MIN_OBSERVATIONS && self.sum - self.min > self.threshold {
            let alarm = Alarm {
                at: self.n,
                since: self.min_at,
            };
            let scale = self.scale;
            *self = PageHinkley::new(self.delta, self.threshold, self.scaled);
            self.scale = scale;
            return Some(alarm);
        }
        None
    }
}

/// The Drift Detection Method (Gama et al. 2004) for 0/1 errors: the error rate p and its
/// deviation s = √(p(1−p)/n); a warning when p + s ≥ p_min + 2 s_min, a change when it
/// reaches p_min + 3 s_min. The change began at the warning.
#[derive(Debug, Clone, Default)]
pub struct Ddm {
    n: u64,
    p: f64,
    best: Option<(f64, f64)>,
    warned_at: Option<u64>,
}

impl Ddm {
    pub fn add(&mut self, error: f64) -> Option<Alarm> {
        let e = error.min(1.0);
        self.n += 1;
        self.p += (e - self.p) / self.n as f64;
        let s = (self.p * (1.0 - self.p) / self.n as f64).sqrt();
        if self.n < MIN_OBSERVATIONS {
            return None;
        }
        let (pm, sm) = *self.best.get_or_insert((self.p, s));
        if self.p + s < pm + sm {
            self.best = Some((self.p, s));
        }
        let level = self.p + s;
        if level >= pm + 3.0 * sm {
            let alarm = Alarm {
                at: self.n,
                since: self.warned_at.unwrap_or(self.n),
            };
            *self = Ddm::default();
            return Some(alarm);
        }
        if level >= pm + 2.0 * sm {
            self.warned_at.get_or_insert(self.n);
        } else {
            self.warned_at = None;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream of errors at rate `before` for `n` observations, then at `after`, from a
    /// fixed pattern (no randomness: every k-th observation is an error).
    fn stream(n: usize, before: usize, after: usize) -> Vec<f64> {
        (0..2 * n)
            .map(|i| {
                let every = if i < n { before } else { after };
                f64::from(u8::from(i % every == 0))
            })
            .collect()
    }

    fn first_alarm(d: &mut Detector, xs: &[f64]) -> Option<(usize, Alarm)> {
        xs.iter()
            .enumerate()
            .find_map(|(i, x)| d.add(*x).map(|a| (i, a)))
    }

    #[test]
    fn page_hinkley_finds_a_rise_in_the_error_rate_and_where_it_began() {
        // 10 % errors for 1,000 observations, then 50 %.
        let xs = stream(1000, 10, 2);
        let mut d = Detector::from_spec(
            &DetectSpec {
                method: DetectMethod::PageHinkley,
                delta: None,
                threshold: None,
            },
            false,
        );
        let (i, alarm) = first_alarm(&mut d, &xs).expect("an alarm");
        assert!(i > 1000 && i < 1300, "confirmed at {i}");
        assert!(
            (alarm.since as i64 - 1000).abs() < 30,
            "began at {}",
            alarm.since
        );
        // No alarm on a steady stream.
        let mut d = Detector::PageHinkley(PageHinkley::new(0.005, 50.0, false));
        assert!(first_alarm(&mut d, &stream(2000, 10, 10)).is_none());
    }

    #[test]
    fn ddm_finds_the_same_rise() {
        let xs = stream(1000, 10, 2);
        let mut d = Detector::Ddm(Ddm::default());
        let (i, alarm) = first_alarm(&mut d, &xs).expect("an alarm");
        assert!(i > 1000 && i < 1300, "confirmed at {i}");
        assert!(alarm.since >= 1000 - 30 && alarm.since <= alarm.at);
        let mut d = Detector::Ddm(Ddm::default());
        assert!(first_alarm(&mut d, &stream(2000, 10, 10)).is_none());
    }

    #[test]
    fn page_hinkley_scales_value_errors() {
        // Absolute errors around 100, then around 300.
        let xs: Vec<f64> = (0..2000)
            .map(|i| if i < 1000 { 100.0 } else { 300.0 } + (i % 7) as f64)
            .collect();
        let mut d = Detector::PageHinkley(PageHinkley::new(0.005, 50.0, true));
        let (i, _) = first_alarm(&mut d, &xs).expect("an alarm");
        assert!(i > 1000 && i < 1100, "confirmed at {i}");
    }
}
