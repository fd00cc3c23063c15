//! The parsed project file, `gyre.toml`. It says what the project *is*; flags only say how to
//! run it now. Unknown keys are errors, so a typo is reported with its line instead of being
//! silently ignored.

use crate::{CoreError, ReadOptions};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSpec {
    pub project: ProjectSection,
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub datasets: BTreeMap<String, DatasetSpec>,
    /// What `gyre train` learns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<crate::ModelSpec>,
    /// Pipeline steps (`[steps.NAME]`); `pipelines/*.toml` may add more.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub steps: BTreeMap<String, crate::pipeline::StepSpec>,
    /// Parameters steps read (`[params]`); params.toml, when present, is laid over them.
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub params: toml::Table,
    /// What a model version must show to become `champion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<crate::gate::GateSpec>,
    /// How `gyre serve` serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serve: Option<ServeSpec>,
    /// What to watch in production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<crate::monitor::MonitorSpec>,
    /// What starts a pipeline (`[[trigger]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trigger: Vec<crate::monitor::TriggerSpec>,
    /// How a triggered candidate goes live.
    #[serde(default, rename = "loop", skip_serializing_if = "Option::is_none")]
    pub loop_: Option<crate::monitor::LoopSpec>,
    /// `[environments.NAME]`: staging, production, … (`gyre promote`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, crate::environment::EnvironmentSpec>,
}

/// `[serve]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSpec {
    /// The registered model to serve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Default `champion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Default 127.0.0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `{ share = 0.1 }`: that share of requests goes to `challenger`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
    /// The challenger scores every request without answering.
    #[serde(default)]
    pub shadow: bool,
    /// Columns a request sends that the model does not take: `reject` them (422, the
    /// default) or `ignore` them (counted in `/metrics`).
    #[serde(default)]
    pub extra_columns: ExtraColumns,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<usize>,
    /// Who may call what without a token, and by which names and origins.
    #[serde(default)]
    pub access: crate::access::AccessSpec,
    /// What `/feedback` keeps.
    #[serde(default)]
    pub labels: crate::access::LabelLimits,
    /// When a prediction's log records are committed: `fast` (the default: in batches,
    /// within about 50 ms of the answer; a `kill -9` loses that window) or `durable` (before
    /// the answer; a `kill -9` loses none).
    #[serde(default)]
    pub log: LogMode,
    /// Requests in flight at most (default 1024); more get 503 with `Retry-After`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<usize>,
}

/// `[serve] log`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogMode {
    #[default]
    Fast,
    Durable,
}

/// `[serve] extra_columns`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExtraColumns {
    #[default]
    Reject,
    Ignore,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    pub share: f64,
    /// Labelled challenger predictions before the loop decides (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_labels: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSection {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Where the project's state lives. Both default to the embedded store under `.gyre/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// Metadata store URL: `sqlite://…` or `postgres://…`. `GYRE_STORE_URL` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Where objects live: `s3://BUCKET/PREFIX` shares them through S3-compatible storage
    /// (read through a cache under `.gyre/bucket-cache/`); absent, under `.gyre/objects/`.
    /// `GYRE_OBJECTS_URL` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<String>,
    /// The bucket `gyre push` and `gyre pull` exchange objects with, for a project whose
    /// objects are local: `s3://BUCKET/PREFIX`. `GYRE_REMOTE_URL` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
}

/// How one dataset is read. Every key is optional; `gyre data add` flags override them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// The file or folder the dataset is added from, relative to the project root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<char>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<char>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_values: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_initial_space: Option<bool>,
}

impl DatasetSpec {
    /// Lays this spec over `opts`: keys that are set win.
    pub fn apply(&self, opts: &mut ReadOptions) {
        if let Some(h) = self.header {
            opts.header = h;
        }
        if let Some(c) = &self.columns {
            opts.columns = Some(c.clone());
        }
        if let Some(d) = self.delimiter {
            opts.delimiter = d;
        }
        if let Some(q) = self.quote {
            opts.quote = q;
        }
        if let Some(n) = &self.null_values {
            opts.null_values = n.clone();
        }
        if let Some(s) = self.skip_initial_space {
            opts.skip_initial_space = s;
        }
    }
}

