//! `gyre tokens …`: the API tokens `gyre serve` accepts.

use crate::render::{table, time};
use crate::{CliResult, Failure, open_project, print_json};
use clap::Subcommand;
use gyre_core::access::Role;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Make a token. Its text is shown once and never stored (only its hash is).
    Create {
        /// What it may do: viewer (reads), predictor (also predictions and labels), editor
        /// (also alias moves through the gate, label corrections, triggers), admin (also
        /// forcing past the gate).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// A unique name; the audit trail records changes under it (`token:NAME`).
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Every token (never their texts), revoked ones too.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by name: servers refuse it within two seconds.
    Revoke { name: String },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
        .map_err(|e: gyre_core::access::UnknownRole| e.to_string())
}

pub async fn run(cmd: TokensCommand, project: &Option<PathBuf>) -> CliResult {
    let p = open_project(project).await?;
    match cmd {
        TokensCommand::Create { role, name, json } => {
            let t = p.create_token(&name, role).await?;
            if json {
                print_json(&t);
            } else {
                out!("{}", t.token);
                gyre_ops::note!(
                    "token `{}` ({}) made; it is shown this once: keep it in a secret store",
                    t.info.name,
                    t.info.role
                );
            }
        }
        TokensCommand::List { json } => {
            let tokens = p.tokens().await?;
            if json {
                print_json(&tokens);
            } else {
                let rows = tokens
                    .iter()
                    .map(|t| {
                        vec![
                            t.name.clone(),
                            t.role.to_string(),
                            format!("gyre_{}_…", t.id),
                            time(t.created_ms),
                            t.created_by.clone(),
                            t.revoked_ms.map(time).unwrap_or_default(),
                        ]
                    })
                    .collect();
                out!(
                    "{}",
                    table(
                        &["name", "role", "token", "created", "by", "revoked"],
                        rows,
                        &[]
                    )
                );
            }
        }
        TokensCommand::Revoke { name } => {
            p.revoke_token(&name).await.map_err(Failure::Error)?;
            out!("revoked token `{name}`");
        }
    }
    Ok(())
}
