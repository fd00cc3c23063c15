//! Self-contained HTML reports (no scripts, no external assets): a page a person would rather
//! look at than a table.

use gyre_data::ValidationReport;
use gyre_ops::validation::ValidateReport;
use std::fmt::Write;

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}\
th{background:#f4f4f4}.error{color:#b00020;font-weight:600}.warning{color:#a05a00;font-weight:600}.ok{color:#1b7f3a;font-weight:600}\
.col{display:inline-block;margin:0 1.5em 1.5em 0;vertical-align:top}.col h3{margin:.2em 0;font-size:15px}small{color:#666}";

pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n",
        esc(title)
    )
}

/// Bars as an SVG: `bars` are (label, count, in_range) in order.
fn svg_bars(bars: &[(String, u64, bool)], width: usize) -> String {
    let h = 120usize;
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let w = (width / bars.len().max(1)).max(2);
    let mut s = format!(
        "<svg width=\"{}\" height=\"{}\" role=\"img\">",
        w * bars.len(),
        h + 2
    );
    for (i, (label, count, ok)) in bars.iter().enumerate() {
        let bh = ((*count as f64 / max as f64) * h as f64).round() as usize;
        let _ = write!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{}: {}</title></rect>",
            i * w,
            h - bh,
            w.saturating_sub(1),
            bh.max(usize::from(*count > 0)),
            if *ok { "#4a78c2" } else { "#d0342c" },
            esc(label),
            count
        );
    }
    s.push_str("</svg>");
    s
}

pub fn validation(r: &ValidateReport) -> String {
    let v: &ValidationReport = &r.report;
    let mut b = String::new();
    let verdict = if v.errors() > 0 {
        format!("<span class=\"error\">{} errors</span>", v.errors())
    } else {
        "<span class=\"ok\">no errors</span>".into()
    };
    let _ = write!(
        b,
        "<h1>Validation of {}</h1><p>{} rows checked against <code>{}</code>: {verdict}, {} warnings.</p>",
        esc(&r.target),
        v.rows,
        esc(&r.schema),
        v.warnings()
    );
    if !v.anomalies.is_empty() {
        b.push_str("<h2>Anomalies</h2><table><tr><th>column</th><th>rule</th><th>severity</th><th>expected</th><th>found</th><th>examples (row: value)</th></tr>");
        for a in &v.anomalies {
            let examples: Vec<String> = a
                .examples
                .iter()
                .map(|e| {
                    let file = if e.file.is_empty() {
                        String::new()
                    } else {
                        format!("{} ", e.file)
                    };
                    format!(
                        "{}{}: {}",
                        esc(&file),
                        e.row,
                        esc(&if e.value.is_empty() {
                            "<missing>".into()
                        } else {
                            e.value.clone()
                        })
                    )
                })
                .collect();
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(a.column.as_deref().unwrap_or("(dataset)")),
                a.rule,
                a.severity,
                a.severity,
                esc(&a.expected),
                esc(&a.found),
                examples.join("<br>")
            );
        }
        b.push_str("</table>");
    }
    b.push_str("<h2>Columns</h2><p><small>Numeric columns: values in 20 bins across the expected range; red bars are values below or above it. Categorical columns: the most frequent values; red ones are not allowed.</small></p>");
    for c in &v.columns {
        let _ = write!(
            b,
            "<div class=\"col\"><h3>{}</h3><small>{} · {} values · {} missing</small><br>",
            esc(&c.name),
            c.dtype,
            c.values,
            c.nulls
        );
        if let Some(h) = &c.histogram {
            let mut bars = vec![(format!("below {}", h.min), h.below, h.below == 0)];
            let step = (h.max - h.min) / h.counts.len() as f64;
            for (i, &n) in h.counts.iter().enumerate() {
                bars.push((
                    format!(
                        "{:.4} to {:.4}",
                        h.min + step * i as f64,
                        h.min + step * (i + 1) as f64
                    ),
                    n,
                    true,
                ));
            }
            bars.push((format!("above {}", h.max), h.above, h.above == 0));
            b.push_str(&svg_bars(&bars, 264));
            let _ = write!(b, "<br><small>expected {} to {}</small>", h.min, h.max);
        } else if !c.values_seen.is_empty() {
            b.push_str(&svg_bars(&c.values_seen, 264));
            b.push_str("<table>");
            for (value, n, ok) in c.values_seen.iter().take(12) {
                let _ = write!(
                    b,
                    "<tr><td class=\"{}\">{}</td><td>{n}</td></tr>",
                    if *ok { "" } else { "error" },
                    esc(value)
                );
            }
            b.push_str("</table>");
        }
        b.push_str("</div>");
    }
    page(&format!("gyre: validation of {}", r.target), &b)
}

