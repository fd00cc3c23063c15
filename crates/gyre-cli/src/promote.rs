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

pub async fn promote(a: PromoteArgs, project: &Option<PathBuf>) -> CliResult {
    let p = open_project(project).await?;
    let outcome = p.promote(&a.reference, &a.to, &a.reason, a.dry_run).await?;
    if a.json {
        print_json(&outcome);
    } else {
        print(&outcome);
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
