//! Tracked runs: starting one (with host, process and git state), logging into it, and the
//! queries behind `gyre runs`. A run whose process died is marked killed by the next command
//! that looks at runs on the same host.

use crate::{OpsError, Project, Result, settings};
use gyre_core::runfilter::{RunFilter, RunOrder};
use gyre_core::{MetricPoint, NewRun, Run, RunId, RunStatus};
use gyre_store::{Direction, MetaStore};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Metric points buffered before they are written in one transaction.
const FLUSH_AT: usize = 10_000;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// This machine's name, for telling whether a run's process can be checked from here.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// When a process started, in clock ticks since boot (field 22 of `/proc/PID/stat`); with the
/// pid it names one process, even after the pid is reused.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// The project's git commit and whether the work tree has changes, when it is a repository.
pub(crate) fn git_state(root: &std::path::Path) -> (Option<String>, bool) {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(commit) => {
            let dirty = run(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
            (Some(commit), dirty)
        }
        None => (None, false),
    }
}

fn random_id() -> RunId {
    // 16 bytes from the OS; a run id must not collide across machines sharing a store.
    let mut bytes = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut bytes);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    for (b, x) in bytes.iter_mut().zip(t.to_le_bytes()) {
        *b ^= x;
    }
    RunId::from_random(bytes)
}

/// A run being recorded. Metrics are buffered and written in batches; `finish` flushes.
pub struct RunHandle {
    pub id: RunId,
    store: Arc<dyn MetaStore>,
    buffer: Vec<(String, MetricPoint)>,
}

impl RunHandle {
    pub async fn log_params(&self, params: &[(String, String)]) -> Result<()> {
        Ok(self.store.log_params(&self.id, params).await?)
    }

    pub async fn set_tags(&self, tags: &[(String, String)]) -> Result<()> {
        Ok(self.store.set_tags(&self.id, tags).await?)
    }

    pub async fn log_metric(&mut self, key: &str, step: i64, value: f64) -> Result<()> {
        self.buffer.push((
            key.to_string(),
            MetricPoint {
                step,
                timestamp_ms: now_ms(),
                value,
            },
        ));
        if self.buffer.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    pub async fn flush(&mut self) -> Result<()> {
        let points = std::mem::take(&mut self.buffer);
        Ok(self.store.log_metrics(&self.id, &points).await?)
    }

    pub async fn set_note(&self, note: &str) -> Result<()> {
        Ok(self.store.set_note(&self.id, note).await?)
    }

    pub async fn add_inputs(&self, refs: &[String]) -> Result<()> {
        Ok(self.store.add_io(&self.id, Direction::Input, refs).await?)
    }

    pub async fn add_outputs(&self, refs: &[String]) -> Result<()> {
        Ok(self.store.add_io(&self.id, Direction::Output, refs).await?)
    }

    pub async fn finish(mut self, status: RunStatus) -> Result<()> {
        self.flush().await?;
        self.store.end_run(&self.id, status, now_ms()).await?;
        Ok(())
    }
}

/// A metric's series in brief, for `gyre runs show`.
#[derive(Debug, Serialize)]
pub struct SeriesSummary {
    pub key: String,
    pub points: usize,
    #[serde(with = "gyre_core::run::exact_f64")]
    pub first: f64,
    #[serde(with = "gyre_core::run::exact_f64")]
    pub last: f64,
    #[serde(with = "gyre_core::run::exact_f64")]
    pub min: f64,
    #[serde(with = "gyre_core::run::exact_f64")]
    pub max: f64,
}

/// A page of runs and how many matched in all.
#[derive(Debug, Serialize)]
pub struct RunPage {
    pub total: u64,
    pub offset: u64,
    pub runs: Vec<Run>,
}

/// A metric's series for a chart: the points of the asked range, cut down.
#[derive(Debug, Serialize)]
pub struct Series {
    pub run: RunId,
    pub key: String,
    /// Points logged in all, and the steps they span.
    pub total: usize,
    pub first_step: i64,
    pub last_step: i64,
    /// Points in the asked range, before cutting down.
    pub in_range: usize,
    pub points: Vec<MetricPoint>,
}

#[derive(Debug, Serialize)]
pub struct RunDetail {
    #[serde(flatten)]
    pub run: Run,
    pub series: Vec<SeriesSummary>,
}

impl Project {
    /// Starts a run recorded with this process, host, user and git state.
    pub async fn start_run(&self, name: &str, parent: Option<&RunId>) -> Result<RunHandle> {
        let pid = std::process::id();
        let (git_commit, git_dirty) = git_state(&self.root);
        let run = NewRun {
            id: random_id(),
            name: name.to_string(),
            parent: parent.cloned(),
            started_ms: now_ms(),
            user: settings::actor(),
            host: host_name(),
            pid,
            pid_start: process_start(pid).unwrap_or(0),
            git_commit,
            git_dirty,
        };
        self.meta.create_run(&run, &[]).await?;
        Ok(RunHandle {
            id: run.id,
            store: self.meta.clone(),
            buffer: Vec::new(),
        })
    }

    /// Marks as killed every running run of this host whose process is gone. Returns them.
    pub async fn reap_dead_runs(&self) -> Result<Vec<RunId>> {
        let host = host_name();
        let mut reaped = Vec::new();
        // Another machine's processes cannot be checked from here.
        for r in self
            .meta
            .running_runs(&host)
            .await?
            .into_iter()
            .map(|r| r.start)
        {
            let alive = process_start(r.pid).is_some_and(|s| r.pid_start == 0 || s == r.pid_start);
            if !alive
                && self
                    .meta
                    .end_run(&r.id, RunStatus::Killed, now_ms())
                    .await?
            {
                reaped.push(r.id);
            }
        }
        Ok(reaped)
    }

