//! Triggers: what starts a pipeline, and the loop step after it.
//!
//! A [`Scheduler`] watches the `[[trigger]]`s of a project: cron schedules (in a time zone),
//! new dataset versions and changed paths, monitor events, the git HEAD, and messages (a
//! webhook or a NATS subject, which call [`Scheduler::fire`]). Each firing is a row with its
//! cause. A pipeline runs at most once at a time: a firing while it runs is recorded as
//! coalesced, and one more run follows for all of them.
//!
//! After a run, the loop adopts the candidate: the newest version of the watched model the
//! run registered goes through the gate (unless a gate step already judged it) and, when it
//! passes, becomes `challenger`, which the server's canary routes traffic to. The monitor's
//! canary verdict then promotes or rolls it back ([`crate::monitor`]). Time is given to
//! [`Scheduler::tick`], never read by it, so tests replay with an injected clock.

use crate::pipeline::{NoEvents, RunOptions};
use crate::runs::now_ms;
use crate::{OpsError, Project, Result};
use chrono::TimeZone;
use gyre_core::monitor::{TriggerKind, TriggerSpec};
use gyre_store::{Firing, MonitorEvent};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What a trigger has seen, to tell what is new. The cursors are saved in the store by the
/// process that fires triggers, for the one that takes over; a path's fingerprint and the git
/// HEAD are of this machine's checkout, so they stay here.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Watch {
    next_cron_ms: Option<i64>,
    dataset_seq: Option<u64>,
    #[serde(skip)]
    path_hash: Option<String>,
    #[serde(skip)]
    head: Option<String>,
    event_cursor: i64,
}

impl Watch {
    /// This watch with the cursors another process saved.
    fn resumed(&self, saved: &Watch) -> Watch {
        Watch {
            path_hash: self.path_hash.clone(),
            head: self.head.clone(),
            ..saved.clone()
        }
    }
}

#[derive(Debug, Default)]
struct Slot {
    running: bool,
    /// The firing that a coalesced re-run will report to.
    again: Option<i64>,
}

/// What a firing led to.
#[derive(Debug, Clone, Serialize)]
pub struct Fired {
    pub firing: Firing,
    /// Set when the firing ran its pipeline (not when it was coalesced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate: Option<String>,
}

pub struct Scheduler {
    pub project: Arc<Project>,
    triggers: Vec<TriggerSpec>,
    watch: Mutex<HashMap<String, Watch>>,
    slots: Mutex<HashMap<String, Slot>>,
    /// Whether this process held the `triggers` lease at the last tick.
    leading: tokio::sync::Mutex<bool>,
}

/// The next time a cron expression fires after `after_ms`, in `tz`.
pub fn next_cron(expr: &str, tz: &str, after_ms: i64) -> Result<i64> {
    let zone: chrono_tz::Tz = tz
        .parse()
        .map_err(|_| OpsError::Invalid(format!("unknown time zone `{tz}`")))?;
    let at = zone
        .timestamp_millis_opt(after_ms)
        .single()
        .ok_or_else(|| OpsError::Invalid(format!("bad time {after_ms}")))?;
    let next = cron_parser::parse(expr, &at)
        .map_err(|e| OpsError::Invalid(format!("cron `{expr}`: {e}")))?;
    Ok(next.timestamp_millis())
}

/// A cheap fingerprint of a file or a folder: names, sizes and modification times.
fn path_fingerprint(path: &std::path::Path) -> Option<String> {
    let mut h = blake3::Hasher::new();
    if path.is_file() {
        h.update(&std::fs::read(path).ok()?);
    } else if path.is_dir() {
        let mut entries: Vec<_> = walkdir::WalkDir::new(path)
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
            .collect();
        entries.sort_by(|a, b| a.path().cmp(b.path()));
        for e in entries {
            let m = e.metadata().ok()?;
            h.update(e.path().to_string_lossy().as_bytes());
            h.update(&m.len().to_le_bytes());
            if let Ok(t) = m.modified()
                && let Ok(d) = t.duration_since(std::time::UNIX_EPOCH)
            {
                h.update(&d.as_nanos().to_le_bytes());
            }
        }
    } else {
        return None;
    }
    Some(h.finalize().to_hex().to_string())
}

