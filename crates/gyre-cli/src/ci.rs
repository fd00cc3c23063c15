//! `gyre ci init github|gitlab`.

use crate::{CliResult, open_project, print_json};
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum CiCommand {
    /// Write a CI/CD workflow for the ML loop: on a pull (merge) request, validate the data,
    /// run the pipeline and post the ML Test Score; on the main branch, deploy the newest
    /// version to `staging`, then to `champion` after an approval.
    Init {
        /// github (.github/workflows/gyre.yml) or gitlab (.gitlab-ci.yml).
        provider: String,
        /// The ML Test Score below which the check job fails.
        #[arg(long, default_value_t = 1.0)]
        min_score: f64,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: CiCommand, project: &Option<PathBuf>) -> CliResult {
    match cmd {
        CiCommand::Init {
            provider,
            min_score,
            force,
            json,
        } => {
            let p = open_project(project).await?;
            let written = p.init_ci(provider.parse()?, min_score, force)?;
            if json {
                print_json(&written);
            } else {
                out!(
                    "wrote {} for model `{}` (validating {})",
                    written.path.display(),
                    written.model,
                    if written.datasets.is_empty() {
                        "no dataset: none has a schema yet (`gyre data schema NAME`)".to_string()
                    } else {
                        written.datasets.join(", ")
                    }
                );
            }
            Ok(())
        }
    }
}
