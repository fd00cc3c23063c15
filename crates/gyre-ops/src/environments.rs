//! Environments and promotion: `gyre promote NAME@V --to production` moves the environment's
//! alias to the version only when the version shows what `[environments.production]
//! requires`: a passing gate verdict, time and labelled predictions in the environment it comes
//! from with no breach there, and approvals (`gyre approve`) by tokens of a role. Every
//! requirement is reported with what was expected and found; the move is audited with them.

use crate::{OpsError, Project, Result, settings};
use gyre_core::environment::EnvironmentSpec;
use gyre_store::{AliasEvent, Approval, ModelVersion};
use serde::Serialize;
use std::collections::BTreeSet;

/// One requirement of a promotion, as checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Requirement {
    pub requirement: String,
    pub expected: String,
    pub found: String,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Promotion {
    /// `NAME@V`.
    pub version: String,
    pub environment: String,
    pub alias: String,
    pub requirements: Vec<Requirement>,
    /// The alias move, when every requirement was met (and it was not a dry run).
    pub event: Option<AliasEvent>,
}

impl Promotion {
    pub fn allowed(&self) -> bool {
        self.requirements.iter().all(|r| r.met)
    }

    /// The requirements not met, as one line each.
    pub fn unmet(&self) -> Vec<String> {
        self.requirements
            .iter()
            .filter(|r| !r.met)
            .map(|r| {
                format!(
                    "{}: expected {}, found {}",
                    r.requirement, r.expected, r.found
                )
            })
            .collect()
    }
}

fn req(requirement: &str, expected: String, found: String, met: bool) -> Requirement {
    Requirement {
        requirement: requirement.to_string(),
        expected,
        found,
        met,
    }
}

