//! `gyre gc`: removes the objects nothing references, and the temporary files a killed writer
//! left. An object is kept when any of these names it: a dataset version's manifest, a
//! registered model version (and, for a model trained elsewhere, the original file its
//! lineage records), a run's inputs or outputs (models, logs, backtest reports, artifacts), a
//! pipeline step's stored result, or an MLflow artifact path. Objects written within the
//! grace period are kept too: a writer stores objects before it records what names them.

use crate::{Project, Result};
use gyre_core::ContentHash;
use gyre_core::runfilter::{RunFilter, RunOrder};
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy)]
pub struct GcOptions {
    /// Objects and temporary files written less than this long ago are kept.
    pub grace_ms: i64,
    /// Report only; remove nothing.
    pub dry_run: bool,
    /// Also drop this machine's cached copies of a bucket's objects fetched before the grace
    /// period (read again on demand).
    pub cache: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct GcReport {
    pub dry_run: bool,
    pub objects: usize,
    pub referenced: usize,
    /// Unreferenced, but written within the grace period.
    pub kept_young: usize,
    /// Unreferenced and old enough: removed (or, in a dry run, would be).
    pub removed: usize,
    pub removed_bytes: u64,
    pub removed_objects: Vec<String>,
    pub tmp_files: usize,
    pub tmp_bytes: u64,
    /// With `cache`: cached copies dropped (or, in a dry run, that would be).
    pub cached_dropped: usize,
    pub cached_bytes: u64,
}

/// Every run of exactly 64 hex digits in `text`: the hashes a reference (`model:H`,
/// `artifact:PATH@H`, a step result's JSON) names. A superset is safe: an extra match only
/// keeps an object.
pub(crate) fn hashes_in(text: &str, out: &mut BTreeSet<ContentHash>) {
    let bytes = text.as_bytes();
    let mut start = None;
    for i in 0..=bytes.len() {
        let hex = i < bytes.len() && matches!(bytes[i], b'0'..=b'9' | b'a'..=b'f');
        match (hex, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s == 64
                    && let Ok(h) = text[s..i].parse()
                {
                    out.insert(h);
                }
                start = None;
            }
            _ => {}
        }
    }
}

impl Project {
    /// Every object something in the metadata store names.
    pub(crate) async fn referenced_objects(&self) -> Result<BTreeSet<ContentHash>> {
        let mut keep = BTreeSet::new();
        for d in self.meta.list_datasets().await? {
            for v in self.meta.dataset_versions(&d.name).await? {
                let r = format!("{}@{}", d.name, v.id).parse()?;
                let version = self.meta.resolve_version(&r).await?;
                keep.extend(version.manifest.files.iter().map(|f| f.hash));
            }
        }
        let mut models = BTreeSet::new();
        for v in self.meta.model_versions(None).await? {
            hashes_in(&v.model, &mut models);
        }
        let runs = self
            .meta
            .search_runs(&RunFilter::default(), &RunOrder::default(), u32::MAX as u64)
            .await?;
        for r in &runs {
            for reference in r.inputs.iter().chain(&r.outputs) {
                // `dataset:NAME@ID` names a version by its manifest's id, not an object; the
                // version's files are kept through its manifest above.
                if reference.starts_with("dataset:") {
                    continue;
                }
                if let Some(h) = reference.strip_prefix("model:") {
                    hashes_in(h, &mut models);
                } else {
                    hashes_in(reference, &mut keep);
                }
            }
        }
        // A model trained elsewhere keeps the original file it was imported from.
        for &m in &models {
            if let Ok(bytes) = self.blobs.get_bytes(m).await
                && let Ok(model) = gyre_learn::model::Model::from_bytes(&bytes)
                && let Some((source, _)) = crate::import::origin_of(&model)
            {
                keep.insert(source);
            }
        }
        keep.extend(models);
        for s in self.meta.all_step_results().await? {
            hashes_in(&s.outputs, &mut keep);
        }
        for a in self.meta.artifacts_under("").await? {
            hashes_in(&a.hash, &mut keep);
        }
        Ok(keep)
    }

    pub async fn gc(&self, opts: GcOptions) -> Result<GcReport> {
        let keep = self.referenced_objects().await?;
        let cutoff = crate::runs::now_ms() - opts.grace_ms;
        let objects = self.blobs.list().await?;
        let mut report = GcReport {
            dry_run: opts.dry_run,
            objects: objects.len(),
            referenced: 0,
            kept_young: 0,
            removed: 0,
            removed_bytes: 0,
            removed_objects: Vec::new(),
            tmp_files: 0,
            tmp_bytes: 0,
            cached_dropped: 0,
            cached_bytes: 0,
        };
        for o in objects {
            if keep.contains(&o.hash) {
                report.referenced += 1;
            } else if o.modified_ms >= cutoff {
                report.kept_young += 1;
            } else {
                if opts.dry_run || self.blobs.remove(o.hash).await? {
                    report.removed += 1;
                    report.removed_bytes += o.bytes;
                    report.removed_objects.push(o.hash.to_hex());
                }
            }
        }
        let (n, bytes) = self.blobs.sweep_tmp(cutoff, opts.dry_run).await?;
        report.tmp_files = n;
        report.tmp_bytes = bytes;
        if opts.cache {
            let (n, bytes) = self.blobs.trim_cache(cutoff, opts.dry_run).await?;
            report.cached_dropped = n;
            report.cached_bytes = bytes;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashes_are_found_in_references() {
        let h = "ab".repeat(32);
        let mut out = std::collections::BTreeSet::new();
        super::hashes_in(&format!("model:{h}"), &mut out);
        super::hashes_in(&format!("artifact:0/x/artifacts/m.txt@{h}"), &mut out);
        super::hashes_in(
            &format!("{{\"hash\":\"{h}\",\"path\":\"d.txt\"}}"),
            &mut out,
        );
        assert_eq!(out.len(), 1);
        // 63 or 65 digits are not a hash; a short file reference names none.
        super::hashes_in(&format!("file:x@{}", &h[..12]), &mut out);
        super::hashes_in(&format!("{h}0"), &mut out);
        super::hashes_in(&h[1..], &mut out);
        assert_eq!(out.len(), 1);
    }
}
