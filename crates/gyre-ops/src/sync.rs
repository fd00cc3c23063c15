//! `gyre push` and `gyre pull`: a project whose objects are local exchanges them with a team's
//! bucket. The metadata store (the team's PostgreSQL) says what exists; push uploads what it
//! names that the bucket lacks, pull downloads what it names that this machine lacks. Only
//! missing objects move (what the bucket holds is learnt from one listing when many objects
//! are wanted, from a HEAD each when few are), several at a time, each verified by its hash
//! on the way.

use crate::progress::Progress;
use crate::{OpsError, Project, Result, settings};
use futures_util::StreamExt;
use gyre_core::ContentHash;
use gyre_store::{BlobStore, LocalBlobStore, S3BlobStore};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// What to exchange. Empty lists and `steps: false` mean everything the store references.
#[derive(Debug, Clone, Default)]
pub struct SyncSelection {
    /// `NAME` (every version) or `NAME@V`.
    pub datasets: Vec<String>,
    /// `NAME` (every version) or `NAME@V` / `NAME@ALIAS`.
    pub models: Vec<String>,
    /// Pipeline step results.
    pub steps: bool,
}

impl SyncSelection {
    fn everything(&self) -> bool {
        self.datasets.is_empty() && self.models.is_empty() && !self.steps
    }
}

#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub selection: SyncSelection,
    /// The bucket; `None` for `GYRE_REMOTE_URL`, then `[store] remote`.
    pub remote: Option<String>,
    /// Objects in flight at once.
    pub jobs: usize,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Push,
    Pull,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub direction: Direction,
    pub remote: String,
    pub dry_run: bool,
    /// Objects the selection names.
    pub wanted: usize,
    /// Already on the receiving side.
    pub present: usize,
    /// Moved (or, in a dry run, would be).
    pub transferred: usize,
    pub bytes: u64,
    /// Named by the store but on neither side: lost, or on a machine that has not pushed.
    pub unavailable: Vec<String>,
    pub seconds: f64,
}

impl Project {
    /// The bucket push and pull use, with this project's object store as its local side.
    fn remote_store(&self, remote: Option<&str>) -> Result<S3BlobStore> {
        if let Some(objects) = crate::project::objects_url(&self.spec) {
            return Err(OpsError::Invalid(format!(
                "this project's objects already live in {objects} ([store] objects or \
                 {}); push and pull are for a project whose objects are local",
                settings::OBJECTS_URL
            )));
        }
        let url = match remote {
            Some(u) => u.to_string(),
            None => match std::env::var(settings::REMOTE_URL) {
                Ok(u) if !u.is_empty() => u,
                _ => self.spec.store.remote.clone().ok_or_else(|| {
                    OpsError::Invalid(format!(
                        "no bucket to exchange objects with: set [store] remote = \
                         \"s3://BUCKET/PREFIX\" in gyre.toml, {}, or pass --remote",
                        settings::REMOTE_URL
                    ))
                })?,
            },
        };
        let local = LocalBlobStore::open(self.state_dir())?;
        Ok(S3BlobStore::with_cache(&url, local)?)
    }

    /// The objects a selection names.
    async fn selected_objects(&self, sel: &SyncSelection) -> Result<BTreeSet<ContentHash>> {
        if sel.everything() {
            return self.referenced_objects().await;
        }
        let mut out = BTreeSet::new();
        for d in &sel.datasets {
            let versions = match d.split_once('@') {
                Some(_) => vec![self.meta.resolve_version(&d.parse()?).await?],
                None => {
                    let name = d
                        .parse()
                        .map_err(|e| OpsError::Invalid(format!("dataset `{d}`: {e}")))?;
                    let mut all = Vec::new();
                    for v in self.meta.dataset_versions(&name).await? {
                        let r = format!("{d}@{}", v.id).parse()?;
                        all.push(self.meta.resolve_version(&r).await?);
                    }
                    if all.is_empty() {
                        return Err(OpsError::NotFound(format!("no dataset named `{d}`")));
                    }
                    all
                }
            };
            for v in versions {
                out.extend(v.manifest.files.iter().map(|f| f.hash));
            }
        }
        for m in &sel.models {
            let versions = match m.split_once('@') {
                Some(_) => vec![self.resolve_model_version(m).await?],
                None => {
                    let all = self.meta.model_versions(Some(m)).await?;
                    if all.is_empty() {
                        return Err(OpsError::NotFound(format!("no model named `{m}`")));
                    }
                    all
                }
            };
            for v in versions {
                crate::gc::hashes_in(&v.model, &mut out);
            }
        }
        if sel.steps {
            for s in self.meta.all_step_results().await? {
                crate::gc::hashes_in(&s.outputs, &mut out);
            }
        }
        Ok(out)
    }

