//! `[environments.NAME]`: the stages a model version moves through (staging, production),
//! each an alias of the registry and what a version must show to get it.
//!
//! ```toml
//! [environments.staging]
//! alias = "staging"
//! requires = { verdict = true }
//!
//! [environments.production]
//! alias = "champion"
//! from = "staging"
//! servers = ["http://models.internal:8080"]
//! requires = { verdict = true, hours = 24, labels = 500, no_breach = true, approvals = 1 }
//! ```

use crate::access::Role;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSpec {
    /// The alias a version in this environment holds (default: the environment's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// The environment a version must be in before it may come here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The servers that follow this environment's alias (each started with `--alias`):
    /// `gyre promote` waits until each serves the promoted version (its `/ready`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<String>,
    #[serde(default)]
    pub requires: Requirements,
}

/// What a version must show to enter an environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// A passing gate verdict.
    #[serde(default)]
    pub verdict: bool,
    /// Hours the version has spent in `from` (since its alias there last moved to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<f64>,
    /// Labelled predictions of the version seen in monitoring since it entered `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<u64>,
    /// No monitoring breach of the version since it entered `from`.
    #[serde(default)]
    pub no_breach: bool,
    /// Approvals (`gyre approve`) by distinct tokens of at least `approver_role`.
    #[serde(default)]
    pub approvals: u32,
    #[serde(default = "default_approver")]
    pub approver_role: Role,
}

fn default_approver() -> Role {
    Role::Editor
}

impl Default for Requirements {
    fn default() -> Requirements {
        Requirements {
            verdict: false,
            hours: None,
            labels: None,
            no_breach: false,
            approvals: 0,
            approver_role: default_approver(),
        }
    }
}

impl EnvironmentSpec {
    pub fn alias_or<'a>(&'a self, name: &'a str) -> &'a str {
        self.alias.as_deref().unwrap_or(name)
    }
}
