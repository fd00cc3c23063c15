//! The engine's actions applied to the store: a closed window is a point, a breach, recovery
//! or detected change is an event, a retrain is an event that monitor triggers run on (when
//! one does), and a canary's verdict is an audited alias move and an event.

use super::*;
use gyre_loop::engine::Input;

impl Monitor {
    /// Applies the actions the engine asked for since the last call. `point` is the stored
    /// point the first judgements belong to (a traffic window's), until a window closes.
    pub(super) async fn apply(
        &mut self,
        project: &Project,
        now: i64,
        mut point: Option<i64>,
        report: &mut PassReport,
    ) -> Result<()> {
        loop {
            let Some(d) = self.driven.as_mut() else {
                return Ok(());
            };
            if d.deferred.is_empty() {
                return Ok(());
            }
            let actions = std::mem::take(&mut d.deferred);
            for action in actions {
                match action {
                    Action::Window {
                        role,
                        version,
                        figures,
                        first_seq,
                        last_seq,
                        start_ms,
                        end_ms,
                        ..
                    } => {
                        let mut p = MonitorPoint {
                            id: 0,
                            model: self.model.clone(),
                            role: role.as_str().into(),
                            version,
                            kind: LABELS.into(),
                            first_seq: first_seq as i64,
                            last_seq: last_seq as i64,
                            start_ms,
                            end_ms,
                            n: figures.get("labels").copied().unwrap_or(0.0) as i64,
                            metrics: serde_json::to_string(&figures).unwrap_or_default(),
                        };
                        p.id = project.meta.add_point(&p).await?;
                        point = Some(p.id);
                        report.points.push(p);
                    }
                    Action::Breach {
                        rule,
                        version,
                        value,
                        threshold,
                        refire,
                    } => {
                        let repeat = if refire > 0 {
                            format!("; still in breach, repeat {refire}")
                        } else {
                            String::new()
                        };
                        let e = self.rule_event(version, &rule, "breach", value, threshold, now);
                        let e = MonitorEvent {
                            point,
                            detail: e.detail + &repeat,
                            ..e
                        };
                        report.events.push(self.record(project, e).await?);
                    }
                    Action::Recover {
                        rule,
                        version,
                        value,
                        threshold,
                    } => {
                        let e = self.rule_event(version, &rule, "recover", value, threshold, now);
                        let e = MonitorEvent { point, ..e };
                        report.events.push(self.record(project, e).await?);
                    }
                    Action::Change {
                        version, since_seq, ..
                    } => {
                        let method = self
                            .loop_spec
                            .as_ref()
                            .and_then(|l| l.detect.as_ref())
                            .map(|d| format!("{:?}", d.method))
                            .unwrap_or_default();
                        let detail = format!(
                            "the error rate of v{version} changed ({method}); from about \
                             labelled row #{since_seq}"
                        );
                        let e = self.event(version, "change", "change", detail, now);
                        report.events.push(self.record(project, e).await?);
                    }
                    Action::Retrain {
                        rule,
                        reason,
                        labels,
                        positives,
                        ..
                    } => {
                        if let Some(e) = self
                            .retrain(project, &rule, &reason, labels, positives, now)
                            .await?
                        {
                            report.events.push(e);
                        }
                    }
                    Action::Promote {
                        version,
                        champion,
                        verdict,
                    } => {
                        let d = self.verdict(project, version, champion, verdict, true, now);
                        report.decision = Some(d.await?);
                    }
                    Action::Rollback {
                        version,
                        champion,
                        verdict,
                    } => {
                        let d = self.verdict(project, version, champion, verdict, false, now);
                        report.decision = Some(d.await?);
                    }
                }
            }
        }
    }

    fn event(
        &self,
        version: i64,
        rule: &str,
        kind: &str,
        detail: String,
        now: i64,
    ) -> MonitorEvent {
        MonitorEvent {
            id: 0,
            ts_ms: now,
            model: self.model.clone(),
            version,
            rule: rule.into(),
            kind: kind.into(),
            point: None,
            value: None,
            threshold: None,
            detail,
        }
    }

