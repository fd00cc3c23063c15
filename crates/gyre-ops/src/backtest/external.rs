//! A loop whose model is trained elsewhere: the retrain the monitor trigger runs is a
//! command (`run`, with `dataset`) whose model file a `register` step (`file = …`) takes.
//! In a replay each fit runs that command on the rows it would see, written as a CSV file
//! (`GYRE_DATASET_FILES`), and reads the model file it writes, as the pipeline would.

use super::stream::Stream;
use crate::{OpsError, Result};
use gyre_core::pipeline::{Builtin, StepSpec, norm};
use gyre_learn::model::Model;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The command that trains and the file it writes.
pub(super) struct External {
    step: String,
    command: String,
    file: PathBuf,
    signature: Option<PathBuf>,
    /// The test figures the command reports, for `[gate]`.
    metrics: Option<PathBuf>,
    root: PathBuf,
}

/// The retrain the monitor trigger runs, when it is a command: the `register` step (with
/// `file`) that `target` is or judges, and the command step that writes the file.
pub(super) fn find(
    root: &Path,
    steps: &BTreeMap<String, StepSpec>,
    target: &str,
) -> Option<External> {
    let mut register = steps.get(target)?;
    if register.uses == Some(Builtin::Gate) {
        register = steps.get(register.model.as_deref()?)?;
    }
    if register.uses != Some(Builtin::Register) {
        return None;
    }
    let file = norm(register.file.as_deref()?);
    let (step, writer) = steps.iter().find(|(_, s)| {
        s.run.is_some()
            && s.outs.iter().any(|o| {
                let o = norm(o);
                file == o || file.starts_with(&format!("{}/", o.trim_end_matches('/')))
            })
    })?;
    Some(External {
        step: step.clone(),
        command: writer.run.clone()?,
        file: root.join(&file),
        signature: register.signature.as_ref().map(|s| root.join(s)),
        metrics: register.metrics.as_ref().map(|s| root.join(s)),
        root: root.to_path_buf(),
    })
}

impl External {
    /// Runs the command on `rows` of the stream and imports the model it writes.
    pub(super) fn fit(
        &self,
        what: &str,
        stream: &Stream,
        rows: &[std::ops::Range<usize>],
    ) -> Result<Model> {
        let dir = tempfile::tempdir().map_err(OpsError::io("a folder for the replay's rows"))?;
        let csv = dir.path().join("rows.csv");
        let mut w = csv::Writer::from_path(&csv)
            .map_err(|e| OpsError::Invalid(format!("writing {}: {e}", csv.display())))?;
        let written = (|| -> std::result::Result<(), csv::Error> {
            w.write_record(&stream.names)?;
            for r in rows.iter().flat_map(|r| r.clone()) {
                w.write_record(stream.columns.iter().map(|c| c[r].as_deref().unwrap_or("")))?;
            }
            w.flush()?;
            Ok(())
        })();
        written.map_err(|e| OpsError::Invalid(format!("writing {}: {e}", csv.display())))?;
        // What a previous fit wrote must not pass for this one's.
        for f in std::iter::once(&self.file).chain(&self.metrics) {
            let _ = std::fs::remove_file(f);
        }
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .current_dir(&self.root)
            .env("GYRE_DATASET", "backtest")
            .env("GYRE_DATASET_FILES", &csv)
            .env("GYRE_STEP", &self.step)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(OpsError::io(format!("starting `sh -c {}`", self.command)))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = err.lines().rev().take(5).collect();
            return Err(OpsError::Invalid(format!(
                "{what}: step `{}` failed ({}): {}",
                self.step,
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )));
        }
        let bytes = std::fs::read(&self.file).map_err(OpsError::io(format!(
            "{what}: reading the model step `{}` wrote ({})",
            self.step,
            self.file.display()
        )))?;
        let target = stream.names[stream.target].clone();
        let values: Vec<String> = stream.columns[stream.target]
            .iter()
            .flatten()
            .cloned()
            .collect();
        let fallback: Vec<String> = stream
            .names
            .iter()
            .filter(|n| **n != target)
            .cloned()
            .collect();
        let mut model = crate::import::model_from_bytes(
            &format!("{what} ({})", self.file.display()),
            &bytes,
            self.signature.as_deref(),
            fallback,
            target,
            (!stream.regression).then_some(values),
        )?;
        if let Some(m) = &self.metrics {
            model.metrics = crate::import::reported_metrics(m)?;
        }
        Ok(model)
    }
}
