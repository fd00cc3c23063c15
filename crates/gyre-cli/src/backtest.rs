//! `gyre backtest`: replay a dataset through the loop; a table, JSON, and an SVG chart.

use crate::render::{num, table};
use crate::{CliResult, open_project, print_json};
use clap::Args;
use gyre_ops::backtest::{BacktestOptions, BacktestReport, Span};
use std::path::PathBuf;

/// Replay a dataset through the loop as gyre.toml configures it ([model], [monitor], [loop],
/// [gate], [[trigger]]), with late labels on an injected clock, next to never retraining and
/// retraining on a fixed schedule.
#[derive(Args)]
pub struct BacktestArgs {
    /// A dataset version (`NAME[@V]`) or a CSV or Parquet file.
    data: String,
    /// A column with each row's time (RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]`, or seconds since
    /// 1970); rows are replayed in its order. Default: file order.
    #[arg(long)]
    time: Option<String>,
    /// Without --time: the time between rows (`30m`, `1h`, `1d`).
    #[arg(long, default_value = "1m")]
    row_time: String,
    /// Labels arrive this many rows (`48`) or this long (`1d`) after their prediction.
    #[arg(long, default_value = "0")]
    label_delay: String,
    /// Rows the first model trains on (default: a tenth of the data, at least 200).
    #[arg(long)]
    train_rows: Option<usize>,
    /// Rows to replay (default: all after the training rows).
    #[arg(long)]
    rows: Option<usize>,
    /// Rows per reported window (default: [monitor] window.labels).
    #[arg(long)]
    window: Option<usize>,
    /// The fixed-schedule baseline retrains every this many rows (`2016`) or this long
    /// (`6w`). Default: four windows.
    #[arg(long)]
    schedule_every: Option<String>,
    /// Write the chart here.
    #[arg(long, default_value = "gyre-backtest.svg")]
    svg: PathBuf,
    /// Print the windows of every strategy too.
    #[arg(long)]
    windows: bool,
    #[arg(long)]
    json: bool,
}

fn span(flag: &str, text: &str) -> Result<Span, gyre_ops::OpsError> {
    text.parse()
        .map_err(|e| gyre_ops::OpsError::Invalid(format!("--{flag}: {e}")))
}

pub async fn run(a: BacktestArgs, project: &Option<PathBuf>, quiet: bool) -> CliResult {
    let p = open_project(project).await?;
    let row_ms = match span("row-time", &a.row_time)? {
        Span::Ms(ms) if ms > 0 => ms,
        _ => {
            return Err(gyre_ops::OpsError::Invalid(format!(
                "--row-time `{}`: a positive time such as 30m or 1h",
                a.row_time
            ))
            .into());
        }
    };
    let opts = BacktestOptions {
        data: a.data.clone(),
        time: a.time.clone(),
        row_ms,
        label_delay: span("label-delay", &a.label_delay)?,
        train_rows: a.train_rows,
        rows: a.rows,
        window: a.window,
        schedule: a
            .schedule_every
            .as_deref()
            .map(|s| span("schedule-every", s))
            .transpose()?,
    };
    let bars = crate::progress::Bars::new(quiet || a.json);
    let report = p.backtest(&opts, &bars).await?;
    let chart = svg(&report);
    std::fs::write(&a.svg, chart).map_err(gyre_ops::OpsError::io(format!(
        "writing {}",
        a.svg.display()
    )))?;
    if a.json {
        print_json(&report);
        return Ok(());
    }
    print(&report, a.windows);
    out!("Chart: {}", a.svg.display());
    if let Some(run) = &report.run {
        out!("Recorded as run {run} (`gyre runs show`, and the web UI's monitoring page)");
    }
    Ok(())
}

