//! `gyre check`: the ML Test Score computed from what the project and its store hold. Each of
//! the 28 tests is met automatically when gyre finds the evidence (a schema the pipeline
//! validates against, a gate with slices, a canary, monitoring rules, …), by hand when an
//! attestation records it (`gyre check attest TEST --note …`), and otherwise not: a test
//! without evidence scores 0, with what would raise it. Nothing is trained or run.

use crate::{OpsError, Project, Result, settings};
use gyre_core::pipeline::Builtin;
use gyre_core::testscore::{self, Grade, Section, TESTS, TestScore};
use gyre_core::{DatasetName, RunStatus};
use gyre_store::{Attestation, ModelVersion};
use std::collections::BTreeMap;

/// What `check` looked at, gathered once.
struct Evidence {
    /// The model the project serves or watches, and its champion.
    model: Option<String>,
    champion: Option<ModelVersion>,
    champion_passed: bool,
    champion_run: Option<gyre_core::Run>,
    alias_moves: usize,
    versions: usize,
    /// Steps that validate a dataset: (step, dataset).
    validate_steps: Vec<(String, String)>,
    train_steps: Vec<String>,
    command_steps: Vec<String>,
    /// The model's dataset and whether its schema file exists.
    schema: Option<(String, bool)>,
    live_tokens: usize,
    reads_open: bool,
    labelled_windows: usize,
    backtests: usize,
    /// A reproduction whose model was byte-identical: (run, model hash).
    reproduced: Option<(String, String)>,
    /// CI files that run the pipeline.
    ci: Vec<String>,
}

fn automated(evidence: Vec<String>) -> Grade {
    Grade::Automated { evidence }
}

fn missing(raise: impl Into<String>) -> Grade {
    Grade::Missing {
        raise: raise.into(),
    }
}

/// CI files under `root` that run `gyre run` (GitHub Actions, GitLab CI).
fn ci_files(root: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut candidates = vec![root.join(".gitlab-ci.yml")];
    if let Ok(dir) = std::fs::read_dir(root.join(".github/workflows")) {
        candidates.extend(dir.filter_map(|e| e.ok().map(|e| e.path())));
    }
    for path in candidates {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.contains("gyre run") {
            found.push(
                path.strip_prefix(root)
                    .unwrap_or(&path)
                    .display()
                    .to_string(),
            );
        }
    }
    found.sort();
    found
}

impl Project {
    /// Records that `test` was done by hand: what was done, by whom, now.
    pub async fn attest(&self, test: &str, note: &str) -> Result<Attestation> {
        if testscore::test(test).is_none() {
            let ids: Vec<String> = TESTS.iter().map(|t| t.id()).collect();
            return Err(OpsError::Invalid(format!(
                "no test `{test}`; the tests are {}",
                ids.join(", ")
            )));
        }
        if note.trim().is_empty() {
            return Err(OpsError::Invalid(
                "an attestation needs a --note saying what was done and where its results are"
                    .into(),
            ));
        }
        let a = Attestation {
            test: test.to_string(),
            note: note.trim().to_string(),
            user: settings::actor(),
            at_ms: crate::runs::now_ms(),
        };
        self.meta.attest(&a).await?;
        Ok(a)
    }

    /// The ML Test Score of this project, each test with its evidence or what would raise it.
    pub async fn check(&self) -> Result<TestScore> {
        let e = self.evidence().await?;
        let mut manual: BTreeMap<String, Attestation> = BTreeMap::new();
        for a in self.meta.attestations().await? {
            manual.insert(a.test.clone(), a);
        }
        let grades = TESTS
            .iter()
            .map(|t| {
                let g = self.grade(t.section, t.number, &e);
                match (g, manual.get(&t.id())) {
                    (Grade::Missing { .. }, Some(a)) => Grade::Manual {
                        note: a.note.clone(),
                        by: a.user.clone(),
                        at_ms: a.at_ms,
                    },
                    (g, _) => g,
                }
            })
            .collect();
        Ok(testscore::score(grades))
    }

