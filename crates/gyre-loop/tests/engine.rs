//! Table tests of the loop engine: a stream of labelled outcomes in, the actions out, each
//! written as one short line so a test reads as the story it checks.

use gyre_core::monitor::{CanarySpec, Cooldown, LoopSpec, MonitorSpec, RetrainSpec, WindowSpec};
use gyre_loop::engine::{Action, Engine, Input, Labelled, Policy, Role};
use gyre_loop::outcome::Outcome;

const POS: u32 = 1;

fn policy(min_f1: f64, loop_: LoopSpec) -> Policy {
    let monitor = monitor(100, None, |m| m.min = [("f1".to_string(), min_f1)].into());
    Policy::from_spec(&monitor, &loop_, Some(100), false, Some(POS))
}

/// `[monitor]` with windows of `labels` (or `minutes`) and `rules` applied to it.
fn monitor(labels: u64, minutes: Option<f64>, rules: impl FnOnce(&mut MonitorSpec)) -> MonitorSpec {
    let mut m = MonitorSpec {
        window: WindowSpec {
            labels: Some(labels),
            minutes,
            traffic: 1000,
        },
        ..MonitorSpec::default()
    };
    rules(&mut m);
    m
}

fn loop_spec() -> LoopSpec {
    LoopSpec {
        retrain: RetrainSpec {
            min_labels: 100,
            min_positives: 10,
            ..RetrainSpec::default()
        },
        canary: CanarySpec {
            resamples: 300,
            ..CanarySpec::default()
        },
        ..LoopSpec::default()
    }
}

/// Drives an engine: row by row, a version answers with `right(i)` correct, labelled at once.
struct Drive {
    engine: Engine,
    seq: u64,
    log: Vec<String>,
}

impl Drive {
    fn new(policy: Policy) -> Drive {
        let mut engine = Engine::new(policy);
        engine.step(
            Input::Serving {
                version: 1,
                test: [("f1".to_string(), 0.8)].into(),
            },
            0,
        );
        Drive {
            engine,
            seq: 0,
            log: Vec::new(),
        }
    }

    /// `n` rows, half of them positive (`positive_every` 2), each model right when its
    /// function says so; the challenger, when there is one, answers every other row and the
    /// champion scores it too (a paired canary).
    fn rows(
        &mut self,
        n: usize,
        positive_every: usize,
        champ_right: impl Fn(u64) -> bool,
        cand_right: impl Fn(u64) -> bool,
    ) {
        for _ in 0..n {
            self.seq += 1;
            let s = self.seq;
            let truth = u32::from((s as usize).is_multiple_of(positive_every));
            let o = |right: bool| Outcome::Class {
                truth,
                predicted: if right { truth } else { 1 - truth },
                score: f64::NAN,
            };
            let (champion, challenger) = self.engine.versions();
            let (version, served, outcome, other) = match challenger {
                Some(c) if s.is_multiple_of(2) => (
                    c,
                    Role::Challenger,
                    o(cand_right(s)),
                    Some(o(champ_right(s))),
                ),
                Some(_) => (
                    champion.unwrap(),
                    Role::Champion,
                    o(champ_right(s)),
                    Some(o(cand_right(s))),
                ),
                None => (champion.unwrap(), Role::Champion, o(champ_right(s)), None),
            };
            let now = s as i64 * 1000;
            let actions = self.engine.step(
                Input::Labelled(Labelled {
                    seq: s,
                    predicted_ms: now,
                    labelled_ms: now,
                    version,
                    served,
                    outcome,
                    other,
                }),
                now,
            );
            for a in actions {
                self.log.push(line(&a));
            }
        }
    }

    /// A retrained `version` passed the gate: its canary starts.
    fn candidate(&mut self, version: i64) {
        self.input(Input::Candidate {
            version,
            test: Default::default(),
        });
    }

    fn input(&mut self, input: Input) {
        let now = self.seq as i64 * 1000;
        for a in self.engine.step(input, now) {
            self.log.push(line(&a));
        }
    }

    /// The log since the last take, windows left out unless `windows`.
    fn take(&mut self, windows: bool) -> Vec<String> {
        std::mem::take(&mut self.log)
            .into_iter()
            .filter(|l| windows || !l.starts_with("window"))
            .collect()
    }
}