impl Scheduler {
    /// A scheduler for the project's triggers; what exists at `now` is the baseline, so only
    /// later changes fire.
    pub async fn new(project: Arc<Project>, now: i64) -> Result<Arc<Scheduler>> {
        let triggers = project.spec.trigger.clone();
        let pipe = project.pipeline(&[])?;
        let mut watch = HashMap::new();
        for t in &triggers {
            if !pipe.steps.contains_key(&t.run) {
                return Err(OpsError::Invalid(format!(
                    "trigger `{}` runs `{}`, which is not a pipeline step",
                    t.name, t.run
                )));
            }
            let mut w = Watch::default();
            match t.on {
                TriggerKind::Schedule => {
                    let tz = t.timezone.as_deref().unwrap_or("UTC");
                    w.next_cron_ms = Some(next_cron(t.cron.as_deref().unwrap_or(""), tz, now)?);
                }
                TriggerKind::Data => {
                    if let Some(ds) = &t.dataset {
                        w.dataset_seq = latest_seq(&project, ds).await?;
                    }
                    if let Some(p) = &t.path {
                        w.path_hash = path_fingerprint(&project.root.join(p));
                    }
                }
                TriggerKind::Code => w.head = crate::runs::git_state(&project.root).0,
                TriggerKind::Monitor => {
                    w.event_cursor = project
                        .meta
                        .events(None, 0)
                        .await?
                        .last()
                        .map_or(0, |e| e.id);
                }
                TriggerKind::Message => {}
            }
            watch.insert(t.name.clone(), w);
        }
        Ok(Arc::new(Scheduler {
            project,
            triggers,
            watch: Mutex::new(watch),
            slots: Mutex::new(HashMap::new()),
            leading: tokio::sync::Mutex::new(false),
        }))
    }

    pub fn triggers(&self) -> &[TriggerSpec] {
        &self.triggers
    }

    /// Checks every trigger at `now` and fires those whose cause happened; with `wait`, waits
    /// for the runs they start (tests and `gyre agent --once`), else leaves them running.
    ///
    /// Only the process holding the `triggers` lease fires ([`crate::team`]); in the others
    /// a tick does nothing. The holder saves each trigger's cursor before it fires.
    pub async fn tick(self: &Arc<Self>, now: i64, wait: bool) -> Result<Vec<Fired>> {
        let mut leading = self.leading.lock().await;
        let took =
            crate::team::hold(&self.project, crate::team::TRIGGERS, now, &mut leading).await?;
        if !*leading {
            return Ok(Vec::new());
        }
        if took {
            self.resume(now).await?;
        }
        let mut due: Vec<(String, String)> = Vec::new();
        for t in self.triggers.clone() {
            let w = self.watch_of(&t.name);
            let mut next = w.clone();
            let cause = match t.on {
                TriggerKind::Schedule => match w.next_cron_ms {
                    Some(at) if now >= at => {
                        let tz = t.timezone.as_deref().unwrap_or("UTC");
                        next.next_cron_ms =
                            Some(next_cron(t.cron.as_deref().unwrap_or(""), tz, now)?);
                        Some(format!(
                            "schedule `{}` ({tz}) was due at {}",
                            t.cron.as_deref().unwrap_or(""),
                            chrono::DateTime::from_timestamp_millis(at)
                                .map_or(at.to_string(), |d| d.to_rfc3339())
                        ))
                    }
                    _ => None,
                },
                TriggerKind::Data => {
                    let mut cause = None;
                    if let Some(ds) = &t.dataset {
                        let seq = latest_seq(&self.project, ds).await?;
                        if seq > w.dataset_seq {
                            next.dataset_seq = seq;
                            cause = Some(format!("new version {ds}@{}", seq.unwrap_or(0)));
                        }
                    }
                    if let Some(p) = &t.path {
                        let h = path_fingerprint(&self.project.root.join(p));
                        if h != w.path_hash {
                            next.path_hash = h;
                            cause = Some(format!("`{p}` changed"));
                        }
                    }
                    cause
                }
                TriggerKind::Code => {
                    let head = crate::runs::git_state(&self.project.root).0;
                    if head != w.head {
                        next.head = head.clone();
                        Some(format!(
                            "git HEAD moved to {}",
                            head.as_deref().map_or("nothing", |h| &h[..h.len().min(12)])
                        ))
                    } else {
                        None
                    }
                }
                TriggerKind::Monitor => {
                    // The loop engine asks for a retrain (after a breach or a detected
                    // change, once enough labels are in and none is under way).
                    let events = self.project.meta.events(None, w.event_cursor).await?;
                    next.event_cursor = events.last().map_or(w.event_cursor, |e| e.id);
                    events
                        .iter()
                        .find(|e| e.kind == "retrain" && t.runs_on(&e.rule))
                        .map(|e| {
                            format!(
                                "monitor event #{}: retrain on {}: {}",
                                e.id, e.rule, e.detail
                            )
                        })
                }
                TriggerKind::Message => None,
            };
            if next != w && !self.save(&t.name, &next, now).await? {
                // The lease lapsed (this process stalled past it): its successor fires.
                *leading = false;
                return Ok(Vec::new());
            }
            self.watch
                .lock()
                .expect("watch lock")
                .insert(t.name.clone(), next);
            if let Some(c) = cause {
                due.push((t.name.clone(), c));
            }
        }
        drop(leading);
        let mut fired = Vec::new();
        let mut handles = Vec::new();
        for (name, cause) in due {
            let (f, handle) = self.fire(&name, &cause, now).await?;
            fired.push(f);
            if let Some(h) = handle {
                handles.push(h);
            }
        }
        if !wait {
            return Ok(fired);
        }
        for (h, f) in handles
            .into_iter()
            .zip(fired.iter_mut().filter(|f| f.firing.status == "running"))
        {
            if let Ok(Ok(done)) = h.await {
                *f = done;
            }
        }
        Ok(fired)
    }

