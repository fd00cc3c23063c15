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
    /// The prediction log: a model's logged predictions as JSON lines, batch by batch as the
    /// servers stored them, or one request's records.
    ///
    /// Each line holds request_id, row, role, ts_ms, model, version, inputs (by name, in the
    /// order of the version's signature) and output.
    Log {
        /// The registered model.
        model: String,
        /// Only this request's records: a table (or --json).
        #[arg(long)]
        request: Option<String>,
        /// Stop after this many records.
        #[arg(long)]
        limit: Option<usize>,
        /// Write the lines to this file instead of standard output, with progress.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// With --request: the records as JSON (the log itself is always JSON lines).
        #[arg(long)]
        json: bool,
    },
    /// Trigger firings, newest first: cause, status (running, waiting for another process's
    /// run, coalesced, succeeded, failed) and what came of it.
    Firings {
        /// One trigger's only.
        #[arg(long)]
        trigger: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Run monitoring passes: join labels, close windows, judge rules, decide canaries. Where
    /// a server or agent holds the store's `monitor` lease, `--once` says so and exits 1, and
    /// a continuous run waits to take the lease over.
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

pub async fn run(cmd: MonitorCommand, project: &Option<PathBuf>, quiet: bool) -> CliResult {
    let p = open_project(project).await?;
    match cmd {
        MonitorCommand::Log {
            model,
            request,
            limit,
            output,
            json,
        } => {
            if let Some(id) = request {
                return request_log(&p, &model, &id, json).await;
            }
            write_log(&p, &model, limit, output.as_deref(), quiet).await?;
        }
        MonitorCommand::Firings {
            trigger,
            limit,
            json,
        } => {
            let firings = p
                .meta
                .firings(trigger.as_deref(), limit.max(1))
                .await
                .map_err(gyre_ops::OpsError::from)?;
            if json {
                print_json(&firings);
                return Ok(());
            }
            let rows = firings
                .iter()
                .map(|f| {
                    vec![
                        f.id.to_string(),
                        time(f.ts_ms),
                        f.trigger.clone(),
                        f.status.clone(),
                        f.cause.clone(),
                        f.detail.clone(),
                    ]
                })
                .collect();
            out!(
                "{}",
                table(
                    &["id", "at", "trigger", "status", "cause", "detail"],
                    rows,
                    &["id"]
                )
            );
        }
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
            let mut holding = false;
            loop {
                // One process judges a store's windows: a server or agent may hold the lease.
                let now = gyre_ops::runs::now_ms();
                let lease = gyre_ops::team::MONITOR;
                if gyre_ops::team::hold(&p, lease, now, &mut holding).await? {
                    monitor = p.monitor().await?;
                }
                if !holding {
                    let who = gyre_ops::team::holder_of(&p, lease, now)
                        .await?
                        .unwrap_or_else(|| "another process".into());
                    if once {
                        return Err(crate::Failure::Error(gyre_ops::OpsError::Conflict(
                            format!(
                                "{who} runs this store's monitoring passes (it holds the `{lease}` \
                             lease); its passes judge these windows"
                            ),
                        )));
                    }
                    tokio::time::sleep(Duration::from_secs_f64(every.max(0.1))).await;
                    continue;
                }
                let report = monitor.pass(&p, now).await?;
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
                    // A server starting now need not wait for the lease to expire.
                    p.meta
                        .release_lease(lease, gyre_ops::team::holder())
                        .await
                        .map_err(gyre_ops::OpsError::from)?;
                    break;
                }
                tokio::time::sleep(Duration::from_secs_f64(every.max(0.1))).await;
            }
        }
    }
    Ok(())
}

/// One logged record as a JSON line: its inputs and output as JSON, not as strings. Inputs
/// logged as a list in the signature's order are named by `names` (the version's inputs)
/// when the counts agree, in that order.
fn log_line(r: &gyre_store::PredictionRecord, names: Option<&[String]>) -> String {
    use serde_json::Value;
    let json = |text: &str| {
        serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_string()))
    };
    let inputs = match (json(&r.inputs), names) {
        (Value::Array(values), Some(names)) if values.len() == names.len() => {
            // Written by hand to keep the signature's order (serde_json's maps sort keys).
            let fields: Vec<String> = names
                .iter()
                .zip(&values)
                .map(|(n, v)| format!("{}:{v}", Value::String(n.clone())))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        (other, _) => other.to_string(),
    };
    format!(
        "{{\"request_id\":{},\"row\":{},\"role\":{},\"ts_ms\":{},\"model\":{},\"version\":{},\"inputs\":{inputs},\"output\":{}}}",
        Value::String(r.request_id.clone()),
        r.row_index,
        Value::String(r.role.clone()),
        r.ts_ms,
        Value::String(r.model.clone()),
        r.version,
        json(&r.output),
    )
}

