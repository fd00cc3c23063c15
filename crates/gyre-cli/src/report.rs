//! `gyre report delivery`.

use crate::render::{table, time_span};
use crate::{CliResult, open_project, print_json};
use clap::Subcommand;
use gyre_ops::delivery::{DeliveryReport, Durations};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ReportCommand {
    /// The four delivery (DORA) metrics of a model, from the registry's audit trail and the
    /// monitor's events: deployment frequency, lead time from a change (data or code) to
    /// production, change failure rate (promotions rolled back), time to recover from a breach.
    Delivery {
        /// The registered model (default: `[serve] model`).
        #[arg(long)]
        model: Option<String>,
        /// Only the last N days (`30d`), weeks (`8w`) or hours (`12h`); default: since the
        /// model's first alias move.
        #[arg(long, value_name = "SPAN")]
        since: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn hours(d: &Durations) -> String {
    match d.median_ms {
        Some(m) => format!(
            "{:.1} h median, {:.1} h mean (n = {})",
            m / 3.6e6,
            d.mean_ms.unwrap_or(m) / 3.6e6,
            d.n
        ),
        None => "–".into(),
    }
}

fn print(r: &DeliveryReport) {
    let rows = vec![
        vec![
            "deployment frequency".into(),
            format!(
                "{:.2} a week ({} promotions of champion)",
                r.deployments_per_week, r.deployments
            ),
        ],
        vec![
            "lead time (change → production)".into(),
            hours(&r.lead_time),
        ],
        vec![
            "change failure rate".into(),
            match r.change_failure_rate {
                Some(x) => format!("{:.0} % (promotions later rolled back)", 100.0 * x),
                None => "–".into(),
            },
        ],
        vec![
            "time to recover (breach → recovery)".into(),
            format!(
                "{}{}",
                hours(&r.time_to_recover),
                if r.open_breaches > 0 {
                    format!("; {} breach(es) open", r.open_breaches)
                } else {
                    String::new()
                }
            ),
        ],
        vec![
            "caught by the canary".into(),
            format!("{} candidate(s) rolled back", r.canary_rollbacks),
        ],
    ];
    out!("Delivery of {}\n", r.model);
    out!("{}", table(&["metric", "value"], rows, &[]));
}

pub async fn run(cmd: ReportCommand, project: &Option<PathBuf>) -> CliResult {
    match cmd {
        ReportCommand::Delivery { model, since, json } => {
            let p = open_project(project).await?;
            let now = gyre_ops::runs::now_ms();
            let since = since
                .as_deref()
                .map(|s| time_span("--since", s))
                .transpose()?
                .map(|s| now - s);
            let r = p.delivery_report(model.as_deref(), since, now).await?;
            if json {
                print_json(&r);
            } else {
                print(&r);
            }
            Ok(())
        }
    }
}