pub fn print(r: &BacktestReport, windows: bool) {
    let delay = match r.label_delay {
        Span::Rows(n) => format!("{n} rows"),
        Span::Ms(ms) => format!("{:.1} h", ms as f64 / 3_600_000.0),
    };
    out!(
        "{}: {} rows replayed after {} training rows, labels {delay} late, windows of {} rows ({:.1} s)\n",
        r.data,
        r.rows,
        r.train_rows,
        r.window,
        r.seconds
    );
    let metric = &r.metric;
    let names = [
        "precision",
        "recall",
        "f1",
        "accuracy",
        "roc_auc",
        "rmse",
        "mae",
    ];
    let shown: Vec<&str> = names
        .iter()
        .copied()
        .filter(|m| r.strategies.iter().any(|s| s.overall.contains_key(*m)))
        .collect();
    let mut headers = vec!["strategy".to_string(), format!("mean {metric}/window")];
    headers.extend(shown.iter().map(|m| m.to_string()));
    headers.extend(["retrains", "promotions", "rollbacks"].map(String::from));
    let rows: Vec<Vec<String>> = r
        .strategies
        .iter()
        .map(|s| {
            let mut row = vec![s.name.clone(), fmt(s.mean)];
            row.extend(
                shown
                    .iter()
                    .map(|m| s.overall.get(*m).map_or("-".into(), |v| fmt(*v))),
            );
            row.extend([
                s.retrains.to_string(),
                s.promotions.to_string(),
                s.rollbacks.to_string(),
            ]);
            row
        })
        .collect();
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let right: Vec<&str> = header_refs[1..].to_vec();
    out!("{}", table(&header_refs, rows, &right));
    if let Some(p) = &r.positive {
        out!("(overall figures over every replayed row; positive class `{p}`)");
    }
    if windows {
        let mut headers = vec!["row".to_string()];
        headers.extend(r.strategies.iter().map(|s| s.name.clone()));
        let n = r
            .strategies
            .iter()
            .map(|s| s.windows.len())
            .max()
            .unwrap_or(0);
        let rows: Vec<Vec<String>> = (0..n)
            .map(|k| {
                let mut row = vec![
                    r.strategies[0]
                        .windows
                        .get(k)
                        .map_or(String::new(), |w| w.row.to_string()),
                ];
                row.extend(r.strategies.iter().map(|s| {
                    s.windows
                        .get(k)
                        .and_then(|w| w.figures.get(metric))
                        .map_or("-".into(), |v| fmt(*v))
                }));
                row
            })
            .collect();
        let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        out!("\n{metric} per window:");
        out!("{}", table(&header_refs, rows, &header_refs));
    }
    if !r.marks.is_empty() {
        out!("\nWhat the loop did (row = replayed rows):");
        let rows: Vec<Vec<String>> = r
            .marks
            .iter()
            .filter(|m| m.kind != "recover")
            .map(|m| vec![m.row.to_string(), m.kind.clone(), m.detail.clone()])
            .collect();
        out!("{}", table(&["row", "event", "detail"], rows, &["row"]));
    }
    for n in &r.notes {
        out!("note: {n}");
    }
}

fn fmt(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        num(x)
    }
}

/// Line colours, then marker colours: no marker shares a colour with a line.
const LINES: [&str; 4] = ["#1f5fbf", "#8c8c8c", "#b58900", "#6a3d9a"];
const MARKS: [(&str, &str, &str); 4] = [
    ("retrain", "#2ca02c", "triangle"),
    ("promote", "#17becf", "circle"),
    ("rollback", "#d62728", "cross"),
    ("breach", "#ff7f0e", "diamond"),
];