fn line(a: &Action) -> String {
    match a {
        Action::Window {
            role,
            version,
            figures,
            judged,
            ..
        } => format!(
            "window {} v{version} f1={:.2}{}",
            role.as_str(),
            figures.get("f1").copied().unwrap_or(f64::NAN),
            if *judged { "" } else { " (fragment)" }
        ),
        Action::Breach {
            rule,
            version,
            refire,
            ..
        } => format!("breach {rule} v{version} #{refire}"),
        Action::Recover { rule, version, .. } => format!("recover {rule} v{version}"),
        Action::Change { version, .. } => format!("change v{version}"),
        Action::Retrain { rule, .. } => format!("retrain ({rule})"),
        Action::Promote { version, .. } => format!("promote v{version}"),
        Action::Rollback { version, .. } => format!("rollback v{version}"),
    }
}

const fn always(_: u64) -> bool {
    true
}
fn every_other(s: u64) -> bool {
    s.is_multiple_of(2)
}

#[test]
fn a_persistent_breach_fires_again_after_its_cooldown() {
    let mut d = Drive::new(policy(0.7, loop_spec()));
    d.rows(100, 2, always, always);
    assert_eq!(d.take(true), ["window champion v1 f1=1.00"]);
    // Quality falls and stays down: a breach, a retrain; the retrain fails; two windows
    // later the breach fires again and so does a retrain.
    d.rows(100, 2, |s| s % 4 == 0, always);
    assert_eq!(d.take(false), ["breach f1 v1 #0", "retrain (f1)"]);
    d.input(Input::Rejected {
        reason: "the gate refused it".into(),
    });
    d.rows(200, 2, |s| s % 4 == 0, always);
    assert_eq!(d.take(false), ["breach f1 v1 #1", "retrain (f1)"]);
    d.rows(100, 2, always, always);
    assert_eq!(d.take(false), ["recover f1 v1"]);
}

#[test]
fn a_cooldown_in_windows_is_respected() {
    let spec = LoopSpec {
        cooldown: Some(Cooldown {
            windows: Some(4),
            minutes: None,
        }),
        ..loop_spec()
    };
    let mut d = Drive::new(policy(0.7, spec));
    d.rows(100, 2, |s| s % 4 == 0, always);
    d.input(Input::Rejected {
        reason: "failed".into(),
    });
    d.rows(300, 2, |s| s % 4 == 0, always);
    assert_eq!(d.take(false), ["breach f1 v1 #0", "retrain (f1)"]);
    d.rows(100, 2, |s| s % 4 == 0, always);
    assert_eq!(d.take(false), ["breach f1 v1 #1", "retrain (f1)"]);
}

#[test]
fn a_retrain_waits_for_enough_labels_and_positives() {
    let spec = LoopSpec {
        retrain: RetrainSpec {
            min_labels: 100,
            min_positives: 60,
            ..RetrainSpec::default()
        },
        ..loop_spec()
    };
    // One row in four is positive: 25 positives per window, so the breach must wait for the
    // third window's rows before a retrain has 60.
    let mut d = Drive::new(policy(0.7, spec));
    d.rows(100, 4, |s| s % 8 != 0, always);
    assert_eq!(d.take(false), ["breach f1 v1 #0"]);
    d.rows(100, 4, |s| s % 8 != 0, always);
    assert_eq!(d.take(false), Vec::<String>::new());
    d.rows(100, 4, |s| s % 8 != 0, always);
    // The 60th positive comes mid-window: the retrain starts then; the window's close
    // repeats the breach, which finds the retrain under way.
    assert_eq!(d.take(false), ["retrain (f1)", "breach f1 v1 #1"]);
}