    /// Uploads the selected objects the bucket lacks.
    pub async fn push(&self, opts: &SyncOptions, progress: &dyn Progress) -> Result<SyncReport> {
        self.exchange(Direction::Push, opts, progress).await
    }

    /// Downloads the selected objects this machine lacks.
    pub async fn pull(&self, opts: &SyncOptions, progress: &dyn Progress) -> Result<SyncReport> {
        self.exchange(Direction::Pull, opts, progress).await
    }

    async fn exchange(
        &self,
        direction: Direction,
        opts: &SyncOptions,
        progress: &dyn Progress,
    ) -> Result<SyncReport> {
        let started = std::time::Instant::now();
        let remote = self.remote_store(opts.remote.as_deref())?;
        let wanted = self.selected_objects(&opts.selection).await?;
        let in_bucket = bucket_sizes(&remote, &wanted, opts.jobs).await?;
        let local = remote.cache();
        let mut todo: Vec<(ContentHash, u64)> = Vec::new();
        let mut unavailable = Vec::new();
        let mut present = 0;
        for &h in &wanted {
            let here = std::fs::metadata(local.object_path(h))
                .ok()
                .map(|m| m.len());
            let there = in_bucket.get(&h).copied();
            let (have, source) = match direction {
                Direction::Push => (there, here),
                Direction::Pull => (here, there),
            };
            match (have, source) {
                (Some(_), _) => present += 1,
                (None, Some(bytes)) => todo.push((h, bytes)),
                (None, None) => unavailable.push(h.to_hex()),
            }
        }
        let bytes: u64 = todo.iter().map(|(_, b)| b).sum();
        let mut report = SyncReport {
            direction,
            remote: remote.url().to_string(),
            dry_run: opts.dry_run,
            wanted: wanted.len(),
            present,
            transferred: todo.len(),
            bytes,
            unavailable,
            seconds: 0.0,
        };
        if opts.dry_run || todo.is_empty() {
            report.seconds = started.elapsed().as_secs_f64();
            return Ok(report);
        }
        // Largest first: a big object starts at once and small ones fill the gaps.
        todo.sort_by_key(|(_, b)| std::cmp::Reverse(*b));
        progress.start(
            match direction {
                Direction::Push => "pushing",
                Direction::Pull => "pulling",
            },
            bytes,
        );
        let remote = &remote;
        let mut moves = futures_util::stream::iter(todo)
            .map(|(h, size)| async move {
                match direction {
                    Direction::Push => remote.push_cached(h).await.map(|_| size),
                    Direction::Pull => remote.pull_to_cache(h).await.map(|()| size),
                }
            })
            .buffer_unordered(opts.jobs.max(1));
        let mut failure = None;
        while let Some(done) = moves.next().await {
            match done {
                Ok(size) => progress.advance(size),
                // Let the transfers in flight finish; report the first failure.
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        progress.finish();
        if let Some(e) = failure {
            return Err(e.into());
        }
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }
}

/// Above this many objects, the bucket is listed once rather than asked about each.
const LIST_ABOVE: usize = 1_000;

/// The sizes of the wanted objects the bucket holds: one listing when many are wanted (10,000
/// objects cost ten requests), else one HEAD each, in parallel (a selection of a few objects
/// from a bucket of millions costs a few requests).
async fn bucket_sizes(
    remote: &S3BlobStore,
    wanted: &BTreeSet<ContentHash>,
    jobs: usize,
) -> Result<HashMap<ContentHash, u64>> {
    if wanted.len() > LIST_ABOVE {
        return Ok(remote
            .list()
            .await?
            .into_iter()
            .filter(|o| wanted.contains(&o.hash))
            .map(|o| (o.hash, o.bytes))
            .collect());
    }
    let mut heads = futures_util::stream::iter(wanted.iter().copied())
        .map(|h| async move { remote.head(h).await.map(|size| (h, size)) })
        .buffer_unordered(jobs.max(1));
    let mut out = HashMap::new();
    while let Some(found) = heads.next().await {
        if let (h, Some(size)) = found? {
            out.insert(h, size);
        }
    }
    Ok(out)
}