    pub async fn list_runs(
        &self,
        filter: &str,
        order: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Run>> {
        let filter: RunFilter = filter.parse()?;
        let order: RunOrder = match order {
            Some(o) => o.parse()?,
            None => RunOrder::default(),
        };
        self.reap_dead_runs().await?;
        Ok(self.meta.search_runs(&filter, &order, limit).await?)
    }

    /// One page of the runs `filter` keeps in `order`, with how many it keeps in all (the web
    /// UI's table).
    pub async fn runs_page(
        &self,
        filter: &str,
        order: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<RunPage> {
        let filter: RunFilter = filter.parse()?;
        let order: RunOrder = match order {
            Some(o) => o.parse()?,
            None => RunOrder::default(),
        };
        self.reap_dead_runs().await?;
        let (runs, total) = self
            .meta
            .search_page(&filter, &order, offset, limit)
            .await?;
        Ok(RunPage {
            total,
            offset,
            runs,
        })
    }

    /// A metric's points with steps in `steps` (inclusive; all when None), cut down to at
    /// most `max` that draw the same curve ([`gyre_core::series::downsample`]).
    pub async fn metric_series(
        &self,
        reference: &str,
        key: &str,
        steps: Option<(i64, i64)>,
        max: usize,
    ) -> Result<Series> {
        let id = self.meta.resolve_run(reference).await?;
        let mut points = self.meta.metric_history(&id, key).await?;
        if points.is_empty() {
            return Err(OpsError::NotFound(format!(
                "run {id} has no metric `{key}`"
            )));
        }
        let total = points.len();
        let (first_step, last_step) = (points[0].step, points[total - 1].step);
        if let Some((lo, hi)) = steps {
            points.retain(|p| p.step >= lo && p.step <= hi);
        }
        let in_range = points.len();
        Ok(Series {
            run: id,
            key: key.to_string(),
            total,
            first_step,
            last_step,
            in_range,
            points: gyre_core::series::downsample(&points, max),
        })
    }

    /// The captured output of a run's command (a pipeline step's `log:HASH` output), verified
    /// against its hash; the last `max_bytes` of it, cut at a character boundary.
    pub async fn run_log(&self, reference: &str, max_bytes: usize) -> Result<Option<String>> {
        let id = self.meta.resolve_run(reference).await?;
        let run = self.meta.get_run(&id).await?;
        let Some(hash) = run.outputs.iter().find_map(|o| o.strip_prefix("log:")) else {
            return Ok(None);
        };
        let hash: gyre_core::ContentHash = hash
            .parse()
            .map_err(|e: gyre_core::CoreError| OpsError::Invalid(e.to_string()))?;
        let bytes = self.blobs.get_bytes(hash).await?;
        let mut start = bytes.len().saturating_sub(max_bytes);
        while start < bytes.len() && (bytes[start] & 0xC0) == 0x80 {
            start += 1;
        }
        Ok(Some(String::from_utf8_lossy(&bytes[start..]).into_owned()))
    }

    pub async fn run_detail(&self, reference: &str) -> Result<RunDetail> {
        self.reap_dead_runs().await?;
        let id = self.meta.resolve_run(reference).await?;
        let run = self.meta.get_run(&id).await?;
        let mut series = Vec::new();
        for key in run.metrics.keys() {
            let points = self.meta.metric_history(&id, key).await?;
            let (Some(first), Some(last)) = (points.first(), points.last()) else {
                continue;
            };
            let finite = points.iter().map(|p| p.value).filter(|v| !v.is_nan());
            series.push(SeriesSummary {
                key: key.clone(),
                points: points.len(),
                first: first.value,
                last: last.value,
                min: finite.clone().fold(f64::NAN, f64::min),
                max: finite.fold(f64::NAN, f64::max),
            });
        }
        Ok(RunDetail { run, series })
    }

    /// Runs side by side: every param and metric key of any of them, per run.
    pub async fn compare_runs(&self, references: &[String]) -> Result<Comparison> {
        if references.len() < 2 {
            return Err(OpsError::Invalid("compare needs at least two runs".into()));
        }
        self.reap_dead_runs().await?;
        let mut runs = Vec::new();
        for r in references {
            let id = self.meta.resolve_run(r).await?;
            runs.push(self.meta.get_run(&id).await?);
        }
        let mut params: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
        let mut metrics: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
        for (i, r) in runs.iter().enumerate() {
            for (k, v) in &r.params {
                params
                    .entry(k.clone())
                    .or_insert_with(|| vec![None; runs.len()])[i] = Some(v.clone());
            }
            for (k, v) in &r.metrics {
                metrics
                    .entry(k.clone())
                    .or_insert_with(|| vec![None; runs.len()])[i] = Some(*v);
            }
        }
        Ok(Comparison {
            runs,
            params,
            metrics,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct Comparison {
    pub runs: Vec<Run>,
    /// Param → its value in each run (in the order given).
    pub params: BTreeMap<String, Vec<Option<String>>>,
    /// Metric → its latest value in each run.
    #[serde(serialize_with = "exact_rows")]
    pub metrics: BTreeMap<String, Vec<Option<f64>>>,
}

fn exact_rows<S: serde::Serializer>(
    m: &BTreeMap<String, Vec<Option<f64>>>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    #[derive(Serialize)]
    struct Exact(#[serde(with = "gyre_core::run::exact_f64")] f64);
    let mut map = s.serialize_map(Some(m.len()))?;
    for (k, row) in m {
        let row: Vec<Option<Exact>> = row.iter().map(|v| v.map(Exact)).collect();
        map.serialize_entry(k, &row)?;
    }
    map.end()
}