/// The input names of each version of a model, loaded once each (None when the version is
/// gone from the registry).
struct Names<'p> {
    p: &'p gyre_ops::Project,
    model: &'p str,
    known: std::collections::HashMap<i64, Option<Vec<String>>>,
}

impl<'p> Names<'p> {
    fn new(p: &'p gyre_ops::Project, model: &'p str) -> Self {
        Names {
            p,
            model,
            known: Default::default(),
        }
    }

    async fn of(&mut self, version: i64) -> Option<&[String]> {
        if !self.known.contains_key(&version) {
            let names = self
                .p
                .registered_model(&format!("{}@{version}", self.model))
                .await
                .ok()
                .map(|(_, m)| {
                    m.model
                        .signature
                        .inputs
                        .iter()
                        .map(|c| c.name.clone())
                        .collect()
                });
            self.known.insert(version, names);
        }
        self.known.get(&version).and_then(|n| n.as_deref())
    }
}

/// `gyre monitor log MODEL`: the whole log (or `limit` records) as JSON lines, page by page.
async fn write_log(
    p: &gyre_ops::Project,
    model: &str,
    limit: Option<usize>,
    output: Option<&std::path::Path>,
    quiet: bool,
) -> CliResult {
    use gyre_ops::Progress as _;
    use std::io::Write as _;
    let io = |what: String| {
        move |source| {
            crate::Failure::Error(gyre_ops::OpsError::Io {
                context: what,
                source,
            })
        }
    };
    let mut sink: Box<dyn std::io::Write> = match output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(io(format!("creating {}", path.display())))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut names = Names::new(p, model);
    let bars = crate::progress::Bars::new(quiet || output.is_none());
    bars.start("log", 0);
    let (mut after, mut written) = (0, 0usize);
    let limit = limit.unwrap_or(usize::MAX);
    'pages: loop {
        let (page, next) = p.meta.prediction_page(model, after, 4096).await?;
        for r in &page {
            if written == limit {
                break 'pages;
            }
            let line = log_line(r, names.of(r.version).await);
            // A closed pipe (`| head`) ends the output quietly.
            if let Err(e) = writeln!(sink, "{line}") {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(());
                }
                return Err(io("writing the log".into())(e));
            }
            written += 1;
        }
        bars.advance(page.len() as u64);
        match next {
            Some(n) => after = n,
            None => break,
        }
    }
    bars.finish();
    if let Err(e) = sink.flush()
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(io("writing the log".into())(e));
    }
    if let Some(path) = output {
        gyre_ops::note!("{written} records of {model} written to {}", path.display());
    }
    Ok(())
}

/// `gyre monitor log MODEL --request ID`: one request's records.
async fn request_log(p: &gyre_ops::Project, model: &str, id: &str, json: bool) -> CliResult {
    let mut records = p.meta.predictions_of(id).await?;
    records.retain(|r| r.model == model);
    if json {
        let mut names = Names::new(p, model);
        let mut lines: Vec<serde_json::Value> = Vec::new();
        for r in &records {
            let line = log_line(r, names.of(r.version).await);
            lines.push(serde_json::from_str(&line).expect("a line is JSON"));
        }
        print_json(&lines);
        return Ok(());
    }
    if records.is_empty() {
        return Err(crate::Failure::Error(gyre_ops::OpsError::NotFound(
            format!("no prediction of {model} is logged for request `{id}`"),
        )));
    }
    let rows = records
        .iter()
        .map(|r| {
            vec![
                r.row_index.to_string(),
                r.role.clone(),
                format!("{}@{}", r.model, r.version),
                time(r.ts_ms),
                r.output.clone(),
                r.inputs.clone(),
            ]
        })
        .collect();
    out!("Request {id}:");
    out!(
        "{}",
        table(
            &["row", "role", "version", "time", "output", "inputs"],
            rows,
            &["row"]
        )
    );
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
