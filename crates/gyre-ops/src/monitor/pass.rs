//! One pass of the monitor: the labels joined, each role's windows closed and judged, the
//! breach book kept, change detection, staleness, then the canary and an online champion's
//! learning.

use super::*;

impl Monitor {
    pub(super) async fn catch_up(&mut self, project: &Project) -> Result<Vec<MonitorEvent>> {
        let new = project
            .meta
            .events(Some(&self.model), self.last_event)
            .await?;
        for e in &new {
            match e.kind.as_str() {
                "breach" => self.breaches.restore(&e.rule, e.version, e.ts_ms),
                "recover" => self.breaches.close(&e.rule),
                _ => {}
            }
            self.last_event = self.last_event.max(e.id);
        }
        Ok(new)
    }

    /// Rules in breach now.
    pub fn breached(&self) -> Vec<String> {
        self.breaches.all().map(|(r, _)| r.to_string()).collect()
    }

    pub(super) async fn answers(&mut self, project: &Project, version: i64) -> Result<Answers> {
        if let Some(a) = self.answers.get(&version) {
            return Ok(a.clone());
        }
        let (_, loaded) = project
            .registered_model(&format!("{}@{version}", self.model))
            .await?;
        let classes = loaded.model.signature.classes.clone();
        let positive = match &self.spec.positive {
            Some(p) => Some(p.clone()),
            None if let Some(c) = loaded.model.decision => classes.get(c.class as usize).cloned(),
            None if classes.len() == 2 => {
                let mut sorted = classes.clone();
                sorted.sort();
                Some(sorted[1].clone())
            }
            None => None,
        };
        let a = Answers {
            classes,
            positive,
            test: loaded.model.metrics.iter().cloned().collect(),
        };
        self.answers.insert(version, a.clone());
        Ok(a)
    }

    /// Records a judgement as an event when the engine's breach book says so: a breach that
    /// starts, one that persists past its cooldown (unless a canary runs), a recovery.
    pub async fn judge(
        &mut self,
        project: &Project,
        j: &Judgement,
        version: i64,
        point: Option<i64>,
        now: i64,
    ) -> Result<Option<MonitorEvent>> {
        use gyre_loop::breach::Change;
        let change = self.breaches.judge(j, version, now, self.cooldown);
        let repeat = match change {
            None => return Ok(None),
            // The canary's verdict comes first; the breach stays open meanwhile.
            Some(Change::Breach { refire }) if refire > 0 && self.canary_live => return Ok(None),
            Some(Change::Breach { refire }) => refire,
            Some(Change::Recover) => 0,
        };
        let breached = matches!(change, Some(Change::Breach { .. }));
        let mut e = MonitorEvent {
            id: 0,
            ts_ms: now,
            model: self.model.clone(),
            version,
            rule: j.rule.clone(),
            kind: if breached { "breach" } else { "recover" }.into(),
            point,
            value: Some(j.value),
            threshold: Some(j.threshold),
            detail: format!(
                "{} = {} ({} {}){}",
                j.rule,
                short(j.value),
                if lower_is_better(&j.rule) {
                    "max"
                } else {
                    "min"
                },
                short(j.threshold),
                if repeat > 0 {
                    format!("; still in breach, repeat {repeat}")
                } else {
                    String::new()
                }
            ),
        };
        e.id = project.meta.add_event(&e).await?;
        self.last_event = self.last_event.max(e.id);
        Ok(Some(e))
    }