    /// On taking the lease: continue from the cursors the last holder saved (what happened
    /// since it saved them fires now), and save this process's own for triggers it had none
    /// for.
    async fn resume(&self, now: i64) -> Result<()> {
        let saved: HashMap<String, String> = self
            .project
            .meta
            .trigger_states()
            .await?
            .into_iter()
            .collect();
        for t in &self.triggers {
            let mine = self.watch_of(&t.name);
            let watch = match saved.get(&t.name).map(|s| serde_json::from_str::<Watch>(s)) {
                Some(Ok(theirs)) => mine.resumed(&theirs),
                Some(Err(e)) => {
                    crate::note!(
                        "trigger {}: its saved state is unreadable ({e}); starting afresh",
                        t.name
                    );
                    self.save(&t.name, &mine, now).await?;
                    mine
                }
                None => {
                    self.save(&t.name, &mine, now).await?;
                    mine
                }
            };
            self.watch
                .lock()
                .expect("watch lock")
                .insert(t.name.clone(), watch);
        }
        Ok(())
    }

    /// Saves a trigger's cursors while this process holds the lease; `false` when it does not.
    async fn save(&self, trigger: &str, w: &Watch, now: i64) -> Result<bool> {
        let state = serde_json::to_string(w).map_err(|e| OpsError::Invalid(e.to_string()))?;
        Ok(self
            .project
            .meta
            .save_trigger_state(
                trigger,
                &state,
                crate::team::TRIGGERS,
                crate::team::holder(),
                now,
            )
            .await?)
    }

    fn watch_of(&self, name: &str) -> Watch {
        self.watch
            .lock()
            .expect("watch lock")
            .get(name)
            .cloned()
            .unwrap_or_default()
    }

