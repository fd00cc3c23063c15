//! Dataset operations: add, list, show, log, diff, checkout and status.

use crate::statcache::{self, Stamp, StatCache};
use crate::{OpsError, Progress, Project, Result, settings};
use gyre_core::{
    ContentHash, DatasetName, DatasetRef, DatasetVersion, FileEntry, FileFormat, Manifest,
    NewDatasetVersion, ReadOptions, VersionInfo, VersionRef, is_safe_relative_path,
};
use gyre_data::{InputFile, ProfileDiff};
use gyre_store::{AddOutcome, DatasetSummary, StoreError, hash_file};
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// File name extensions a folder is scanned for.
const DATA_EXTENSIONS: [&str; 4] = ["csv", "tsv", "parquet", "pq"];

/// CSV options given on the command line (or by an API call) for one add; they override
/// `[datasets.NAME]` in `gyre.toml`, which overrides the defaults.
pub type ReadOverrides = gyre_core::DatasetSpec;

/// The files a dataset path holds.
pub(crate) struct Scan {
    pub root: PathBuf,
    pub is_dir: bool,
    /// (relative path, absolute path), sorted by relative path.
    pub files: Vec<(String, PathBuf)>,
    /// Files in the folder left out, and why.
    pub skipped: Vec<Skipped>,
}

/// A file under a dataset folder that was not added.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Skipped {
    pub path: String,
    /// `not CSV or Parquet`, `symbolic link (not followed)` or `hidden`.
    pub why: &'static str,
}

pub(crate) fn scan(path: &Path) -> Result<Scan> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            OpsError::NotFound(format!("{} does not exist", path.display()))
        }
        _ => OpsError::Io {
            context: format!("reading {}", path.display()),
            source: e,
        },
    })?;
    if !meta.is_dir() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "data".into());
        return Ok(Scan {
            root: path.to_path_buf(),
            is_dir: false,
            files: vec![(name, path.to_path_buf())],
            skipped: Vec::new(),
        });
    }
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    // Links are not followed: one could lead out of the folder, to any file the user can
    // read, and an error would then print that file's first line. Hidden entries are left
    // out, and said to be.
    let walker = walkdir::WalkDir::new(path).follow_links(false).into_iter();
    let mut walker = walker;
    while let Some(entry) = walker.next() {
        let entry = entry.map_err(|e| OpsError::Io {
            context: format!("reading folder {}", path.display()),
            source: e.into(),
        })?;
        let rel = || {
            entry
                .path()
                .strip_prefix(path)
                .expect("walkdir yields paths under its root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/")
        };
        if entry.depth() > 0 && entry.file_name().to_string_lossy().starts_with('.') {
            if entry.file_type().is_dir() {
                walker.skip_current_dir();
            }
            skipped.push(Skipped {
                path: rel(),
                why: "hidden",
            });
            continue;
        }
        if entry.path_is_symlink() {
            skipped.push(Skipped {
                path: rel(),
                why: "symbolic link (not followed)",
            });
            continue;
        }
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(path)
            .expect("walkdir yields paths under its root")
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let ext = entry
            .path()
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if DATA_EXTENSIONS.contains(&ext.as_str()) {
            files.push((rel, entry.into_path()));
        } else {
            skipped.push(Skipped {
                path: rel,
                why: "not CSV or Parquet",
            });
        }
    }
    files.sort();
    skipped.sort();
    Ok(Scan {
        root: path.to_path_buf(),
        is_dir: true,
        files,
        skipped,
    })
}

/// What `add` did.
#[derive(Debug, Serialize)]
pub struct AddReport {
    /// `created`, or `unchanged` when the same content was already a version.
    pub status: &'static str,
    pub version: VersionInfo,
    pub files: usize,
    /// Files under the folder that were not added, and why.
    pub skipped: Vec<Skipped>,
    /// Objects newly written to the blob store (others were already there).
    pub objects_stored: usize,
    pub seconds: Timings,
}

/// Runs CPU-heavy work on the current thread, telling a multi-threaded tokio runtime so that
/// its other tasks (the background copy) move to other workers.
pub(crate) fn blocking_here<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Seconds spent in each phase of an add. Copying into the store overlaps profiling; `store`
/// is the wait for the copies after profiling, plus publishing.
#[derive(Debug, Default, Serialize)]
pub struct Timings {
    pub hash: f64,
    pub profile: f64,
    pub store: f64,
}

