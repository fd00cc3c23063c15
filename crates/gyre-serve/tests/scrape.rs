//! `/metrics` as scrapers read it: the classic text format by default and OpenMetrics when
//! `Accept` prefers it, each labelled as what it is, and each read back by the Python
//! `prometheus_client` parser for that format (when `GYRE_TEST_MLFLOW_PYTHON` or `python3`
//! has it; `.ci/run` installs it).

mod common;

use common::{ROW, project, python_with, raw, start};
use std::net::SocketAddr;
use std::process::Command;

/// Prometheus 2.x's scrape header.
const PROMETHEUS: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

fn scrape(addr: SocketAddr, accept: Option<&str>) -> (String, String) {
    let mut req = ureq::get(&format!("http://{addr}/metrics"));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let mut resp = req.call().unwrap();
    let kind = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (kind, resp.body_mut().read_to_string().unwrap())
}

/// The summed value of `gyre_requests_total` samples with status ok, as the Python parser
/// of `format` ("classic" or "openmetrics") reads `text`.
fn parsed_ok_requests(python: &str, format: &str, text: &str) -> f64 {
    let script = r#"
import sys
fmt, text = sys.argv[1], sys.stdin.read()
if fmt == "classic":
    from prometheus_client.parser import text_string_to_metric_families
else:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
total = 0.0
types = {}
for family in text_string_to_metric_families(text):
    types[family.name] = family.type
    for s in family.samples:
        if s.name == "gyre_requests_total" and s.labels.get("status") == "ok":
            total += s.value
assert types.get("gyre_requests") == "counter", types
print(total)
"#;
    let mut child = Command::new(python)
        .args(["-c", script, format])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the {format} parser refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_negotiated_and_parse_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(dir.path()).await;
    let (addr, stop) = start(p, |_| {}).await;
    let json = [("content-type", "application/json")];
    let (classic_kind, classic, open_kind, open) = tokio::task::block_in_place(|| {
        for _ in 0..2 {
            assert_eq!(raw(addr, "POST", "/invocations", &json, ROW).0, 200);
        }
        let (ck, c) = scrape(addr, None);
        let (ok, o) = scrape(addr, Some(PROMETHEUS));
        (ck, c, ok, o)
    });
    assert_eq!(classic_kind, "text/plain; version=0.0.4; charset=utf-8");
    assert!(
        classic.contains("# TYPE gyre_requests_total counter"),
        "{classic}"
    );
    assert!(!classic.contains("# EOF"));
    assert_eq!(
        open_kind,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(open.contains("# TYPE gyre_requests counter"), "{open}");
    assert!(open.ends_with("# EOF\n"));
    match python_with("prometheus_client") {
        Some(py) => {
            assert_eq!(parsed_ok_requests(&py, "classic", &classic), 2.0);
            assert_eq!(parsed_ok_requests(&py, "openmetrics", &open), 2.0);
        }
        None => eprintln!(
            "no Python with prometheus_client (set GYRE_TEST_MLFLOW_PYTHON): parsers not run"
        ),
    }
    let _ = stop.send(());
}
