//! Running pipelines: cache keys, up-to-date checks, parallel execution, restoring outputs
//! from the object store, and a tracked run per pipeline with a child run per step.
//!
//! A step's cache key hashes its definition, the values of its params, the content of every
//! dependency (files and folders, code included) and, for built-in steps, the dataset version
//! or model they read. A result is recorded only after the step succeeded and every output is
//! in the object store, so a step killed half-way is never cached and simply runs again.

use crate::import::ImportOptions;
use crate::progress::NoProgress;
use crate::statcache::{Stamp, StatCache};
use crate::train::TrainOptions;
use crate::{OpsError, Project, Result};
use gyre_core::pipeline::{Builtin, Dag, StepSpec, norm, param, plan};
use gyre_core::{ContentHash, DatasetName, RunId, RunStatus};
use gyre_store::StepResult;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One recorded output of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Output {
    File {
        path: String,
        hash: ContentHash,
    },
    /// A folder: every file in it, by relative path.
    Dir {
        path: String,
        files: BTreeMap<String, ContentHash>,
    },
    /// Something in the stores: `dataset:NAME@ID`, `model:HASH`.
    Artifact {
        reference: String,
    },
}

/// What a cache key was made of, kept with the result so `status` can say what changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyParts {
    pub definition: String,
    pub params: BTreeMap<String, String>,
    pub deps: BTreeMap<String, String>,
    pub extra: BTreeMap<String, String>,
}

impl KeyParts {
    fn key(&self) -> String {
        let text = serde_json::to_string(self).expect("key parts serialise");
        blake3::hash(text.as_bytes()).to_hex().to_string()
    }

    /// What differs from an earlier key's parts, in words.
    pub fn changes_since(&self, old: &KeyParts) -> Vec<String> {
        let mut out = Vec::new();
        if self.definition != old.definition {
            out.push("its definition changed".to_string());
        }
        let diff = |what: &str,
                    a: &BTreeMap<String, String>,
                    b: &BTreeMap<String, String>,
                    out: &mut Vec<String>| {
            for (k, v) in a {
                match b.get(k) {
                    None => out.push(format!("{what} `{k}` is new")),
                    Some(w) if w != v => out.push(format!("{what} `{k}` changed")),
                    _ => {}
                }
            }
            for k in b.keys() {
                if !a.contains_key(k) {
                    out.push(format!("{what} `{k}` was removed"));
                }
            }
        };
        diff("param", &self.params, &old.params, &mut out);
        diff("dep", &self.deps, &old.deps, &mut out);
        diff("input", &self.extra, &old.extra, &mut out);
        out
    }
}

/// Key parts of built-in steps: the dataset version (`NAME@ID`) and model they read.
const DATASET: &str = "dataset";
const MODEL: &str = "model";
/// `registry:NAME@V`, what a register step made and a gate step judges.
const REGISTERED: &str = "registered";

/// The first upstream artifact whose reference starts with `prefix`.
fn upstream_artifact(upstream: &[Output], prefix: &str) -> Option<String> {
    upstream.iter().find_map(|o| match o {
        Output::Artifact { reference } if reference.starts_with(prefix) => Some(reference.clone()),
        _ => None,
    })
}

/// A stored step result's body.
fn stored(r: &StepResult) -> Result<Stored> {
    serde_json::from_str(&r.outputs)
        .map_err(|e| OpsError::Invalid(format!("a stored step result: {e}")))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    parts: KeyParts,
    outputs: Vec<Output>,
}

/// How a step ended (or why it did not run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Its result is stored and the workspace holds its outputs.
    UpToDate,
    /// Its result was stored; its outputs were put back from the object store.
    Restored,
    Ran,
    Failed,
    /// A step it waits for failed.
    NotRun,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub step: String,
    pub state: StepState,
    pub seconds: f64,
    /// Why it ran: what changed since its last result.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The end of its output, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_tail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<RunId>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<Output>,
}

#[derive(Debug, Serialize)]
pub struct PipelineReport {
    /// The pipeline's run; none when every step was up to date.
    pub run: Option<RunId>,
    pub steps: Vec<StepReport>,
    pub seconds: f64,
}

impl PipelineReport {
    pub fn failed(&self) -> bool {
        self.steps.iter().any(|s| s.state == StepState::Failed)
    }
}

/// Live events while a pipeline runs.
pub trait PipelineEvents: Sync {
    fn started(&self, step: &str);
    fn finished(&self, report: &StepReport);
}

pub struct NoEvents;

impl PipelineEvents for NoEvents {
    fn started(&self, _: &str) {}
    fn finished(&self, _: &StepReport) {}
}

/// `gyre status`: each step, up to date or why not.
#[derive(Debug, Serialize)]
pub struct StepStatus {
    pub step: String,
    pub up_to_date: bool,
    /// Its result is stored and only its outputs in the workspace differ: a run puts them
    /// back from the object store instead of running it.
    pub restorable: bool,
    pub reasons: Vec<String>,
}

/// A step in the pipeline's graph (the web UI): what it uses, what it waits for, whether it
/// is up to date (and why not), and how its last run ended.
#[derive(Debug, Serialize)]
pub struct StepNode {
    pub step: String,
    /// The built-in it uses; None for a command.
    pub uses: Option<gyre_core::pipeline::Builtin>,
    pub command: Option<String>,
    pub after: Vec<String>,
    pub state: NodeState,
    pub reasons: Vec<String>,
    pub last: Option<LastRun>,
}

/// Where a step stands, for the pipeline's picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    UpToDate,
    /// Its result is stored; a run puts its outputs back instead of running it.
    Restorable,
    /// It would run: something it reads changed, or a step it waits for will run.
    Stale,
    /// Its latest run failed.
    Failed,
    NeverRan,
}

/// A step's latest run.
#[derive(Debug, Serialize)]
pub struct LastRun {
    pub run: RunId,
    pub status: gyre_core::RunStatus,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    /// Why it failed, when it did.
    pub note: String,
}