    /// One pass at time `now` (ms since the epoch).
    pub async fn pass(&mut self, project: &Project, now: i64) -> Result<PassReport> {
        let mut report = PassReport {
            // Every pending label (the partial index keeps this cheap; a label whose
            // prediction never comes is retried each pass).
            joined: project.meta.join_pending(i64::MIN).await?,
            ..PassReport::default()
        };
        self.catch_up(project).await?;
        let aliases = project.meta.aliases(&self.model).await?;
        let alias = |a: &str| aliases.iter().find(|(x, _)| x == a).map(|(_, v)| *v);
        self.canary_live = alias("challenger").is_some_and(|c| Some(c) != alias("champion"));
        let size = self.spec.window.labels.unwrap_or(u64::MAX).min(1 << 20) as i64;
        let span = self.spec.window.minutes.map(|m| (m * 60_000.0) as i64);
        for role in ROLES {
            loop {
                let after = project
                    .meta
                    .last_point(&self.model, LABELS, role)
                    .await?
                    .map_or(0, |p| p.last_seq);
                let mut rows = project
                    .meta
                    .labelled_after(&self.model, role, after, size)
                    .await?;
                let Some(first) = rows.first() else { break };
                // A window holds one version: a change of version closes it early.
                let version = first.version;
                let cut = rows
                    .iter()
                    .position(|r| r.version != version)
                    .unwrap_or(rows.len());
                let changed = cut < rows.len();
                rows.truncate(cut);
                let full = rows.len() as i64 >= size;
                let aged = span.is_some_and(|s| now - rows[0].labelled_ms >= s);
                if !(full || changed || aged) {
                    break;
                }
                let answers = self.answers(project, version).await?;
                let figures = quality(&rows, &answers);
                let mut point = MonitorPoint {
                    id: 0,
                    model: self.model.clone(),
                    role: role.into(),
                    version,
                    kind: LABELS.into(),
                    first_seq: rows[0].seq,
                    last_seq: rows[rows.len() - 1].seq,
                    start_ms: rows.iter().map(|r| r.predicted_ms).min().unwrap_or(now),
                    end_ms: rows.iter().map(|r| r.predicted_ms).max().unwrap_or(now),
                    n: rows.len() as i64,
                    metrics: serde_json::to_string(&figures).unwrap_or_default(),
                };
                point.id = project.meta.add_point(&point).await?;
                // A fragment (a few late labels of a version no longer served) is kept in
                // the series but judges nothing.
                if role == "champion" && (full || aged || rows.len() as i64 * 2 >= size) {
                    for j in judge_quality(&self.spec, &figures, &answers.test) {
                        if let Some(e) = self
                            .judge(project, &j, version, Some(point.id), now)
                            .await?
                        {
                            report.events.push(e);
                        }
                    }
                }
                report.points.push(point);
            }
        }
        report.events.extend(self.detect(project, now).await?);
        // Staleness.
        if let Some(max_days) = self.spec.max_age_days
            && let Ok(v) = project
                .resolve_model_version(&format!("{}@champion", self.model))
                .await
        {
            let age = (now - v.created_ms) as f64 / 86_400_000.0;
            let j = Judgement {
                rule: "age_days".into(),
                value: age,
                threshold: max_days,
                breached: age > max_days,
            };
            if let Some(e) = self.judge(project, &j, v.version, None, now).await? {
                report.events.push(e);
            }
        }
        report.decision = self.canary(project, now).await?;
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

    /// `[loop] detect`: the champion's errors on the labels joined since the last pass, one
    /// at a time, into the change detector; a detected change is a `change` event (rule
    /// `change`), which monitor triggers run on like a breach.
    pub(super) async fn detect(
        &mut self,
        project: &Project,
        now: i64,
    ) -> Result<Vec<MonitorEvent>> {
        let Some(spec) = self.loop_spec.as_ref().and_then(|l| l.detect.clone()) else {
            return Ok(Vec::new());
        };
        let Ok(champion) = project
            .resolve_model_version(&format!("{}@champion", self.model))
            .await
        else {
            return Ok(Vec::new());
        };
        let rows = project
            .meta
            .labelled_after(&self.model, "champion", self.detect_cursor, 1 << 20)
            .await?;
        let Some(last) = rows.last() else {
            return Ok(Vec::new());
        };
        self.detect_cursor = last.seq;
        let answers = self.answers(project, champion.version).await?;
        let regression = answers.classes.is_empty();
        if self
            .detector
            .as_ref()
            .is_none_or(|(v, _)| *v != champion.version)
        {
            self.detector = Some((
                champion.version,
                gyre_loop::detect::Detector::from_spec(&spec, regression),
            ));
        }
        let mut classes = gyre_loop::Classes::new(&answers.classes, answers.positive());
        let mut events = Vec::new();
        let mut seen: Vec<i64> = Vec::new();
        for r in rows.iter().filter(|r| r.version == champion.version) {
            let Some(o) = outcome(r, &mut classes, regression) else {
                continue;
            };
            seen.push(r.seq);
            let Some((_, d)) = self.detector.as_mut() else {
                break;
            };
            if let Some(alarm) = d.add(o.error()) {
                // `since` counts from the detector's reset, which may predate this pass.
                let back = (alarm.at - alarm.since) as usize;
                let since = seen[seen.len().saturating_sub(back + 1)];
                let mut e = MonitorEvent {
                    id: 0,
                    ts_ms: now,
                    model: self.model.clone(),
                    version: champion.version,
                    rule: "change".into(),
                    kind: "change".into(),
                    point: None,
                    value: None,
                    threshold: None,
                    detail: format!(
                        "the error rate of v{} changed ({:?}); from about labelled row #{since}",
                        champion.version, spec.method
                    ),
                };
                e.id = project.meta.add_event(&e).await?;
                self.last_event = self.last_event.max(e.id);
                events.push(e);
            }
        }
        Ok(events)
    }

    /// The metric a canary is judged on.
    pub(super) fn loop_metric(&self, answers: &Answers) -> String {
        gyre_loop::engine::canary_metric(
            &self.spec,
            &self.loop_spec.clone().unwrap_or_default(),
            answers.classes.is_empty(),
        )
    }
}
