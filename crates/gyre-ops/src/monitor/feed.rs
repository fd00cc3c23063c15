//! What the engine is told: which versions serve (from the aliases), the labelled rows in
//! the order they were joined, and how a retrain it asked for ended. At start, the same
//! inputs rebuild it from the store.

use super::*;
use gyre_loop::engine::{Engine, Input, Labelled, Policy, Role};

/// Labelled rows read per query.
const BATCH: i64 = 1 << 16;

impl Monitor {
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

    /// Rules in breach now.
    pub fn breached(&self) -> Vec<String> {
        self.driven.as_ref().map_or_else(Vec::new, |d| {
            d.engine.breaches().into_iter().map(|(r, _)| r).collect()
        })
    }

    /// The engine for the champion `version` serving, its policy resolved from `[monitor]`,
    /// `[loop]` and `[serve]` and the champion's classes.
    async fn engine_for(&mut self, project: &Project, version: i64, now: i64) -> Result<Driven> {
        let answers = self.answers(project, version).await?;
        let regression = answers.classes.is_empty();
        let classes = gyre_loop::Classes::new(&answers.classes, answers.positive.as_deref());
        let serve_min_labels = project
            .spec
            .serve
            .as_ref()
            .and_then(|s| s.canary.as_ref())
            .and_then(|c| c.min_labels);
        let policy = Policy::from_spec(
            &self.spec,
            &self.loop_spec.clone().unwrap_or_default(),
            serve_min_labels,
            regression,
            classes.positive(),
        );
        let mut engine = Engine::new(policy);
        let deferred = engine.step(
            Input::Serving {
                version,
                test: answers.test,
            },
            now,
        );
        Ok(Driven {
            engine,
            classes,
            regression,
            cursor: 0,
            champion: version,
            candidate: None,
            retrain: None,
            deferred,
        })
    }

    /// Rebuilds the engine from the store: the serving champion, the open breaches (from
    /// the events), the canary, and the labelled rows not yet in a stored window (with the
    /// canary's rows since it began, which only the canary counts). What the engine asks
    /// for meanwhile waits for the first pass.
    pub(super) async fn rebuild(&mut self, project: &Project) -> Result<()> {
        let aliases = project.meta.aliases(&self.model).await?;
        let Some(champion) = aliases
            .iter()
            .find(|(a, _)| a == "champion")
            .map(|(_, v)| *v)
        else {
            return Ok(());
        };
        let mut d = self.engine_for(project, champion, 0).await?;
        for e in project.meta.events(Some(&self.model), 0).await? {
            match e.kind.as_str() {
                "breach" => d.engine.restore_breach(&e.rule, e.version, e.ts_ms),
                "recover" => d.engine.restore_recovery(&e.rule),
                _ => {}
            }
        }
        self.driven = Some(d);
        let canary_since = self.sync_versions(project, 0).await?;
        // Each role's rows up to its last stored window are windowed already.
        let mut windowed = [0i64; 3];
        for (i, role) in ROLES.iter().enumerate() {
            windowed[i] = project
                .meta
                .last_point(&self.model, LABELS, role)
                .await?
                .map_or(0, |p| p.last_seq);
        }
        // Replay from the first row no window holds yet (of any role), not from the first
        // row ever: a role that never closed a window would otherwise re-read the whole log.
        let joined = project.meta.labelled_max_seq(&self.model).await?;
        let mut from = joined;
        for (i, role) in ROLES.iter().enumerate() {
            if let Some(first) = project
                .meta
                .labelled_after(&self.model, role, windowed[i], 1)
                .await?
                .first()
            {
                from = from.min(first.seq - 1);
            }
        }
        if let Some(since) = canary_since {
            for role in ROLES {
                if let Some(first) = project
                    .meta
                    .labelled_since(&self.model, role, since, 1)
                    .await?
                    .first()
                {
                    from = from.min(first.seq - 1);
                }
            }
        }
        // Change detection starts from the rows joined from now on, as before the restart
        // it had seen the others.
        if let Some(d) = self.driven.as_mut() {
            d.engine.detect_after(joined.max(0) as u64);
        }
        let mut cursor = from;
        loop {
            let rows = self.read_after(project, cursor).await?;
            let Some(last) = rows.last() else { break };
            cursor = last.seq;
            let Some(d) = self.driven.as_mut() else { break };
            for l in labelled_rows(&rows, &mut d.classes, d.regression) {
                // `windowed` is in ROLES order, which is the order of `Role`.
                let at = l.labelled_ms;
                let input = if l.seq as i64 > windowed[l.served as usize] {
                    Input::Labelled(l)
                } else {
                    Input::Recalled(l)
                };
                d.step(input, at);
            }
        }
        if let Some(d) = self.driven.as_mut() {
            d.cursor = cursor;
        }
        Ok(())
    }

