//! `gyre run`, `gyre status`, `gyre dag`.

use crate::render::table;
use crate::{CliResult, Failure, open_project, print_json};
use clap::{Args, ValueEnum};
use gyre_ops::pipeline::{PipelineEvents, RunOptions, StepReport, StepState};
use std::path::PathBuf;
use std::time::Instant;

/// Run the pipeline's steps that are not up to date, in dependency order, in parallel.
#[derive(Args)]
pub struct RunArgs {
    /// Only these steps (and what they need); default: every step.
    steps: Vec<String>,
    /// Steps at once (default: the number of cores).
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Override a param for this run, e.g. `train.trees=300` (repeatable).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    sets: Vec<String>,
    /// Run the selected steps even when their results are stored.
    #[arg(long)]
    force: bool,
    #[arg(long)]
    json: bool,
}

/// Say, for each step, whether it is up to date, and if not, why. Runs nothing.
#[derive(Args)]
pub struct StatusArgs {
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    sets: Vec<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DagFormat {
    Text,
    Mermaid,
    Dot,
}

/// Print the pipeline's graph. Runs nothing.
#[derive(Args)]
pub struct DagArgs {
    #[arg(long, value_enum, default_value = "text")]
    format: DagFormat,
    #[arg(long)]
    json: bool,
}

/// Prints each step as it starts and ends, on stderr.
struct Live {
    quiet: bool,
    start: Instant,
}

impl PipelineEvents for Live {
    fn started(&self, step: &str) {
        if !self.quiet {
            gyre_ops::note!(
                "{:>8.1}s  ▶ {step}: running",
                self.start.elapsed().as_secs_f64()
            );
        }
    }

    fn finished(&self, r: &StepReport) {
        if self.quiet {
            return;
        }
        let at = self.start.elapsed().as_secs_f64();
        let what = match r.state {
            StepState::UpToDate => "up to date".to_string(),
            StepState::Restored => "restored from the cache".to_string(),
            StepState::Ran => format!("done in {:.2} s", r.seconds),
            StepState::Failed => format!("FAILED after {:.2} s", r.seconds),
            StepState::NotRun => "not run: a step it waits for failed".to_string(),
        };
        let mark = match r.state {
            StepState::UpToDate => "=",
            StepState::Restored => "↺",
            StepState::Ran => "✓",
            StepState::Failed => "✗",
            StepState::NotRun => "-",
        };
        gyre_ops::note!("{at:>8.1}s  {mark} {}: {what}", r.step);
    }
}

fn state_text(s: StepState) -> &'static str {
    match s {
        StepState::UpToDate => "up to date",
        StepState::Restored => "restored",
        StepState::Ran => "ran",
        StepState::Failed => "failed",
        StepState::NotRun => "not run",
    }
}

pub async fn run(args: RunArgs, project: &Option<PathBuf>, quiet: bool) -> CliResult {
    let p = open_project(project).await?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let live = Live {
        quiet: quiet || args.json,
        start: Instant::now(),
    };
    let report = p
        .run_pipeline(
            &RunOptions {
                targets: args.steps,
                jobs,
                sets: args.sets,
                force: args.force,
            },
            &live,
        )
        .await?;
    if args.json {
        print_json(&report);
    } else {
        let rows = report
            .steps
            .iter()
            .map(|s| {
                vec![
                    s.step.clone(),
                    state_text(s.state).to_string(),
                    format!("{:.2} s", s.seconds),
                    s.reasons.join("; "),
                ]
            })
            .collect();
        out!(
            "{}",
            table(&["step", "result", "time", "why"], rows, &["time"])
        );
        let ran = report
            .steps
            .iter()
            .filter(|s| matches!(s.state, StepState::Ran | StepState::Failed))
            .count();
        match &report.run {
            Some(r) => out!("\n{ran} step(s) ran in {:.2} s; run {r}", report.seconds),
            // A failure is said below, never "up to date".
            None if report.failed() => {}
            None => {
                let restored = report
                    .steps
                    .iter()
                    .filter(|s| s.state == StepState::Restored)
                    .count();
                if restored == 0 {
                    out!(
                        "\nEverything is up to date ({:.0} ms).",
                        report.seconds * 1000.0
                    )
                } else {
                    out!(
                        "\nNothing ran: {restored} step(s) had their outputs put back from the cache ({:.0} ms).",
                        report.seconds * 1000.0
                    )
                }
            }
        }
    }
    if report.failed() {
        for s in report.steps.iter().filter(|s| s.state == StepState::Failed) {
            gyre_ops::note!("error: {}", s.error.as_deref().unwrap_or("failed"));
            if let Some(t) = &s.log_tail {
                gyre_ops::note!("--- the end of its output ---\n{t}\n---");
            }
        }
        return Err(Failure::Error(gyre_ops::OpsError::Invalid(
            "the pipeline failed; steps that did not depend on the failure finished, and their results are kept".into(),
        )));
    }
    Ok(())
}

