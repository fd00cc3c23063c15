//! `gyre models …`: the registry and the gate.

use crate::render::{count, num, table, time};
use crate::{CliResult, Failure, open_project, print_json};
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Register a model as the next version of NAME: a run, a model hash, a gyre model file,
    /// or a model trained elsewhere (an XGBoost JSON or LightGBM text file).
    ///
    /// A model trained elsewhere needs its target, and its inputs unless the file names its
    /// features: `--target COL --dataset NAME@V` takes the inputs (the dataset's other
    /// columns, in order) and the classes (the target's values) from a dataset version, or
    /// `--signature FILE` gives them (`inputs = [...]`, `target = "..."`, `classes = [...]`).
    Register {
        name: String,
        /// A run id (or prefix) that made a model, `model:HASH`, or a model file.
        model: String,
        /// A signature file (TOML: `inputs`, `target`, `classes`) for a model trained
        /// elsewhere.
        #[arg(long)]
        signature: Option<PathBuf>,
        /// A JSON object of the test figures the training script measured
        /// (`{"accuracy": 0.91}`), which `[gate]` judges when it has no dataset.
        #[arg(long)]
        metrics: Option<PathBuf>,
        /// A dataset version or data file whose columns and target values complete a model
        /// trained elsewhere.
        #[arg(long)]
        dataset: Option<String>,
        /// The target column of a model trained elsewhere.
        #[arg(long)]
        target: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Every registered model: versions, latest, aliases.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One version: NAME@V, NAME@ALIAS or NAME (the latest).
    Show {
        reference: String,
        #[arg(long)]
        json: bool,
    },
    /// A model's versions with their aliases and verdicts.
    Versions {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Point ALIAS at NAME@V. `champion` needs a passing verdict, or --force (audited).
    Alias {
        /// NAME@V (or NAME@OTHER_ALIAS).
        reference: String,
        alias: String,
        /// Why, for the audit trail.
        #[arg(long, default_value = "")]
        reason: String,
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Move `champion` back to the previous champion.
    Rollback {
        name: String,
        #[arg(long, default_value = "")]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// Judge NAME@V against [gate] and store the verdict; exits 1 when it fails.
    Validate {
        reference: String,
        #[arg(long)]
        json: bool,
    },
    /// Every alias move of a model: who, when, why, from → to.
    History {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

fn ver(v: Option<i64>) -> String {
    v.map_or("—".into(), |v| format!("v{v}"))
}

pub async fn run(cmd: ModelsCommand, project: &Option<PathBuf>) -> CliResult {
    let p = open_project(project).await?;
    match cmd {
        ModelsCommand::Register {
            name,
            model,
            signature,
            metrics,
            dataset,
            target,
            json,
        } => {
            let from = gyre_ops::import::ImportOptions {
                file: signature,
                metrics,
                dataset,
                target,
                inputs: Vec::new(),
            };
            let (v, created) = p.register_model(&name, &model, &from).await?;
            if json {
                print_json(&serde_json::json!({ "version": v, "created": created }));
            } else if created {
                out!(
                    "Registered {}@{} (model:{})",
                    v.name,
                    v.version,
                    &v.model[..12]
                );
            } else {
                out!(
                    "Already registered as {}@{} (model:{})",
                    v.name,
                    v.version,
                    &v.model[..12]
                );
            }
        }
        ModelsCommand::List { json } => {
            let models = p.list_models().await?;
            if json {
                print_json(&models);
            } else {
                let rows = models
                    .iter()
                    .map(|m| {
                        vec![
                            m.name.clone(),
                            count(m.versions as u64),
                            format!("v{}", m.latest),
                            m.aliases
                                .iter()
                                .map(|(a, v)| format!("{a}=v{v}"))
                                .collect::<Vec<_>>()
                                .join(" "),
                        ]
                    })
                    .collect();
                out!(
                    "{}",
                    table(
                        &["model", "versions", "latest", "aliases"],
                        rows,
                        &["versions"]
                    )
                );
            }
        }
        ModelsCommand::Versions { name, json } => {
            let rows = p.model_version_rows(&name).await?;
            if json {
                print_json(&rows);
            } else {
                let t = rows
                    .iter()
                    .map(|r| {
                        vec![
                            format!("v{}", r.version.version),
                            format!("model:{}", &r.version.model[..12]),
                            r.version
                                .run_id
                                .clone()
                                .map(|s| s[..8.min(s.len())].to_string())
                                .unwrap_or_default(),
                            time(r.version.created_ms),
                            r.version.user.clone(),
                            r.aliases.join(" "),
                            match r.verdict {
                                Some(true) => "passed".into(),
                                Some(false) => "failed".into(),
                                None => "—".into(),
                            },
                        ]
                    })
                    .collect();
                out!(
                    "{}",
                    table(
                        &[
                            "version",
                            "model",
                            "run",
                            "registered",
                            "by",
                            "aliases",
                            "verdict"
                        ],
                        t,
                        &[]
                    )
                );
            }
        }
        ModelsCommand::Show { reference, json } => {
            let d = p.show_model(&reference).await?;
            if json {
                print_json(&d);
            } else {
                out!(
                    "{}@{}  model:{}",
                    d.version.name,
                    d.version.version,
                    d.version.model
                );
                out!(
                    "aliases    {}",
                    if d.aliases.is_empty() {
                        "—".into()
                    } else {
                        d.aliases.join(", ")
                    }
                );
                out!(
                    "algorithm  {}  ({} bytes)",
                    d.algorithm,
                    count(d.size_bytes as u64)
                );
                out!(
                    "target     {}{}",
                    d.target,
                    if d.classes.is_empty() {
                        String::new()
                    } else {
                        format!(" (classes: {})", d.classes.join(", "))
                    }
                );
                out!(
                    "inputs     {}",
                    d.inputs
                        .iter()
                        .map(|(n, k)| format!("{n}:{k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                out!("data       {}", d.datasets.join(", "));
                if let Some(i) = &d.imported {
                    out!("imported   from {} (file:{})", i.from, &i.file[..12]);
                }
                out!(
                    "run        {}",
                    d.version.run_id.clone().unwrap_or_else(|| "—".into())
                );
                out!(
                    "git        {}",
                    d.git_commit.clone().unwrap_or_else(|| "—".into())
                );
                let rows = d
                    .metrics
                    .iter()
                    .map(|(k, v)| vec![k.clone(), num(*v)])
                    .collect();
                out!("\n{}", table(&["metric", "test"], rows, &["test"]));
                match &d.verdict {
                    Some(v) => out!(
                        "\nverdict: {} ({} by {})",
                        if v.passed { "passed" } else { "failed" },
                        time(v.created_ms),
                        v.user
                    ),
                    None => out!(
                        "\nverdict: none (gyre models validate {}@{})",
                        d.version.name,
                        d.version.version
                    ),
                }
            }
        }
        ModelsCommand::Alias {
            reference,
            alias,
            reason,
            force,
            json,
        } => {
            let e = p
                .set_alias(
                    &reference,
                    &alias,
                    &reason,
                    force,
                    &gyre_ops::settings::actor(),
                )
                .await?;
            if json {
                print_json(&e);
            } else {
                out!(
                    "{}@{}: {} → {}{}",
                    e.name,
                    e.alias,
                    ver(e.from),
                    ver(e.to),
                    if e.forced {
                        " (forced: no passing verdict)"
                    } else {
                        ""
                    }
                );
            }
        }
        ModelsCommand::Rollback { name, reason, json } => {
            let e = p.rollback(&name, &reason).await?;
            if json {
                print_json(&e);
            } else {
                out!(
                    "{}@{}: {} → {} (rolled back)",
                    e.name,
                    e.alias,
                    ver(e.from),
                    ver(e.to)
                );
            }
        }
        ModelsCommand::Validate { reference, json } => {
            let v = p.validate_model(&reference).await?;
            if json {
                print_json(&v);
            } else {
                let rows = v
                    .checks
                    .iter()
                    .map(|c| {
                        vec![
                            if c.passed { "pass" } else { "FAIL" }.to_string(),
                            c.check.clone(),
                            c.expected.clone(),
                            c.found.clone(),
                        ]
                    })
                    .collect();
                out!("{}", table(&["", "check", "expected", "found"], rows, &[]));
                out!(
                    "\n{}@{}: {}",
                    v.name,
                    v.version,
                    if v.passed {
                        "passed — it may become champion"
                    } else {
                        "failed"
                    }
                );
            }
            if !v.passed {
                return Err(Failure::CheckFailed);
            }
        }
        ModelsCommand::History { name, json } => {
            let events = p.alias_history(&name).await?;
            if json {
                print_json(&events);
            } else {
                let rows = events
                    .iter()
                    .map(|e| {
                        vec![
                            time(e.at_ms),
                            e.alias.clone(),
                            format!("{} → {}", ver(e.from), ver(e.to)),
                            e.user.clone(),
                            if e.forced { "yes" } else { "" }.to_string(),
                            e.reason.clone(),
                        ]
                    })
                    .collect();
                out!(
                    "{}",
                    table(&["when", "alias", "move", "by", "forced", "why"], rows, &[])
                );
            }
        }
    }
    Ok(())
}