    /// Tells the engine of a new champion, a new candidate on canary, or a canary ended by
    /// hand, as the aliases show them. Returns when a candidate it was told of just now
    /// became challenger (the alias history is read only then).
    pub(super) async fn sync_versions(
        &mut self,
        project: &Project,
        now: i64,
    ) -> Result<Option<i64>> {
        let aliases = project.meta.aliases(&self.model).await?;
        let alias = |a: &str| aliases.iter().find(|(x, _)| x == a).map(|(_, v)| *v);
        let Some(champion) = alias("champion") else {
            return Ok(None);
        };
        let candidate = alias("challenger")
            .filter(|c| *c != champion)
            .filter(|_| self.loop_spec.is_some());
        if self.driven.is_none() {
            self.driven = Some(self.engine_for(project, champion, now).await?);
        }
        let known = self.driven.as_ref().map(|d| (d.champion, d.candidate));
        if known.is_some_and(|(c, _)| c != champion) {
            let test = self.answers(project, champion).await?.test;
            if let Some(d) = self.driven.as_mut() {
                d.step(
                    Input::Serving {
                        version: champion,
                        test,
                    },
                    now,
                );
                d.champion = champion;
                if d.candidate == Some(champion) {
                    d.candidate = None;
                }
            }
        }
        let known = self.driven.as_ref().and_then(|d| d.candidate);
        let mut since = None;
        match candidate {
            Some(c) if known != Some(c) => {
                // When the candidate became challenger.
                let at = project
                    .meta
                    .alias_events(&self.model)
                    .await?
                    .into_iter()
                    .rev()
                    .find(|e| e.alias == "challenger" && e.to == Some(c))
                    .map_or(now, |e| e.at_ms);
                since = Some(at);
                let test = self.answers(project, c).await?.test;
                if let Some(d) = self.driven.as_mut() {
                    d.step(Input::Candidate { version: c, test }, at);
                    d.candidate = Some(c);
                    d.retrain = None;
                }
            }
            Some(_) => {}
            None if known.is_some() => {
                if let Some(d) = self.driven.as_mut() {
                    d.step(Input::Withdrawn, now);
                    d.candidate = None;
                }
            }
            None => {}
        }
        Ok(since)
    }

    /// Every role's labelled rows after `after`, in sequence order, up to where all three
    /// reads are complete.
    async fn read_after(&self, project: &Project, after: i64) -> Result<Vec<LabelledRow>> {
        let mut rows = Vec::new();
        let mut complete_to = i64::MAX;
        for role in ROLES {
            let batch = project
                .meta
                .labelled_after(&self.model, role, after, BATCH)
                .await?;
            if batch.len() as i64 == BATCH
                && let Some(last) = batch.last()
            {
                complete_to = complete_to.min(last.seq);
            }
            rows.extend(batch);
        }
        rows.retain(|r| r.seq <= complete_to);
        rows.sort_by_key(|r| r.seq);
        Ok(rows)
    }

