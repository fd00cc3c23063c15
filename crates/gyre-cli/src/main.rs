//! The `gyre` binary: parses arguments, opens the project, calls one operation, prints.
//!
//! Exit codes: 0 success, 1 a check found problems, 2 an error.

/// Prints a line on stdout; a closed pipe (`gyre data log | head`) is not an error.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod agent;
mod backtest;
mod check;
mod ci;
mod data;
mod demo;
mod gc;
mod html;
mod models;
mod monitor;
mod pipeline;
mod progress;
mod promote;
mod render;
mod report;
mod runs;
mod serve;
mod sync;
mod tokens;
mod train;

use clap::{Parser, Subcommand};

// The server allocates a little for every request; mimalloc does that several times cheaper
// than glibc's malloc under two busy threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use gyre_ops::{OpsError, Project};
use std::path::PathBuf;
use std::process::ExitCode;

/// gyre: the whole MLOps loop in one binary.
///
/// Version data, validate it, train, register, serve and monitor models, and retrain when
/// quality decays. State lives in `.gyre/` (SQLite + a content-addressed object store) or in
/// PostgreSQL (GYRE_STORE_URL).
#[derive(Parser)]
#[command(name = "gyre", version, propagate_version = true, max_term_width = 100)]
struct Cli {
    /// Run as if gyre was started in DIR (the project is found at or above it).
    #[arg(short = 'C', long = "project", global = true, value_name = "DIR")]
    project: Option<PathBuf>,