    async fn evidence(&self) -> Result<Evidence> {
        let spec = &self.spec;
        let model = match self.served_model() {
            Some(m) => Some(m),
            None => self.list_models().await?.into_iter().next().map(|m| m.name),
        };
        let (mut champion, mut champion_passed, mut champion_run) = (None, false, None);
        let (mut alias_moves, mut versions, mut labelled_windows) = (0, 0, 0);
        if let Some(name) = &model {
            versions = self.meta.model_versions(Some(name)).await?.len();
            alias_moves = self.meta.alias_events(name).await?.len();
            match self
                .resolve_model_version(&format!("{name}@{}", crate::registry::CHAMPION))
                .await
            {
                Ok(v) => {
                    champion_passed = self
                        .meta
                        .latest_verdict(name, v.version)
                        .await?
                        .is_some_and(|x| x.passed);
                    champion_run = self.training_run(&v).await?;
                    champion = Some(v);
                }
                Err(OpsError::NotFound(_)) => {}
                Err(err) => return Err(err),
            }
            labelled_windows = self
                .meta
                .points(name, Some("labels"), Some("champion"))
                .await?
                .len();
        }
        let mut validate_steps = Vec::new();
        let mut train_steps = Vec::new();
        let mut command_steps = Vec::new();
        if let Ok(pipe) = self.pipeline(&[]) {
            for (name, s) in &pipe.steps {
                match s.uses {
                    Some(Builtin::Validate) => {
                        validate_steps.push((name.clone(), s.dataset.clone().unwrap_or_default()))
                    }
                    Some(Builtin::Train) => train_steps.push(name.clone()),
                    None => command_steps.push(name.clone()),
                    _ => {}
                }
            }
        }
        let schema = match &spec.model {
            Some(m) => {
                let exists = m
                    .dataset
                    .parse::<DatasetName>()
                    .map(|d| self.schema_path(&d).exists())
                    .unwrap_or(false);
                Some((m.dataset.clone(), exists))
            }
            None => None,
        };
        let live_tokens = self
            .tokens()
            .await?
            .iter()
            .filter(|t| t.revoked_ms.is_none())
            .count();
        let reads_open = spec
            .serve
            .as_ref()
            .is_some_and(|s| s.access.reads == gyre_core::access::OpenReads::Open);
        let backtests = self
            .meta
            .search_runs(&"name = 'backtest'".parse()?, &Default::default(), 1)
            .await?
            .len();
        let mut reproduced = None;
        for r in self
            .meta
            .search_runs(
                &"tags.reproduces like '%'".parse()?,
                &Default::default(),
                50,
            )
            .await?
        {
            let Some(hash) = r.tags.get("reproduces") else {
                continue;
            };
            if r.status == RunStatus::Finished && r.outputs.contains(&format!("model:{hash}")) {
                reproduced = Some((r.start.id.to_string(), hash.clone()));
                break;
            }
        }
        Ok(Evidence {
            model,
            champion,
            champion_passed,
            champion_run,
            alias_moves,
            versions,
            validate_steps,
            train_steps,
            command_steps,
            schema,
            live_tokens,
            reads_open,
            labelled_windows,
            backtests,
            reproduced,
            ci: ci_files(&self.root),
        })
    }