    /// Fires a trigger by name (a message, or a due cause): records the firing and starts
    /// its pipeline, or coalesces it into the run in progress. The handle resolves when the
    /// run (and any coalesced re-run) is over.
    pub async fn fire(
        self: &Arc<Self>,
        name: &str,
        cause: &str,
        now: i64,
    ) -> Result<(Fired, Option<tokio::task::JoinHandle<Result<Fired>>>)> {
        let t = self
            .triggers
            .iter()
            .find(|t| t.name == name)
            .cloned()
            .ok_or_else(|| OpsError::NotFound(format!("no trigger named `{name}`")))?;
        let mut firing = Firing {
            id: 0,
            ts_ms: now,
            trigger: t.name.clone(),
            kind: t.on.as_str().into(),
            cause: cause.to_string(),
            pipeline: t.run.clone(),
            status: "running".into(),
            finished_ms: None,
            detail: String::new(),
        };
        // Decide under the lock, record after it.
        let coalesce_into = {
            let mut slots = self.slots.lock().expect("slots lock");
            let slot = slots.entry(t.run.clone()).or_default();
            if slot.running {
                Some(slot.again)
            } else {
                slot.running = true;
                None
            }
        };
        if let Some(again) = coalesce_into {
            firing.status = "coalesced".into();
            firing.detail = match again {
                Some(id) => format!("`{}` is running; joins the re-run of firing #{id}", t.run),
                None => format!("`{}` is running; it runs once more after", t.run),
            };
            firing.id = self.project.meta.add_firing(&firing).await?;
            let mut slots = self.slots.lock().expect("slots lock");
            let slot = slots.entry(t.run.clone()).or_default();
            if slot.running {
                slot.again.get_or_insert(firing.id);
                return Ok((
                    Fired {
                        firing,
                        candidate: None,
                    },
                    None,
                ));
            }
            // The run ended meanwhile: this firing runs itself.
            slot.running = true;
            drop(slots);
            firing.status = "running".into();
        }
        if firing.id == 0 {
            firing.id = self.project.meta.add_firing(&firing).await?;
        } else {
            self.project
                .meta
                .finish_firing(firing.id, "running", "the run it joined had ended", now)
                .await?;
        }
        let me = self.clone();
        let first = firing.clone();
        let handle = tokio::spawn(async move {
            let mut current = first;
            let lease = crate::team::pipeline_lease(&current.pipeline);
            if let Err(e) = me.take_pipeline(&current, &lease).await {
                let mut slots = me.slots.lock().expect("slots lock");
                slots.remove(&current.pipeline);
                return Err(e);
            }
            // Renewed while the run lasts; a process that dies stops renewing it.
            let renewal = {
                let (p, lease) = (me.project.clone(), lease.clone());
                tokio::spawn(async move {
                    let every = (crate::team::lease_ttl_ms() / 3).max(50) as u64;
                    loop {
                        tokio::time::sleep(std::time::Duration::from_millis(every)).await;
                        let _ = p
                            .meta
                            .acquire_lease(
                                &lease,
                                crate::team::holder(),
                                now_ms(),
                                crate::team::lease_ttl_ms(),
                            )
                            .await;
                    }
                })
            };
            let finished = loop {
                let done = me.run_one(&current).await;
                let again = {
                    let mut slots = me.slots.lock().expect("slots lock");
                    let slot = slots.entry(current.pipeline.clone()).or_default();
                    match slot.again.take() {
                        Some(id) => Some(id),
                        None => {
                            slot.running = false;
                            None
                        }
                    }
                };
                match again {
                    Some(id) => {
                        current = Firing {
                            id,
                            status: "running".into(),
                            ..current.clone()
                        };
                        // Only the firing's status; the re-run goes ahead either way, so the
                        // lease is always released below.
                        if let Err(e) = me
                            .project
                            .meta
                            .finish_firing(id, "running", "re-run for coalesced firings", now_ms())
                            .await
                        {
                            crate::note!("trigger {}: {e}", current.trigger);
                        }
                    }
                    None => break done,
                }
            };
            renewal.abort();
            me.project
                .meta
                .release_lease(&lease, crate::team::holder())
                .await?;
            finished
        });
        Ok((
            Fired {
                firing,
                candidate: None,
            },
            Some(handle),
        ))
    }