    /// Hide progress bars.
    #[arg(short, long, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a project: the folder layout, a commented gyre.toml, and the .gyre/ state.
    Init {
        /// Folder to create the project in (created if missing). Default: the current folder.
        dir: Option<PathBuf>,
        /// The project's name. Default: the folder's name.
        #[arg(long)]
        name: Option<String>,
        /// `loop`: a working gyre.toml for the whole loop (first model, gate, serving,
        /// monitoring, retrain, canary), every knob commented.
        #[arg(long, value_parser = ["plain", "loop"], default_value = "plain")]
        template: String,
        /// With `--template loop`: the dataset the model trains on.
        #[arg(long, default_value = "data")]
        dataset: String,
        /// With `--template loop`: the column to predict.
        #[arg(long, default_value = "label")]
        target: String,
        #[arg(long)]
        json: bool,
    },
    /// Version, profile, compare and restore datasets.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// List, show and compare tracked runs.
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// Train the `[model]` spec of gyre.toml: one tracked run, one model file.
    Train(train::TrainArgs),
    /// Score a CSV or Parquet file with a model, in batch.
    Predict(train::PredictArgs),
    /// Re-train a past run from its recorded inputs and compare the model files.
    Reproduce(train::ReproduceArgs),
    /// Search hyperparameters (`[model.tune]`); each trial is a child run.
    Tune(train::TuneArgs),
    /// Run the pipeline (`[steps]`): what is not up to date, in order, in parallel.
    Run(pipeline::RunArgs),
    /// Say which pipeline steps are up to date, and why the others are not.
    Status(pipeline::StatusArgs),
    /// Print the pipeline's graph (text, Mermaid or Graphviz dot).
    Dag(pipeline::DagArgs),
    /// Print where a model, dataset version, file or run came from.
    Lineage(pipeline::LineageArgs),
    /// The model registry: register, list, show, alias, roll back, validate against [gate].
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Serve a registered model over REST, following its alias (and the MLflow tracking API).
    Serve(serve::ServeArgs),
    /// Serve the MLflow tracking API only, with no model: scripts that use the `mlflow`
    /// client log their runs to gyre.
    Server(serve::ServerArgs),
    /// Open the web UI in a browser: runs, data, the registry, monitoring and the pipeline.
    /// It serves what `gyre server` serves (the UI is also on every `gyre serve`).
    Ui(serve::UiArgs),
    /// The whole loop on the Elec2 stream, with no setup: train, serve, replay traffic with
    /// late labels, watch F1, retrain, canary, promote or roll back; an SVG chart at the end.
    Demo(demo::DemoArgs),
    /// Replay a dataset through the loop as gyre.toml configures it, with late labels on an
    /// injected clock, next to never retraining and a fixed schedule; a table and a chart.
    Backtest(backtest::BacktestArgs),
    /// Run monitoring and triggers without serving.
    Agent(agent::AgentArgs),
    /// Monitoring: quality windows on joined labels, rules, events, the canary's verdict.
    #[command(subcommand)]
    Monitor(monitor::MonitorCommand),
    /// The ML Test Score of the project: 28 production-readiness tests, scored from evidence.
    Check(check::CheckArgs),
    /// CI/CD workflows for the ML loop (GitHub Actions, GitLab CI).
    #[command(subcommand)]
    Ci(ci::CiCommand),
    /// Remove objects nothing references, and temporary files a killed writer left.
    Gc(gc::GcArgs),
    /// Upload to the team's bucket ([store] remote) the objects it lacks: dataset versions,
    /// models, step results. Only missing objects move, several at a time, verified.
    Push(sync::SyncArgs),
    /// Download from the team's bucket the objects this machine lacks.
    Pull(sync::SyncArgs),
    /// Move a version into an environment ([environments.NAME]) when it meets the
    /// environment's requirements.
    Promote(promote::PromoteArgs),
    /// Approve a version for an environment (as the token in GYRE_TOKEN).
    Approve(promote::ApproveArgs),
    /// Reports over the project's history: `gyre report delivery` (DORA metrics for models).
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// API tokens for `gyre serve`: create (shown once), list, revoke.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Print a shell completion script: `gyre completions bash > /etc/bash_completion.d/gyre`,
    /// or `source <(gyre completions zsh)`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// What went wrong, and how the process should end.
pub enum Failure {
    /// An operation failed: exit 2 with the error's message, causes and hint.
    Error(OpsError),
    /// A check ran and found problems: exit 1 (the command printed them).
    CheckFailed,
}

impl From<OpsError> for Failure {
    fn from(e: OpsError) -> Self {
        Failure::Error(e)
    }
}

impl From<gyre_store::StoreError> for Failure {
    fn from(e: gyre_store::StoreError) -> Self {
        Failure::Error(e.into())
    }
}

impl From<gyre_core::CoreError> for Failure {
    fn from(e: gyre_core::CoreError) -> Self {
        Failure::Error(e.into())
    }
}

pub type CliResult = Result<(), Failure>;

/// Opens the project that holds the current folder (or `-C DIR`).
pub async fn open_project(dir: &Option<PathBuf>) -> Result<Project, Failure> {
    let start = dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let root = Project::discover(&start)?;
    Ok(Project::open(&root).await?)
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) {
    out!(
        "{}",
        serde_json::to_string_pretty(value).expect("reports always serialise")
    );
}

async fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Init {
            dir,
            name,
            template,
            dataset,
            target,
            json,
        } => {
            let dir = match (&cli.project, dir) {
                (Some(base), Some(d)) => base.join(d),
                (Some(base), None) => base.clone(),
                (None, Some(d)) => d,
                (None, None) => PathBuf::from("."),
            };
            let template = match template.as_str() {
                "loop" => gyre_ops::Template::Loop { dataset, target },
                _ => gyre_ops::Template::Plain,
            };
            let report = gyre_ops::init_with(&dir, name.as_deref(), &template).await?;
            if json {
                print_json(&report);
            } else {
                out!(
                    "Created project `{}` in {}",
                    report.name,
                    report.root.display()
                );
                for c in &report.created {
                    out!("  {c}");
                }
                out!(
                    "\nNext: gyre data add NAME PATH   (a CSV or Parquet file, or a folder of them)"
                );
            }
            Ok(())
        }
        Command::Data(cmd) => data::run(cmd, &cli.project, cli.quiet).await,
        Command::Runs(cmd) => runs::run(cmd, &cli.project).await,
        Command::Train(args) => train::train(args, &cli.project, cli.quiet).await,
        Command::Predict(args) => train::predict(args, &cli.project, cli.quiet).await,
        Command::Reproduce(args) => train::reproduce(args, &cli.project, cli.quiet).await,
        Command::Tune(args) => train::tune(args, &cli.project, cli.quiet).await,
        Command::Run(args) => pipeline::run(args, &cli.project, cli.quiet).await,
        Command::Status(args) => pipeline::status(args, &cli.project).await,
        Command::Dag(args) => pipeline::dag(args, &cli.project).await,
        Command::Lineage(args) => pipeline::lineage(args, &cli.project).await,
        Command::Models(cmd) => models::run(cmd, &cli.project).await,
        Command::Serve(args) => serve::run(args, &cli.project).await,
        Command::Server(args) => serve::server(args, &cli.project).await,
        Command::Ui(args) => serve::ui(args, &cli.project).await,
        Command::Monitor(cmd) => monitor::run(cmd, &cli.project, cli.quiet).await,
        Command::Agent(args) => agent::run(args, &cli.project).await,
        Command::Demo(args) => demo::run(args, cli.quiet).await,
        Command::Backtest(args) => backtest::run(args, &cli.project, cli.quiet).await,
        Command::Tokens(cmd) => tokens::run(cmd, &cli.project).await,
        Command::Check(args) => check::run(args, &cli.project).await,
        Command::Ci(cmd) => ci::run(cmd, &cli.project).await,
        Command::Report(cmd) => report::run(cmd, &cli.project).await,
        Command::Promote(args) => promote::promote(args, &cli.project).await,
        Command::Gc(args) => gc::run(args, &cli.project).await,
        Command::Push(args) => sync::push(args, &cli.project, cli.quiet).await,
        Command::Pull(args) => sync::pull(args, &cli.project, cli.quiet).await,
        Command::Approve(args) => promote::approve(args, &cli.project).await,
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut cmd, "gyre", &mut text);
            out!("{}", String::from_utf8_lossy(&text).trim_end());
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            gyre_ops::note!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::CheckFailed) => ExitCode::from(1),
        Err(Failure::Error(e)) => {
            gyre_ops::note!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                let text = s.to_string();
                if !e.to_string().contains(&text) {
                    gyre_ops::note!("  Caused by: {text}");
                }
                source = s.source();
            }
            if let Some(hint) = e.hint() {
                gyre_ops::note!("hint: {hint}");
            }
            ExitCode::from(2)
        }
    }
}