    /// A rule judged outside the labelled windows (traffic, age), for the breach book.
    pub(super) fn judged(&mut self, version: i64, judgement: Judgement, now: i64) {
        if let Some(d) = self.driven.as_mut() {
            d.step(Input::Judged { version, judgement }, now);
        }
    }

    /// Feeds the engine the rows joined since the last pass, at `now`.
    pub(super) async fn feed(&mut self, project: &Project, now: i64) -> Result<()> {
        loop {
            let Some(cursor) = self.driven.as_ref().map(|d| d.cursor) else {
                return Ok(());
            };
            let rows = self.read_after(project, cursor).await?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            let last = last.seq;
            let Some(d) = self.driven.as_mut() else {
                return Ok(());
            };
            for l in labelled_rows(&rows, &mut d.classes, d.regression) {
                d.step(Input::Labelled(l), now);
            }
            d.cursor = last;
        }
    }

    /// A retrain the engine asked for has ended without a candidate once every monitor
    /// firing since it was asked for has finished and no challenger came of them: the
    /// engine hears it was rejected, so a breach that persists asks again.
    pub(super) async fn settle_retrain(&mut self, project: &Project, now: i64) -> Result<()> {
        let Some(d) = self.driven.as_mut() else {
            return Ok(());
        };
        let Some((at, rule)) = d.retrain.clone() else {
            return Ok(());
        };
        if !d.engine.retraining() {
            d.retrain = None;
            return Ok(());
        }
        let runs: Vec<&str> = project
            .spec
            .trigger
            .iter()
            .filter(|t| t.runs_on(&rule))
            .map(|t| t.name.as_str())
            .collect();
        let firings: Vec<gyre_store::Firing> = project
            .meta
            .firings(None, 100)
            .await?
            .into_iter()
            .filter(|f| f.ts_ms >= at && runs.contains(&f.trigger.as_str()))
            .collect();
        if firings.is_empty()
            || firings
                .iter()
                .any(|f| f.status == "running" || f.status == "waiting")
        {
            return Ok(());
        }
        let ended: Vec<String> = firings
            .iter()
            .map(|f| format!("{} {}", f.trigger, f.status))
            .collect();
        d.retrain = None;
        d.step(
            Input::Rejected {
                reason: format!(
                    "the retrain ended without a candidate ({})",
                    ended.join(", ")
                ),
            },
            now,
        );
        Ok(())
    }
}

impl Driven {
    /// One input to the engine; what it asks for waits to be applied.
    pub(super) fn step(&mut self, input: Input, now: i64) {
        let actions = self.engine.step(input, now);
        self.deferred.extend(actions);
    }
}

/// Labelled rows as the engine's inputs. A shadow's row is paired with the champion's row
/// of the same request when both are here, so the canary compares them on the same rows.
fn labelled_rows(
    rows: &[LabelledRow],
    classes: &mut gyre_loop::Classes,
    regression: bool,
) -> Vec<Labelled> {
    let outcomes: Vec<Option<gyre_loop::Outcome>> = rows
        .iter()
        .map(|r| outcome(r, classes, regression))
        .collect();
    let champion: HashMap<(&str, i64), gyre_loop::Outcome> = rows
        .iter()
        .zip(&outcomes)
        .filter(|(r, _)| r.role == "champion")
        .filter_map(|(r, o)| o.map(|o| ((r.request_id.as_str(), r.row_index), o)))
        .collect();
    rows.iter()
        .zip(outcomes)
        .filter_map(|(r, o)| {
            let served = Role::parse(&r.role)?;
            let other = match served {
                Role::Shadow => champion.get(&(r.request_id.as_str(), r.row_index)).copied(),
                _ => None,
            };
            Some(Labelled {
                seq: r.seq as u64,
                predicted_ms: r.predicted_ms,
                labelled_ms: r.labelled_ms,
                version: r.version,
                served,
                outcome: o?,
                other,
            })
        })
        .collect()
}
