//! What a command's data argument names: a file or folder on disk, or a dataset version.

use crate::datasets::scan;
use crate::{OpsError, Project, Result};
use gyre_core::{DatasetRef, DatasetVersion, ReadOptions};
use gyre_data::InputFile;
use std::path::Path;

/// Data named on the command line.
pub enum Target {
    /// A dataset version; its files are read from the store, exactly as it was added.
    Version(Box<DatasetVersion>),
    /// Files on disk.
    Files {
        label: String,
        files: Vec<InputFile>,
    },
}

impl Target {
    pub fn label(&self) -> String {
        match self {
            Target::Version(v) => format!("{}@{}", v.info.dataset, v.info.seq),
            Target::Files { label, .. } => label.clone(),
        }
    }
}

/// Files of a version, ready to read; copies fetched from a remote store live as long as this.
pub struct Readable {
    pub files: Vec<InputFile>,
    _fetched: Option<tempfile::TempDir>,
}

impl Project {
    /// An existing path is a path; anything else must be a dataset reference (`NAME[@V]`).
    pub async fn resolve_target(&self, target: &str) -> Result<Target> {
        let path = Path::new(target);
        if path.exists() {
            let scanned = scan(path)?;
            let files = scanned
                .files
                .iter()
                .map(|(rel, abs)| InputFile {
                    path: abs.clone(),
                    display: if scanned.is_dir {
                        format!("{}/{rel}", self.display_path(&scanned.root))
                    } else {
                        self.display_path(abs)
                    },
                    format: gyre_data::detect_format(abs),
                })
                .collect();
            return Ok(Target::Files {
                label: self.display_path(
                    &std::path::absolute(path).map_err(OpsError::io("resolving a path"))?,
                ),
                files,
            });
        }
        let r: DatasetRef = target.parse().map_err(|e| {
            OpsError::Invalid(format!(
                "`{target}` is neither an existing path nor a dataset reference: {e}"
            ))
        })?;
        match self.meta.resolve_version(&r).await {
            Ok(v) => Ok(Target::Version(Box::new(v))),
            Err(gyre_store::StoreError::NotFound { what }) => Err(OpsError::NotFound(format!(
                "`{target}` is neither an existing path nor a dataset version ({what})"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// The files to read for a target: a version's from the store, or the files named.
    pub async fn readable_target(&self, target: &Target) -> Result<Readable> {
        match target {
            Target::Version(v) => self.readable(v).await,
            Target::Files { files, .. } => Ok(Readable {
                files: files.clone(),
                _fetched: None,
            }),
        }
    }

    /// A version's files, verified before they are read: a corrupt object is never used.
    pub async fn readable(&self, v: &DatasetVersion) -> Result<Readable> {
        let mut fetched: Option<tempfile::TempDir> = None;
        let mut files = Vec::new();
        let label = format!("{}@{}", v.info.dataset, v.info.seq);
        for f in &v.manifest.files {
            self.blobs.verify(f.hash).await?;
            let path = match self.blobs.local_path(f.hash) {
                Some(p) => p,
                None => {
                    if fetched.is_none() {
                        fetched = Some(
                            tempfile::tempdir_in(self.state_dir())
                                .map_err(OpsError::io("creating a temporary folder"))?,
                        );
                    }
                    let p = fetched
                        .as_ref()
                        .expect("created above")
                        .path()
                        .join(f.hash.to_hex());
                    self.blobs.get_to_file(f.hash, &p).await?;
                    p
                }
            };
            files.push(InputFile {
                path,
                display: format!("{label}:{}", f.path),
                format: f.format,
            });
        }
        Ok(Readable {
            files,
            _fetched: fetched,
        })
    }
}

/// How files of a target are read: a version as it was added; files with `fallback`.
pub fn options_for(target: &Target, fallback: &ReadOptions) -> ReadOptions {
    match target {
        Target::Version(v) => v.manifest.read_options.clone(),
        Target::Files { .. } => fallback.clone(),
    }
}
