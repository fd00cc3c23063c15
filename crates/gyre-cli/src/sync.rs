//! `gyre push` and `gyre pull`.

use crate::progress::Bars;
use crate::render::{bytes, count, table};
use crate::{CliResult, open_project, print_json};
use clap::Args;
use gyre_ops::sync::{Direction, SyncOptions, SyncReport, SyncSelection};
use std::path::PathBuf;

/// What `gyre push` and `gyre pull` take. With no --dataset, --model or --steps: every object
/// the metadata store names (dataset versions, models, runs' inputs and outputs, step
/// results, MLflow artifacts).
#[derive(Args)]
pub struct SyncArgs {
    /// A dataset (`NAME`, every version) or one version (`NAME@V`); repeatable.
    #[arg(long, value_name = "NAME[@V]")]
    dataset: Vec<String>,
    /// A model (`NAME`, every version) or one version (`NAME@V`, `NAME@ALIAS`); repeatable.
    #[arg(long, value_name = "NAME[@V]")]
    model: Vec<String>,
    /// The pipeline's stored step results.
    #[arg(long)]
    steps: bool,
    /// The bucket (`s3://BUCKET/PREFIX`); default GYRE_REMOTE_URL, then `[store] remote`.
    /// Credentials and endpoint come from AWS_* variables.
    #[arg(long, value_name = "URL")]
    remote: Option<String>,
    /// Objects in flight at once.
    #[arg(long, short = 'j', default_value_t = 16)]
    jobs: usize,
    /// Count what would move; move nothing.
    #[arg(long)]
    dry_run: bool,
    #[arg(long)]
    json: bool,
}

impl SyncArgs {
    fn options(&self) -> SyncOptions {
        SyncOptions {
            selection: SyncSelection {
                datasets: self.dataset.clone(),
                models: self.model.clone(),
                steps: self.steps,
            },
            remote: self.remote.clone(),
            jobs: self.jobs,
            dry_run: self.dry_run,
        }
    }
}

/// Upload the objects the team's bucket lacks.
pub async fn push(a: SyncArgs, project: &Option<PathBuf>, quiet: bool) -> CliResult {
    let p = open_project(project).await?;
    let bars = Bars::new(quiet || a.json);
    let r = p.push(&a.options(), &bars).await?;
    show(&r, a.json)
}

/// Download the objects this machine lacks.
pub async fn pull(a: SyncArgs, project: &Option<PathBuf>, quiet: bool) -> CliResult {
    let p = open_project(project).await?;
    let bars = Bars::new(quiet || a.json);
    let r = p.pull(&a.options(), &bars).await?;
    show(&r, a.json)
}

fn show(r: &SyncReport, json: bool) -> CliResult {
    if json {
        print_json(r);
    } else {
        let (verb, there) = match (r.direction, r.dry_run) {
            (Direction::Push, false) => ("uploaded", "already in the bucket"),
            (Direction::Push, true) => ("would upload", "already in the bucket"),
            (Direction::Pull, false) => ("downloaded", "already here"),
            (Direction::Pull, true) => ("would download", "already here"),
        };
        let rate = if r.seconds > 0.0 && !r.dry_run {
            format!("{}/s", bytes((r.bytes as f64 / r.seconds) as u64))
        } else {
            String::new()
        };
        let rows = vec![
            vec!["named".into(), count(r.wanted as u64), String::new()],
            vec![there.into(), count(r.present as u64), String::new()],
            vec![
                verb.into(),
                count(r.transferred as u64),
                format!("{} {rate}", bytes(r.bytes)).trim_end().to_string(),
            ],
            vec![
                "on neither side".into(),
                count(r.unavailable.len() as u64),
                String::new(),
            ],
        ];
        out!("{}", r.remote);
        out!("{}", table(&["objects", "count", ""], rows, &["count"]));
    }
    if r.unavailable.is_empty() {
        Ok(())
    } else {
        // Like `gyre status`: the report stands, and exit 1 says not everything is here.
        let first: Vec<_> = r.unavailable.iter().take(3).map(|h| &h[..12]).collect();
        gyre_ops::note!(
            "{} object(s) the store names are on neither side (first: {}): the machine that \
             made them has not pushed them",
            r.unavailable.len(),
            first.join(", ")
        );
        Err(crate::Failure::CheckFailed)
    }
}