/// Two series per bin: reference (blue) and current (orange), side by side.
fn svg_pair(labels: &[String], a: &[f64], b: &[f64], width: usize) -> String {
    let h = 120usize;
    let max = a.iter().chain(b).cloned().fold(0.0f64, f64::max).max(1e-12);
    let n = labels.len().max(1);
    let w = (width / n).max(4);
    let mut s = format!(
        "<svg width=\"{}\" height=\"{}\" role=\"img\">",
        w * n,
        h + 2
    );
    for (i, label) in labels.iter().enumerate() {
        for (k, (v, color, who)) in [(a[i], "#4a78c2", "reference"), (b[i], "#e8892b", "current")]
            .into_iter()
            .enumerate()
        {
            let bh = ((v / max) * h as f64).round() as usize;
            let _ = write!(
                s,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{color}\" fill-opacity=\"0.85\"><title>{}: {who} {:.2}%</title></rect>",
                i * w + k * (w / 2),
                h - bh,
                (w / 2).saturating_sub(1).max(1),
                bh.max(usize::from(v > 0.0)),
                esc(label),
                v * 100.0
            );
        }
    }
    s.push_str("</svg>");
    s
}

fn fmt_opt(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_infinite() => "∞".into(),
        Some(x) if x != 0.0 && x.abs() < 1e-4 => format!("{x:.2e}"),
        Some(x) => format!("{x:.4}"),
        None => "–".into(),
    }
}

pub fn drift(r: &gyre_ops::drift::DriftOpsReport) -> String {
    let d = &r.report;
    let mut b = String::new();
    let verdict = if d.dataset_drift {
        "<span class=\"error\">dataset drift</span>"
    } else {
        "<span class=\"ok\">no dataset drift</span>"
    };
    let _ = write!(
        b,
        "<h1>Drift: {} → {}</h1><p>{} reference rows, {} current rows ({} mode). {} of {} columns drifted ({:.0}%; the dataset drifts at {:.0}%): {verdict}.</p>",
        esc(&r.reference),
        esc(&r.current),
        d.reference_rows,
        d.current_rows,
        r.mode,
        d.drifted,
        d.judged,
        d.share * 100.0,
        d.drift_share * 100.0
    );
    b.push_str("<table><tr><th>column</th><th>type</th><th>method</th><th>score</th><th>threshold</th><th>drift</th><th>KS p</th><th>PSI</th><th>Wasserstein (normed)</th><th>χ² p</th><th>Jensen–Shannon</th><th>notes</th></tr>");
    for c in &d.columns {
        let (class, word) = match c.drifted {
            Some(true) => ("error", "drift"),
            Some(false) => ("ok", "no"),
            None => ("warning", "n/a"),
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{word}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.name),
            c.kind
                .map(|k| format!("{k:?}").to_lowercase())
                .unwrap_or_default(),
            c.method.map(|m| m.to_string()).unwrap_or_default(),
            fmt_opt(c.score),
            if c.threshold.is_nan() {
                "–".into()
            } else {
                format!("{}", c.threshold)
            },
            fmt_opt(c.ks.map(|k| k.pvalue)),
            fmt_opt(c.psi),
            fmt_opt(c.wasserstein_normed),
            fmt_opt(c.chisquare.map(|x| x.pvalue)),
            fmt_opt(c.jensenshannon),
            esc(&c.notes.join("; "))
        );
    }
    b.push_str("</table><h2>Distributions</h2><p><small>Blue: reference; orange: current. Numeric columns use the reference's bins, with one bin below and one above its range.</small></p>");
    for c in &d.columns {
        let Some(bars) = &c.bars else { continue };
        let _ = write!(b, "<div class=\"col\"><h3>{}</h3>", esc(&c.name));
        let n = bars.labels.len().min(40);
        b.push_str(&svg_pair(
            &bars.labels[..n],
            &bars.reference[..n],
            &bars.current[..n],
            300,
        ));
        b.push_str("</div>");
    }
    page(&format!("gyre: drift {} → {}", r.reference, r.current), &b)
}
