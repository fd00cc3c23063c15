//! `gyre report delivery`: the four DORA delivery metrics, carried over to models and computed
//! from what gyre already records: the registry's audit trail (alias moves) and the monitor's
//! events.
//!
//! - **Deployment frequency**: moves of `champion` to a new version, per week.
//! - **Lead time for changes**: from the change a version was made from (the newest of the
//!   data versions its training run read and its git commit) to its promotion.
//! - **Change failure rate**: the share of those promotions later rolled back.
//! - **Time to recover**: from a breach of a monitoring rule to its recovery, or to the next
//!   promotion, whichever comes first.

use crate::{OpsError, Project, Result, registry::CHAMPION};
use gyre_store::{AliasEvent, AliasKind, MonitorEvent};
use serde::Serialize;
use std::collections::BTreeMap;

const WEEK_MS: f64 = 7.0 * 86_400_000.0;

/// A promotion of `champion`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Promotion {
    pub version: i64,
    pub at_ms: i64,
    /// When the change it was made from happened, when known.
    pub change_ms: Option<i64>,
    pub lead_ms: Option<i64>,
    /// Champion was later rolled back from this version.
    pub rolled_back: bool,
}

/// A breach and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    pub rule: String,
    pub version: i64,
    pub breach_ms: i64,
    pub recovered_ms: Option<i64>,
    /// `recover` (the rule held again) or `promotion` (a new champion took over).
    pub ended_by: Option<&'static str>,
}

/// Median and mean of durations, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Durations {
    pub n: usize,
    pub median_ms: Option<f64>,
    pub mean_ms: Option<f64>,
}

fn durations(mut v: Vec<i64>) -> Durations {
    v.sort_unstable();
    let n = v.len();
    let median_ms = match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2] as f64),
        _ => Some((v[n / 2 - 1] + v[n / 2]) as f64 / 2.0),
    };
    let mean_ms = (n > 0).then(|| v.iter().sum::<i64>() as f64 / n as f64);
    Durations {
        n,
        median_ms,
        mean_ms,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryReport {
    pub model: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub deployments: usize,
    pub deployments_per_week: f64,
    pub lead_time: Durations,
    /// Promotions later rolled back, of all promotions in the period.
    pub change_failure_rate: Option<f64>,
    pub time_to_recover: Durations,
    /// Breaches with no recovery and no promotion since.
    pub open_breaches: usize,
    /// Candidates the canary rolled back before they reached champion (caught, not failed).
    pub canary_rollbacks: usize,
    pub promotions: Vec<Promotion>,
    pub incidents: Vec<Incident>,
}

/// The metrics over `[from_ms, to_ms]` from a model's alias moves (oldest first), its monitor
/// events (oldest first), and when each version's change happened.
pub fn delivery_metrics(
    model: &str,
    moves: &[AliasEvent],
    events: &[MonitorEvent],
    changes: &BTreeMap<i64, i64>,
    from_ms: i64,
    to_ms: i64,
) -> DeliveryReport {
    let champion: Vec<&AliasEvent> = moves.iter().filter(|m| m.alias == CHAMPION).collect();
    let promotions: Vec<Promotion> = champion
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            m.kind == AliasKind::Move
                && m.to.is_some()
                && m.to != m.from
                && (from_ms..=to_ms).contains(&m.at_ms)
        })
        .map(|(i, m)| {
            let version = m.to.unwrap_or_default();
            let change_ms = changes.get(&version).copied();
            // Failed: the very next move of champion rolled it back (a later rollback from
            // the same version belongs to a later promotion of it).
            let rolled_back = champion
                .get(i + 1)
                .is_some_and(|r| r.kind == AliasKind::Rollback && r.from == Some(version));
            Promotion {
                version,
                at_ms: m.at_ms,
                change_ms,
                lead_ms: change_ms.map(|c| (m.at_ms - c).max(0)),
                rolled_back,
            }
        })
        .collect();
    let promoted_at: Vec<i64> = champion
        .iter()
        .filter(|m| m.to.is_some() && m.to != m.from)
        .map(|m| m.at_ms)
        .collect();
    let incidents: Vec<Incident> = events
        .iter()
        .filter(|e| e.kind == "breach" && (from_ms..=to_ms).contains(&e.ts_ms))
        .map(|b| {
            let recover = events
                .iter()
                .find(|e| e.kind == "recover" && e.rule == b.rule && e.ts_ms >= b.ts_ms)
                .map(|e| e.ts_ms);
            let promotion = promoted_at.iter().copied().find(|&t| t > b.ts_ms);
            let (recovered_ms, ended_by) = match (recover, promotion) {
                (Some(r), Some(p)) if p < r => (Some(p), Some("promotion")),
                (Some(r), _) => (Some(r), Some("recover")),
                (None, Some(p)) => (Some(p), Some("promotion")),
                (None, None) => (None, None),
            };
            Incident {
                rule: b.rule.clone(),
                version: b.version,
                breach_ms: b.ts_ms,
                recovered_ms,
                ended_by,
            }
        })
        .collect();
    let weeks = ((to_ms - from_ms).max(1) as f64 / WEEK_MS).max(1.0 / 7.0);
    let failed = promotions.iter().filter(|p| p.rolled_back).count();
    DeliveryReport {
        model: model.to_string(),
        from_ms,
        to_ms,
        deployments: promotions.len(),
        deployments_per_week: promotions.len() as f64 / weeks,
        lead_time: durations(promotions.iter().filter_map(|p| p.lead_ms).collect()),
        change_failure_rate: (!promotions.is_empty())
            .then(|| failed as f64 / promotions.len() as f64),
        time_to_recover: durations(
            incidents
                .iter()
                .filter_map(|i| i.recovered_ms.map(|r| r - i.breach_ms))
                .collect(),
        ),
        open_breaches: incidents
            .iter()
            .filter(|i| i.recovered_ms.is_none())
            .count(),
        canary_rollbacks: events
            .iter()
            .filter(|e| e.kind == "rollback" && (from_ms..=to_ms).contains(&e.ts_ms))
            .count(),
        promotions,
        incidents,
    }
}

