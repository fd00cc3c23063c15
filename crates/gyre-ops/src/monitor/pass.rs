//! One pass of the monitor: the labels joined, the engine told what serves and fed the new
//! labelled rows and the clock (windows, rules, change detection, the canary), the champion's
//! age judged, a retrain that ended without a candidate settled, the engine's actions
//! applied; then an online champion's learning.

use super::*;
use gyre_loop::engine::Input;

impl Monitor {
    /// One pass at time `now` (ms since the epoch).
    pub async fn pass(&mut self, project: &Project, now: i64) -> Result<PassReport> {
        let mut report = PassReport {
            // Every pending label (the partial index keeps this cheap; a label whose
            // prediction never comes is retried each pass).
            joined: project.meta.join_pending(i64::MIN).await?,
            ..PassReport::default()
        };
        self.sync_versions(project, now).await?;
        self.feed(project, now).await?;
        if let Some(d) = self.driven.as_mut() {
            d.step(Input::Tick, now);
        }
        self.judge_age(project, now).await?;
        self.settle_retrain(project, now).await?;
        self.apply(project, now, None, &mut report).await?;
        if report.decision.is_none()
            && let Some(loop_spec) = &self.loop_spec
        {
            let every = loop_spec
                .snapshot
                .as_ref()
                .map_or(crate::online::DEFAULT_SNAPSHOT_LABELS, |s| s.labels);
            let canary_live = project
                .meta
                .aliases(&self.model)
                .await?
                .iter()
                .any(|(a, _)| a == "challenger");
            report.events.extend(
                crate::online::learn(
                    &mut self.live,
                    project,
                    &self.model,
                    every,
                    canary_live,
                    now,
                )
                .await?,
            );
        }
        Ok(report)
    }

    /// `[monitor] max_age_days`: the champion's age, judged like any rule.
    async fn judge_age(&mut self, project: &Project, now: i64) -> Result<()> {
        let Some(max_days) = self.spec.max_age_days else {
            return Ok(());
        };
        let Ok(v) = project
            .resolve_model_version(&format!("{}@champion", self.model))
            .await
        else {
            return Ok(());
        };
        let age = (now - v.created_ms) as f64 / 86_400_000.0;
        let judgement = Judgement {
            rule: "age_days".into(),
            value: age,
            threshold: max_days,
            breached: age > max_days,
        };
        self.judged(v.version, judgement, now);
        Ok(())
    }
}