/// The chart: the metric per window for each strategy, with the means in the legend, the
/// loop's retrains, promotions, rollbacks and breaches as markers, and ticks on both axes.
pub fn svg(r: &BacktestReport) -> String {
    use std::fmt::Write;
    let (w, h) = (980.0, 420.0);
    let (left, right, top, bottom) = (60.0, 20.0, 40.0, 110.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let metric = &r.metric;
    let values: Vec<f64> = r
        .strategies
        .iter()
        .flat_map(|s| {
            s.windows
                .iter()
                .filter_map(|p| p.figures.get(metric).copied())
        })
        .filter(|v| v.is_finite())
        .collect();
    let bounded = !gyre_ops::monitor::lower_is_better(metric) || metric == "log_loss";
    let (lo, hi) = if bounded && values.iter().all(|v| (0.0..=1.0).contains(v)) {
        (0.0, 1.0)
    } else {
        let lo = values
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
            .min(0.0);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo, if hi > lo { hi * 1.05 } else { lo + 1.0 })
    };
    let total = r.rows.max(1) as f64;
    let x = |row: usize| left + pw * row as f64 / total;
    let y = |v: f64| top + ph * (1.0 - ((v - lo) / (hi - lo)).clamp(0.0, 1.0));
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="{left}" y="18" font-size="14">{} per window of {} rows: {}</text>
<text x="{left}" y="32" fill="#555">{} rows replayed after {} training rows; labels {} late</text>
"##,
        esc(metric),
        r.window,
        esc(&r.data),
        r.rows,
        r.train_rows,
        match r.label_delay {
            Span::Rows(n) => format!("{n} rows"),
            Span::Ms(ms) => format!("{:.1} h", ms as f64 / 3_600_000.0),
        }
    );
    // Axes with ticks.
    for k in 0..=5 {
        let v = lo + (hi - lo) * k as f64 / 5.0;
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#eee"/><line x1="{}" x2="{left}" y1="{yy:.1}" y2="{yy:.1}" stroke="#333"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + pw,
            left - 4.0,
            left - 6.0,
            yy + 4.0,
            tick(v)
        );
    }
    let step = nice_step(total / 8.0);
    let mut t = 0.0;
    while t <= total {
        let xx = x(t as usize);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{}" y2="{}" stroke="#333"/><text x="{xx:.1}" y="{}" text-anchor="middle">{}</text>"##,
            top + ph,
            top + ph + 4.0,
            top + ph + 16.0,
            t as usize
        );
        t += step;
    }
    let _ = writeln!(
        s,
        r##"<line x1="{left}" x2="{left}" y1="{top}" y2="{}" stroke="#333"/><line x1="{left}" x2="{}" y1="{}" y2="{}" stroke="#333"/><text x="{}" y="{}" text-anchor="middle">replayed rows</text><text transform="translate(16 {}) rotate(-90)" text-anchor="middle">{}</text>"##,
        top + ph,
        left + pw,
        top + ph,
        top + ph,
        left + pw / 2.0,
        top + ph + 32.0,
        top + ph / 2.0,
        esc(metric)
    );
    // Lines, the loop's drawn last so it is on top.
    for (i, st) in r.strategies.iter().enumerate().rev() {
        let color = LINES[i % LINES.len()];
        let pts: Vec<String> = st
            .windows
            .iter()
            .filter_map(|p| p.figures.get(metric).map(|v| (p.row, *v)))
            .filter(|(_, v)| v.is_finite())
            .map(|(row, v)| format!("{:.1},{:.1}", x(row), y(v)))
            .collect();
        let (width, dash) = if i == 0 {
            (2.5, "")
        } else {
            (1.5, r#" stroke-dasharray="6,4""#)
        };
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="{width}"{dash} points="{}"/>"#,
            pts.join(" ")
        );
    }
    // The loop's markers, on its line's top edge.
    for m in &r.marks {
        let Some((_, color, shape)) = MARKS.iter().find(|(k, _, _)| *k == m.kind) else {
            continue;
        };
        let (mx, my) = (
            x(m.row),
            top + 6.0 + 9.0 * MARKS.iter().position(|(k, _, _)| *k == m.kind).unwrap_or(0) as f64,
        );
        let _ = writeln!(
            s,
            r#"<g><title>row {}: {}</title>{}</g>"#,
            m.row,
            esc(&m.detail),
            marker(shape, mx, my, color)
        );
    }
    // Legend: lines with their means, then markers.
    let ly = top + ph + 52.0;
    for (i, st) in r.strategies.iter().enumerate() {
        let lx = left + 300.0 * (i % 3) as f64;
        let yy = ly + 16.0 * (i / 3) as f64;
        let color = LINES[i % LINES.len()];
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" x2="{}" y1="{yy}" y2="{yy}" stroke="{color}" stroke-width="2.5"/><text x="{}" y="{}">{} (mean {})</text>"#,
            lx + 24.0,
            lx + 30.0,
            yy + 4.0,
            esc(&st.name),
            fmt(st.mean)
        );
    }
    let my = ly + 16.0 * r.strategies.len().div_ceil(3) as f64 + 6.0;
    for (i, (kind, color, shape)) in MARKS.iter().enumerate() {
        let count = r.marks.iter().filter(|m| m.kind == *kind).count();
        let lx = left + 160.0 * i as f64;
        let _ = writeln!(
            s,
            r#"{}<text x="{}" y="{}">{kind} ({count})</text>"#,
            marker(shape, lx + 6.0, my, color),
            lx + 16.0,
            my + 4.0
        );
    }
    s.push_str("</svg>\n");
    s
}

fn marker(shape: &str, x: f64, y: f64, color: &str) -> String {
    match shape {
        "triangle" => format!(
            r#"<path d="M{:.1},{:.1} L{:.1},{:.1} L{:.1},{:.1} Z" fill="{color}"/>"#,
            x,
            y - 5.0,
            x - 5.0,
            y + 4.0,
            x + 5.0,
            y + 4.0
        ),
        "circle" => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="4.5" fill="{color}"/>"#),
        "cross" => format!(
            r#"<path d="M{:.1},{:.1} L{:.1},{:.1} M{:.1},{:.1} L{:.1},{:.1}" stroke="{color}" stroke-width="2.5"/>"#,
            x - 4.0,
            y - 4.0,
            x + 4.0,
            y + 4.0,
            x - 4.0,
            y + 4.0,
            x + 4.0,
            y - 4.0
        ),
        _ => format!(
            r#"<path d="M{:.1},{:.1} L{:.1},{:.1} L{:.1},{:.1} L{:.1},{:.1} Z" fill="{color}"/>"#,
            x,
            y - 5.0,
            x + 5.0,
            y,
            x,
            y + 5.0,
            x - 5.0,
            y
        ),
    }
}

/// A round step near `raw` (1, 2 or 5 times a power of ten).
fn nice_step(raw: f64) -> f64 {
    let p = 10f64.powf(raw.max(1.0).log10().floor());
    let m = raw / p;
    p * if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    }
}

fn tick(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn esc(s: &str) -> String {
    crate::html::esc(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_tick_steps() {
        assert_eq!(nice_step(2560.0), 5000.0);
        assert_eq!(nice_step(1800.0), 2000.0);
        assert_eq!(nice_step(90.0), 100.0);
        assert_eq!(nice_step(0.3), 1.0);
    }
}