fn clone_spec_error(e: &CoreError) -> CoreError {
    match e {
        CoreError::Spec { file, message } => CoreError::Spec {
            file: file.clone(),
            message: message.clone(),
        },
        other => CoreError::Spec {
            file: String::new(),
            message: other.to_string(),
        },
    }
}

impl ProjectSpec {
    /// Parses `gyre.toml` text; `file` names it in errors, which carry the line and column.
    pub fn parse(text: &str, file: &str) -> Result<Self, CoreError> {
        Self::parse_with(text, file, &[])
    }

    /// Parses `gyre.toml` for commands that may not need its `[model]`: when only `[model]` is
    /// wrong, the rest is returned (with no model) along with the model's error, so a typo in
    /// `[model]` fails `gyre train`, not `gyre data drift`.
    pub fn parse_lenient(text: &str, file: &str) -> Result<(Self, Option<CoreError>), CoreError> {
        match Self::parse(text, file) {
            Ok(spec) => Ok((spec, None)),
            Err(e) => {
                let Ok(mut doc) = toml::from_str::<toml::Table>(text) else {
                    return Err(e);
                };
                if doc.remove("model").is_none() {
                    return Err(e);
                }
                let rest = toml::to_string(&doc).map_err(|_| clone_spec_error(&e))?;
                match Self::parse(&rest, file) {
                    Ok(spec) => Ok((spec, Some(e))),
                    Err(_) => Err(e),
                }
            }
        }
    }

    /// Parses `gyre.toml` with `--set KEY.PATH=VALUE` overrides applied first, then checks
    /// what TOML cannot (the model spec's ranges and combinations).
    pub fn parse_with(text: &str, file: &str, sets: &[String]) -> Result<Self, CoreError> {
        let err = |message: String| CoreError::Spec {
            file: file.to_string(),
            message,
        };
        let spec: ProjectSpec = if sets.is_empty() {
            toml::from_str(text).map_err(|e| err(e.to_string()))?
        } else {
            let mut doc: toml::Table = toml::from_str(text).map_err(|e| err(e.to_string()))?;
            crate::model::apply_overrides(&mut doc, sets).map_err(err)?;
            toml::Value::Table(doc)
                .try_into()
                .map_err(|e: toml::de::Error| err(format!("after --set: {e}")))?
        };
        if let Some(m) = &spec.model {
            m.check().map_err(|e| err(format!("[model]: {e}")))?;
        }
        if let Some(m) = &spec.monitor {
            m.check().map_err(|e| err(format!("[monitor]: {e}")))?;
        }
        if let Some(l) = &spec.loop_ {
            l.check().map_err(|e| err(format!("[loop]: {e}")))?;
        }
        let mut names = std::collections::BTreeSet::new();
        for t in &spec.trigger {
            t.check().map_err(|e| err(format!("[[trigger]]: {e}")))?;
            if !names.insert(t.name.as_str()) {
                return Err(err(format!(
                    "[[trigger]]: two triggers are named `{}`",
                    t.name
                )));
            }
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_model_section_leaves_the_rest_readable() {
        let text =
            "[project]\nname = \"x\"\n[model]\ndataset = \"d\"\ntarget = \"y\"\nalgoritm = \"x\"\n";
        assert!(ProjectSpec::parse(text, "gyre.toml").is_err());
        let (spec, model_error) = ProjectSpec::parse_lenient(text, "gyre.toml").unwrap();
        assert!(spec.model.is_none());
        assert!(model_error.unwrap().to_string().contains("algoritm"));
        // Any other mistake still fails.
        assert!(ProjectSpec::parse_lenient("[project]\nnmae = 1\n", "gyre.toml").is_err());
    }

    #[test]
    fn parses_a_dataset_and_rejects_typos() {
        let spec = ProjectSpec::parse(
            "[project]\nname = \"x\"\n[datasets.adult]\nheader = false\nnull_values = [\"?\"]\nskip_initial_space = true\n",
            "gyre.toml",
        )
        .unwrap();
        let mut opts = ReadOptions::default();
        spec.datasets["adult"].apply(&mut opts);
        assert!(!opts.header && opts.skip_initial_space);
        assert_eq!(opts.null_values, vec!["?".to_string()]);

        let err = ProjectSpec::parse("[project]\nname = \"x\"\nnmae = 1\n", "gyre.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("gyre.toml") && err.contains("line 3"), "{err}");
    }
}