impl Project {
    /// The read options for a dataset: those of its latest version (or the defaults), then
    /// `gyre.toml`, then `overrides`.
    pub fn read_options(
        &self,
        name: &DatasetName,
        previous: Option<&DatasetVersion>,
        overrides: &ReadOverrides,
    ) -> ReadOptions {
        let mut opts = previous
            .map(|v| v.manifest.read_options.clone())
            .unwrap_or_default();
        if let Some(spec) = self.spec.datasets.get(name.as_str()) {
            spec.apply(&mut opts);
        }
        overrides.apply(&mut opts);
        opts
    }

    /// Versions the data at `path` (or the path `gyre.toml` gives) as a new version of
    /// `name`. Identical content creates no new version. A version is recorded only after all
    /// its bytes are durably stored, so it exists completely or not at all.
    pub async fn add_dataset(
        &self,
        name: &DatasetName,
        path: Option<&Path>,
        overrides: &ReadOverrides,
        progress: &dyn Progress,
    ) -> Result<AddReport> {
        // A new version of a known dataset starts from how the last one was read.
        let previous = self.latest_version(name).await?;
        let configured = self
            .spec
            .datasets
            .get(name.as_str())
            .and_then(|d| d.path.as_ref());
        let path = match (path, configured, &previous) {
            (Some(p), _, _) => {
                std::path::absolute(p).map_err(OpsError::io("resolving the path"))?
            }
            (None, Some(p), _) => self.resolve_path(p),
            (None, None, Some(v)) => self.resolve_path(&v.info.source),
            (None, None, None) => {
                return Err(OpsError::Invalid(format!(
                    "no PATH given, gyre.toml has no `path` for [datasets.{name}], and `{name}` has no version to take one from"
                )));
            }
        };
        let opts = self.read_options(name, previous.as_ref(), overrides);
        let scan = scan(&path)?;
        if scan.files.is_empty() {
            return Err(OpsError::Invalid(format!(
                "{} holds no CSV or Parquet files (looked for .{})",
                path.display(),
                DATA_EXTENSIONS.join(", .")
            )));
        }
        let display = |rel: &str| -> String {
            if scan.is_dir {
                format!("{}/{rel}", self.display_path(&scan.root))
            } else {
                self.display_path(&scan.root)
            }
        };

        // 1. Hash every file (every core), noting stamps for the status index.
        let t0 = Instant::now();
        let mut sizes = Vec::new();
        for (_, abs) in &scan.files {
            let meta = std::fs::metadata(abs)
                .map_err(OpsError::io(format!("reading {}", abs.display())))?;
            if meta.len() == 0 {
                return Err(gyre_data::DataError::Empty {
                    path: self.display_path(abs),
                }
                .into());
            }
            sizes.push(Stamp::of(&meta));
        }
        let total: u64 = sizes.iter().map(|s| s.size).sum();
        progress.start("hashing", total);
        let hashed_at = statcache::now();
        let hashes: Vec<ContentHash> = scan
            .files
            .par_iter()
            .map(|(_, abs)| {
                let h = hash_file(abs)?;
                progress.advance(std::fs::metadata(abs).map(|m| m.len()).unwrap_or(0));
                Ok(h)
            })
            .collect::<Result<_, StoreError>>()?;
        progress.finish();
        let formats: Vec<FileFormat> = scan
            .files
            .iter()
            .map(|(_, a)| gyre_data::detect_format(a))
            .collect();
        let mut manifest = Manifest {
            files: scan
                .files
                .iter()
                .zip(&sizes)
                .zip(&hashes)
                .zip(&formats)
                .map(|((((rel, _), stamp), hash), format)| FileEntry {
                    path: rel.clone(),
                    hash: *hash,
                    size: stamp.size,
                    format: *format,
                    rows: 0,
                })
                .collect(),
            read_options: opts.clone(),
            is_dir: scan.is_dir,
        };
        let id = manifest.id();
        let mut cache = StatCache::load(&self.state_dir());
        for (((_, abs), stamp), hash) in scan.files.iter().zip(&sizes).zip(&hashes) {
            cache.put(abs.clone(), *stamp, *hash, Some(hashed_at));
        }
        let hash_secs = t0.elapsed().as_secs_f64();

        // 2. The same content is already a version: say so, without profiling again.
        let existing = DatasetRef {
            name: name.clone(),
            version: VersionRef::HashPrefix(id.to_hex()),
        };
        match self.meta.resolve_version(&existing).await {
            Ok(v) => {
                cache.save(&self.state_dir());
                return Ok(AddReport {
                    status: "unchanged",
                    version: v.info.clone(),
                    files: scan.files.len(),
                    skipped: scan.skipped,
                    objects_stored: 0,
                    seconds: Timings {
                        hash: hash_secs,
                        ..Timings::default()
                    },
                });
            }
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }

        // 3. Profile (every core: CSV rows in parallel, and files in parallel) while the bytes
        //    are copied into the store's temporary space in the background. Nothing is
        //    published until the profile succeeded, so bad input leaves the store unchanged.
        let t1 = Instant::now();
        let staging = {
            let blobs = self.blobs.clone();
            let jobs: Vec<(PathBuf, ContentHash)> = scan
                .files
                .iter()
                .zip(&hashes)
                .map(|((_, abs), h)| (abs.clone(), *h))
                .collect();
            tokio::spawn(async move {
                let mut staged = Vec::new();
                for (path, hash) in jobs {
                    if let Some(s) = blobs.stage_file(&path, hash).await? {
                        staged.push(s);
                    }
                }
                Ok::<_, StoreError>(staged)
            })
        };
        progress.start("profiling", total);
        let inputs: Vec<InputFile> = scan
            .files
            .iter()
            .zip(&formats)
            .map(|((rel, abs), format)| InputFile {
                path: abs.clone(),
                display: display(rel),
                format: *format,
            })
            .collect();
        let advance = |n: u64| progress.advance(n);
        let profiles = blocking_here(|| {
            inputs
                .par_iter()
                .map(|f| {
                    gyre_data::profile_file(f, &opts, &advance).map(|p| (f.display.clone(), p))
                })
                .collect::<Result<Vec<_>, _>>()
        });
        progress.finish();
        let profile_secs = t1.elapsed().as_secs_f64();
        // Wait for the copies even when profiling failed, so no temporary file outlives us.
        let t2 = Instant::now();
        let staged = staging.await.map_err(|e| OpsError::Io {
            context: "copying data into the store".into(),
            source: std::io::Error::other(e.to_string()),
        });
        let profiles = profiles?;
        let staged = staged??;
        for (entry, (_, p)) in manifest.files.iter_mut().zip(&profiles) {
            entry.rows = p.rows();
        }
        let profile = gyre_data::merge_profiles(profiles)?;

        // 4. Publish the objects, each atomically, then record the version.
        let mut stored = 0;
        {
            use futures_util::StreamExt;
            let mut commits = futures_util::stream::iter(staged)
                .map(|s| self.blobs.commit(s))
                .buffer_unordered(crate::STORE_JOBS);
            while let Some(outcome) = commits.next().await {
                if outcome? == gyre_store::PutOutcome::Stored {
                    stored += 1;
                }
            }
        }
        let new = NewDatasetVersion {
            dataset: name.clone(),
            id,
            created_by: settings::actor(),
            source: self.display_path(&scan.root),
            manifest,
            profile,
        };
        let (status, version) = match self.meta.add_dataset_version(&new).await? {
            AddOutcome::Created(v) => ("created", v),
            AddOutcome::Existing(v) => ("unchanged", v),
        };
        cache.save(&self.state_dir());
        Ok(AddReport {
            status,
            version: version.info.clone(),
            files: scan.files.len(),
            skipped: scan.skipped,
            objects_stored: stored,
            seconds: Timings {
                hash: hash_secs,
                profile: profile_secs,
                store: t2.elapsed().as_secs_f64(),
            },
        })
    }