    /// Takes the pipeline's lease, waiting (the firing marked `waiting`) while another
    /// process runs the pipeline; its holder dying ends the wait when the lease expires.
    async fn take_pipeline(&self, firing: &Firing, lease: &str) -> Result<()> {
        let meta = &self.project.meta;
        let mut waited = false;
        loop {
            let ttl = crate::team::lease_ttl_ms();
            if meta
                .acquire_lease(lease, crate::team::holder(), now_ms(), ttl)
                .await?
            {
                if waited {
                    meta.finish_firing(
                        firing.id,
                        "running",
                        "the run in another process ended",
                        now_ms(),
                    )
                    .await?;
                }
                return Ok(());
            }
            if !waited {
                let other = meta
                    .leases()
                    .await?
                    .into_iter()
                    .find(|l| l.name == lease)
                    .map_or_else(|| "another process".to_string(), |l| l.holder);
                meta.finish_firing(
                    firing.id,
                    "waiting",
                    &format!(
                        "`{}` is running in {other}; this runs after it",
                        firing.pipeline
                    ),
                    now_ms(),
                )
                .await?;
                waited = true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Runs a firing's pipeline, then adopts its candidate.
    async fn run_one(&self, firing: &Firing) -> Result<Fired> {
        let p = &self.project;
        let watched = p.monitor_target().ok().map(|(m, _)| m);
        let before = match &watched {
            Some(m) => latest_version(p, m).await?,
            None => None,
        };
        let opts = RunOptions {
            targets: vec![firing.pipeline.clone()],
            jobs: 1,
            sets: Vec::new(),
            force: false,
        };
        let outcome = p.run_pipeline(&opts, &NoEvents).await;
        let (status, mut detail) = match &outcome {
            Ok(r) if !r.failed() => (
                "succeeded",
                r.run
                    .as_ref()
                    .map_or("up to date".into(), |r| format!("run {r}")),
            ),
            Ok(r) => (
                "failed",
                r.steps
                    .iter()
                    .filter_map(|s| s.error.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Err(e) => ("failed", e.to_string()),
        };
        let mut candidate = None;
        if status == "succeeded"
            && let Some(model) = &watched
        {
            match self.adopt(model, before, firing).await {
                Ok(c) => {
                    if let Some(c) = &c {
                        detail = format!("{detail}; {c}");
                    }
                    candidate = c;
                }
                Err(e) => detail = format!("{detail}; the candidate could not be adopted: {e}"),
            }
        }
        let finished = now_ms().max(firing.ts_ms);
        p.meta
            .finish_firing(firing.id, status, &detail, finished)
            .await?;
        Ok(Fired {
            firing: Firing {
                status: status.into(),
                detail,
                finished_ms: Some(finished),
                ..firing.clone()
            },
            candidate,
        })
    }

    /// The loop's steps 2 and 3: the newest version the run registered goes through the
    /// gate and, when it passes, becomes `challenger`.
    async fn adopt(
        &self,
        model: &str,
        before: Option<i64>,
        firing: &Firing,
    ) -> Result<Option<String>> {
        let p = &self.project;
        let Some(v) = latest_version(p, model).await? else {
            return Ok(None);
        };
        if Some(v) <= before {
            return Ok(None);
        }
        let reference = format!("{model}@{v}");
        let passed = match p.meta.latest_verdict(model, v).await? {
            Some(verdict) => verdict.passed,
            None => p.validate_model(&reference).await?.passed,
        };
        let aliases = p.meta.aliases(model).await?;
        let champion = aliases
            .iter()
            .find(|(a, _)| a == "champion")
            .map(|(_, v)| *v);
        let event = |kind: &str, detail: String| MonitorEvent {
            id: 0,
            ts_ms: firing.ts_ms,
            model: model.to_string(),
            version: v,
            rule: "gate".into(),
            kind: kind.into(),
            point: None,
            value: None,
            threshold: None,
            detail,
        };
        if !passed {
            p.meta
                .add_event(&event(
                    "gate_failed",
                    format!(
                        "{reference} from trigger `{}` failed the gate",
                        firing.trigger
                    ),
                ))
                .await?;
            return Ok(Some(format!("{reference} failed the gate")));
        }
        if champion == Some(v) {
            return Ok(Some(format!("{reference} is already champion")));
        }
        if aliases.iter().any(|(a, x)| a == "challenger" && *x == v) {
            return Ok(Some(format!("{reference} is already challenger")));
        }
        let from = aliases
            .iter()
            .find(|(a, _)| a == "challenger")
            .map(|(_, v)| *v);
        p.set_alias(
            &reference,
            "challenger",
            &format!(
                "loop: passed the gate after trigger `{}` (firing #{})",
                firing.trigger, firing.id
            ),
            false,
            &crate::settings::actor(),
        )
        .await?;
        p.meta
            .add_event(&event(
                "canary",
                format!(
                    "{reference} passed the gate and is challenger{}",
                    from.map_or(String::new(), |f| format!(" (replacing v{f})"))
                ),
            ))
            .await?;
        Ok(Some(format!("{reference} is challenger")))
    }
}

async fn latest_seq(project: &Project, dataset: &str) -> Result<Option<u64>> {
    let name = dataset
        .parse()
        .map_err(|e| OpsError::Invalid(format!("dataset `{dataset}`: {e}")))?;
    Ok(project
        .meta
        .dataset_versions(&name)
        .await?
        .last()
        .map(|v| v.seq))
}

async fn latest_version(project: &Project, model: &str) -> Result<Option<i64>> {
    Ok(project
        .meta
        .model_versions(Some(model))
        .await?
        .iter()
        .map(|v| v.version)
        .max())
}

/// Monitoring passes and trigger checks on the wall clock, until the task is dropped: what
/// `gyre serve` and `gyre agent` run. Events, decisions and firings go to stderr.
pub async fn automate(
    project: Arc<Project>,
    scheduler: Option<Arc<Scheduler>>,
    mut traffic: Option<tokio::sync::mpsc::Receiver<crate::monitor::TrafficSample>>,
    monitoring: bool,
    monitor_every: std::time::Duration,
    tick_every: std::time::Duration,
) {
    let mut monitor = None;
    if monitoring && project.spec.monitor.is_some() {
        match project.monitor().await {
            Ok(m) => monitor = Some(m),
            Err(e) => crate::note!("monitor: {e}"),
        }
    }
    if monitor.is_none() && scheduler.is_none() {
        return;
    }
    let mut last_pass: Option<std::time::Instant> = None;
    // Whether this process holds the `monitor` lease: only its holder runs passes.
    let mut monitoring_here = false;
    loop {
        if monitor.is_some() && last_pass.is_none_or(|t| t.elapsed() >= monitor_every) {
            last_pass = Some(std::time::Instant::now());
            let lease = crate::team::MONITOR;
            match crate::team::hold(&project, lease, now_ms(), &mut monitoring_here).await {
                // Taking over: start from what the store says, not what this process last saw.
                Ok(true) => match project.monitor().await {
                    Ok(m) => monitor = Some(m),
                    Err(e) => crate::note!("monitor: {e}"),
                },
                Ok(false) => {}
                Err(e) => {
                    crate::note!("monitor: {e}");
                    monitoring_here = false;
                }
            }
            if monitoring_here && let Some(m) = monitor.as_mut() {
                monitor_pass(&project, m).await;
            }
        }
        if let (Some(m), Some(rx)) = (monitor.as_mut(), traffic.as_mut()) {
            while let Ok(sample) = rx.try_recv() {
                match m.judge_traffic(&project, sample, now_ms()).await {
                    Ok((_, events)) => {
                        for e in &events {
                            crate::note!("monitor: {} {}: {}", e.kind, e.rule, e.detail);
                        }
                    }
                    Err(e) => crate::note!("monitor: {e}"),
                }
            }
        }
        if let Some(s) = &scheduler {
            match s.tick(now_ms(), false).await {
                Ok(fired) => {
                    for f in fired {
                        crate::note!(
                            "trigger {}: {} → {} ({})",
                            f.firing.trigger,
                            f.firing.cause,
                            f.firing.pipeline,
                            f.firing.status
                        );
                    }
                }
                Err(e) => crate::note!("triggers: {e}"),
            }
        }
        tokio::time::sleep(tick_every).await;
    }
}

/// One monitoring pass, its events and decision noted on stderr.
async fn monitor_pass(project: &Project, m: &mut crate::monitor::Monitor) {
    match m.pass(project, now_ms()).await {
        Ok(report) => {
            for e in &report.events {
                crate::note!("monitor: {} {}: {}", e.kind, e.rule, e.detail);
            }
            if let Some(d) = &report.decision {
                crate::note!("loop: {}", d.summary());
            }
        }
        Err(e) => crate::note!("monitor: {e}"),
    }
}

/// The NATS server message triggers listen on: `GYRE_NATS_URL` (credentials may be in it;
/// they are never printed), default `nats://127.0.0.1:4222`.
pub fn nats_url() -> String {
    std::env::var("GYRE_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A URL without its credentials, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(a)) if a > s => format!("{}://…@{}", &url[..s], &url[a + 1..]),
        _ => url.to_string(),
    }
}

/// The NATS queue group of one trigger across a project's processes: the project's name, its
/// store's (redacted) URL and the trigger's name. Two triggers on one subject each get every
/// message; two processes with one trigger share each.
fn queue_group(p: &Project, trigger: &str) -> String {
    let key = format!("{}\n{}\n{trigger}", p.spec.project.name, p.store_url);
    format!("gyre-{}", &blake3::hash(key.as_bytes()).to_hex()[..16])
}

/// Subscribes to the subjects of `message` triggers that name one, and fires the trigger on
/// each message (its first 200 bytes are the cause). None when no trigger has a subject.
/// The subscriptions live as long as the returned task.
pub async fn listen_nats(s: Arc<Scheduler>) -> Result<Option<tokio::task::JoinHandle<()>>> {
    use futures_util::StreamExt;
    let subjects: Vec<(String, String)> = s
        .triggers
        .iter()
        .filter(|t| t.on == TriggerKind::Message)
        .filter_map(|t| t.subject.clone().map(|sub| (t.name.clone(), sub)))
        .collect();
    if subjects.is_empty() {
        return Ok(None);
    }
    let url = nats_url();
    let client = async_nats::connect(&url)
        .await
        .map_err(|e| OpsError::Invalid(format!("connecting to NATS at {}: {e}", redact(&url))))?;
    let mut subs = Vec::new();
    for (name, subject) in subjects {
        // Each message reaches one of the processes that share the trigger, so it fires once.
        let sub = client
            .queue_subscribe(subject.clone(), queue_group(&s.project, &name))
            .await
            .map_err(|e| {
                OpsError::Invalid(format!("subscribing to NATS subject `{subject}`: {e}"))
            })?;
        subs.push((name, subject, sub));
    }
    // Make sure the server has the subscriptions before anyone publishes. `flush` only empties
    // the socket; a message to our own inbox coming back proves the server has read every SUB
    // sent before it (a server handles one connection's commands in order).
    let inbox = client.new_inbox();
    let mut echo = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| OpsError::Invalid(format!("NATS: {e}")))?;
    client
        .publish(inbox, "sync".into())
        .await
        .map_err(|e| OpsError::Invalid(format!("NATS: {e}")))?;
    match tokio::time::timeout(std::time::Duration::from_secs(10), echo.next()).await {
        Ok(Some(_)) => {}
        _ => {
            return Err(OpsError::Invalid(format!(
                "NATS at {} did not confirm the subscriptions within 10 s",
                redact(&url)
            )));
        }
    }
    drop(echo);
    Ok(Some(tokio::spawn(async move {
        let _client = client;
        let mut streams =
            futures_util::stream::select_all(subs.into_iter().map(|(name, subject, sub)| {
                sub.map(move |m| (name.clone(), subject.clone(), m)).boxed()
            }));
        while let Some((name, subject, m)) = streams.next().await {
            let note = String::from_utf8_lossy(&m.payload[..m.payload.len().min(200)])
                .trim()
                .to_string();
            let cause = format!("NATS `{subject}`: {note}");
            match s.fire(&name, &cause, now_ms()).await {
                Ok((f, _)) => crate::note!(
                    "trigger {}: {} → {} ({})",
                    f.firing.trigger,
                    f.firing.cause,
                    f.firing.pipeline,
                    f.firing.status
                ),
                Err(e) => crate::note!("trigger {name}: {e}"),
            }
        }
    })))
}
