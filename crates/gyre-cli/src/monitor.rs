//! `gyre monitor …`: windows, rules and events of the model in production.

use crate::render::{count, table, time};
use crate::{CliResult, open_project, print_json};
use clap::Subcommand;
use gyre_ops::monitor::short;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Subcommand)]
pub enum MonitorCommand {
    /// Latest windows, rules in breach, pending labels and recent events.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// A metric over closed windows, as a sparkline and a table, with events marked.
    History {
        /// f1, precision, recall, accuracy, roc_auc, rmse, mae, drift.COLUMN, …
        #[arg(long, default_value = "f1")]
        metric: String,
        /// champion, challenger or shadow (default: all).
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Run monitoring passes: join labels, close windows, judge rules, decide canaries.
    Run {
        /// One pass, then exit.
        #[arg(long)]
        once: bool,
        /// Seconds between passes.
        #[arg(long, default_value_t = 5.0)]
        every: f64,
        #[arg(long)]
        json: bool,
    },
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Values as a one-line chart, scaled to their own range.
pub fn sparkline(values: &[f64]) -> String {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    values
        .iter()
        .map(|v| {
            if hi > lo {
                BARS[(((v - lo) / (hi - lo)) * 7.0).round() as usize]
            } else {
                BARS[3]
            }
        })
        .collect()
}

pub async fn run(cmd: MonitorCommand, project: &Option<PathBuf>) -> CliResult {
    let p = open_project(project).await?;
    match cmd {
        MonitorCommand::Status { json } => {
            let s = p.monitor_status().await?;
            if json {
                print_json(&s);
                return Ok(());
            }
            let aliases: Vec<String> = s
                .aliases
                .iter()
                .map(|(a, v)| format!("{a} → v{v}"))
                .collect();
            out!("Model {} ({})", s.model, aliases.join(", "));
            out!(
                "Rules in breach: {}",
                if s.breached.is_empty() {
                    "none".to_string()
                } else {
                    s.breached.join(", ")
                }
            );
            out!(
                "Labels waiting for their prediction: {}",
                count(s.pending_labels)
            );
            if !s.latest.is_empty() {
                let rows = s
                    .latest
                    .iter()
                    .map(|pt| {
                        let figures: std::collections::BTreeMap<String, f64> =
                            serde_json::from_str(&pt.metrics).unwrap_or_default();
                        vec![
                            pt.kind.clone(),
                            pt.role.clone(),
                            format!("v{}", pt.version),
                            count(pt.n as u64),
                            time(pt.end_ms),
                            figures
                                .iter()
                                .filter(|(k, _)| *k != "labels")
                                .map(|(k, v)| format!("{k} {}", short(*v)))
                                .collect::<Vec<_>>()
                                .join("  "),
                        ]
                    })
                    .collect();
                out!("\nLatest windows:");
                out!(
                    "{}",
                    table(
                        &["kind", "role", "version", "rows", "until", "figures"],
                        rows,
                        &["rows"]
                    )
                );
            }
            if !s.recent_events.is_empty() {
                out!("\nRecent events:");
                out!("{}", events_table(&s.recent_events));
            }
        }
        MonitorCommand::History { metric, role, json } => {
            let h = p.monitor_history(&metric, role.as_deref()).await?;
            if json {
                print_json(&h);
                return Ok(());
            }
            if h.points.is_empty() {
                out!("No closed window of {} has `{metric}` yet.", h.model);
                return Ok(());
            }
            let values: Vec<f64> = h.points.iter().filter_map(|x| x.value).collect();
            out!(
                "{} {metric}: {}  (min {}, max {}, last {})",
                h.model,
                sparkline(&values),
                short(values.iter().copied().fold(f64::INFINITY, f64::min)),
                short(values.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
                short(*values.last().unwrap_or(&f64::NAN))
            );
            let rows = h
                .points
                .iter()
                .map(|pt| {
                    let marks: Vec<String> = h
                        .events
                        .iter()
                        .filter(|e| e.point == Some(pt.id))
                        .map(|e| format!("{} {}", e.kind, e.rule))
                        .collect();
                    vec![
                        pt.id.to_string(),
                        pt.role.clone(),
                        format!("v{}", pt.version),
                        time(pt.end_ms),
                        count(pt.n as u64),
                        pt.value.map_or("—".into(), short),
                        marks.join(", "),
                    ]
                })
                .collect();
            out!(
                "{}",
                table(
                    &[
                        "window", "role", "version", "until", "rows", &metric, "events"
                    ],
                    rows,
                    &["window", "rows", &metric]
                )
            );
            let loop_events: Vec<_> = h
                .events
                .iter()
                .filter(|e| e.point.is_none())
                .cloned()
                .collect();
            if !loop_events.is_empty() {
                out!("\nOther events:");
                out!("{}", events_table(&loop_events));
            }
        }
        MonitorCommand::Run { once, every, json } => {
            let mut monitor = p.monitor().await?;
            loop {
                let report = monitor.pass(&p, gyre_ops::runs::now_ms()).await?;
                if json {
                    print_json(&report);
                } else {
                    for pt in &report.points {
                        out!(
                            "window {} {} v{}: {} rows {}",
                            pt.kind,
                            pt.role,
                            pt.version,
                            pt.n,
                            pt.metrics
                        );
                    }
                    for e in &report.events {
                        out!("{} {}: {}", e.kind, e.rule, e.detail);
                    }
                    if let Some(d) = &report.decision {
                        out!("canary {}", d.summary());
                    }
                }
                if once {
                    break;
                }
                tokio::time::sleep(Duration::from_secs_f64(every.max(0.1))).await;
            }
        }
    }
    Ok(())
}

fn events_table(events: &[gyre_store::MonitorEvent]) -> String {
    let rows = events
        .iter()
        .map(|e| {
            vec![
                time(e.ts_ms),
                e.kind.clone(),
                e.rule.clone(),
                format!("v{}", e.version),
                e.detail.clone(),
            ]
        })
        .collect();
    table(&["when", "event", "rule", "version", "detail"], rows, &[])
}