#[test]
fn a_better_candidate_is_promoted_on_paired_rows_and_a_worse_one_rolled_back() {
    let mut d = Drive::new(policy(0.7, loop_spec()));
    d.rows(100, 2, |s| s % 4 == 0, always);
    assert_eq!(d.take(false), ["breach f1 v1 #0", "retrain (f1)"]);
    d.input(Input::Candidate {
        version: 2,
        test: [("f1".to_string(), 0.9)].into(),
    });
    d.rows(100, 2, |s| s % 4 == 0, |s| s % 10 != 0);
    assert_eq!(d.take(false), ["promote v2"]);
    assert_eq!(d.engine.versions(), (Some(2), None));
    // v2 decays; its own breach fires at once (the one of v1 does not speak for it).
    d.rows(100, 2, |s| s % 4 == 0, always);
    assert_eq!(d.take(false), ["breach f1 v2 #0", "retrain (f1)"]);
    d.input(Input::Candidate {
        version: 3,
        test: [("f1".to_string(), 0.9)].into(),
    });
    d.rows(100, 2, always, |s| s % 4 == 0);
    assert_eq!(d.take(false), ["rollback v3"]);
    assert_eq!(d.engine.versions(), (Some(2), None));
}

#[test]
fn a_canary_within_chance_waits_for_more_labels() {
    let mut d = Drive::new(policy(0.7, loop_spec()));
    d.rows(100, 2, |s| s % 4 == 0, always);
    d.candidate(2);
    d.take(false);
    // Both are right nine rows in ten, on different rows (equal F1): no verdict while the
    // bootstrap's bounds straddle zero; at max_labels (4 × 100) the point estimate decides.
    // (The champion's own windows hold only the odd rows it answers, all negative: F1 0,
    // so its breach repeats; the canary runs, so no retrain follows.)
    d.rows(399, 2, |s| s % 10 != 3, |s| s % 10 != 7);
    let verdicts = |log: Vec<String>| -> Vec<String> {
        log.into_iter()
            .filter(|l| !l.starts_with("breach"))
            .collect()
    };
    assert_eq!(verdicts(d.take(false)), Vec::<String>::new());
    assert_eq!(d.engine.versions(), (Some(1), Some(2)));
    d.rows(1, 2, |s| s % 10 != 3, |s| s % 10 != 7);
    assert_eq!(verdicts(d.take(false)), ["promote v2"]);
}

#[test]
fn after_a_prior_shift_a_failing_retrained_champion_is_retrained_again() {
    // The bank-marketing case: the positive rate rises; the first retrain is promoted, then
    // fails (it predicts no positives: F1 = 0). Its breach is its own, and it persists, so
    // the loop keeps acting instead of falling silent.
    let mut d = Drive::new(policy(0.5, loop_spec()));
    d.rows(100, 2, every_other, always);
    d.take(true);
    d.rows(100, 2, |s| s % 3 == 0, always);
    assert_eq!(d.take(false), ["breach f1 v1 #0", "retrain (f1)"]);
    d.candidate(2);
    d.rows(100, 2, |s| s % 3 == 0, always);
    assert_eq!(d.take(false), ["promote v2"]);
    // v2 now misses every positive.
    let misses = |s: u64| s % 2 == 1;
    d.rows(100, 2, misses, always);
    assert_eq!(d.take(false), ["breach f1 v2 #0", "retrain (f1)"]);
    d.input(Input::Rejected {
        reason: "the gate refused it".into(),
    });
    d.rows(200, 2, misses, always);
    assert_eq!(d.take(false), ["breach f1 v2 #1", "retrain (f1)"]);
}

#[test]
fn a_relative_floor_holds_each_version_to_its_own_test_figure() {
    let monitor = monitor(100, None, |m| m.relative = [("f1".to_string(), 0.9)].into());
    let mut d = Drive::new(Policy::from_spec(
        &monitor,
        &loop_spec(),
        None,
        false,
        Some(POS),
    ));
    // Test F1 0.8: a floor of 0.72. F1 of 0.67 (right on 3 rows of 4... of the positives
    // half are missed) breaches it.
    d.rows(100, 2, |s| s % 4 != 2, always);
    assert_eq!(
        d.take(false),
        ["breach relative.f1 v1 #0", "retrain (relative.f1)"]
    );
}

#[test]
fn windows_close_by_age_on_a_tick() {
    let monitor = monitor(1000, Some(1.0), |m| {
        m.min = [("f1".to_string(), 0.5)].into()
    });
    let mut d = Drive::new(Policy::from_spec(
        &monitor,
        &loop_spec(),
        None,
        false,
        Some(POS),
    ));
    d.rows(30, 2, always, always);
    assert!(d.take(true).is_empty());
    // Rows come a second apart: the first was labelled at 1 s; at 61 s it is a minute old.
    d.seq = 61;
    d.input(Input::Tick);
    assert_eq!(d.take(true), ["window champion v1 f1=1.00"]);
}