/// Seconds since the epoch of a git commit, in ms, when git knows it.
fn commit_ms(root: &std::path::Path, commit: &str) -> Option<i64> {
    let out = std::process::Command::new("git")
        .args(["show", "-s", "--format=%ct", commit])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse::<i64>()
        .ok()
        .map(|s| s * 1000)
}

impl Project {
    /// The delivery metrics of `model` (default: the served or watched one) since `since_ms`
    /// (default: its first alias move) until now.
    pub async fn delivery_report(
        &self,
        model: Option<&str>,
        since_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<DeliveryReport> {
        let model = match model {
            Some(m) => m.to_string(),
            None => self.served_model().ok_or_else(|| {
                OpsError::Invalid(
                    "which model? `--model NAME`, or [serve] model in gyre.toml".into(),
                )
            })?,
        };
        let moves = self.meta.alias_events(&model).await?;
        if moves.is_empty() && self.meta.model_versions(Some(&model)).await?.is_empty() {
            return Err(OpsError::NotFound(format!(
                "no model `{model}` is registered"
            )));
        }
        let events = self.meta.events(Some(&model), 0).await?;
        // When each version's change happened: the newest of its training run's data
        // versions and its git commit.
        let mut changes = BTreeMap::new();
        for v in self.meta.model_versions(Some(&model)).await? {
            let Some(run) = self.training_run(&v).await? else {
                continue;
            };
            let mut change: Option<i64> = None;
            for input in &run.inputs {
                let Some(r) = input.strip_prefix("dataset:") else {
                    continue;
                };
                if let Ok(reference) = r.parse::<gyre_core::DatasetRef>()
                    && let Ok(version) = self.meta.resolve_version(&reference).await
                    && let Ok(at) = chrono::DateTime::parse_from_rfc3339(&version.info.created_at)
                {
                    change = change.max(Some(at.timestamp_millis()));
                }
            }
            if let Some(c) = &run.start.git_commit {
                change = change.max(commit_ms(&self.root, c));
            }
            changes.insert(v.version, change.unwrap_or(run.start.started_ms));
        }
        let from_ms = since_ms.unwrap_or_else(|| moves.first().map_or(now_ms, |m| m.at_ms));
        Ok(delivery_metrics(
            &model, &moves, &events, &changes, from_ms, now_ms,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn mv(
        alias: &str,
        from: Option<i64>,
        to: Option<i64>,
        at_h: i64,
        kind: AliasKind,
    ) -> AliasEvent {
        AliasEvent {
            name: "m".into(),
            alias: alias.into(),
            from,
            to,
            user: "u".into(),
            reason: String::new(),
            forced: false,
            at_ms: at_h * H,
            kind,
        }
    }

    fn ev(kind: &str, rule: &str, version: i64, at_h: i64) -> MonitorEvent {
        MonitorEvent {
            id: 0,
            ts_ms: at_h * H,
            model: "m".into(),
            version,
            rule: rule.into(),
            kind: kind.into(),
            point: None,
            value: None,
            threshold: None,
            detail: String::new(),
        }
    }

    /// A scripted history, counted by hand:
    /// - v1 champion at 0 h (made from a change at -10 h); v2 at 24 h (change at 20 h);
    ///   rolled back to v1 at 30 h; v3 at 100 h (change at 90 h). The challenger alias and
    ///   the rollback itself are not deployments: 3 promotions, lead times 10, 4 and 10 h.
    /// - Of the 3, v2 was rolled back: a change failure rate of 1/3.
    /// - f1 breached at 50 h and recovered at 56 h (6 h); drift breached at 80 h and a new
    ///   champion came at 100 h (20 h); latency breached at 120 h and is still open.
    /// - one canary rolled back a candidate at 60 h.
    #[test]
    fn a_scripted_history_gives_the_hand_counted_figures() {
        use AliasKind::{Move, Rollback};
        let moves = vec![
            mv("champion", None, Some(1), 0, Move),
            mv("challenger", None, Some(2), 20, Move),
            mv("champion", Some(1), Some(2), 24, Move),
            mv("champion", Some(2), Some(1), 30, Rollback),
            mv("champion", Some(1), Some(3), 100, Move),
        ];
        let events = vec![
            ev("breach", "f1", 1, 50),
            ev("recover", "f1", 1, 56),
            ev("rollback", "f1", 4, 60),
            ev("breach", "drift", 1, 80),
            ev("breach", "p99_ms", 3, 120),
        ];
        let changes = BTreeMap::from([(1, -10 * H), (2, 20 * H), (3, 90 * H)]);
        let r = delivery_metrics("m", &moves, &events, &changes, 0, 168 * H);
        assert_eq!(r.deployments, 3);
        assert!(
            (r.deployments_per_week - 3.0).abs() < 1e-12,
            "{}",
            r.deployments_per_week
        );
        assert_eq!(
            r.promotions.iter().map(|p| p.lead_ms).collect::<Vec<_>>(),
            [Some(10 * H), Some(4 * H), Some(10 * H)]
        );
        assert_eq!(r.lead_time.median_ms, Some((10 * H) as f64));
        assert_eq!(r.lead_time.mean_ms, Some((8 * H) as f64));
        assert_eq!(r.change_failure_rate, Some(1.0 / 3.0));
        assert_eq!(r.time_to_recover.n, 2);
        assert_eq!(r.time_to_recover.median_ms, Some((13 * H) as f64));
        assert_eq!(
            r.incidents.iter().map(|i| i.ended_by).collect::<Vec<_>>(),
            [Some("recover"), Some("promotion"), None]
        );
        assert_eq!(r.open_breaches, 1);
        assert_eq!(r.canary_rollbacks, 1);
        // A window that starts after the first two promotions sees only v3's.
        let later = delivery_metrics("m", &moves, &events, &changes, 72 * H, 168 * H);
        assert_eq!(later.deployments, 1);
        assert_eq!(later.change_failure_rate, Some(0.0));
    }

    #[test]
    fn an_empty_history_has_no_rates() {
        let r = delivery_metrics("m", &[], &[], &BTreeMap::new(), 0, 7 * 24 * H);
        assert_eq!((r.deployments, r.change_failure_rate), (0, None));
        assert_eq!(r.lead_time.median_ms, None);
    }
}