    /// The dataset's latest version, or `None` when it has none.
    pub async fn latest_version(&self, name: &DatasetName) -> Result<Option<DatasetVersion>> {
        let latest = DatasetRef {
            name: name.clone(),
            version: VersionRef::Latest,
        };
        match self.meta.resolve_version(&latest).await {
            Ok(v) => Ok(Some(v)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_datasets(&self) -> Result<Vec<DatasetSummary>> {
        Ok(self.meta.list_datasets().await?)
    }

    pub async fn dataset_log(&self, name: &DatasetName) -> Result<Vec<VersionInfo>> {
        let log = self.meta.dataset_versions(name).await?;
        if log.is_empty() {
            return Err(OpsError::NotFound(format!("dataset `{name}` not found")));
        }
        Ok(log)
    }

    pub async fn dataset_version(&self, r: &DatasetRef) -> Result<DatasetVersion> {
        Ok(self.meta.resolve_version(r).await?)
    }

    pub async fn dataset_diff(&self, a: &DatasetRef, b: &DatasetRef) -> Result<DiffReport> {
        let (va, vb) = (
            self.dataset_version(a).await?,
            self.dataset_version(b).await?,
        );
        let diff = gyre_data::diff_profiles(&va.profile, &vb.profile);
        let files = diff_files(&va.manifest, &vb.manifest);
        Ok(DiffReport {
            from: va.info,
            to: vb.info,
            files,
            diff,
        })
    }

    /// Restores a version's exact bytes to `dest` (default: where it was added from, when that
    /// is inside the project). Files whose current content is not stored anywhere are not
    /// overwritten unless `force`: nothing a user has is lost silently.
    pub async fn checkout_dataset(
        &self,
        r: &DatasetRef,
        dest: Option<&Path>,
        force: bool,
        progress: &dyn Progress,
    ) -> Result<CheckoutReport> {
        let v = self.dataset_version(r).await?;
        let dest = match dest {
            Some(d) => std::path::absolute(d).map_err(OpsError::io("resolving the destination"))?,
            None if Path::new(&v.info.source).is_relative() => self.root.join(&v.info.source),
            None => {
                return Err(OpsError::Invalid(format!(
                    "{} was added from {}, outside the project; give a DEST",
                    v.info.dataset, v.info.source
                )));
            }
        };
        let targets: Vec<(PathBuf, &FileEntry)> = if v.manifest.is_dir {
            v.manifest
                .files
                .iter()
                .map(|f| {
                    if !is_safe_relative_path(&f.path) {
                        return Err(OpsError::Invalid(format!(
                            "version {} lists an unsafe path `{}`; refusing to write it",
                            v.info.id, f.path
                        )));
                    }
                    Ok((dest.join(&f.path), f))
                })
                .collect::<Result<_>>()?
        } else {
            let f = &v.manifest.files[0];
            let target = if dest.is_dir() {
                if !is_safe_relative_path(&f.path) {
                    return Err(OpsError::Invalid(format!("unsafe file name `{}`", f.path)));
                }
                dest.join(&f.path)
            } else {
                dest.clone()
            };
            vec![(target, f)]
        };
        // Check every target before writing any, so a refusal changes nothing.
        let mut plan = Vec::new();
        let mut unchanged = 0;
        for (target, f) in &targets {
            if target.is_dir() {
                return Err(OpsError::Conflict(format!(
                    "{} is a folder",
                    target.display()
                )));
            }
            if target.exists() {
                let current = hash_file(target)?;
                if current == f.hash {
                    unchanged += 1;
                    continue;
                }
                if !force && !self.blobs.contains(current).await? {
                    return Err(OpsError::Conflict(format!(
                        "{} has content that no version holds; add it first (`gyre data add`) or pass --force to overwrite it",
                        target.display()
                    )));
                }
            }
            plan.push((target.clone(), *f));
        }
        let total: u64 = plan.iter().map(|(_, f)| f.size).sum();
        progress.start("restoring", total);
        for (target, f) in &plan {
            self.blobs.get_to_file(f.hash, target).await?;
            progress.advance(f.size);
        }
        progress.finish();
        // The restored files are known-clean for `data status`.
        let mut cache = StatCache::load(&self.state_dir());
        for (target, f) in &targets {
            if let Ok(meta) = std::fs::metadata(target) {
                cache.put(target.clone(), Stamp::of(&meta), f.hash, None);
            }
        }
        cache.save(&self.state_dir());
        Ok(CheckoutReport {
            version: v.info.clone(),
            dest: dest.display().to_string(),
            written: plan.len(),
            unchanged,
        })
    }

    /// For each dataset, whether its source path still holds its latest version, and if not,
    /// which files changed. Only files whose size or mtime changed are re-hashed.
    pub async fn data_status(&self) -> Result<Vec<StatusEntry>> {
        let mut cache = StatCache::load(&self.state_dir());
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for d in self.meta.list_datasets().await? {
            seen.insert(d.name.to_string());
            let v = self
                .meta
                .resolve_version(&DatasetRef {
                    name: d.name,
                    version: VersionRef::Latest,
                })
                .await?;
            out.push(self.status_of(&v, &mut cache)?);
        }
        for (name, spec) in &self.spec.datasets {
            if !seen.contains(name) && spec.path.is_some() {
                out.push(StatusEntry {
                    dataset: name.clone(),
                    source: spec.path.clone().unwrap_or_default(),
                    version: None,
                    state: "not added",
                    modified: Vec::new(),
                    added: Vec::new(),
                    removed: Vec::new(),
                    rehashed: 0,
                });
            }
        }
        cache.save(&self.state_dir());
        Ok(out)
    }

    fn status_of(&self, v: &DatasetVersion, cache: &mut StatCache) -> Result<StatusEntry> {
        let path = self.resolve_path(&v.info.source);
        let mut entry = StatusEntry {
            dataset: v.info.dataset.to_string(),
            source: v.info.source.clone(),
            version: Some(v.info.seq),
            state: "up to date",
            modified: Vec::new(),
            added: Vec::new(),
            removed: Vec::new(),
            rehashed: 0,
        };
        let scan = match scan(&path) {
            Ok(s) => s,
            Err(OpsError::NotFound(_)) => {
                entry.state = "missing";
                return Ok(entry);
            }
            Err(e) => return Err(e),
        };
        let recorded: std::collections::HashMap<&str, &FileEntry> = v
            .manifest
            .files
            .iter()
            .map(|f| (f.path.as_str(), f))
            .collect();
        let mut present = std::collections::HashSet::new();
        let mut to_hash = Vec::new();
        for (rel, abs) in &scan.files {
            let rel = if v.manifest.is_dir {
                rel.clone()
            } else {
                v.manifest.files[0].path.clone()
            };
            present.insert(rel.clone());
            let Some(f) = recorded.get(rel.as_str()) else {
                entry.added.push(rel);
                continue;
            };
            let meta = std::fs::metadata(abs)
                .map_err(OpsError::io(format!("reading {}", abs.display())))?;
            let stamp = Stamp::of(&meta);
            if stamp.size != f.size {
                entry.modified.push(rel);
                continue;
            }
            match cache.get(abs, stamp) {
                Some(h) if h == f.hash => {}
                Some(_) => entry.modified.push(rel),
                None => to_hash.push((rel, abs.clone(), stamp, f.hash)),
            }
        }
        entry.rehashed = to_hash.len();
        let hashed_at = statcache::now();
        let results: Vec<_> = to_hash
            .into_par_iter()
            .map(|(rel, abs, stamp, want)| hash_file(&abs).map(|h| (rel, abs, stamp, want, h)))
            .collect::<Result<_, StoreError>>()?;
        for (rel, abs, stamp, want, h) in results {
            cache.put(abs, stamp, h, Some(hashed_at));
            if h != want {
                entry.modified.push(rel);
            }
        }
        for f in &v.manifest.files {
            if !present.contains(&f.path) {
                entry.removed.push(f.path.clone());
            }
        }
        entry.modified.sort();
        if !(entry.modified.is_empty() && entry.added.is_empty() && entry.removed.is_empty()) {
            entry.state = "changed";
        }
        Ok(entry)
    }
}

/// The result of checking one stored object.
#[derive(Debug, Serialize)]
pub struct ObjectCheck {
    /// `dataset`, `model` (a registered version) or `run` (a model a run made).
    pub kind: &'static str,
    /// The dataset, model or run the object belongs to.
    pub dataset: String,
    pub version: u64,
    pub path: String,
    pub hash: ContentHash,
    /// `ok`, `corrupt` or `missing`.
    pub state: &'static str,
}

impl Project {
    /// Re-hashes every object the versions of `name` refer to; without a name, every object
    /// the store refers to (datasets, registered models, runs' models).
    pub async fn verify_datasets(
        &self,
        name: Option<&DatasetName>,
        progress: &dyn Progress,
    ) -> Result<Vec<ObjectCheck>> {
        let mut versions = Vec::new();
        for d in self.meta.list_datasets().await? {
            if name.is_some_and(|n| *n != d.name) {
                continue;
            }
            for v in self.meta.dataset_versions(&d.name).await? {
                let r = DatasetRef {
                    name: d.name.clone(),
                    version: VersionRef::Seq(v.seq),
                };
                versions.push(self.meta.resolve_version(&r).await?);
            }
        }
        if let Some(n) = name
            && versions.is_empty()
        {
            return Err(OpsError::NotFound(format!("dataset `{n}` not found")));
        }
        let total = versions.iter().map(|v| v.info.bytes).sum();
        progress.start("verifying", total);
        let mut out = Vec::new();
        for v in &versions {
            for f in &v.manifest.files {
                let state = match self.blobs.verify(f.hash).await {
                    Ok(()) => "ok",
                    Err(StoreError::Corrupt { .. }) => "corrupt",
                    Err(StoreError::MissingObject { .. }) => "missing",
                    Err(e) => return Err(e.into()),
                };
                progress.advance(f.size);
                out.push(ObjectCheck {
                    kind: "dataset",
                    dataset: v.info.dataset.to_string(),
                    version: v.info.seq,
                    path: f.path.clone(),
                    hash: f.hash,
                    state,
                });
            }
        }
        // Without a dataset named, every other object too: registered models and the
        // models runs made (a corrupt model file must not pass as "ok").
        if name.is_none() {
            let mut seen = std::collections::HashSet::new();
            let mut models: Vec<(&'static str, String, u64, String)> = Vec::new();
            for v in self.meta.model_versions(None).await? {
                models.push(("model", v.name, v.version as u64, v.model));
            }
            let runs = self
                .meta
                .search_runs(
                    &gyre_core::runfilter::RunFilter::default(),
                    &gyre_core::runfilter::RunOrder::default(),
                    10_000_000,
                )
                .await?;
            for r in runs {
                for o in &r.outputs {
                    if let Some(h) = o.strip_prefix("model:") {
                        models.push(("run", r.start.id.to_string(), 0, h.to_string()));
                    }
                }
            }
            for (kind, owner, version, hash) in models {
                let Ok(hash) = hash.parse::<ContentHash>() else {
                    continue;
                };
                if !seen.insert(hash) {
                    continue;
                }
                let state = match self.blobs.verify(hash).await {
                    Ok(()) => "ok",
                    Err(StoreError::Corrupt { .. }) => "corrupt",
                    Err(StoreError::MissingObject { .. }) => "missing",
                    Err(e) => return Err(e.into()),
                };
                out.push(ObjectCheck {
                    kind,
                    dataset: owner,
                    version,
                    path: "model file".into(),
                    hash,
                    state,
                });
            }
        }
        progress.finish();
        Ok(out)
    }
}

#[derive(Debug, Serialize)]
pub struct DiffReport {
    pub from: VersionInfo,
    pub to: VersionInfo,
    pub files: FileChanges,
    pub diff: ProfileDiff,
}

#[derive(Debug, Default, Serialize)]
pub struct FileChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub modified: Vec<String>,
}

fn diff_files(a: &Manifest, b: &Manifest) -> FileChanges {
    let mut c = FileChanges::default();
    for fa in &a.files {
        match b.files.iter().find(|fb| fb.path == fa.path) {
            None => c.removed.push(fa.path.clone()),
            Some(fb) if fb.hash != fa.hash => c.modified.push(fa.path.clone()),
            Some(_) => {}
        }
    }
    for fb in &b.files {
        if !a.files.iter().any(|fa| fa.path == fb.path) {
            c.added.push(fb.path.clone());
        }
    }
    c
}

#[derive(Debug, Serialize)]
pub struct CheckoutReport {
    pub version: VersionInfo,
    pub dest: String,
    pub written: usize,
    pub unchanged: usize,
}

#[derive(Debug, Serialize)]
pub struct StatusEntry {
    pub dataset: String,
    pub source: String,
    /// The latest version's number; `None` for a dataset declared in gyre.toml but never added.
    pub version: Option<u64>,
    /// `up to date`, `changed`, `missing` or `not added`.
    pub state: &'static str,
    pub modified: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Files whose size or mtime changed, so they were hashed again.
    pub rehashed: usize,
}