#[test]
fn change_detection_retrains_and_names_where_the_change_began() {
    let spec = LoopSpec {
        detect: Some(gyre_core::monitor::DetectSpec {
            method: gyre_core::monitor::DetectMethod::PageHinkley,
            delta: None,
            threshold: Some(20.0),
        }),
        ..loop_spec()
    };
    // No floor is ever breached (0.1), but the error rate jumps from 10 % to 60 % at row
    // 500.
    let found = detect(spec.clone(), 0);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("change since 500") || found[0].starts_with("change since 490"),
        "{found:?}"
    );
    assert!(found[1].starts_with("retrain (change)"), "{found:?}");
    // After a restart that replays rows the detector saw (up to 900), they are not shown to
    // it again: the change they showed is not found twice.
    assert!(detect(spec, 900).is_empty());
}

/// Rows 1 to 1,000 whose error rate jumps from 10 % to 60 % at row 500, with change
/// detection starting after row `after`: the changes and retrains asked for.
fn detect(spec: LoopSpec, after: u64) -> Vec<String> {
    let mut engine = Engine::new(policy(0.1, spec));
    engine.step(
        Input::Serving {
            version: 1,
            test: Default::default(),
        },
        0,
    );
    engine.detect_after(after);
    let mut found = Vec::new();
    for s in 1..=1000u64 {
        let truth = (s % 2) as u32;
        let wrong = if s <= 500 { s % 10 == 0 } else { s % 5 < 3 };
        let o = Outcome::Class {
            truth,
            predicted: if wrong { 1 - truth } else { truth },
            score: f64::NAN,
        };
        for a in engine.step(
            Input::Labelled(Labelled {
                seq: s,
                predicted_ms: s as i64,
                labelled_ms: s as i64,
                version: 1,
                served: Role::Champion,
                outcome: o,
                other: None,
            }),
            s as i64,
        ) {
            match a {
                Action::Change {
                    since_seq, at_seq, ..
                } => found.push(format!(
                    "change since {} at {}",
                    since_seq / 10 * 10,
                    at_seq / 10 * 10
                )),
                Action::Retrain {
                    rule, since_seq, ..
                } => found.push(format!(
                    "retrain ({rule}) since {}",
                    since_seq.unwrap_or(0) / 10 * 10
                )),
                _ => {}
            }
        }
    }
    found
}

#[test]
fn a_moved_base_rate_breaches_rate_gap_while_f1_holds() {
    // The model keeps predicting positives at the old rate: it misses every fourth positive
    // (positive rate 0.5, predicted 0.375). F1 stays 0.86, above its relative floor of 0.4;
    // the rate gap of 0.125 breaches a ceiling of 0.1 and retrains. The canary is still
    // judged on F1: a rate rule watches the model but does not rank two versions.
    let monitor = monitor(100, None, |m| {
        m.relative = [("f1".to_string(), 0.5)].into();
        m.max = [("rate_gap".to_string(), 0.1)].into();
    });
    let policy = Policy::from_spec(&monitor, &loop_spec(), None, false, Some(POS));
    assert_eq!(policy.canary.metric, "f1");
    let mut d = Drive::new(policy);
    d.rows(100, 2, always, always);
    assert_eq!(d.take(false), Vec::<String>::new());
    d.rows(100, 2, |s| !s.is_multiple_of(8), always);
    assert_eq!(
        d.take(false),
        ["breach rate_gap v1 #0", "retrain (rate_gap)"]
    );
}

/// One labelled row of `version` in `served`'s role at `seq`, right or wrong, with the other
/// version's outcome when given.
fn row(seq: u64, version: i64, served: Role, right: bool, other: Option<bool>) -> Labelled {
    let truth = u32::from(seq.is_multiple_of(2));
    let o = |right: bool| Outcome::Class {
        truth,
        predicted: if right { truth } else { 1 - truth },
        score: f64::NAN,
    };
    Labelled {
        seq,
        predicted_ms: seq as i64 * 1000,
        labelled_ms: seq as i64 * 1000,
        version,
        served,
        outcome: o(right),
        other: other.map(o),
    }
}

