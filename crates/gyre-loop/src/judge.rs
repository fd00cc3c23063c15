//! `[monitor]`'s quality rules over a window's figures.

use crate::outcome::Figures;
use gyre_core::monitor::MonitorSpec;
use serde::Serialize;

/// One rule's judgement of a figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    pub rule: String,
    pub value: f64,
    pub threshold: f64,
    pub breached: bool,
}

/// The quality rules applied to a window's figures: `min` floors, `max` ceilings, and
/// `relative` floors, a share of the serving version's own test figure (`test`). A relative
/// rule is named `relative.METRIC`, so a trigger can follow it alone.
pub fn judge_quality(spec: &MonitorSpec, figures: &Figures, test: &Figures) -> Vec<Judgement> {
    let mut out = Vec::new();
    for (m, t) in &spec.min {
        if let Some(v) = figures.get(m) {
            out.push(Judgement {
                rule: m.clone(),
                value: *v,
                threshold: *t,
                breached: *v < *t,
            });
        }
    }
    for (m, t) in &spec.max {
        if let Some(v) = figures.get(m) {
            out.push(Judgement {
                rule: m.clone(),
                value: *v,
                threshold: *t,
                breached: *v > *t,
            });
        }
    }
    for (m, share) in &spec.relative {
        if let (Some(v), Some(promised)) = (figures.get(m), test.get(m)) {
            let lower = crate::lower_is_better(m);
            // A ceiling for an error: `rmse = 1.2` breaches above 120 % of the test RMSE.
            let threshold = promised * share;
            out.push(Judgement {
                rule: format!("relative.{m}"),
                value: *v,
                threshold,
                breached: if lower {
                    *v > threshold
                } else {
                    *v < threshold
                },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_and_relative_floors() {
        let spec = MonitorSpec {
            min: [("f1".to_string(), 0.6)].into(),
            max: [("rmse".to_string(), 2.0)].into(),
            relative: [("f1".to_string(), 0.9), ("rmse".to_string(), 1.5)].into(),
            ..MonitorSpec::default()
        };
        let window: Figures = [("f1".to_string(), 0.65)].into();
        let test: Figures = [("f1".to_string(), 0.8)].into();
        let j = judge_quality(&spec, &window, &test);
        assert_eq!(j.len(), 2);
        assert!(!j[0].breached, "0.65 is above the absolute floor 0.6");
        assert_eq!(j[1].rule, "relative.f1");
        assert!(j[1].breached, "0.65 is below 90 % of the test F1 0.8");
        assert!((j[1].threshold - 0.72).abs() < 1e-12);
        let window: Figures = [("rmse".to_string(), 2.5)].into();
        let test: Figures = [("rmse".to_string(), 2.0)].into();
        let j = judge_quality(&spec, &window, &test);
        assert!(j[0].breached && !j[1].breached, "{j:?}");
    }
}