    /// A rule's breach or recovery: `f1 = 0.52 (min 0.6)`.
    fn rule_event(
        &self,
        version: i64,
        rule: &str,
        kind: &str,
        value: f64,
        threshold: f64,
        now: i64,
    ) -> MonitorEvent {
        let bound = if lower_is_better(rule) { "max" } else { "min" };
        let detail = format!("{rule} = {} ({bound} {})", short(value), short(threshold));
        MonitorEvent {
            value: Some(value),
            threshold: Some(threshold),
            ..self.event(version, rule, kind, detail, now)
        }
    }

    /// Stores an event. One that names no window (a retrain, a verdict) is tied to the
    /// champion's latest window, so a chart can place it on the labelled-prediction axis
    /// whichever clock the loop ran on.
    async fn record(&self, project: &Project, mut e: MonitorEvent) -> Result<MonitorEvent> {
        if e.point.is_none() {
            e.point = project
                .meta
                .last_point(&self.model, LABELS, "champion")
                .await?
                .map(|p| p.id);
        }
        e.id = project.meta.add_event(&e).await?;
        Ok(e)
    }

    /// A retrain: an event that the monitor triggers running on `rule` fire on. With no
    /// such trigger nothing would retrain, so the engine hears at once that none came.
    async fn retrain(
        &mut self,
        project: &Project,
        rule: &str,
        reason: &str,
        labels: u64,
        positives: u64,
        now: i64,
    ) -> Result<Option<MonitorEvent>> {
        let Some(d) = self.driven.as_mut() else {
            return Ok(None);
        };
        if !project.spec.trigger.iter().any(|t| t.runs_on(rule)) {
            d.step(
                Input::Rejected {
                    reason: format!("no monitor trigger runs on `{rule}`"),
                },
                now,
            );
            return Ok(None);
        }
        d.retrain = Some((now, rule.to_string()));
        let version = d.champion;
        let positive = if d.regression {
            String::new()
        } else {
            format!(", {positives} positive")
        };
        let detail = format!("{reason}; {labels} new labels{positive} since the last retrain");
        let e = self.event(version, rule, "retrain", detail, now);
        Ok(Some(self.record(project, e).await?))
    }

    /// A canary's verdict: the candidate promoted to champion, or rolled back; both are
    /// audited alias moves and an event.
    async fn verdict(
        &mut self,
        project: &Project,
        candidate: i64,
        champion: i64,
        verdict: gyre_loop::canary::Verdict,
        promoted: bool,
        now: i64,
    ) -> Result<Decision> {
        let metric = self
            .driven
            .as_ref()
            .map(|d| d.engine.policy().canary.metric.clone())
            .unwrap_or_default();
        let detail = format!(
            "canary: v{candidate} against v{champion} since it started, {}",
            verdict.summary()
        );
        let actor = crate::settings::actor();
        if promoted {
            project
                .set_alias(
                    &format!("{}@{candidate}", self.model),
                    "champion",
                    &format!("loop: promoted; {detail}"),
                    false,
                    &actor,
                )
                .await?;
            project
                .remove_alias(
                    &self.model,
                    "challenger",
                    &format!("loop: promoted to champion; {detail}"),
                    &actor,
                )
                .await?;
        } else {
            project
                .remove_alias(
                    &self.model,
                    "challenger",
                    &format!("loop: rolled back; {detail}"),
                    &actor,
                )
                .await?;
        }
        // The engine moved already; what it was told now matches the aliases.
        if let Some(d) = self.driven.as_mut() {
            d.candidate = None;
            if promoted {
                d.champion = candidate;
            }
        }
        let kind = if promoted { "promote" } else { "rollback" };
        let e = MonitorEvent {
            value: Some(verdict.candidate),
            threshold: Some(verdict.champion),
            ..self.event(candidate, &metric, kind, detail, now)
        };
        self.record(project, e).await?;
        Ok(Decision {
            model: self.model.clone(),
            candidate,
            champion,
            metric,
            candidate_value: verdict.candidate,
            champion_value: verdict.champion,
            labels: verdict.labels as usize,
            promoted,
            verdict,
        })
    }
}