impl Project {
    fn environment(&self, name: &str) -> Result<&EnvironmentSpec> {
        self.spec.environments.get(name).ok_or_else(|| {
            let known: Vec<&String> = self.spec.environments.keys().collect();
            OpsError::NotFound(if known.is_empty() {
                format!("no environment `{name}`: gyre.toml has no [environments.NAME]")
            } else {
                format!(
                    "no environment `{name}`; gyre.toml has {}",
                    known
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        })
    }

    /// Records an approval of `reference` for `environment` by the token `token_text` (its
    /// role must be the environment's `approver_role` or above).
    pub async fn approve(
        &self,
        reference: &str,
        environment: &str,
        token_text: &str,
        note: &str,
    ) -> Result<Approval> {
        let env = self.environment(environment)?;
        let v = self.resolve_model_version(reference).await?;
        let token = self.authenticate(token_text).await?.ok_or_else(|| {
            OpsError::Invalid("the token in GYRE_TOKEN is not valid (or revoked)".into())
        })?;
        let needed = env.requires.approver_role;
        if !token.role.allows(needed) {
            return Err(OpsError::Invalid(format!(
                "token `{}` is a {}; approvals for {environment} need {needed} or above",
                token.name, token.role
            )));
        }
        let a = Approval {
            name: v.name.clone(),
            version: v.version,
            environment: environment.to_string(),
            approver: format!("token:{}", token.name),
            role: token.role,
            note: note.to_string(),
            at_ms: crate::runs::now_ms(),
        };
        self.meta.approve(&a).await?;
        Ok(a)
    }

    /// Each of `environment`'s requirements checked for `v` at `now_ms`.
    async fn requirements(
        &self,
        v: &ModelVersion,
        environment: &str,
        env: &EnvironmentSpec,
        now_ms: i64,
    ) -> Result<Vec<Requirement>> {
        let r = &env.requires;
        let mut out = Vec::new();
        if r.verdict {
            let verdict = self.meta.latest_verdict(&v.name, v.version).await?;
            let found = match &verdict {
                Some(x) if x.passed => "passed".to_string(),
                Some(_) => "failed".to_string(),
                None => "never judged".to_string(),
            };
            out.push(req(
                "gate verdict",
                "passed".into(),
                found,
                verdict.is_some_and(|x| x.passed),
            ));
        }
        // Since when the version holds the alias of the environment it comes from.
        let since = match &env.from {
            Some(from) => {
                let from_env = self.environment(from)?;
                let alias = from_env.alias_or(from);
                let holds = self.alias_version(&v.name, alias).await? == Some(v.version);
                let entered = self
                    .meta
                    .alias_events(&v.name)
                    .await?
                    .into_iter()
                    .rfind(|e| e.alias == alias && e.to == Some(v.version))
                    .map(|e| e.at_ms);
                out.push(req(
                    &format!("in {from}"),
                    format!("{}@{} holds `{alias}`", v.name, v.version),
                    if holds {
                        "it does".into()
                    } else {
                        format!("`{alias}` is elsewhere")
                    },
                    holds,
                ));
                if holds { entered } else { None }
            }
            None => None,
        };
        let in_from = env.from.as_deref().unwrap_or("the previous environment");
        if let Some(hours) = r.hours {
            let spent = since.map(|s| (now_ms - s) as f64 / 3_600_000.0);
            out.push(req(
                &format!("time in {in_from}"),
                format!("≥ {hours} h"),
                spent.map_or("–".into(), |h| format!("{h:.1} h")),
                spent.is_some_and(|h| h >= hours),
            ));
        }
        let watched = self
            .monitor_target()
            .ok()
            .map(|(m, _)| m)
            .filter(|m| *m == v.name);
        if let Some(labels) = r.labels {
            let mut seen = 0i64;
            if let (Some(model), Some(since)) = (&watched, since) {
                seen = self
                    .meta
                    .points(model, Some("labels"), None)
                    .await?
                    .iter()
                    .filter(|p| p.version == v.version && p.start_ms >= since)
                    .map(|p| p.n)
                    .sum();
            }
            out.push(req(
                &format!("labelled predictions in {in_from}"),
                format!("≥ {labels}"),
                seen.to_string(),
                since.is_some() && seen >= labels as i64,
            ));
        }
        if r.no_breach {
            let mut breaches = Vec::new();
            if let Some(since) = since {
                breaches = self
                    .meta
                    .events(Some(&v.name), 0)
                    .await?
                    .into_iter()
                    .filter(|e| e.kind == "breach" && e.version == v.version && e.ts_ms >= since)
                    .map(|e| e.rule)
                    .collect();
            }
            out.push(req(
                &format!("no breach in {in_from}"),
                "none".into(),
                if breaches.is_empty() {
                    "none".into()
                } else {
                    breaches.join(", ")
                },
                since.is_some() && breaches.is_empty(),
            ));
        }
        if r.approvals > 0 {
            let by: BTreeSet<String> = self
                .meta
                .approvals(&v.name, v.version, environment)
                .await?
                .into_iter()
                .filter(|a| a.role.allows(r.approver_role))
                .map(|a| a.approver)
                .collect();
            out.push(req(
                "approvals",
                format!("≥ {} by {} or above", r.approvals, r.approver_role),
                if by.is_empty() {
                    "none".into()
                } else {
                    by.iter().cloned().collect::<Vec<_>>().join(", ")
                },
                by.len() >= r.approvals as usize,
            ));
        }
        Ok(out)
    }

    /// Moves `environment`'s alias to `reference` when it meets every requirement (with
    /// `dry_run`, only checks). When one is not met nothing moves and `event` is None; the
    /// requirements say which.
    pub async fn promote(
        &self,
        reference: &str,
        environment: &str,
        reason: &str,
        dry_run: bool,
    ) -> Result<Promotion> {
        let env = self.environment(environment)?;
        let v = self.resolve_model_version(reference).await?;
        let alias = env.alias_or(environment).to_string();
        let requirements = self
            .requirements(&v, environment, env, crate::runs::now_ms())
            .await?;
        let mut p = Promotion {
            version: format!("{}@{}", v.name, v.version),
            environment: environment.to_string(),
            alias: alias.clone(),
            requirements,
            event: None,
        };
        if dry_run || !p.allowed() {
            return Ok(p);
        }
        let checked: Vec<String> = p
            .requirements
            .iter()
            .map(|r| format!("{} {}", r.requirement, r.found))
            .collect();
        let mut why = format!("promoted to {environment}");
        if !checked.is_empty() {
            why += &format!(" ({})", checked.join("; "));
        }
        if !reason.is_empty() {
            why += &format!(": {reason}");
        }
        p.event = Some(
            self.set_alias(&p.version, &alias, &why, false, &settings::actor())
                .await?,
        );
        Ok(p)
    }
}