pub async fn status(args: StatusArgs, project: &Option<PathBuf>) -> CliResult {
    let p = open_project(project).await?;
    let steps = p.pipeline_status(&args.sets).await?;
    if args.json {
        print_json(&steps);
    } else {
        let rows = steps
            .iter()
            .map(|s| {
                vec![
                    s.step.clone(),
                    if s.up_to_date {
                        "up to date"
                    } else {
                        "will run"
                    }
                    .to_string(),
                    s.reasons.join("; "),
                ]
            })
            .collect();
        out!("{}", table(&["step", "status", "why"], rows, &[]));
    }
    if steps.iter().all(|s| s.up_to_date) {
        Ok(())
    } else {
        Err(Failure::CheckFailed)
    }
}

pub async fn dag(args: DagArgs, project: &Option<PathBuf>) -> CliResult {
    let p = open_project(project).await?;
    let pipe = p.pipeline(&[])?;
    if args.json {
        print_json(&serde_json::json!({
            "order": pipe.dag.order,
            "upstream": pipe.dag.upstream,
        }));
        return Ok(());
    }
    let what = |name: &str| {
        let s = &pipe.steps[name];
        match (&s.run, s.uses) {
            (Some(cmd), _) => cmd.clone(),
            (None, Some(b)) => format!("uses {}", format!("{b:?}").to_lowercase()),
            _ => String::new(),
        }
    };
    match args.format {
        DagFormat::Text => {
            let rows = pipe
                .dag
                .order
                .iter()
                .map(|n| vec![n.clone(), pipe.dag.upstream[n].join(", "), what(n)])
                .collect();
            out!("{}", table(&["step", "after", "does"], rows, &[]));
        }
        DagFormat::Mermaid => {
            out!("graph TD");
            for n in &pipe.dag.order {
                out!("  {n}[\"{n}\"]");
                for u in &pipe.dag.upstream[n] {
                    out!("  {u} --> {n}");
                }
            }
        }
        DagFormat::Dot => {
            out!("digraph pipeline {{");
            for n in &pipe.dag.order {
                out!("  \"{n}\";");
                for u in &pipe.dag.upstream[n] {
                    out!("  \"{u}\" -> \"{n}\";");
                }
            }
            out!("}}");
        }
    }
    Ok(())
}

/// Print where a model, dataset version (NAME@V), file or run came from: the runs that made
/// it and what they read, all the way up.
#[derive(Args)]
pub struct LineageArgs {
    /// `model:HASH` (or a run's model hash), `NAME@V`, a file path, or a run id.
    reference: String,
    #[arg(long, value_enum, default_value = "text")]
    format: DagFormat,
    #[arg(long)]
    json: bool,
}

pub async fn lineage(args: LineageArgs, project: &Option<PathBuf>) -> CliResult {
    let p = open_project(project).await?;
    let g = p.lineage(&args.reference).await?;
    if args.json {
        print_json(&g);
        return Ok(());
    }
    let text = match args.format {
        DagFormat::Text => g.to_text(),
        DagFormat::Mermaid => g.to_mermaid(),
        DagFormat::Dot => g.to_dot(),
    };
    out!("{}", text.trim_end());
    Ok(())
}