/// Options of `gyre run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub targets: Vec<String>,
    pub jobs: usize,
    /// `KEY.PATH=VALUE` param overrides.
    pub sets: Vec<String>,
    /// Run every selected step even when its result is stored.
    pub force: bool,
}

/// The steps and params of a project, read fresh (gyre.toml, pipelines/*.toml, params.toml).
pub struct Pipeline {
    pub steps: BTreeMap<String, StepSpec>,
    pub params: toml::Table,
    pub dag: Dag,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> OpsError {
    move |source| OpsError::Io { context, source }
}

impl Project {
    /// Reads the pipeline: `[steps]` of gyre.toml plus `pipelines/*.toml`, params from
    /// `[params]` with params.toml over them, then `sets`.
    pub fn pipeline(&self, sets: &[String]) -> Result<Pipeline> {
        let mut steps = self.spec.steps.clone();
        let dir = self.root.join("pipelines");
        if dir.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(io(format!("reading {}", dir.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            files.sort();
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct File {
                #[serde(default)]
                steps: BTreeMap<String, StepSpec>,
            }
            for f in files {
                let text =
                    std::fs::read_to_string(&f).map_err(io(format!("reading {}", f.display())))?;
                let file: File = toml::from_str(&text)
                    .map_err(|e| OpsError::Invalid(format!("{}: {e}", self.display_path(&f))))?;
                for (name, s) in file.steps {
                    if steps.contains_key(&name) {
                        return Err(OpsError::Invalid(format!(
                            "step `{name}` is declared twice (again in {})",
                            self.display_path(&f)
                        )));
                    }
                    steps.insert(name, s);
                }
            }
        }
        let mut params = self.spec.params.clone();
        let file = self.root.join("params.toml");
        if file.is_file() {
            let text = std::fs::read_to_string(&file).map_err(io("reading params.toml".into()))?;
            let extra: toml::Table = toml::from_str(&text)
                .map_err(|e| OpsError::Invalid(format!("params.toml: {e}")))?;
            merge(&mut params, extra);
        }
        gyre_core::model::apply_overrides(&mut params, sets).map_err(OpsError::Invalid)?;
        // A validate step reads its dataset's path and schema: deps like any other, so the
        // step that writes the data runs first.
        for s in steps.values_mut() {
            if s.uses == Some(Builtin::Validate)
                && let Some(ds) = s.dataset.clone()
            {
                if let Some(path) = self.spec.datasets.get(&ds).and_then(|d| d.path.clone())
                    && !s.deps.iter().any(|d| norm(d) == norm(&path))
                {
                    s.deps.push(path);
                }
                if let Ok(dn) = ds.parse::<DatasetName>() {
                    let schema = self.display_path(&self.schema_path(&dn));
                    if self.root.join(&schema).exists() && !s.deps.contains(&schema) {
                        s.deps.push(schema);
                    }
                }
            }
        }
        let model_dataset = self.spec.model.as_ref().map(|m| m.dataset.as_str());
        let dag = plan(&steps, model_dataset).map_err(OpsError::Invalid)?;
        for (name, s) in &steps {
            for k in s.params.iter().chain(s.set.values()) {
                if param(&params, k).is_none() {
                    return Err(OpsError::Invalid(format!(
                        "step `{name}` reads param `{k}`, which neither [params] nor params.toml sets"
                    )));
                }
            }
        }
        Ok(Pipeline { steps, params, dag })
    }

    /// The cache key parts of a step as the workspace is now.
    async fn key_parts(
        &self,
        name: &str,
        s: &StepSpec,
        pipe: &Pipeline,
        stat: &mut StatCache,
        upstream: &[Output],
    ) -> Result<KeyParts> {
        let mut parts = KeyParts {
            definition: serde_json::to_string(s).expect("a step serialises"),
            ..KeyParts::default()
        };
        for k in s.params.iter().chain(s.set.values()) {
            parts.params.insert(
                k.clone(),
                value_text(param(&pipe.params, k).expect("checked")),
            );
        }
        let deps: Vec<String> = s.reads().map(|d| norm(d)).collect();
        match s.uses {
            Some(Builtin::Validate) => {
                let ds = s.dataset.as_deref().expect("checked");
                if self
                    .spec
                    .datasets
                    .get(ds)
                    .and_then(|d| d.path.as_ref())
                    .is_none()
                {
                    return Err(OpsError::Invalid(format!(
                        "step `{name}` validates `{ds}`, but [datasets.{ds}] in gyre.toml gives no `path`"
                    )));
                }
            }
            Some(Builtin::Train) => {
                let spec = self.train_spec(s, &pipe.params)?;
                parts.extra.insert(
                    "model spec".into(),
                    toml::to_string(&spec).unwrap_or_default(),
                );
                let v = self.pinned_version(&spec.dataset, upstream).await?;
                parts.extra.insert(DATASET.into(), v);
            }
            Some(Builtin::Evaluate) => {
                let m = s.model.as_deref().expect("checked");
                // The model the upstream train step stands for now (run or restored).
                let model = upstream
                    .iter()
                    .find_map(|o| match o {
                        Output::Artifact { reference } if reference.starts_with("model:") => {
                            Some(reference.clone())
                        }
                        _ => None,
                    })
                    .or(self.model_of_step(m).await?)
                    .unwrap_or_default();
                parts.extra.insert(MODEL.into(), model);
                let spec = self.model_spec(&[])?;
                let ds = s.dataset.clone().unwrap_or(spec.dataset);
                let v = self.pinned_version(&ds, upstream).await?;
                parts.extra.insert(DATASET.into(), v);
            }
            Some(Builtin::Register) if s.file.is_none() => {
                let model = upstream_artifact(upstream, "model:").unwrap_or_default();
                parts.extra.insert(MODEL.into(), model);
            }
            Some(Builtin::Traffic) => {
                let model = s.name.as_deref().expect("checked");
                parts.extra.insert(
                    "labelled".into(),
                    self.meta.labelled_max_seq(model).await?.to_string(),
                );
                if let Some(b) = &s.base {
                    let v = self.pinned_version(b, upstream).await?;
                    parts.extra.insert(DATASET.into(), v);
                }
                parts.extra.insert(
                    "window".into(),
                    format!("rows={:?} days={:?}", s.rows, s.days),
                );
            }
            Some(Builtin::Gate) => {
                let version = upstream_artifact(upstream, "registry:").unwrap_or_default();
                parts.extra.insert(REGISTERED.into(), version);
                parts.extra.insert(
                    "gate".into(),
                    toml::to_string(&self.spec.gate).unwrap_or_default(),
                );
            }
            None => {
                if let Some(ds) = &s.dataset {
                    let v = self.pinned_version(ds, upstream).await?;
                    parts.extra.insert(DATASET.into(), v);
                }
            }
            // A file's hash is in `deps`.
            Some(Builtin::Register) => {}
        }
        for d in deps {
            let path = self.root.join(&d);
            let h = hash_path(&path, stat).map_err(|e| match e {
                OpsError::NotFound(_) => OpsError::Invalid(format!(
                    "step `{name}` depends on `{d}`, which does not exist (and no step writes it)"
                )),
                other => other,
            })?;
            parts.deps.insert(d, h);
        }
        Ok(parts)
    }

    /// The `[model]` spec with a train step's `set` applied from params.
    fn train_spec(&self, s: &StepSpec, params: &toml::Table) -> Result<gyre_core::ModelSpec> {
        let sets: Vec<String> = s
            .set
            .iter()
            .map(|(k, p)| format!("{k}={}", param(params, p).expect("checked")))
            .collect();
        let mut spec = self.model_spec(&sets)?;
        if let Some(ds) = &s.dataset {
            spec.dataset = ds.clone();
        }
        Ok(spec)
    }

    /// `NAME@ID` of the dataset version a step reads: the one an upstream validate step
    /// stands for (run or restored), else the version the reference names now.
    async fn pinned_version(&self, reference: &str, upstream: &[Output]) -> Result<String> {
        let name = reference.split('@').next().unwrap_or(reference);
        let prefix = format!("dataset:{name}@");
        if let Some(r) = upstream.iter().find_map(|o| match o {
            Output::Artifact { reference } => reference.strip_prefix(&prefix),
            _ => None,
        }) {
            return Ok(format!("{name}@{r}"));
        }
        Ok(format!("{name}@{}", self.current_version(reference).await?))
    }

    /// The id of the dataset version a reference names now (`NAME` is the latest).
    async fn current_version(&self, reference: &str) -> Result<String> {
        let r: gyre_core::DatasetRef = reference
            .parse()
            .map_err(|e| OpsError::Invalid(format!("`{reference}`: {e}")))?;
        match self.meta.resolve_version(&r).await {
            Ok(v) => Ok(v.info.id.to_string()),
            Err(gyre_store::StoreError::NotFound { .. }) => Ok("none".into()),
            Err(e) => Err(e.into()),
        }
    }

    /// The model the last successful run of a train step made.
    async fn model_of_step(&self, step: &str) -> Result<Option<String>> {
        let Some(r) = self.meta.latest_step_result(step).await? else {
            return Ok(None);
        };
        Ok(stored(&r)?.outputs.iter().find_map(|o| match o {
            Output::Artifact { reference } if reference.starts_with("model:") => {
                Some(reference.clone())
            }
            _ => None,
        }))
    }

    /// `gyre status`: whether each step's stored result matches the workspace, and if not,
    /// why. Steps after one that is not up to date are reported as waiting for it.
    pub async fn pipeline_status(&self, sets: &[String]) -> Result<Vec<StepStatus>> {
        let pipe = self.pipeline(sets)?;
        let mut stat = StatCache::load(&self.state_dir());
        let mut stale: BTreeSet<String> = BTreeSet::new();
        let mut known: BTreeMap<String, Vec<Output>> = BTreeMap::new();
        let mut out = Vec::new();
        for name in &pipe.dag.order {
            let s = &pipe.steps[name];
            let waiting: Vec<&String> = pipe.dag.upstream[name]
                .iter()
                .filter(|u| stale.contains(*u))
                .collect();
            if !waiting.is_empty() {
                stale.insert(name.clone());
                out.push(StepStatus {
                    step: name.clone(),
                    up_to_date: false,
                    restorable: false,
                    reasons: waiting.iter().map(|u| format!("waits for `{u}`")).collect(),
                });
                continue;
            }
            let ups: Vec<Output> = ancestors(&pipe.dag, name)
                .iter()
                .filter_map(|u| known.get(u))
                .flatten()
                .cloned()
                .collect();
            let (reasons, stored) = match self.key_parts(name, s, &pipe, &mut stat, &ups).await {
                Ok(parts) => {
                    let r = self.why_not(name, &parts, &mut stat).await?;
                    let stored = self.meta.step_result(&parts.key()).await?;
                    if r.is_empty()
                        && let Some(stored) = &stored
                        && let Ok(st) = self::stored(stored)
                    {
                        known.insert(name.clone(), st.outputs);
                    }
                    (r, stored.is_some())
                }
                Err(e) => (vec![e.to_string()], false),
            };
            if !reasons.is_empty() {
                stale.insert(name.clone());
            }
            out.push(StepStatus {
                step: name.clone(),
                up_to_date: reasons.is_empty(),
                restorable: stored && !reasons.is_empty(),
                reasons,
            });
        }
        stat.save(&self.state_dir());
        Ok(out)
    }

    /// Every step as a node of the DAG, with [`Project::pipeline_status`]'s verdict and its
    /// latest run (a step's runs are named `step NAME`).
    pub async fn pipeline_graph(&self) -> Result<Vec<StepNode>> {
        let pipe = self.pipeline(&[])?;
        let status = self.pipeline_status(&[]).await?;
        let mut out = Vec::with_capacity(status.len());
        for st in status {
            let spec = &pipe.steps[&st.step];
            let filter = gyre_core::runfilter::RunFilter {
                conditions: vec![gyre_core::runfilter::Condition {
                    field: gyre_core::runfilter::Field::Name,
                    op: gyre_core::runfilter::Op::Eq,
                    value: gyre_core::runfilter::Value::Text(format!("step {}", st.step)),
                }],
            };
            let last = self
                .meta
                .search_runs(&filter, &Default::default(), 1)
                .await?
                .into_iter()
                .next()
                .map(|r| LastRun {
                    run: r.start.id,
                    status: r.status,
                    started_ms: r.start.started_ms,
                    ended_ms: r.ended_ms,
                    note: r.note,
                });
            let state = match &last {
                _ if st.up_to_date => NodeState::UpToDate,
                Some(l) if l.status == gyre_core::RunStatus::Failed => NodeState::Failed,
                _ if st.restorable => NodeState::Restorable,
                None => NodeState::NeverRan,
                Some(_) => NodeState::Stale,
            };
            out.push(StepNode {
                uses: spec.uses,
                command: spec.run.clone(),
                after: pipe.dag.upstream[&st.step].clone(),
                step: st.step,
                state,
                reasons: st.reasons,
                last,
            });
        }
        Ok(out)
    }

    /// Empty when the step's result is stored and its outputs are in the workspace.
    async fn why_not(
        &self,
        name: &str,
        parts: &KeyParts,
        stat: &mut StatCache,
    ) -> Result<Vec<String>> {
        if let Some(r) = self.meta.step_result(&parts.key()).await? {
            let missing = self.outputs_differ(&stored(&r)?.outputs, stat);
            return Ok(if missing.is_empty() {
                Vec::new()
            } else {
                missing
                    .into_iter()
                    .map(|p| {
                        format!("output `{p}` differs from the stored result (will be restored)")
                    })
                    .collect()
            });
        }
        Ok(match self.meta.latest_step_result(name).await? {
            None => vec!["it has never run".to_string()],
            Some(r) => {
                let c = parts.changes_since(&stored(&r)?.parts);
                if c.is_empty() {
                    vec!["its inputs differ from every stored result".to_string()]
                } else {
                    c
                }
            }
        })
    }

    /// Outputs whose workspace content is not the stored one.
    fn outputs_differ(&self, outputs: &[Output], stat: &mut StatCache) -> Vec<String> {
        let mut out = Vec::new();
        for o in outputs {
            match o {
                Output::File { path, hash } => {
                    if hash_path(&self.root.join(path), stat).ok().as_deref()
                        != Some(&hash.to_hex())
                    {
                        out.push(path.clone());
                    }
                }
                Output::Dir { path, files } => {
                    let here = dir_files(&self.root.join(path), stat).ok();
                    if here.as_ref() != Some(files) {
                        out.push(path.clone());
                    }
                }
                Output::Artifact { .. } => {}
            }
        }
        out
    }

    /// Puts stored outputs back into the workspace, each file atomically.
    async fn restore(&self, outputs: &[Output]) -> Result<()> {
        for o in outputs {
            match o {
                Output::File { path, hash } => {
                    self.blobs.get_to_file(*hash, &self.root.join(path)).await?;
                    make_writable(&self.root.join(path));
                }
                Output::Dir { path, files } => {
                    let dir = self.root.join(path);
                    if dir.exists() {
                        std::fs::remove_dir_all(&dir)
                            .map_err(io(format!("clearing {}", dir.display())))?;
                    }
                    for (rel, hash) in files {
                        if !gyre_core::dataset::is_safe_relative_path(rel) {
                            return Err(OpsError::Invalid(format!(
                                "a stored output names `{rel}`, outside its folder"
                            )));
                        }
                        let dest = dir.join(rel);
                        self.blobs.get_to_file(*hash, &dest).await?;
                        make_writable(&dest);
                    }
                }
                Output::Artifact { .. } => {}
            }
        }
        Ok(())
    }

    /// Hashes and stores files, several at once (a bucket's latency is paid in parallel, and
    /// hashing runs on the blocking pool), by name.
    async fn store_files(
        &self,
        files: Vec<(String, PathBuf)>,
    ) -> Result<BTreeMap<String, ContentHash>> {
        use futures_util::{StreamExt, TryStreamExt};
        futures_util::stream::iter(files)
            .map(|(name, path)| async move {
                let (p, hashed) = (path.clone(), path.clone());
                let h = tokio::task::spawn_blocking(move || gyre_store::hash_file(&hashed))
                    .await
                    .map_err(|e| OpsError::Io {
                        context: format!("hashing {}", p.display()),
                        source: std::io::Error::other(e.to_string()),
                    })??;
                self.blobs.put_file(&path, h).await?;
                Ok::<_, OpsError>((name, h))
            })
            .buffer_unordered(crate::STORE_JOBS)
            .try_collect()
            .await
    }

    /// Stores a step's declared outputs in the object store and lists them.
    async fn collect_outputs(&self, name: &str, s: &StepSpec) -> Result<Vec<Output>> {
        let mut out = Vec::new();
        for o in &s.outs {
            let rel = norm(o);
            let path = self.root.join(&rel);
            if path.is_dir() {
                let mut found = Vec::new();
                for entry in walkdir::WalkDir::new(&path).sort_by_file_name() {
                    let entry = entry.map_err(|e| {
                        OpsError::Invalid(format!("reading {}: {e}", path.display()))
                    })?;
                    if entry.file_type().is_file() {
                        let r = entry
                            .path()
                            .strip_prefix(&path)
                            .expect("under the folder")
                            .to_string_lossy()
                            .replace('\\', "/");
                        found.push((r, entry.into_path()));
                    }
                }
                let files = self.store_files(found).await?;
                out.push(Output::Dir { path: rel, files });
            } else if path.is_file() {
                let h = gyre_store::hash_file(&path)?;
                self.blobs.put_file(&path, h).await?;
                out.push(Output::File { path: rel, hash: h });
            } else {
                return Err(OpsError::Invalid(format!(
                    "step `{name}` succeeded but did not write its output `{rel}`"
                )));
            }
        }
        Ok(out)
    }

    /// `gyre run`: executes what is needed, in dependency order, up to `jobs` at once.
    pub async fn run_pipeline(
        &self,
        opts: &RunOptions,
        events: &dyn PipelineEvents,
    ) -> Result<PipelineReport> {
        let started = Instant::now();
        let pipe = self.pipeline(&opts.sets)?;
        let selected = pipe.dag.closure(&opts.targets).map_err(OpsError::Invalid)?;
        let mut stat = StatCache::load(&self.state_dir());
        let mut reports: BTreeMap<String, StepReport> = BTreeMap::new();
        let mut pending: Vec<String> = selected.clone();
        let mut running: BTreeSet<String> = BTreeSet::new();
        let mut run: Option<crate::runs::RunHandle> = None;
        let jobs = opts.jobs.max(1);
        type Task<'a> =
            std::pin::Pin<Box<dyn std::future::Future<Output = (String, StepReport)> + Send + 'a>>;
        let mut tasks: futures_util::stream::FuturesUnordered<Task<'_>> =
            futures_util::stream::FuturesUnordered::new();
        use futures_util::StreamExt;
        loop {
            // Start every step whose upstream steps are done, while slots are free.
            let mut i = 0;
            while i < pending.len() && running.len() < jobs {
                let name = pending[i].clone();
                let ups = &pipe.dag.upstream[&name];
                let failed_up = ups.iter().any(|u| {
                    reports
                        .get(u)
                        .is_some_and(|r| matches!(r.state, StepState::Failed | StepState::NotRun))
                });
                if failed_up {
                    pending.remove(i);
                    let r = StepReport {
                        step: name.clone(),
                        state: StepState::NotRun,
                        seconds: 0.0,
                        reasons: vec!["a step it waits for failed".into()],
                        error: None,
                        log_tail: None,
                        run: None,
                        outputs: Vec::new(),
                    };
                    events.finished(&r);
                    reports.insert(name, r);
                    continue;
                }
                let ready = ups
                    .iter()
                    .all(|u| reports.contains_key(u) || !selected.contains(u));
                if !ready {
                    i += 1;
                    continue;
                }
                pending.remove(i);
                let s = pipe.steps[&name].clone();
                let t0 = Instant::now();
                let ups: Vec<Output> = ancestors(&pipe.dag, &name)
                    .iter()
                    .filter_map(|u| reports.get(u))
                    .flat_map(|r| r.outputs.iter().cloned())
                    .collect();
                let parts = match self.key_parts(&name, &s, &pipe, &mut stat, &ups).await {
                    Ok(p) => p,
                    Err(e) => {
                        let r = failed_report(&name, e.to_string(), None, t0);
                        events.finished(&r);
                        reports.insert(name, r);
                        continue;
                    }
                };
                let key = parts.key();
                if !opts.force
                    && let Some(stored) = self.meta.step_result(&key).await?
                {
                    let stored = self::stored(&stored)?;
                    let differ = self.outputs_differ(&stored.outputs, &mut stat);
                    let state = if differ.is_empty() {
                        StepState::UpToDate
                    } else {
                        self.restore(&stored.outputs).await?;
                        StepState::Restored
                    };
                    let r = StepReport {
                        step: name.clone(),
                        state,
                        seconds: t0.elapsed().as_secs_f64(),
                        reasons: differ.iter().map(|p| format!("`{p}` put back")).collect(),
                        error: None,
                        log_tail: None,
                        run: None,
                        outputs: stored.outputs,
                    };
                    events.finished(&r);
                    reports.insert(name, r);
                    continue;
                }
                let reasons = if opts.force {
                    vec!["--force".to_string()]
                } else {
                    self.why_not(&name, &parts, &mut stat).await?
                };
                if run.is_none() {
                    let h = self.start_run("pipeline", None).await?;
                    h.log_params(&[("steps".into(), selected.join(","))])
                        .await?;
                    run = Some(h);
                }
                let parent = run.as_ref().expect("started").id.clone();
                events.started(&name);
                running.insert(name.clone());
                let params = pipe.params.clone();
                tasks.push(Box::pin(async move {
                    let mut r = self
                        .execute(&name, &s, &params, parts, &parent, t0)
                        .await
                        .unwrap_or_else(|e| failed_report(&name, e.to_string(), None, t0));
                    r.reasons = reasons;
                    (name, r)
                }));
            }
            let Some((name, report)) = tasks.next().await else {
                break;
            };
            running.remove(&name);
            events.finished(&report);
            reports.insert(name, report);
        }
        stat.save(&self.state_dir());
        let steps: Vec<StepReport> = selected.iter().filter_map(|n| reports.remove(n)).collect();
        let run_id = match run {
            Some(mut h) => {
                let failed = steps.iter().any(|s| s.state == StepState::Failed);
                for (state, label) in [
                    (StepState::Ran, "steps_ran"),
                    (StepState::UpToDate, "steps_up_to_date"),
                    (StepState::Restored, "steps_restored"),
                    (StepState::Failed, "steps_failed"),
                ] {
                    let n = steps.iter().filter(|s| s.state == state).count();
                    h.log_metric(label, 0, n as f64).await?;
                }
                let id = h.id.clone();
                h.finish(if failed {
                    RunStatus::Failed
                } else {
                    RunStatus::Finished
                })
                .await?;
                Some(id)
            }
            None => None,
        };
        Ok(PipelineReport {
            run: run_id,
            steps,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Runs one step as a child run, then stores its outputs and result.
    async fn execute(
        &self,
        name: &str,
        s: &StepSpec,
        params: &toml::Table,
        parts: KeyParts,
        parent: &RunId,
        t0: Instant,
    ) -> Result<StepReport> {
        let mut run = self
            .start_run(&format!("step {name}"), Some(parent))
            .await?;
        let mut logged: Vec<(String, String)> = parts
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        logged.push(("step".into(), name.into()));
        run.log_params(&logged).await?;
        let inputs: Vec<String> = parts
            .deps
            .iter()
            .map(|(p, h)| format!("file:{p}@{}", &h[..12.min(h.len())]))
            .chain(parts.extra.get(DATASET).map(|v| format!("dataset:{v}")))
            .chain(parts.extra.get(MODEL).cloned())
            .collect();
        run.add_inputs(&inputs).await?;
        let result: std::result::Result<(Vec<Output>, Option<String>), StepFailure> = match s.uses {
            None => self.run_command(name, s, params, &parts).await,
            Some(Builtin::Validate) => self.builtin_validate(s).await.map(|o| (o, None)),
            Some(Builtin::Train) => self
                .builtin_train(s, params, &parts, &run.id)
                .await
                .map(|o| (o, None)),
            Some(Builtin::Evaluate) => self.builtin_evaluate(s, &parts).await.map(|o| (o, None)),
            Some(Builtin::Register) => self.builtin_register(s, &parts).await.map(|o| (o, None)),
            Some(Builtin::Gate) => self.builtin_gate(s, &parts).await,
            Some(Builtin::Traffic) => self.builtin_traffic(s, &parts).await.map(|o| (o, None)),
        };
        match result {
            Ok((mut outputs, log)) => {
                if let Some(log) = &log {
                    let h = self.blobs.put_bytes(log.clone().into_bytes()).await?;
                    run.add_outputs(&[format!("log:{h}")]).await?;
                }
                if s.uses.is_none() || s.uses == Some(Builtin::Evaluate) {
                    outputs.extend(self.collect_outputs(name, s).await?);
                }
                let refs: Vec<String> = outputs.iter().map(output_ref).collect();
                run.add_outputs(&refs).await?;
                let stored = Stored {
                    parts: parts.clone(),
                    outputs: outputs.clone(),
                };
                self.meta
                    .put_step_result(&StepResult {
                        key: parts.key(),
                        step: name.to_string(),
                        outputs: serde_json::to_string(&stored).expect("serialises"),
                        run_id: Some(run.id.to_string()),
                        created_ms: crate::runs::now_ms(),
                    })
                    .await?;
                let id = run.id.clone();
                run.log_metric("seconds", 0, t0.elapsed().as_secs_f64())
                    .await?;
                run.finish(RunStatus::Finished).await?;
                Ok(StepReport {
                    step: name.to_string(),
                    state: StepState::Ran,
                    seconds: t0.elapsed().as_secs_f64(),
                    reasons: Vec::new(),
                    error: None,
                    log_tail: None,
                    run: Some(id),
                    outputs,
                })
            }
            Err(StepFailure { message, log }) => {
                if let Some(log) = &log {
                    let h = self.blobs.put_bytes(log.clone().into_bytes()).await?;
                    run.add_outputs(&[format!("log:{h}")]).await?;
                }
                run.set_note(&message).await?;
                let id = run.id.clone();
                run.finish(RunStatus::Failed).await?;
                Ok(failed_report(name, message, log.as_deref().map(tail), t0).with_run(id))
            }
        }
    }

    async fn run_command(
        &self,
        name: &str,
        s: &StepSpec,
        params: &toml::Table,
        parts: &KeyParts,
    ) -> std::result::Result<(Vec<Output>, Option<String>), StepFailure> {
        let cmd = s.run.as_deref().expect("a command step");
        // The dataset version it reads, from verified objects (kept until it exits).
        let mut data = None;
        if let Some(pinned) = parts.extra.get(DATASET) {
            if pinned.ends_with("@none") {
                return Err(StepFailure::from(format!(
                    "step `{name}` reads `{}`, which has no version yet",
                    s.dataset.as_deref().unwrap_or_default()
                )));
            }
            let t = self.resolve_target(pinned).await?;
            let label = t.label();
            data = Some((label, self.readable_target(&t).await?));
        }
        for o in &s.outs {
            if let Some(parent) = self.root.join(norm(o)).parent() {
                let _ = std::fs::create_dir_all(parent);
            }
        }
        let mut c = tokio::process::Command::new("sh");
        c.arg("-c").arg(cmd).current_dir(&self.root);
        let mut step_params = serde_json::Map::new();
        for k in &s.params {
            let v = param(params, k).expect("checked");
            let text = value_text(v);
            c.env(format!("GYRE_PARAM_{}", env_name(k)), &text);
            step_params.insert(k.clone(), serde_json::to_value(v).unwrap_or_default());
        }
        c.env(
            "GYRE_PARAMS",
            serde_json::Value::Object(step_params).to_string(),
        );
        c.env("GYRE_STEP", name);
        if let Some((label, readable)) = &data {
            let files: Vec<String> = readable
                .files
                .iter()
                .map(|f| f.path.to_string_lossy().into_owned())
                .collect();
            c.env("GYRE_DATASET", label);
            c.env("GYRE_DATASET_FILES", files.join("\n"));
        }
        c.envs(&s.env);
        c.stdin(std::process::Stdio::null());
        // The child's output is drained by its own task, so it never waits on this one.
        let out = tokio::spawn(async move { c.output().await })
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|r| r)
            .map_err(|e| StepFailure {
                message: format!("step `{name}`: cannot start `sh -c {cmd}`: {e}"),
                log: None,
            })?;
        let mut log = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.stderr.is_empty() {
            if !log.is_empty() && !log.ends_with('\n') {
                log.push('\n');
            }
            log.push_str(&String::from_utf8_lossy(&out.stderr));
        }
        if !out.status.success() {
            return Err(StepFailure {
                message: format!(
                    "step `{name}` failed ({}): {cmd}",
                    match out.status.code() {
                        Some(c) => format!("exit {c}"),
                        None => "killed by a signal".into(),
                    }
                ),
                log: Some(log),
            });
        }
        Ok((Vec::new(), Some(log)))
    }

    async fn builtin_validate(
        &self,
        s: &StepSpec,
    ) -> std::result::Result<Vec<Output>, StepFailure> {
        let ds = s.dataset.as_deref().expect("checked");
        let fail = |e: OpsError| StepFailure::from(e.to_string());
        let name: DatasetName = ds
            .parse()
            .map_err(|e: gyre_core::CoreError| fail(e.into()))?;
        let added = self
            .add_dataset(&name, None, &Default::default(), &NoProgress)
            .await
            .map_err(fail)?;
        let reference = format!("{}@{}", name, added.version.id);
        let report = self
            .validate(&reference, None, &Default::default(), &NoProgress)
            .await
            .map_err(fail)?;
        let errors = report.report.errors();
        if errors > 0 {
            let lines: Vec<String> = report
                .report
                .anomalies
                .iter()
                .filter(|a| a.severity == gyre_core::Severity::Error)
                .take(10)
                .map(|a| a.to_string())
                .collect();
            return Err(StepFailure {
                message: format!(
                    "{reference} has {errors} error anomal{} against {}",
                    if errors == 1 { "y" } else { "ies" },
                    report.schema
                ),
                log: Some(lines.join("\n")),
            });
        }
        Ok(vec![Output::Artifact {
            reference: format!("dataset:{reference}"),
        }])
    }

    async fn builtin_train(
        &self,
        s: &StepSpec,
        params: &toml::Table,
        parts: &KeyParts,
        run: &RunId,
    ) -> std::result::Result<Vec<Output>, StepFailure> {
        let spec = self
            .train_spec(s, params)
            .map_err(|e| StepFailure::from(e.to_string()))?;
        let out = self
            .train(
                &spec,
                &TrainOptions {
                    run_name: Some("train".into()),
                    parent: Some(run.clone()),
                    tags: Vec::new(),
                    dataset: parts.extra.get(DATASET).cloned(),
                },
                &NoProgress,
            )
            .await
            .map_err(|e| StepFailure::from(e.to_string()))?;
        Ok(vec![Output::Artifact {
            reference: crate::train::model_output(&out.model),
        }])
    }

    async fn builtin_evaluate(
        &self,
        s: &StepSpec,
        parts: &KeyParts,
    ) -> std::result::Result<Vec<Output>, StepFailure> {
        let fail = |e: OpsError| StepFailure::from(e.to_string());
        let m = s.model.as_deref().expect("checked");
        let model = parts
            .extra
            .get(MODEL)
            .filter(|m| !m.is_empty())
            .ok_or_else(|| StepFailure::from(format!("step `{m}` has made no model yet")))?;
        let ds = parts.extra.get(DATASET).expect("set for evaluate steps");
        let report = self.evaluate(model, ds).await.map_err(fail)?;
        let dest = self.root.join(norm(&s.outs[0]));
        write_atomic(
            &dest,
            serde_json::to_string_pretty(&report)
                .expect("serialises")
                .as_bytes(),
        )
        .map_err(fail)?;
        Ok(Vec::new())
    }
}

impl Project {
    async fn builtin_traffic(
        &self,
        s: &StepSpec,
        parts: &KeyParts,
    ) -> std::result::Result<Vec<Output>, StepFailure> {
        let fail = |e: OpsError| StepFailure::from(e.to_string());
        let report = self
            .export_traffic(&crate::monitor::TrafficExport {
                model: s.name.clone().expect("checked"),
                dataset: s.dataset.clone().expect("checked"),
                base: parts.extra.get(DATASET).cloned(),
                rows: s.rows,
                days: s.days,
                now_ms: crate::runs::now_ms(),
            })
            .await
            .map_err(fail)?;
        Ok(vec![Output::Artifact {
            reference: format!(
                "dataset:{}@{}",
                s.dataset.as_deref().unwrap_or_default(),
                report.version.id
            ),
        }])
    }

    async fn builtin_register(
        &self,
        s: &StepSpec,
        parts: &KeyParts,
    ) -> std::result::Result<Vec<Output>, StepFailure> {
        let name = s.name.as_deref().expect("checked");
        let (v, _) = match &s.file {
            Some(file) => {
                // A file a command wrote: its signature from the step, else from [model].
                let spec = self.spec.model.as_ref();
                let from = ImportOptions {
                    file: s.signature.as_ref().map(|f| self.root.join(f)),
                    metrics: s.metrics.as_ref().map(|f| self.root.join(f)),
                    dataset: s
                        .dataset
                        .clone()
                        .or_else(|| spec.map(|m| m.dataset.clone())),
                    target: spec.map(|m| m.target.clone()),
                    inputs: Vec::new(),
                };
                let path = self.root.join(file);
                if !path.is_file() {
                    return Err(StepFailure::from(format!(
                        "`file = \"{file}\"`: no such file (the step that writes it must run first)"
                    )));
                }
                self.register_model(name, &path.to_string_lossy(), &from)
                    .await?
            }
            None => {
                let model = parts
                    .extra
                    .get(MODEL)
                    .filter(|m| !m.is_empty())
                    .ok_or_else(|| StepFailure::from("the train step made no model".to_string()))?;
                self.register_model(name, model, &ImportOptions::default())
                    .await?
            }
        };
        Ok(vec![Output::Artifact {
            reference: format!("registry:{}@{}", v.name, v.version),
        }])
    }

    async fn builtin_gate(
        &self,
        s: &StepSpec,
        parts: &KeyParts,
    ) -> std::result::Result<(Vec<Output>, Option<String>), StepFailure> {
        let registered = parts
            .extra
            .get(REGISTERED)
            .and_then(|r| r.strip_prefix("registry:"))
            .filter(|r| !r.is_empty())
            .ok_or_else(|| StepFailure::from("the register step registered nothing".to_string()))?;
        let verdict = self.validate_model(registered).await?;
        let log: Vec<String> = verdict
            .checks
            .iter()
            .map(|c| {
                format!(
                    "{} {}: expected {}, found {}",
                    if c.passed { "pass" } else { "FAIL" },
                    c.check,
                    c.expected,
                    c.found
                )
            })
            .collect();
        let log = log.join("\n");
        if !verdict.passed {
            return Err(StepFailure {
                message: format!("{registered} failed the gate"),
                log: Some(log),
            });
        }
        let mut outputs = vec![Output::Artifact {
            reference: format!("verdict:{registered}:passed"),
        }];
        if let Some(alias) = &s.promote {
            let e = self
                .set_alias(
                    registered,
                    alias,
                    "passed the gate in a pipeline",
                    false,
                    &crate::settings::actor(),
                )
                .await?;
            outputs.push(Output::Artifact {
                reference: format!("alias:{}@{}=v{}", e.name, e.alias, e.to.unwrap_or(0)),
            });
        }
        Ok((outputs, Some(log)))
    }
}

/// A step that did not succeed: why, and its log.
struct StepFailure {
    message: String,
    log: Option<String>,
}

impl From<String> for StepFailure {
    fn from(message: String) -> Self {
        StepFailure { message, log: None }
    }
}

impl From<OpsError> for StepFailure {
    fn from(e: OpsError) -> Self {
        StepFailure::from(e.to_string())
    }
}

impl StepReport {
    fn with_run(mut self, run: RunId) -> Self {
        self.run = Some(run);
        self
    }
}

fn failed_report(name: &str, error: String, log_tail: Option<String>, t0: Instant) -> StepReport {
    StepReport {
        step: name.to_string(),
        state: StepState::Failed,
        seconds: t0.elapsed().as_secs_f64(),
        reasons: Vec::new(),
        error: Some(error),
        log_tail,
        run: None,
        outputs: Vec::new(),
    }
}

/// Every step `step` waits for, directly or not, nearest first in DAG order reversed.
fn ancestors(dag: &Dag, step: &str) -> Vec<String> {
    let mut all = dag.closure(&[step.to_string()]).unwrap_or_default();
    all.retain(|s| s != step);
    all.reverse();
    all
}

/// The last 20 lines of a log.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn output_ref(o: &Output) -> String {
    match o {
        Output::File { path, hash } => format!("file:{path}@{}", hash.short()),
        // The same hash a dependency on the folder records, so lineage can join them.
        Output::Dir { path, files } => {
            let text = serde_json::to_string(files).expect("serialises");
            format!(
                "file:{path}@{}",
                &blake3::hash(text.as_bytes()).to_hex()[..12]
            )
        }
        Output::Artifact { reference } => reference.clone(),
    }
}

fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `train.trees` → `TRAIN_TREES`.
fn env_name(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Lays `extra` over `base`, table by table.
fn merge(base: &mut toml::Table, extra: toml::Table) {
    for (k, v) in extra {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(e)) => merge(b, e),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// The hash of a file (through the size + mtime cache), or of a folder's file list.
fn hash_path(path: &Path, stat: &mut StatCache) -> Result<String> {
    let meta = std::fs::metadata(path)
        .map_err(|_| OpsError::NotFound(format!("{} does not exist", path.display())))?;
    if meta.is_dir() {
        let files = dir_files(path, stat)?;
        let text = serde_json::to_string(&files).expect("serialises");
        return Ok(blake3::hash(text.as_bytes()).to_hex().to_string());
    }
    Ok(file_hash(path, &meta, stat)?.to_hex())
}

fn file_hash(path: &Path, meta: &std::fs::Metadata, stat: &mut StatCache) -> Result<ContentHash> {
    let stamp = Stamp::of(meta);
    if let Some(h) = stat.get(path, stamp) {
        return Ok(h);
    }
    let before = crate::statcache::now();
    let h = gyre_store::hash_file(path)?;
    stat.put(path.to_path_buf(), stamp, h, Some(before));
    Ok(h)
}

fn dir_files(path: &Path, stat: &mut StatCache) -> Result<BTreeMap<String, ContentHash>> {
    let mut files = BTreeMap::new();
    for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
        let entry =
            entry.map_err(|e| OpsError::Invalid(format!("reading {}: {e}", path.display())))?;
        if entry.file_type().is_file() {
            let meta = entry.metadata().map_err(|e| {
                OpsError::Invalid(format!("reading {}: {e}", entry.path().display()))
            })?;
            let h = file_hash(entry.path(), &meta, stat)?;
            let rel = entry
                .path()
                .strip_prefix(path)
                .expect("under the folder")
                .to_string_lossy()
                .replace('\\', "/");
            files.insert(rel, h);
        }
    }
    Ok(files)
}

/// Objects are read-only; a restored workspace file is the user's to edit.
fn make_writable(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path) {
        let mut p = meta.permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        p.set_readonly(false);
        let _ = std::fs::set_permissions(path, p);
    }
}

/// Writes a file through a temporary file and a rename.
fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(io(format!("writing {}", dest.display())))?;
    std::io::Write::write_all(&mut tmp, bytes)
        .map_err(io(format!("writing {}", dest.display())))?;
    tmp.as_file()
        .sync_all()
        .map_err(io(format!("syncing {}", dest.display())))?;
    tmp.persist(dest).map_err(|e| OpsError::Io {
        context: format!("writing {}", dest.display()),
        source: e.error,
    })?;
    Ok(())
}