    /// One test's grade from the evidence (before attestations).
    fn grade(&self, section: Section, number: u8, e: &Evidence) -> Grade {
        let spec = &self.spec;
        let monitor = spec.monitor.as_ref();
        let gate = spec.gate.as_ref();
        let model_spec = spec.model.as_ref();
        let name = e.model.as_deref().unwrap_or("MODEL");
        let validated = |dataset: &str| {
            e.validate_steps
                .iter()
                .find(|(_, d)| d == dataset)
                .map(|(s, _)| s.clone())
        };
        match (section, number) {
            (Section::Data, 1) => match &e.schema {
                Some((d, true)) => match validated(d) {
                    Some(step) => automated(vec![
                        format!("schemas/{d}.toml"),
                        format!("step `{step}` validates {d} on every pipeline run"),
                    ]),
                    None => missing(format!(
                        "schemas/{d}.toml exists; add a step `uses = \"validate\"`, `dataset = \"{d}\"` so every run checks it"
                    )),
                },
                Some((d, false)) => missing(format!(
                    "`gyre data schema {d}` infers schemas/{d}.toml; review it, then validate in the pipeline"
                )),
                None => missing("add [model] and a schema for its dataset (`gyre data schema NAME`)"),
            },
            (Section::Data, 2) => missing(
                "`gyre train` reports each feature's importance: drop the ones that add nothing, then `gyre check attest data.2 --note …`",
            ),
            (Section::Data, 3) => match gate.and_then(|g| g.max_p99_ms) {
                Some(ms) => automated(vec![format!(
                    "[gate] max_p99_ms = {ms}: each candidate's single-row latency is measured before it goes live"
                )]),
                None => missing("set [gate] max_p99_ms so the cost of the features is measured on every candidate"),
            },
            (Section::Data, 4) => missing(
                "review the inputs against your data policy (no PII, allowed sources), then `gyre check attest data.4 --note …`",
            ),
            (Section::Data, 5) if e.live_tokens > 0 && !e.reads_open => automated(vec![
                format!("{} live API token(s); reads and writes beyond 127.0.0.1 need one", e.live_tokens),
                "alias moves and label corrections are audited with the token's name".into(),
            ]),
            (Section::Data, 5) => missing(
                "`gyre tokens create --role viewer --name NAME` and keep [serve.access] reads at auto or token",
            ),
            (Section::Data, 6) => match e.train_steps.first() {
                Some(step) => automated(vec![format!(
                    "step `{step}` trains from [model] in a cached pipeline: a new column or transform is one edit and one `gyre run`"
                )]),
                None => missing("add a step `uses = \"train\"` so a feature change retrains through the pipeline"),
            },
            (Section::Data, 7) => match (model_spec, e.command_steps.is_empty()) {
                (Some(m), true) => automated(vec![if m.transforms.is_empty() {
                    "features are the dataset's columns, read and encoded by gyre's own tested code; no command step computes features".to_string()
                } else {
                    format!(
                        "features are {} [model] transforms, gyre's own tested code; no command step computes features",
                        m.transforms.len()
                    )
                }]),
                (_, false) => missing(format!(
                    "command steps ({}) compute data outside gyre: test their code, then `gyre check attest data.7 --note …`",
                    e.command_steps.join(", ")
                )),
                (None, true) => missing("add [model] (its transforms are gyre's tested code)"),
            },
            (Section::Model, 1) => match &e.champion_run {
                Some(r) if r.start.git_commit.is_some() && !r.start.git_dirty => automated(vec![format!(
                    "the champion's run {} trained from commit {} with no uncommitted change: its gyre.toml is in history for review",
                    r.start.id.short(),
                    r.start.git_commit.as_deref().unwrap_or("").get(..12).unwrap_or("")
                )]),
                Some(_) => missing("commit gyre.toml and train from a clean checkout so the champion's spec is reviewable"),
                None => missing(format!(
                    "train {name}'s champion from the pipeline in a git checkout so its spec is recorded with its commit"
                )),
            },
            (Section::Model, 2) => {
                let relative = monitor.is_some_and(|m| !m.relative.is_empty());
                if relative || e.labelled_windows > 0 {
                    let mut ev = Vec::new();
                    if relative {
                        ev.push("[monitor] relative floors judge live quality against the version's own test figures".into());
                    }
                    if e.labelled_windows > 0 {
                        ev.push(format!(
                            "{} labelled windows of the champion measured live (`gyre monitor history`)",
                            e.labelled_windows
                        ));
                    }
                    automated(ev)
                } else {
                    missing("serve with [monitor] and send true labels (POST /feedback) so live quality is measured against the test figures")
                }
            }
            (Section::Model, 3) => match model_spec.and_then(|m| m.tune.as_ref()) {
                Some(_) => automated(vec!["[model.tune] searches the hyperparameters on every training".into()]),
                None => missing("add [model.tune] (grid or random search) so hyperparameters are tuned, not guessed"),
            },
            (Section::Model, 4) => {
                let mut ev = Vec::new();
                if e.backtests > 0 {
                    ev.push("a `gyre backtest` compares the loop with never retraining and a schedule".to_string());
                }
                if let Some(days) = monitor.and_then(|m| m.max_age_days) {
                    ev.push(format!("[monitor] max_age_days = {days}"));
                }
                if ev.is_empty() {
                    missing("`gyre backtest DATA` measures what staleness costs (never retrained against the loop)")
                } else {
                    automated(ev)
                }
            }
            (Section::Model, 5) => match gate.and_then(|g| g.beat_champion.as_ref()) {
                Some(b) => automated(vec![format!(
                    "[gate] beat_champion: a candidate must beat the serving model on {} by {}",
                    b.metric, b.margin
                )]),
                None => missing(
                    "train a simpler learner (`--set model.algorithm=logistic_regression`), compare with `gyre runs compare`, then attest model.5",
                ),
            },
            (Section::Model, 6) => match gate.filter(|g| !g.slices.is_empty()) {
                Some(g) => automated(vec![format!(
                    "[gate] slices judge every candidate on {}",
                    g.slices.keys().cloned().collect::<Vec<_>>().join(", ")
                )]),
                None => missing("add [gate] slices (`women = { f1 = 0.6 }`) for the groups that matter"),
            },
            (Section::Model, 7) => missing(match gate.filter(|g| !g.slices.is_empty()) {
                Some(g) => format!(
                    "the gate checks slices {}; review whether they cover the groups inclusion asks for, then attest model.7",
                    g.slices.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
                None => "add [gate] slices for sensitive groups and attest model.7 once reviewed".into(),
            }),
            (Section::Infrastructure, 1) => match &e.reproduced {
                Some((run, hash)) => automated(vec![format!(
                    "run {} reproduced model {} byte for byte (`gyre reproduce`)",
                    &run[..8.min(run.len())],
                    &hash[..12.min(hash.len())]
                )]),
                None => missing(format!("`gyre reproduce {name}@champion` retrains from the recorded spec and data and compares")),
            },
            (Section::Infrastructure, 2) => match model_spec {
                Some(m) if !m.algorithm.is_imported() && e.command_steps.is_empty() => {
                    automated(vec![
                        format!(
                            "[model] algorithm {} is gyre's own learner, tested against scikit-learn's figures",
                            serde_json::to_value(m.algorithm).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
                        ),
                        "gyre.toml is parsed and checked on every command (unknown keys are errors)".into(),
                    ])
                }
                _ => missing("test the training code your steps run, then attest infra.2"),
            },
            (Section::Infrastructure, 3) => {
                if e.ci.is_empty() {
                    missing("run `gyre run` in CI on every change (a workflow under .github/workflows or .gitlab-ci.yml)")
                } else {
                    automated(vec![format!("CI runs the pipeline: {}", e.ci.join(", "))])
                }
            }
            (Section::Infrastructure, 4) => match (&e.champion, e.champion_passed) {
                (Some(v), true) if gate.is_some() => automated(vec![format!(
                    "[gate] judged {}@{} and it passed; `champion` needs a passing verdict",
                    v.name, v.version
                )]),
                _ if gate.is_some() => missing(format!("`gyre models validate {name}@champion` (the champion has no passing verdict)")),
                _ => missing("add [gate] so every candidate is validated before it serves"),
            },
            (Section::Infrastructure, 5) => match (&e.champion, &e.champion_run) {
                (Some(v), Some(r)) if !r.inputs.is_empty() => automated(vec![
                    format!("`gyre lineage {}@{}`: the run and data that made it", v.name, v.version),
                    format!("run {} read {}", r.start.id.short(), r.inputs.join(", ")),
                    "every prediction is logged with its request id, inputs and version".into(),
                ]),
                _ => missing("serve a champion trained by gyre, so its run and data are recorded"),
            },
            (Section::Infrastructure, 6) => {
                let share = spec.serve.as_ref().and_then(|s| s.canary.as_ref()).map(|c| c.share);
                let shadow = spec.serve.as_ref().is_some_and(|s| s.shadow);
                match (share, shadow) {
                    (Some(s), _) if s > 0.0 => automated(vec![format!(
                        "[serve] canary share {s}: a candidate answers that share of requests until its verdict"
                    )]),
                    (_, true) => automated(vec!["[serve] shadow: the challenger scores every request in shadow".into()]),
                    _ => missing("set [serve] canary = { share = 0.1 } so a new model proves itself on live traffic"),
                }
            }
            (Section::Infrastructure, 7) if e.versions > 0 => automated(vec![
                format!("{} versions of {name} kept; `gyre models rollback {name}` moves champion back", e.versions),
                format!("{} alias moves audited", e.alias_moves),
            ]),
            (Section::Infrastructure, 7) => missing("register a model: versions are kept and `gyre models rollback` restores the last"),
            (Section::Monitoring, 1) => {
                let on: Vec<String> = spec
                    .trigger
                    .iter()
                    .filter(|t| {
                        matches!(
                            t.on,
                            gyre_core::monitor::TriggerKind::Data | gyre_core::monitor::TriggerKind::Code
                        )
                    })
                    .map(|t| format!("trigger `{}` on {}", t.name, t.on.as_str()))
                    .collect();
                if on.is_empty() {
                    missing("add a [[trigger]] with on = \"data\" or \"code\" so a changed dependency runs the pipeline")
                } else {
                    automated(on)
                }
            }
            (Section::Monitoring, 2) => {
                let training = e
                    .schema
                    .as_ref()
                    .and_then(|(d, exists)| exists.then(|| validated(d)).flatten());
                let serving = monitor.and_then(|m| m.drift.as_ref());
                match (training, serving) {
                    (Some(step), Some(_)) => automated(vec![
                        format!("training data: step `{step}` validates against the schema"),
                        "serving inputs: [monitor] drift against the training profile".into(),
                    ]),
                    (None, _) => missing("validate the training data in the pipeline (a `validate` step with a schema)"),
                    (_, None) => missing("watch serving inputs: [monitor] drift = { method = \"psi\" }"),
                }
            }
            (Section::Monitoring, 3) => {
                let mut ev = Vec::new();
                if monitor.is_some_and(|m| m.drift.is_some()) {
                    ev.push("[monitor] drift compares served inputs with the training profile".to_string());
                }
                if let Some(p) = monitor.and_then(|m| m.prediction_shift) {
                    ev.push(format!("[monitor] prediction_shift = {p} compares predictions with the training target"));
                }
                if ev.is_empty() {
                    missing("set [monitor] drift and prediction_shift")
                } else {
                    automated(ev)
                }
            }
            (Section::Monitoring, 4) => {
                let schedule = spec
                    .trigger
                    .iter()
                    .find(|t| t.on == gyre_core::monitor::TriggerKind::Schedule);
                match (monitor.and_then(|m| m.max_age_days), schedule) {
                    (Some(d), _) => automated(vec![format!("[monitor] max_age_days = {d}")]),
                    (None, Some(t)) => automated(vec![format!("trigger `{}` retrains on a schedule", t.name)]),
                    _ => missing("set [monitor] max_age_days, or a schedule trigger"),
                }
            }
            (Section::Monitoring, 5) => match monitor.and_then(|m| m.max_error_rate) {
                Some(r) => automated(vec![format!(
                    "[monitor] max_error_rate = {r}: failed predictions are counted per traffic window"
                )]),
                None => missing("set [monitor] max_error_rate so failing or non-finite predictions breach a rule"),
            },
            (Section::Monitoring, 6) => match monitor.and_then(|m| m.max_p99_ms) {
                Some(ms) => automated(vec![format!("[monitor] max_p99_ms = {ms} per traffic window")]),
                None => missing("set [monitor] max_p99_ms so a latency regression breaches a rule"),
            },
            (Section::Monitoring, 7) => {
                let rules: Vec<String> = monitor
                    .map(|m| {
                        m.min
                            .keys()
                            .chain(m.max.keys())
                            .chain(m.relative.keys())
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                if rules.is_empty() {
                    missing("set [monitor] min (`f1 = 0.7`) or relative floors on labelled windows")
                } else {
                    let mut ev = vec![format!("[monitor] rules on labelled windows: {}", rules.join(", "))];
                    if let Some(t) = spec.trigger.iter().find(|t| t.on == gyre_core::monitor::TriggerKind::Monitor) {
                        ev.push(format!("trigger `{}` retrains when one breaches", t.name));
                    }
                    automated(ev)
                }
            }
            _ => missing("unknown test"),
        }
    }
}
