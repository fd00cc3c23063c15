//! `gyre data drift`: a current sample against a reference, each a dataset version or files.

use crate::datasets::{ReadOverrides, blocking_here};
use crate::targets::{Target, options_for};
use crate::{OpsError, Progress, Project, Result};
use gyre_core::ReadOptions;
use gyre_data::drift::{self, ColumnSample, DriftOptions, DriftReport, Reference};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct DriftOpsReport {
    pub reference: String,
    pub current: String,
    /// `data` (every reference value) or `profile` (the reference's stored profile).
    pub mode: &'static str,
    #[serde(flatten)]
    pub report: DriftReport,
}

impl Project {
    /// Compares `current` with `reference`. Files are read the way the other side's dataset
    /// is read (when it is a version), then with `overrides`. With `from_profile`, the
    /// reference must be a version and only its stored profile is used.
    pub async fn drift(
        &self,
        reference: &str,
        current: &str,
        from_profile: bool,
        options: &DriftOptions,
        overrides: &ReadOverrides,
        progress: &dyn Progress,
    ) -> Result<DriftOpsReport> {
        let r = self.resolve_target(reference).await?;
        let c = self.resolve_target(current).await?;
        let mut fallback = match (&r, &c) {
            (Target::Version(v), _) | (_, Target::Version(v)) => v.manifest.read_options.clone(),
            _ => ReadOptions::default(),
        };
        overrides.apply(&mut fallback);
        if from_profile && !matches!(r, Target::Version(_)) {
            return Err(OpsError::Invalid(format!(
                "--from-profile needs a dataset version as the reference, not the path {}",
                r.label()
            )));
        }
        let (cur_names, cur_samples, cur_rows) = self.samples(&c, &fallback, progress).await?;
        let current_cols: Vec<(String, &ColumnSample)> =
            cur_names.into_iter().zip(cur_samples.iter()).collect();
        let report = if from_profile {
            let Target::Version(v) = &r else {
                unreachable!("checked above")
            };
            let reference: Vec<(String, Reference<'_>)> = v
                .profile
                .columns
                .iter()
                .map(|p| (p.name.clone(), Reference::Profile(p)))
                .collect();
            drift::drift(&reference, v.profile.rows, &current_cols, cur_rows, options)
        } else {
            let (names, samples, rows) = self.samples(&r, &fallback, progress).await?;
            let reference: Vec<(String, Reference<'_>)> = names
                .into_iter()
                .zip(samples.iter().map(Reference::Data))
                .collect();
            blocking_here(|| drift::drift(&reference, rows, &current_cols, cur_rows, options))
        };
        Ok(DriftOpsReport {
            reference: r.label(),
            current: c.label(),
            mode: if from_profile { "profile" } else { "data" },
            report,
        })
    }

    async fn samples(
        &self,
        target: &Target,
        fallback: &ReadOptions,
        progress: &dyn Progress,
    ) -> Result<(Vec<String>, Vec<ColumnSample>, u64)> {
        let opts = options_for(target, fallback);
        let readable = self.readable_target(target).await?;
        let files = &readable.files;
        let out = crate::progress::over_files(files, "reading", progress, |advance| {
            drift::read_samples(files, &opts, advance)
        })?;
        Ok(out)
    }
}
