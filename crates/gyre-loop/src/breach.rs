//! Which rules are in breach, for which version, and when a persistent breach fires again.
//!
//! A breach belongs to the version whose window showed it: when another version serves, its
//! breaches end (with a recovery when the new version's first window is within the rule) and
//! the new version is judged afresh (its first bad window fires at once). A breach that persists fires again once its cooldown has passed, so a retrain that
//! failed, or a candidate that was rolled back, is followed by another attempt instead of
//! silence.

use crate::judge::Judgement;
use gyre_core::monitor::Cooldown;

/// What a judgement changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The rule is newly in breach (`refire` 0) or still is and its cooldown has passed
    /// (`refire` counts the repeats).
    Breach {
        refire: u32,
    },
    Recover,
}

#[derive(Debug, Clone, PartialEq)]
struct Open {
    rule: String,
    version: i64,
    fired_ms: i64,
    windows_since: u64,
    refires: u32,
}

/// The open breaches.
#[derive(Debug, Clone, Default)]
pub struct Breaches {
    open: Vec<Open>,
}

/// When a persistent breach fires again: after `windows` judged windows, or `minutes` (by
/// the clock given), whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CooldownPolicy {
    pub windows: Option<u64>,
    pub ms: Option<i64>,
}

impl CooldownPolicy {
    /// The default is two windows.
    pub fn from_spec(spec: Option<&Cooldown>) -> CooldownPolicy {
        match spec {
            None => CooldownPolicy {
                windows: Some(2),
                ms: None,
            },
            Some(c) => CooldownPolicy {
                windows: c.windows,
                ms: c.minutes.map(|m| (m * 60_000.0) as i64),
            },
        }
    }
}

impl Breaches {
    /// Restores an open breach (from a stored event).
    pub fn restore(&mut self, rule: &str, version: i64, fired_ms: i64) {
        self.open.retain(|o| o.rule != rule);
        self.open.push(Open {
            rule: rule.to_string(),
            version,
            fired_ms,
            windows_since: 0,
            refires: 0,
        });
    }

    /// Forgets a rule's breach (a stored recover event).
    pub fn close(&mut self, rule: &str) {
        self.open.retain(|o| o.rule != rule);
    }

    /// Rules in breach for `version`.
    pub fn of(&self, version: i64) -> Vec<&str> {
        self.open
            .iter()
            .filter(|o| o.version == version)
            .map(|o| o.rule.as_str())
            .collect()
    }

    /// Every open breach, with its version.
    pub fn all(&self) -> impl Iterator<Item = (&str, i64)> {
        self.open.iter().map(|o| (o.rule.as_str(), o.version))
    }

    /// Judges one rule of a window of `version` at `now`.
    pub fn judge(
        &mut self,
        j: &Judgement,
        version: i64,
        now: i64,
        cooldown: CooldownPolicy,
    ) -> Option<Change> {
        // Another version's breach of this rule no longer speaks for what serves: it ends,
        // as a recovery when this version is within the rule.
        let before = self.open.len();
        self.open
            .retain(|o| !(o.rule == j.rule && o.version != version));
        if self.open.len() < before && !j.breached {
            return Some(Change::Recover);
        }
        let at = self.open.iter().position(|o| o.rule == j.rule);
        match (at, j.breached) {
            (None, true) => {
                self.open.push(Open {
                    rule: j.rule.clone(),
                    version,
                    fired_ms: now,
                    windows_since: 0,
                    refires: 0,
                });
                Some(Change::Breach { refire: 0 })
            }
            (Some(i), true) => {
                let o = &mut self.open[i];
                o.windows_since += 1;
                let by_windows = cooldown.windows.is_some_and(|w| o.windows_since >= w);
                let by_time = cooldown.ms.is_some_and(|ms| now - o.fired_ms >= ms);
                if by_windows || by_time {
                    o.windows_since = 0;
                    o.fired_ms = now;
                    o.refires += 1;
                    Some(Change::Breach { refire: o.refires })
                } else {
                    None
                }
            }
            (Some(i), false) => {
                self.open.remove(i);
                Some(Change::Recover)
            }
            (None, false) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(breached: bool) -> Judgement {
        Judgement {
            rule: "f1".into(),
            value: if breached { 0.4 } else { 0.8 },
            threshold: 0.6,
            breached,
        }
    }

    const TWO: CooldownPolicy = CooldownPolicy {
        windows: Some(2),
        ms: None,
    };

    #[test]
    fn a_persistent_breach_fires_again_after_its_cooldown() {
        let mut b = Breaches::default();
        let fired: Vec<Option<Change>> = (0..6).map(|w| b.judge(&j(true), 1, w, TWO)).collect();
        assert_eq!(
            fired,
            [
                Some(Change::Breach { refire: 0 }),
                None,
                Some(Change::Breach { refire: 1 }),
                None,
                Some(Change::Breach { refire: 2 }),
                None
            ]
        );
        assert_eq!(b.judge(&j(false), 1, 7, TWO), Some(Change::Recover));
        assert_eq!(b.judge(&j(false), 1, 8, TWO), None);
    }

    #[test]
    fn a_cooldown_in_time() {
        let mut b = Breaches::default();
        let hour = CooldownPolicy {
            windows: None,
            ms: Some(3_600_000),
        };
        assert!(b.judge(&j(true), 1, 0, hour).is_some());
        assert_eq!(b.judge(&j(true), 1, 3_000_000, hour), None);
        assert_eq!(
            b.judge(&j(true), 1, 3_600_000, hour),
            Some(Change::Breach { refire: 1 })
        );
    }

    #[test]
    fn a_breach_belongs_to_the_version_that_caused_it() {
        let mut b = Breaches::default();
        assert!(b.judge(&j(true), 1, 0, TWO).is_some());
        assert_eq!(b.of(1), ["f1"]);
        // v2 now serves: its first bad window is a breach of its own, at once.
        assert_eq!(
            b.judge(&j(true), 2, 1, TWO),
            Some(Change::Breach { refire: 0 })
        );
        assert!(b.of(1).is_empty());
        assert_eq!(b.of(2), ["f1"]);
        // v3 serves and is within the rule: v2's breach ends in a recovery.
        assert_eq!(b.judge(&j(false), 3, 2, TWO), Some(Change::Recover));
        assert!(b.of(2).is_empty() && b.of(3).is_empty());
    }
}
