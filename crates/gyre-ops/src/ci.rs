//! `gyre ci init github|gitlab`: a CI/CD workflow for the project's ML loop. On a change
//! request it validates the data, runs the pipeline (its gate steps judge the candidates) and
//! posts the ML Test Score; on the main branch it deploys the newest version to `staging`,
//! then to `champion` once someone approves the production step. The texts are written here
//! from the project's own names; the tests check them against the providers' JSON schemas.

use crate::{OpsError, Project, Result};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiProvider {
    Github,
    Gitlab,
}

impl std::str::FromStr for CiProvider {
    type Err = OpsError;

    fn from_str(s: &str) -> Result<CiProvider> {
        match s {
            "github" => Ok(CiProvider::Github),
            "gitlab" => Ok(CiProvider::Gitlab),
            other => Err(OpsError::Invalid(format!(
                "no CI provider `{other}`: github or gitlab"
            ))),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CiWritten {
    pub path: PathBuf,
    pub model: String,
    pub datasets: Vec<String>,
}

/// What the workflow needs to know of the project.
struct Names {
    model: String,
    datasets: Vec<String>,
    min_score: f64,
    /// `[environments.staging]` and `[environments.production]` exist: deploy with
    /// `gyre promote`, which checks their requirements, instead of plain alias moves.
    environments: bool,
}

impl Names {
    /// The command that deploys the newest version to staging.
    fn to_staging(&self, why: &str) -> String {
        let (model, latest) = (&self.model, latest(&self.model));
        if self.environments {
            format!("gyre promote \"{model}@{latest}\" --to staging --reason \"{why}\"")
        } else {
            format!("gyre models alias \"{model}@{latest}\" staging --reason \"{why}\"")
        }
    }

    /// The command that promotes what staging holds to production.
    fn to_production(&self, why: &str) -> String {
        let model = &self.model;
        if self.environments {
            format!("gyre promote {model}@staging --to production --reason \"{why}\"")
        } else {
            format!("gyre models alias {model}@staging champion --reason \"{why}\"")
        }
    }
}

/// How CI gets gyre: built from its repository, the one version the project was made with.
const INSTALL: &str = "cargo install --locked --git https://github.com/gyre-mlops/gyre gyre-cli";

/// The newest registered version of the model, for the deploy steps.
fn latest(model: &str) -> String {
    format!("$(gyre models list --json | jq -r '.[] | select(.name == \"{model}\") | .latest')")
}

fn github(n: &Names) -> String {
    let validate: String = n
        .datasets
        .iter()
        .map(|d| format!("      - name: Validate {d}\n        run: gyre data validate {d}\n"))
        .collect();
    let model = &n.model;
    let min = n.min_score;
    let staging = n.to_staging("CI ${{ github.sha }}");
    let production = n.to_production("approved in run ${{ github.run_id }}");
    format!(
        r#"# Made by `gyre ci init github`: the ML loop's CI/CD.
# On a pull request: validate the data, run the pipeline (its gate steps judge each candidate),
# and post the ML Test Score. On main: deploy the newest version of {model} to `staging`, then
# to `champion` once a reviewer approves the `production` environment (Settings → Environments
# → production → Required reviewers). GYRE_STORE_URL (a repository secret) points every job at
# the team's PostgreSQL store.
name: gyre

on:
  pull_request:
  push:
    branches: [main]

permissions:
  contents: read

env:
  GYRE_STORE_URL: ${{{{ secrets.GYRE_STORE_URL }}}}
  GYRE_USER: ci:${{{{ github.actor }}}}

jobs:
  check:
    if: github.event_name == 'pull_request'
    runs-on: ubuntu-latest
    permissions:
      contents: read
      pull-requests: write
    steps:
      - uses: actions/checkout@v4
      - name: Install gyre
        run: {INSTALL}
{validate}      - name: Run the pipeline
        run: gyre run
      - name: The ML Test Score
        run: gyre check --markdown --junit ml-test-score.xml --min-score {min} > ml-test-score.md
      - name: Post the score on the pull request
        if: always()
        env:
          GH_TOKEN: ${{{{ github.token }}}}
        run: gh pr comment ${{{{ github.event.pull_request.number }}}} --body-file ml-test-score.md
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: ml-test-score
          path: ml-test-score.*

  staging:
    if: github.event_name == 'push'
    runs-on: ubuntu-latest
    environment: staging
    steps:
      - uses: actions/checkout@v4
      - name: Install gyre
        run: {INSTALL}
      - name: Run the pipeline (register and gate)
        run: gyre run
      - name: Deploy the newest version to staging
        run: {staging}

  production:
    needs: staging
    runs-on: ubuntu-latest
    environment: production
    steps:
      - uses: actions/checkout@v4
      - name: Install gyre
        run: {INSTALL}
      - name: Promote staging to production (the gate's verdict is required)
        run: {production}
"#
    )
}

fn gitlab(n: &Names) -> String {
    let validate: String = n
        .datasets
        .iter()
        .map(|d| format!("    - gyre data validate {d}\n"))
        .collect();
    let model = &n.model;
    let min = n.min_score;
    let staging = n.to_staging("CI $CI_COMMIT_SHA");
    let production = n.to_production("approved in pipeline $CI_PIPELINE_ID");
    format!(
        r#"# Made by `gyre ci init gitlab`: the ML loop's CI/CD.
# On a merge request: validate the data, run the pipeline (its gate steps judge each
# candidate), and report the ML Test Score as a JUnit report. On the default branch: deploy the
# newest version of {model} to `staging`, then to `champion` when someone runs the manual
# production job. GYRE_STORE_URL (a masked CI/CD variable) points every job at the team's
# PostgreSQL store.
stages:
  - check
  - staging
  - production

default:
  image: rust:latest
  before_script:
    - apt-get update -qq && apt-get install -y -qq jq
    - {INSTALL}

variables:
  GYRE_USER: ci:$GITLAB_USER_LOGIN

check:
  stage: check
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
  script:
{validate}    - gyre run
    - gyre check --markdown --junit ml-test-score.xml --min-score {min} > ml-test-score.md
  artifacts:
    when: always
    paths:
      - ml-test-score.md
    reports:
      junit: ml-test-score.xml

staging:
  stage: staging
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
  environment:
    name: staging
  script:
    - gyre run
    - {staging}

production:
  stage: production
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
      when: manual
  environment:
    name: production
  script:
    - {production}
"#
    )
}

impl Project {
    /// Writes the workflow for `provider`; an existing file is kept unless `force`.
    pub fn init_ci(&self, provider: CiProvider, min_score: f64, force: bool) -> Result<CiWritten> {
        let model = self
            .served_model()
            .unwrap_or_else(|| self.spec.project.name.clone());
        // The datasets with a schema to validate against: the tracked ones and the model's.
        let mut datasets: Vec<String> = self.spec.datasets.keys().cloned().collect();
        if let Some(m) = &self.spec.model
            && !datasets.contains(&m.dataset)
        {
            datasets.push(m.dataset.clone());
        }
        datasets.retain(|d| {
            d.parse::<gyre_core::DatasetName>()
                .is_ok_and(|name| self.schema_path(&name).exists())
        });
        let envs = &self.spec.environments;
        let names = Names {
            model,
            datasets,
            min_score,
            environments: envs.contains_key("staging") && envs.contains_key("production"),
        };
        let (rel, text) = match provider {
            CiProvider::Github => (".github/workflows/gyre.yml", github(&names)),
            CiProvider::Gitlab => (".gitlab-ci.yml", gitlab(&names)),
        };
        let path = self.root.join(rel);
        if path.exists() && !force {
            return Err(OpsError::Invalid(format!(
                "{} exists; pass --force to replace it",
                self.display_path(&path)
            )));
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(OpsError::io(format!("creating {}", dir.display())))?;
        }
        std::fs::write(&path, text).map_err(OpsError::io(format!("writing {}", path.display())))?;
        Ok(CiWritten {
            path: PathBuf::from(rel),
            model: names.model,
            datasets: names.datasets,
        })
    }
}