#[test]
fn a_shadow_is_judged_on_the_champions_own_requests() {
    let mut d = Drive::new(policy(0.7, loop_spec()));
    d.rows(100, 2, |s| s.is_multiple_of(4), always);
    assert_eq!(d.take(false), ["breach f1 v1 #0", "retrain (f1)"]);
    d.candidate(2);
    // Every request is answered by the champion and scored again by the shadow; the pair
    // is given once, on the shadow's row.
    for _ in 0..100 {
        d.seq += 1;
        let s = d.seq;
        let champ = s.is_multiple_of(4);
        d.input(Input::Labelled(row(s, 1, Role::Champion, champ, None)));
        d.input(Input::Labelled(row(s, 2, Role::Shadow, true, Some(champ))));
    }
    let log = d.take(true);
    assert!(log.contains(&"promote v2".to_string()), "{log:?}");
    assert!(
        log.iter().any(|l| l.starts_with("window shadow v2")),
        "{log:?}"
    );
}

#[test]
fn rows_recalled_after_a_restart_count_for_the_canary_only() {
    let mut d = Drive::new(policy(0.7, loop_spec()));
    d.candidate(2);
    for _ in 0..100 {
        d.seq += 1;
        let s = d.seq;
        d.input(Input::Recalled(row(
            s,
            2,
            Role::Challenger,
            true,
            Some(s.is_multiple_of(4)),
        )));
    }
    // No window closes and nothing is judged on recalled rows alone.
    assert_eq!(d.take(true), Vec::<String>::new());
    d.seq += 1;
    let s = d.seq;
    d.input(Input::Labelled(row(
        s,
        2,
        Role::Challenger,
        true,
        Some(false),
    )));
    let log = d.take(true);
    assert_eq!(log[0], "promote v2", "{log:?}");
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log[1].starts_with("window challenger v2"), "{log:?}");
}

#[test]
fn a_rule_judged_outside_the_windows_breaches_and_retrains() {
    let mut d = Drive::new(policy(0.7, loop_spec()));
    d.rows(100, 2, always, always);
    d.take(true);
    let drift = |value: f64| Input::Judged {
        version: 1,
        judgement: gyre_loop::judge::Judgement {
            rule: "drift.price".into(),
            value,
            threshold: 0.2,
            breached: value > 0.2,
        },
    };
    d.input(drift(0.4));
    assert_eq!(
        d.take(true),
        ["breach drift.price v1 #0", "retrain (drift.price)"]
    );
    d.input(Input::Rejected {
        reason: "no candidate".into(),
    });
    d.input(drift(0.1));
    assert_eq!(d.take(true), ["recover drift.price v1"]);
}

#[test]
fn a_canary_withdrawn_by_hand_and_a_new_champion_free_the_loop() {
    let mut d = Drive::new(policy(0.7, loop_spec()));
    d.rows(100, 2, |s| s.is_multiple_of(4), always);
    assert_eq!(d.take(false), ["breach f1 v1 #0", "retrain (f1)"]);
    d.candidate(2);
    // The candidate's alias is removed by hand: no canary runs, so the persistent breach
    // retrains again after its cooldown.
    d.input(Input::Withdrawn);
    assert_eq!(d.engine.versions(), (Some(1), None));
    d.rows(200, 2, |s| s.is_multiple_of(4), always);
    assert_eq!(d.take(false), ["breach f1 v1 #1", "retrain (f1)"]);
    // While that retrain is under way, version 3 is made champion by hand: the retrain is
    // over, and v3's own bad window asks for another.
    d.input(Input::Serving {
        version: 3,
        test: Default::default(),
    });
    assert!(!d.engine.retraining());
    for _ in 0..100 {
        d.seq += 1;
        let s = d.seq;
        d.input(Input::Labelled(row(
            s,
            3,
            Role::Champion,
            s.is_multiple_of(4),
            None,
        )));
    }
    assert_eq!(d.take(false), ["breach f1 v3 #0", "retrain (f1)"]);
}
