//! `gyre runs …`: list, show and compare tracked runs.

use crate::render::{count, num, table, time};
use crate::{CliResult, open_project, print_json};
use clap::Subcommand;
use gyre_core::Run;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first.
    ///
    /// --where takes conditions joined by `and`: metrics.NAME compared with a number
    /// (= != < <= > >=); params.NAME, tags.NAME, status, name and id compared with quoted
    /// text (= != like ilike, in ('a', 'b'), not in (...)).
    /// Example: --where "metrics.f1 > 0.8 and params.algorithm like 'random%'"
    List {
        #[arg(long = "where", value_name = "CONDITIONS", default_value = "")]
        filter: String,
        /// `started`, `name`, `metrics.NAME` or `params.NAME`, then `asc` or `desc`.
        #[arg(long, value_name = "KEY [asc|desc]")]
        order: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
        #[arg(long)]
        json: bool,
    },
    /// Show one run: params, metrics with their series, tags, inputs and outputs.
    Show {
        /// The run's id or a unique prefix of at least 4 digits.
        run: String,
        #[arg(long)]
        json: bool,
    },
    /// Print the output a pipeline step's run captured (its stdout, then stderr).
    Log {
        /// The run's id or a unique prefix of at least 4 digits.
        run: String,
    },
    /// Params and metrics of several runs side by side; rows that differ are marked.
    Compare {
        #[arg(required = true, num_args = 2..)]
        runs: Vec<String>,
        #[arg(long)]
        json: bool,
    },
}

fn duration(r: &Run) -> String {
    match r.duration_ms() {
        Some(ms) if ms < 1_000 => format!("{ms} ms"),
        Some(ms) if ms < 120_000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) => format!("{:.1} min", ms as f64 / 60_000.0),
        None => String::new(),
    }
}

fn value(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        num(x)
    }
}

fn pairs<'a>(items: impl Iterator<Item = (&'a String, String)>, max: usize) -> String {
    let all: Vec<String> = items.map(|(k, v)| format!("{k}={v}")).collect();
    let mut s = all.iter().take(max).cloned().collect::<Vec<_>>().join(" ");
    if all.len() > max {
        s.push_str(" …");
    }
    s
}

pub async fn run(cmd: RunsCommand, project: &Option<PathBuf>) -> CliResult {
    let p = open_project(project).await?;
    match cmd {
        RunsCommand::List {
            filter,
            order,
            limit,
            json,
        } => {
            let runs = p.list_runs(&filter, order.as_deref(), limit).await?;
            if json {
                print_json(&runs);
            } else if runs.is_empty() {
                out!("No runs match.");
            } else {
                let rows = runs
                    .iter()
                    .map(|r| {
                        vec![
                            r.start.id.short().to_string(),
                            r.start.name.clone(),
                            r.status.to_string(),
                            time(r.start.started_ms),
                            duration(r),
                            pairs(r.metrics.iter().map(|(k, v)| (k, value(*v))), 4),
                            pairs(r.params.iter().map(|(k, v)| (k, v.clone())), 4),
                        ]
                    })
                    .collect();
                out!(
                    "{}",
                    table(
                        &[
                            "run", "name", "status", "started", "duration", "metrics", "params"
                        ],
                        rows,
                        &["duration"]
                    )
                );
            }
        }
        RunsCommand::Log { run } => {
            let d = p.run_detail(&run).await?;
            let Some(hash) = d
                .run
                .outputs
                .iter()
                .find_map(|o| o.strip_prefix("log:"))
                .and_then(|h| h.parse::<gyre_core::ContentHash>().ok())
            else {
                return Err(gyre_ops::OpsError::NotFound(format!(
                    "run {} captured no output (only pipeline command steps do)",
                    d.run.start.id
                ))
                .into());
            };
            let bytes = p
                .blobs
                .get_bytes(hash)
                .await
                .map_err(gyre_ops::OpsError::from)?;
            use std::io::Write as _;
            let _ = std::io::stdout().lock().write_all(&bytes);
        }
        RunsCommand::Show { run, json } => {
            let d = p.run_detail(&run).await?;
            if json {
                print_json(&d);
                return Ok(());
            }
            let r = &d.run;
            out!("run {}  {}  {}", r.start.id, r.start.name, r.status);
            out!(
                "started {} by {} on {} (pid {}){}{}",
                time(r.start.started_ms),
                r.start.user,
                r.start.host,
                r.start.pid,
                r.ended_ms
                    .map(|e| format!(", ended {} after {}", time(e), duration(r)))
                    .unwrap_or_default(),
                r.start
                    .git_commit
                    .as_ref()
                    .map(|c| format!(
                        "\ngit {c}{}",
                        if r.start.git_dirty {
                            " (with uncommitted changes)"
                        } else {
                            ""
                        }
                    ))
                    .unwrap_or_default()
            );
            if let Some(parent) = &r.start.parent {
                out!("parent run {parent}");
            }
            if !r.note.is_empty() {
                out!("note: {}", r.note);
            }
            if !r.params.is_empty() {
                let rows = r
                    .params
                    .iter()
                    .map(|(k, v)| vec![k.clone(), v.clone()])
                    .collect();
                out!("\n{}", table(&["param", "value"], rows, &[]));
            }
            if !d.series.is_empty() {
                let rows = d
                    .series
                    .iter()
                    .map(|s| {
                        vec![
                            s.key.clone(),
                            value(s.last),
                            count(s.points as u64),
                            value(s.first),
                            value(s.min),
                            value(s.max),
                        ]
                    })
                    .collect();
                out!(
                    "\n{}",
                    table(
                        &["metric", "last", "points", "first", "min", "max"],
                        rows,
                        &["last", "points", "first", "min", "max"]
                    )
                );
            }
            if !r.tags.is_empty() {
                out!(
                    "\ntags: {}",
                    pairs(r.tags.iter().map(|(k, v)| (k, v.clone())), usize::MAX)
                );
            }
            for (what, list) in [("inputs", &r.inputs), ("outputs", &r.outputs)] {
                if !list.is_empty() {
                    out!("{what}: {}", list.join(", "));
                }
            }
        }
        RunsCommand::Compare { runs, json } => {
            let c = p.compare_runs(&runs).await?;
            if json {
                print_json(&c);
                return Ok(());
            }
            let mut headers = vec!["".to_string(), "key".to_string()];
            headers.extend(
                c.runs
                    .iter()
                    .map(|r| format!("{} {}", r.start.id.short(), r.start.name)),
            );
            let mut rows = Vec::new();
            for (k, vals) in &c.params {
                let differ = vals.windows(2).any(|w| w[0] != w[1]);
                let mut row = vec![
                    if differ { "*" } else { "" }.to_string(),
                    format!("params.{k}"),
                ];
                row.extend(vals.iter().map(|v| v.clone().unwrap_or_else(|| "–".into())));
                rows.push(row);
            }
            for (k, vals) in &c.metrics {
                let bits: Vec<Option<u64>> = vals.iter().map(|v| v.map(f64::to_bits)).collect();
                let differ = bits.windows(2).any(|w| w[0] != w[1]);
                let mut row = vec![
                    if differ { "*" } else { "" }.to_string(),
                    format!("metrics.{k}"),
                ];
                row.extend(
                    vals.iter()
                        .map(|v| v.map(value).unwrap_or_else(|| "–".into())),
                );
                rows.push(row);
            }
            let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
            let right: Vec<&str> = header_refs[2..].to_vec();
            out!("{}", table(&header_refs, rows, &right));
            out!("\n* differs between the runs");
        }
    }
    Ok(())
}
