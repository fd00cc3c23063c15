//! The canary's verdict: the candidate against the champion on the rows both answered in
//! the same period, judged by the loop engine; a promotion or a rollback is an audited alias
//! move and a monitor event.

use super::*;

impl Monitor {
    /// Judges the canary once it has `min_labels` labels: promotes the challenger when it is
    /// no worse than the champion on the predictions both made in the same period, and rolls
    /// it back otherwise. Both are alias moves with audit rows, and monitor events.
    pub(super) async fn canary(&mut self, project: &Project, now: i64) -> Result<Option<Decision>> {
        let Some(loop_spec) = self.loop_spec.clone() else {
            return Ok(None);
        };
        let aliases = project.meta.aliases(&self.model).await?;
        let get = |a: &str| aliases.iter().find(|(x, _)| x == a).map(|(_, v)| *v);
        let (Some(candidate), Some(champion)) = (get("challenger"), get("champion")) else {
            return Ok(None);
        };
        if candidate == champion {
            return Ok(None);
        }
        // When the candidate became challenger.
        let since = project
            .meta
            .alias_events(&self.model)
            .await?
            .into_iter()
            .rev()
            .find(|e| e.alias == "challenger" && e.to == Some(candidate))
            .map_or(0, |e| e.at_ms);
        let limit = 1 << 22;
        let mut cand: Vec<LabelledRow> = Vec::new();
        for role in ["challenger", "shadow"] {
            cand.extend(
                project
                    .meta
                    .labelled_since(&self.model, role, since, limit)
                    .await?
                    .into_iter()
                    .filter(|r| r.version == candidate),
            );
        }
        if (cand.len() as u64) < loop_spec.canary.min_labels.unwrap_or(self.min_labels) {
            return Ok(None);
        }
        let until = cand.iter().map(|r| r.predicted_ms).max().unwrap_or(now);
        let champ: Vec<LabelledRow> = project
            .meta
            .labelled_since(&self.model, "champion", since, limit)
            .await?
            .into_iter()
            .filter(|r| r.version == champion && r.predicted_ms <= until)
            .collect();
        let answers = self.answers(project, candidate).await?;
        let metric = self.loop_metric(&answers);
        let regression = answers.classes.is_empty();
        let mut classes = gyre_loop::Classes::new(&answers.classes, answers.positive());
        let keyed = |rows: &[LabelledRow], classes: &mut gyre_loop::Classes| {
            rows.iter()
                .filter_map(|r| {
                    outcome(r, classes, regression)
                        .map(|o| ((r.request_id.clone(), r.row_index), o))
                })
                .collect::<Vec<_>>()
        };
        let cand_outcomes = keyed(&cand, &mut classes);
        let champ_outcomes = keyed(&champ, &mut classes);
        // A shadow scored the champion's own requests: those rows are compared pairwise.
        let by_key: HashMap<&(String, i64), gyre_loop::Outcome> =
            champ_outcomes.iter().map(|(k, o)| (k, *o)).collect();
        let pairs: Vec<(gyre_loop::Outcome, gyre_loop::Outcome)> = cand_outcomes
            .iter()
            .filter_map(|(k, c)| by_key.get(k).map(|h| (*h, *c)))
            .collect();
        let c_only: Vec<gyre_loop::Outcome> = cand_outcomes.iter().map(|(_, o)| *o).collect();
        let h_only: Vec<gyre_loop::Outcome> = champ_outcomes.iter().map(|(_, o)| *o).collect();
        let rows = if pairs.len() * 2 >= c_only.len() && !pairs.is_empty() {
            gyre_loop::canary::Rows::Paired(&pairs)
        } else {
            gyre_loop::canary::Rows::Apart {
                champion: &h_only,
                candidate: &c_only,
            }
        };
        let mut policy = gyre_loop::Policy::from_spec(
            &self.spec,
            &loop_spec,
            Some(self.min_labels),
            regression,
            classes.positive(),
        )
        .canary;
        policy.metric = metric.clone();
        let verdict = gyre_loop::canary::judge(rows, &policy, classes.positive());
        let promoted = match verdict.decision {
            gyre_loop::canary::Decision::Wait => return Ok(None),
            gyre_loop::canary::Decision::Promote => true,
            gyre_loop::canary::Decision::Rollback => false,
        };
        let (candidate_value, champion_value) = (verdict.candidate, verdict.champion);
        let detail = format!(
            "canary: v{candidate} against v{champion} since it started, {}",
            verdict.summary()
        );
        if promoted {
            project
                .set_alias(
                    &format!("{}@{candidate}", self.model),
                    "champion",
                    &format!("loop: promoted; {detail}"),
                    false,
                    &crate::settings::actor(),
                )
                .await?;
            project
                .remove_alias(
                    &self.model,
                    "challenger",
                    &format!("loop: promoted to champion; {detail}"),
                    &crate::settings::actor(),
                )
                .await?;
        } else {
            project
                .remove_alias(
                    &self.model,
                    "challenger",
                    &format!("loop: rolled back; {detail}"),
                    &crate::settings::actor(),
                )
                .await?;
        }
        let e = MonitorEvent {
            id: 0,
            ts_ms: now,
            model: self.model.clone(),
            version: candidate,
            rule: metric.clone(),
            kind: if promoted { "promote" } else { "rollback" }.into(),
            point: None,
            value: Some(candidate_value),
            threshold: Some(champion_value),
            detail,
        };
        project.meta.add_event(&e).await?;
        Ok(Some(Decision {
            model: self.model.clone(),
            candidate,
            champion,
            metric,
            candidate_value,
            champion_value,
            labels: verdict.labels as usize,
            promoted,
            verdict,
        }))
    }
}
