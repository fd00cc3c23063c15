//! `gyre promote` and `gyre approve`: moving a version through `[environments]`.

use crate::render::table;
use crate::{CliResult, Failure, open_project, print_json};
use clap::Args;
use gyre_ops::OpsError;
use gyre_ops::environments::Promotion;
use std::path::PathBuf;

/// Move a model version into an environment (`[environments.NAME]`): its alias moves only when
/// the version meets what the environment requires (a passing verdict, time and labels in the
/// environment it comes from with no breach, approvals). Each requirement is shown with what
/// was expected and found; the move is audited with them.
#[derive(Args)]
pub struct PromoteArgs {
    /// NAME@V (or NAME@ALIAS).
    reference: String,
    /// The environment.
    #[arg(long)]
    to: String,
    /// Why, for the audit trail.
    #[arg(long, default_value = "")]
    reason: String,
    /// Check the requirements only; move nothing.
    #[arg(long)]
    dry_run: bool,
    /// After the move, wait up to this many seconds for each of the environment's `servers`
    /// to serve the version (their `/ready`); exit 1 if one does not.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    wait: u64,
    #[arg(long)]
    json: bool,
}

/// Approve a model version for an environment, as the token in GYRE_TOKEN (its role must be the
/// environment's `approver_role`, default editor, or above). Recorded with the token's name.
#[derive(Args)]
pub struct ApproveArgs {
    /// NAME@V.
    reference: String,
    /// The environment.
    #[arg(long = "for", value_name = "ENVIRONMENT")]
    environment: String,
    #[arg(long, default_value = "")]
    note: String,
    #[arg(long)]
    json: bool,
}

fn print(p: &Promotion) {
    let rows = p
        .requirements
        .iter()
        .map(|r| {
            vec![
                r.requirement.clone(),
                r.expected.clone(),
                r.found.clone(),
                if r.met { "met" } else { "NOT MET" }.to_string(),
            ]
        })
        .collect();
    out!(
        "{}",
        table(&["requirement", "expected", "found", "result"], rows, &[])
    );
    match &p.event {
        Some(e) => out!(
            "\n{}: {} → {} ({})",
            p.alias,
            e.from.map_or("none".into(), |v| v.to_string()),
            p.version,
            p.environment
        ),
        None if p.allowed() => out!("\n{} may enter {} (dry run)", p.version, p.environment),
        None => out!("\n{} may not enter {} yet", p.version, p.environment),
    }
}

/// What a server of the environment answered after the move.
#[derive(serde::Serialize)]
struct Follower {
    server: String,
    /// `NAME@V` it serves, when it answered.
    serves: Option<String>,
    follows: bool,
}

/// Asks each server's `/ready` until it serves `version` (`NAME@V`) or `wait` runs out. A
/// server reloads when its alias moves (it polls the store), so this is the proof the
/// environment took the version.
fn followers(servers: &[String], version: &str, wait: std::time::Duration) -> Vec<Follower> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into();
    let t0 = std::time::Instant::now();
    servers
        .iter()
        .map(|server| {
            let url = format!("{}/ready", server.trim_end_matches('/'));
            loop {
                let serves = agent
                    .get(&url)
                    .call()
                    .ok()
                    .and_then(|mut r| r.body_mut().read_json::<serde_json::Value>().ok())
                    .and_then(|v| {
                        Some(format!(
                            "{}@{}",
                            v["model"].as_str()?,
                            v["version"].as_i64()?
                        ))
                    });
                let follows = serves.as_deref() == Some(version);
                if follows || t0.elapsed() >= wait {
                    return Follower {
                        server: server.clone(),
                        serves,
                        follows,
                    };
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        })
        .collect()
}

pub async fn promote(a: PromoteArgs, project: &Option<PathBuf>) -> CliResult {
    let p = open_project(project).await?;
    let outcome = p.promote(&a.reference, &a.to, &a.reason, a.dry_run).await?;
    let servers = p
        .spec
        .environments
        .get(&a.to)
        .map(|e| e.servers.clone())
        .unwrap_or_default();
    let following = if outcome.event.is_some() && !servers.is_empty() {
        let (version, wait) = (
            outcome.version.clone(),
            std::time::Duration::from_secs(a.wait),
        );
        tokio::task::spawn_blocking(move || followers(&servers, &version, wait))
            .await
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    if a.json {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            promotion: &'a Promotion,
            servers: &'a [Follower],
        }
        print_json(&Out {
            promotion: &outcome,
            servers: &following,
        });
    } else {
        print(&outcome);
        for f in &following {
            out!(
                "{}: {}",
                f.server,
                match (&f.serves, f.follows) {
                    (Some(v), true) => format!("serves {v}"),
                    (Some(v), false) => format!("still serves {v} after {} s", a.wait),
                    (None, _) => "did not answer /ready".to_string(),
                }
            );
        }
    }
    if following.iter().any(|f| !f.follows) {
        gyre_ops::note!(
            "{} moved to {}, but not every server of {} serves it",
            outcome.alias,
            outcome.version,
            outcome.environment
        );
        return Err(Failure::CheckFailed);
    }
    if !outcome.allowed() {
        gyre_ops::note!(
            "{} may not enter {}: {}",
            outcome.version,
            outcome.environment,
            outcome.unmet().join("; ")
        );
        return Err(Failure::CheckFailed);
    }
    Ok(())
}

pub async fn approve(a: ApproveArgs, project: &Option<PathBuf>) -> CliResult {
    let token = std::env::var(gyre_ops::settings::TOKEN).map_err(|_| {
        OpsError::Invalid(
            "an approval is made with a token: set GYRE_TOKEN (`gyre tokens create --role editor --name NAME`)"
                .into(),
        )
    })?;
    let p = open_project(project).await?;
    let approval = p
        .approve(&a.reference, &a.environment, &token, &a.note)
        .await?;
    if a.json {
        print_json(&approval);
    } else {
        out!(
            "{}@{} approved for {} by {} ({})",
            approval.name,
            approval.version,
            approval.environment,
            approval.approver,
            approval.role
        );
    }
    Ok(())
}
