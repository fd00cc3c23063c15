//! Schemas and validation: infer a schema from a version, check data against it.

use crate::datasets::ReadOverrides;
use crate::targets::{Target, options_for};
use crate::{OpsError, Progress, Project, Result};
use gyre_core::{DatasetName, DatasetRef, ReadOptions, Schema, VersionInfo};
use gyre_data::ValidationReport;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Where schemas live in a project.
pub const SCHEMA_DIR: &str = "schemas";

#[derive(Debug, Serialize)]
pub struct SchemaReport {
    pub path: String,
    pub version: VersionInfo,
    pub schema: Schema,
}

#[derive(Debug, Serialize)]
pub struct ValidateReport {
    /// What was validated: `NAME@N` or a path.
    pub target: String,
    pub schema: String,
    #[serde(flatten)]
    pub report: ValidationReport,
}

impl Project {
    pub fn schema_path(&self, dataset: &DatasetName) -> PathBuf {
        self.root.join(SCHEMA_DIR).join(format!("{dataset}.toml"))
    }

    /// Infers a schema from a version's profile and writes it to `out` (default
    /// `schemas/NAME.toml`). An existing schema has probably been edited, so it is only
    /// replaced with `force`.
    pub async fn write_schema(
        &self,
        r: &DatasetRef,
        out: Option<&Path>,
        force: bool,
    ) -> Result<SchemaReport> {
        let v = self.dataset_version(r).await?;
        let schema = gyre_data::infer_schema(&v.profile, Some(v.info.dataset.as_str()));
        let path = match out {
            Some(p) => std::path::absolute(p).map_err(OpsError::io("resolving the output path"))?,
            None => self.schema_path(&v.info.dataset),
        };
        if path.exists() && !force {
            return Err(OpsError::Conflict(format!(
                "{} exists (it may hold your edits); pass --force to replace it, or --output FILE",
                self.display_path(&path)
            )));
        }
        let header = format!(
            "Schema of dataset `{}`, inferred from {}@{} ({}) on {}.\n\
             It is yours to edit; `gyre data validate {}` checks every rule.\n\
             Rules: row_count, missing_column, extra_column, type, nulls, range, categories, unique.\n\
             Severity per rule: severity = {{ range = \"warning\" }} here or in a column; \"off\" disables.",
            v.info.dataset,
            v.info.dataset,
            v.info.seq,
            v.info.id.short(),
            &v.info.created_at[..10],
            v.info.dataset,
        );
        let text = schema.to_toml(&header);
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        std::fs::create_dir_all(&dir)
            .map_err(OpsError::io(format!("creating {}", dir.display())))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)
            .map_err(OpsError::io(format!("writing in {}", dir.display())))?;
        std::io::Write::write_all(&mut tmp, text.as_bytes())
            .map_err(OpsError::io(format!("writing {}", path.display())))?;
        tmp.persist(&path).map_err(|e| OpsError::Io {
            context: format!("writing {}", path.display()),
            source: e.error,
        })?;
        Ok(SchemaReport {
            path: self.display_path(&path),
            version: v.info,
            schema,
        })
    }

    pub fn load_schema(&self, path: &Path) -> Result<Schema> {
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => OpsError::NotFound(format!(
                "no schema at {}; infer one with `gyre data schema NAME`",
                self.display_path(path)
            )),
            _ => OpsError::Io {
                context: format!("reading {}", path.display()),
                source: e,
            },
        })?;
        Ok(Schema::parse(&text, &self.display_path(path))?)
    }

    /// Validates `target` (an existing file or folder, else a dataset reference `NAME[@V]`)
    /// against a schema: `schema`, or `schemas/NAME.toml` for a dataset.
    ///
    /// Files are read the way the schema's dataset is read (its latest version's options, then
    /// gyre.toml, then `overrides`); a version is read exactly as it was added.
    pub async fn validate(
        &self,
        target: &str,
        schema: Option<&Path>,
        overrides: &ReadOverrides,
        progress: &dyn Progress,
    ) -> Result<ValidateReport> {
        let target = self.resolve_target(target).await?;
        let schema_path = match (&target, schema) {
            (_, Some(p)) => p.to_path_buf(),
            (Target::Version(v), None) => self.schema_path(&v.info.dataset),
            (Target::Files { label, .. }, None) => {
                return Err(OpsError::Invalid(format!(
                    "{label} is a path: give the schema to check it against with --schema FILE"
                )));
            }
        };
        let schema_doc = self.load_schema(&schema_path)?;
        let fallback = self.options_for_schema(&schema_doc, overrides).await?;
        let opts = options_for(&target, &fallback);
        let label = target.label();
        let readable = self.readable_target(&target).await?;
        let inputs = &readable.files;
        let report = crate::progress::over_files(inputs, "validating", progress, |advance| {
            gyre_data::validate_files(inputs, &opts, &schema_doc, advance)
        })?;
        Ok(ValidateReport {
            target: label,
            schema: self.display_path(&schema_path),
            report,
        })
    }

    /// Read options for files checked against `schema`: those of its dataset when it names
    /// one, then `overrides`.
    async fn options_for_schema(
        &self,
        schema: &Schema,
        overrides: &ReadOverrides,
    ) -> Result<ReadOptions> {
        let Some(name) = schema
            .dataset
            .as_deref()
            .and_then(|n| n.parse::<DatasetName>().ok())
        else {
            let mut opts = ReadOptions::default();
            overrides.apply(&mut opts);
            return Ok(opts);
        };
        let previous = self.latest_version(&name).await?;
        let mut opts = self.read_options(&name, previous.as_ref(), overrides);
        // A file with a header of its own is checked by its own names: the dataset's column
        // list (which names its headerless files, or renames their headers) would otherwise
        // replace them, and a file whose columns are not the schema's would pass. `--columns`
        // on the command line still renames.
        if opts.header && overrides.columns.is_none() {
            opts.columns = None;
        }
        Ok(opts)
    }
}
