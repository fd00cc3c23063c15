//! `/metrics` in the format the scraper asks for.
//!
//! prometheus_client writes OpenMetrics 1.0 only. Prometheus' classic text format (0.0.4)
//! differs in ways its parsers enforce: a counter's `# TYPE` and `# HELP` name the sample
//! (`gyre_requests_total`, where OpenMetrics names the family `gyre_requests`), there is no
//! `# EOF` or `# UNIT`, and `unknown` is `untyped`. No crate converts between the two, so
//! [`classic`] rewrites those lines; the samples themselves are the same in both.

/// The content type of each format.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether the `Accept` header prefers OpenMetrics to the classic text format: it names
/// `application/openmetrics-text` with a quality above zero and at least that of
/// `text/plain` (or of `*/*` when `text/plain` is not named). Prometheus sends both, the
/// OpenMetrics one first and higher; a browser or `curl` sends neither and gets text.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    let mut open = None::<f64>;
    let mut text = None::<f64>;
    let mut any = None::<f64>;
    for part in accept.split(',') {
        let mut fields = part.split(';').map(str::trim);
        let kind = fields.next().unwrap_or("").to_ascii_lowercase();
        let q = fields
            .filter_map(|f| f.strip_prefix("q="))
            .find_map(|q| q.parse::<f64>().ok())
            .unwrap_or(1.0);
        let slot = match kind.as_str() {
            "application/openmetrics-text" => &mut open,
            "text/plain" => &mut text,
            "*/*" => &mut any,
            _ => continue,
        };
        *slot = Some(slot.map_or(q, |s: f64| s.max(q)));
    }
    match (open, text.or(any)) {
        (Some(o), Some(t)) => o > 0.0 && o >= t,
        (Some(o), None) => o > 0.0,
        (None, _) => false,
    }
}

/// OpenMetrics text as Prometheus' classic text format.
pub fn classic(openmetrics: &str) -> String {
    let mut counters: Vec<&str> = Vec::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some((name, "counter")) = rest.split_once(' ')
        {
            counters.push(name);
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = line
            .strip_prefix("# TYPE ")
            .map(|r| ("TYPE", r))
            .or_else(|| line.strip_prefix("# HELP ").map(|r| ("HELP", r)));
        match meta {
            Some((kind, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let name = if counters.contains(&name) && !name.ends_with("_total") {
                    format!("{name}_total")
                } else {
                    name.to_string()
                };
                let tail = if kind == "TYPE" && tail == "unknown" {
                    "untyped"
                } else {
                    tail
                };
                out.push_str(&format!("# {kind} {name} {tail}\n"));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_the_accept_header() {
        // Prometheus 2.x's scrape header.
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        )));
        // Prometheus with scrape_protocols preferring text, curl, browsers, no header.
        assert!(!wants_openmetrics(Some(
            "text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4"
        )));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(Some(
            "text/html,application/xhtml+xml,*/*;q=0.8"
        )));
        assert!(!wants_openmetrics(None));
        assert!(!wants_openmetrics(Some("application/openmetrics-text;q=0")));
        assert!(wants_openmetrics(Some("application/openmetrics-text")));
    }

    #[test]
    fn counters_are_named_by_their_samples_in_the_classic_format() {
        let open = "# HELP gyre_requests Prediction requests.\n# TYPE gyre_requests counter\n\
                    gyre_requests_total{status=\"ok\"} 3\n# HELP up Up.\n# TYPE up gauge\nup 1\n\
                    # TYPE odd unknown\nodd 2\n# UNIT up seconds\n# EOF\n";
        assert_eq!(
            classic(open),
            "# HELP gyre_requests_total Prediction requests.\n# TYPE gyre_requests_total counter\n\
             gyre_requests_total{status=\"ok\"} 3\n# HELP up Up.\n# TYPE up gauge\nup 1\n\
             # TYPE odd untyped\nodd 2\n"
        );
    }
}
