//! `gyre check`: the ML Test Score of the project, as a table, JSON, JUnit XML or markdown.

use crate::render::table;
use crate::{CliResult, Failure, open_project, print_json};
use clap::{Args, Subcommand};
use gyre_core::testscore::{Grade, Scored, TestScore};
use std::path::PathBuf;

/// Score the project's production readiness with the ML Test Score (Breck et al., 2017): 28
/// tests of data, model, infrastructure and monitoring, each 1 when gyre finds it automated
/// (naming the evidence), ½ when attested as done by hand, 0 otherwise (with what to do). The
/// final score is the lowest section's. Nothing is trained or run.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CheckArgs {
    #[command(subcommand)]
    command: Option<CheckCommand>,
    /// Exit 1 when the final score is below this.
    #[arg(long, value_name = "SCORE")]
    min_score: Option<f64>,
    /// Also write each test as a JUnit test case (a 0 is a failure) to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Print markdown (for a pull-request comment) instead of the table.
    #[arg(long, conflicts_with = "json")]
    markdown: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum CheckCommand {
    /// Record that a test is done by hand (it then scores ½): what was done and where its
    /// results are. The newest attestation of a test is the one shown.
    Attest {
        /// The test: data.1 … data.7, model.1 …, infra.1 …, monitor.1 … monitor.7.
        test: String,
        #[arg(long)]
        note: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: CheckArgs, project: &Option<PathBuf>) -> CliResult {
    let p = open_project(project).await?;
    if let Some(CheckCommand::Attest { test, note, json }) = args.command {
        let a = p.attest(&test, &note).await?;
        if json {
            print_json(&a);
        } else {
            out!("{} attested by {}: {}", a.test, a.user, a.note);
        }
        return Ok(());
    }
    let score = p.check().await?;
    if let Some(path) = &args.junit {
        std::fs::write(path, junit(&score)).map_err(gyre_ops::OpsError::io(format!(
            "writing {}",
            path.display()
        )))?;
    }
    if args.json {
        print_json(&score);
    } else if args.markdown {
        out!("{}", markdown(&score));
    } else {
        print(&score);
    }
    match args.min_score {
        Some(min) if score.score < min => {
            gyre_ops::note!(
                "the ML Test Score {} is below --min-score {min}",
                points(score.score)
            );
            Err(Failure::CheckFailed)
        }
        _ => Ok(()),
    }
}

fn points(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// What a test's row says: its evidence, its attestation, or what would raise it.
fn detail(t: &Scored) -> String {
    match &t.grade {
        Grade::Automated { evidence } => evidence.join("; "),
        Grade::Manual { note, by, .. } => format!("attested by {by}: {note}"),
        Grade::Missing { raise } => format!("to raise: {raise}"),
    }
}

fn how(t: &Scored) -> &'static str {
    match t.grade {
        Grade::Automated { .. } => "automated",
        Grade::Manual { .. } => "manual",
        Grade::Missing { .. } => "missing",
    }
}

fn print(s: &TestScore) {
    let rows = s
        .tests
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                t.test.name.to_string(),
                points(t.points),
                how(t).to_string(),
                detail(t),
            ]
        })
        .collect();
    out!(
        "{}",
        table(
            &["test", "name", "points", "how", "evidence"],
            rows,
            &["points"]
        )
    );
    out!("");
    let rows = s
        .sections
        .iter()
        .map(|x| vec![x.title.to_string(), format!("{} / 7", points(x.points))])
        .collect();
    out!("{}", table(&["section", "points"], rows, &["points"]));
    out!(
        "\nML Test Score: {} (the lowest section): {}.",
        points(s.score),
        s.meaning
    );
}

fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn markdown(s: &TestScore) -> String {
    let mut out = format!(
        "### ML Test Score: {}\n\n{}.\n\n| section | points |\n|---|---:|\n",
        points(s.score),
        s.meaning
    );
    for x in &s.sections {
        out += &format!("| {} | {} / 7 |\n", x.title, points(x.points));
    }
    out += "\n| test | | points | evidence |\n|---|---|---:|---|\n";
    for t in &s.tests {
        let mark = match t.grade {
            Grade::Automated { .. } => "✅",
            Grade::Manual { .. } => "✍️",
            Grade::Missing { .. } => "❌",
        };
        out += &format!(
            "| `{}` {mark} | {} | {} | {} |\n",
            t.id,
            markdown_cell(t.test.name),
            points(t.points),
            markdown_cell(&detail(t))
        );
    }
    out
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: a suite per section, a case per test; a test scoring 0 is a failure (with what
/// would raise it), an attested one passes with its note as output.
fn junit(s: &TestScore) -> String {
    let failures = s.tests.iter().filter(|t| t.points == 0.0).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"ML Test Score\" tests=\"{}\" failures=\"{failures}\">\n",
        s.tests.len()
    );
    for sec in &s.sections {
        let tests: Vec<&Scored> = s
            .tests
            .iter()
            .filter(|t| t.test.section == sec.section)
            .collect();
        let failed = tests.iter().filter(|t| t.points == 0.0).count();
        out += &format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\">\n",
            xml(sec.title),
            tests.len()
        );
        for t in tests {
            let name = xml(&format!("{} {}", t.id, t.test.name));
            match &t.grade {
                Grade::Missing { raise } => {
                    out += &format!(
                        "    <testcase classname=\"{}\" name=\"{name}\">\n      <failure message=\"{}\"/>\n    </testcase>\n",
                        xml(sec.title),
                        xml(raise)
                    );
                }
                _ => {
                    out += &format!(
                        "    <testcase classname=\"{}\" name=\"{name}\">\n      <system-out>{}</system-out>\n    </testcase>\n",
                        xml(sec.title),
                        xml(&detail(t))
                    );
                }
            }
        }
        out += "  </testsuite>\n";
    }
    out += "</testsuites>\n";
    out
}
