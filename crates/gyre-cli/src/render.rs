//! Human output: aligned tables and number formats. Machine output is `--json`.

use comfy_table::{Cell, CellAlignment, ContentArrangement, Table, presets};

/// An aligned, borderless table. Columns named in `right` are right-aligned (numbers).
pub fn table(headers: &[&str], rows: Vec<Vec<String>>, right: &[&str]) -> String {
    let mut t = Table::new();
    t.load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    t.set_header(headers.iter().map(|h| Cell::new(h.to_uppercase())));
    for row in rows {
        t.add_row(row.into_iter().map(Cell::new));
    }
    for (i, h) in headers.iter().enumerate() {
        if right.contains(h)
            && let Some(col) = t.column_mut(i)
        {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    // Trim the padding the preset leaves at line ends.
    t.to_string()
        .lines()
        .map(|l| {
            l.trim_end()
                .strip_prefix(' ')
                .unwrap_or(l.trim_end())
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// 32561 -> "32,561".
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Bytes in binary units: "3.8 MiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A statistic, to 4 significant digits, without trailing zeros.
pub fn num(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x == x.trunc() && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let mag = x.abs().log10().floor() as i32;
    if !(-4..9).contains(&mag) {
        return format!("{x:.3e}");
    }
    let decimals = (3 - mag).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

pub fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// The first 12 digits of a hash.
pub fn short(hex: &str) -> &str {
    &hex[..12.min(hex.len())]
}

/// A time in milliseconds since the epoch, as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// A length of time given to a flag (`30m`, `24h`, `7d`, `8w`), in ms: the same spellings as
/// `gyre backtest` takes, without its row counts.
pub fn time_span(flag: &str, text: &str) -> Result<i64, gyre_ops::OpsError> {
    match text.parse::<gyre_ops::backtest::Span>() {
        Ok(gyre_ops::backtest::Span::Ms(ms)) => Ok(ms),
        _ => Err(gyre_ops::OpsError::Invalid(format!(
            "{flag} `{text}`: a time such as 30m, 24h, 7d or 8w"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(count(32561), "32,561");
        assert_eq!(count(100), "100");
        assert_eq!(bytes(3_974_305), "3.8 MiB");
        assert_eq!(num(38.58164675532078), "38.58");
        assert_eq!(num(0.0564), "0.0564");
        assert_eq!(num(189778.0), "189778");
        assert_eq!(num(1.5e-7), "1.500e-7");
    }
}
