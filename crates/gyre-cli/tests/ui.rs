//! The web UI in a real browser (headless Chromium through ChromeDriver) on a project made by
//! `gyre demo --dir`: sign in, filter and sort runs, compare two, zoom a long curve, look at
//! data, move an alias through the gate, read the monitoring chart and the pipeline. Each page
//! is saved as a screenshot under the test's temporary target folder.
//!
//! Skipped, with a notice, where Chromium and ChromeDriver are not installed; `.ci/run`
//! installs them and sets `GYRE_TEST_BROWSER=1`, which turns the skip into a failure.

mod common;
use common::browser::{self, Browser};
use common::server::Server;
use common::{Project, Run};
use serde_json::{Value, json};

fn demo_project() -> Project {
    let p = Project {
        dir: tempfile::tempdir().unwrap(),
        store_url: None,
        objects_url: None,
    };
    let r: Run = p
        .command(&[
            "demo",
            "--dir",
            p.root().to_str().unwrap(),
            "--rows",
            "3000",
            "--svg",
            p.root().join("demo.svg").to_str().unwrap(),
        ])
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // A version the gate never judged: another learner on the same data, registered by hand.
    let run = p.train_run(&["--set", "model.algorithm=decision_tree"]);
    p.ok(&["models", "register", "elec", &run]);
    // A backtest of the loop on the stream's next weeks, kept as a run for the monitoring
    // page.
    let svg = p.root().join("backtest.svg");
    let stream = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/elec2_first_half.csv");
    p.ok(&[
        "backtest",
        stream.to_str().unwrap(),
        "--train-rows",
        "2016",
        "--rows",
        "6000",
        "--label-delay",
        "48",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    // A second version of the data (the next 500 half-hours) and a schema to validate it.
    let text = std::fs::read_to_string(&stream).unwrap();
    let more: String = text
        .lines()
        .skip(1 + 2016)
        .take(500)
        .map(|l| format!("{l}\n"))
        .collect();
    let csv = p.root().join("elec.csv");
    let mut all = std::fs::read_to_string(&csv).unwrap();
    all.push_str(&more);
    std::fs::write(&csv, all).unwrap();
    p.ok(&["data", "add", "elec"]);
    p.ok(&["data", "schema", "elec"]);
    served_traffic(&p, &text);
    // Reads need a token here, so the page must sign in.
    p.append_spec("\n[serve.access]\nreads = \"token\"\n");
    p
}

/// Traffic windows for the drift and traffic panels: the champion served with drift and
/// error-rate rules, 300 rows of the stream asked for in three requests, until the monitor
/// has recorded them.
fn served_traffic(p: &Project, stream: &str) {
    let spec = std::fs::read_to_string(p.root().join("gyre.toml")).unwrap();
    let spec = spec.replace(
        "window = { labels = 500 }",
        "window = { labels = 500, traffic = 100 }\n\
         drift = { columns = [\"nswprice\", \"period\"] }\nmax_error_rate = 0.5",
    );
    std::fs::write(p.root().join("gyre.toml"), spec).unwrap();
    let s = Server::start(p, "elec", &[]);
    let rows: Vec<Value> = stream
        .lines()
        .skip(1 + 3000)
        .take(300)
        .map(|l| {
            let f: Vec<f64> = l
                .split(',')
                .skip(1)
                .take(7)
                .map(|x| x.parse().unwrap())
                .collect();
            json!(f)
        })
        .collect();
    for chunk in rows.chunks(100) {
        let body = json!({"dataframe_split": {
            "columns": ["day", "period", "nswprice", "nswdemand", "vicprice", "vicdemand", "transfer"],
            "data": chunk,
        }});
        let (status, v, _) = s.post("/invocations", "application/json", &body.to_string());
        assert_eq!(status, 200, "{v}");
    }
    let t0 = std::time::Instant::now();
    loop {
        let (status, text) = s.get("/api/monitor");
        assert_eq!(status, 200, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        let traffic = v["windows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["kind"] == "traffic")
            .count();
        if traffic >= 2 {
            break;
        }
        assert!(t0.elapsed().as_secs() < 30, "no traffic windows: {v}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    s.stop();
}

/// A run logged through the MLflow API with a 20,000-step curve (and a spike the cut-down
/// series must keep).
fn long_run(s: &Server) -> String {
    let (status, v, _) = s.post(
        "/api/2.0/mlflow/runs/create",
        "application/json",
        &json!({"experiment_id": "0", "run_name": "long-curve", "start_time": 1_700_000_000_000i64})
            .to_string(),
    );
    assert_eq!(status, 200, "{v}");
    let id = v["run"]["info"]["run_id"].as_str().unwrap().to_string();
    for chunk in 0..20 {
        let metrics: Vec<Value> = (0..1000)
            .map(|i| {
                let step = chunk * 1000 + i;
                let value = if step == 12_345 {
                    9.0
                } else {
                    1.0 / (1.0 + step as f64 / 1000.0)
                };
                json!({"key": "loss", "value": value, "timestamp": 1_700_000_000_000i64 + step, "step": step})
            })
            .collect();
        let (status, v, _) = s.post(
            "/api/2.0/mlflow/runs/log-batch",
            "application/json",
            &json!({"run_id": id, "metrics": metrics, "params": if chunk == 0 { json!([{"key": "lr", "value": "0.1"}]) } else { json!([]) }}).to_string(),
        );
        assert_eq!(status, 200, "{v}");
    }
    id
}

fn sign_in(b: &Browser, base: &str, token: &str) {
    b.goto(&format!("{base}/ui/#/login"));
    let field = b.find("#token");
    b.fill(&field, token);
    b.click(&b.find("form.login button[type=submit]"));
    b.wait("the runs page after signing in", || {
        b.url().contains("#/runs").then_some(())
    });
}

/// In-page checks of accessibility basics: every field has a label, and text keeps at least
/// 4.5:1 contrast against the background it is drawn on.
const A11Y: &str = r#"
const problems = [];
for (const el of document.querySelectorAll('input, select, textarea')) {
  if (el.type === 'hidden') continue;
  const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`)) || el.getAttribute('aria-label') || el.closest('label');
  if (!labelled) problems.push(`no label: ${el.outerHTML.slice(0, 80)}`);
}
const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
const lum = ([r, g, b]) => {
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const background = (el) => {
  for (let e = el; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
for (const el of document.querySelectorAll('p, td, th, a, button, label, dt, dd, h1, h2, h3, span, li')) {
  if (!el.offsetParent || !el.textContent.trim() || el.disabled) continue;
  const fg = rgb(getComputedStyle(el).color).slice(0, 3);
  const [a, b] = [lum(fg), lum(background(el))].sort((x, y) => y - x);
  const ratio = (a + 0.05) / (b + 0.05);
  if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)}: ${el.tagName} "${el.textContent.trim().slice(0, 30)}"`);
}
return problems;
"#;

fn accessible(b: &Browser, page: &str) {
    let problems = b.js(A11Y, json!([]));
    assert_eq!(problems, json!([]), "accessibility on {page}");
}

#[test]
fn the_ui_shows_the_demo_project_in_a_real_browser() {
    let Some((driver, chrome)) = browser::find() else {
        assert!(
            std::env::var_os("GYRE_TEST_BROWSER").is_none(),
            "GYRE_TEST_BROWSER is set but chromium and chromedriver are not installed"
        );
        eprintln!(
            "skipping the browser test: install chromium and chromium-driver (Debian), or set \
             GYRE_TEST_CHROMIUM and GYRE_TEST_CHROMEDRIVER"
        );
        return;
    };
    let p = demo_project();
    let viewer = p.token("viewer", "ada");
    let editor = p.token("editor", "grace");
    // `gyre ui` serves what `gyre server` does; --no-open starts no browser of its own.
    let mut s = Server::spawn(&p, &["ui", "--no-open", "--port", "0"], &[]);
    s.base = s.base.trim_end_matches("/ui/").to_string();
    let long = long_run(&s);
    let base = s.base.clone();
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    let b = Browser::start(&driver, &chrome, shots.clone());

    // Reads need a token: the page asks for one. A wrong one is refused with the server's
    // reason; a viewer's is taken.
    b.goto(&format!("{base}/"));
    b.find("#token");
    accessible(&b, "sign-in");
    b.fill(&b.find("#token"), "gyre_not_a_token");
    b.click(&b.find("form.login button[type=submit]"));
    b.wait_text("not valid");
    sign_in(&b, &base, &viewer);
    b.wait_text("ada (viewer)");

    // Runs: the table, then a filter, a bad filter, sorting and paging.
    b.find("#runs tbody tr");
    let total: u64 = b
        .text(&b.find("#range"))
        .rsplit(' ')
        .next()
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap();
    assert!(total > 10, "the demo's runs and steps: {total}");
    accessible(&b, "runs");
    b.screenshot("runs");
    b.fill(
        &b.find("#filter"),
        "name like 'step %' and status = 'finished'",
    );
    b.click(&b.find("form.filter button[type=submit]"));
    b.wait("the filtered table", || {
        let names: Vec<String> = b
            .all("#runs tbody tr td:nth-child(3)")
            .iter()
            .map(|e| b.text(e))
            .collect();
        (!names.is_empty() && names.iter().all(|n| n.starts_with("step "))).then_some(())
    });
    assert!(b.url().contains("where="), "the filter is in the address");
    b.fill(&b.find("#filter"), "metrics.f1 >> 3");
    b.click(&b.find("form.filter button[type=submit]"));
    b.wait_text("Error 400");
    b.goto(&format!("{base}/ui/#/runs?order=name+asc&limit=5"));
    let names: Vec<String> = b.wait("sorted names", || {
        let v: Vec<String> = b
            .all("#runs tbody tr td:nth-child(3)")
            .iter()
            .map(|e| b.text(e))
            .collect();
        (v.len() == 5).then_some(v)
    });
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "by name");
    // A param column sorts too (the store orders by its text).
    b.goto(&format!(
        "{base}/ui/#/runs?order=params.algorithm+desc&where=name+like+%27train%25%27"
    ));
    let algorithms: Vec<String> = b.wait("sorted by a param", || {
        let idx = b.js(
            "return [...document.querySelectorAll('#runs thead th')].findIndex(th => th.textContent.startsWith('algorithm')) + 1",
            json!([]),
        );
        let i = idx.as_u64().filter(|&i| i > 0)?;
        let v: Vec<String> = b
            .all(&format!("#runs tbody tr td:nth-child({i})"))
            .iter()
            .map(|e| b.text(e))
            .collect();
        (v.len() >= 2).then_some(v)
    });
    let mut desc = algorithms.clone();
    desc.sort_by(|a, b| b.cmp(a));
    assert_eq!(algorithms, desc, "by algorithm, descending");
    b.goto(&format!("{base}/ui/#/runs?order=name+asc&limit=5"));
    b.wait("page one again", || {
        b.text(&b.find("#range")).starts_with("1–").then_some(())
    });
    b.click(&b.find(".pager button:last-of-type"));
    b.wait("page two", || {
        b.text(&b.find("#range")).starts_with("6–").then_some(())
    });

    // Compare two runs: params side by side with differences marked, curves, parallel axes.
    b.goto(&format!("{base}/ui/#/runs?where=name+like+%27train%25%27"));
    let boxes = b.wait("two runs to pick", || {
        let v = b.all("#runs tbody input[type=checkbox]");
        (v.len() >= 2).then_some(v)
    });
    b.click(&boxes[0]);
    b.click(&boxes[1]);
    b.click(&b.find("#compare"));
    b.find("#compare-params tr.differs");
    b.find(".series-chart svg path.series");
    b.find("svg.parallel path.pline");
    accessible(&b, "compare");
    b.screenshot("compare");

    // A long curve: drawn from at most 1,000 of its 20,000 points, the spike kept; a drag
    // zooms in and the server sends that range in detail.
    b.goto(&format!("{base}/ui/#/runs/{long}"));
    b.wait_text("1,000 of 20,000 points drawn");
    let spike = b.js(
        "return Math.max(...[...document.querySelectorAll('.series-chart path.series')].map(p => p.getAttribute('d').length))",
        json!([]),
    );
    assert!(spike.as_f64().unwrap() > 100.0);
    let chart = b.find(".series-chart svg.chart");
    b.drag(&chart, -150, 50);
    b.wait_text("Reset zoom");
    let caption = b.text(&b.find(".series-chart figcaption"));
    assert!(caption.contains("steps"), "{caption}");
    b.screenshot("run");

    // Data: a version's profile with histograms; validation against the schema.
    b.goto(&format!("{base}/ui/#/data"));
    b.click(&b.find("#datasets a"));
    b.click(&b.find("#versions a"));
    b.find("article.column svg.histogram rect.bar");
    b.click(&b.find("#validate"));
    b.find("#validation");
    accessible(&b, "dataset version");
    b.screenshot("data");
    // Two versions: what changed, and each column's drift.
    b.goto(&format!("{base}/ui/#/data/elec"));
    b.find("#vb");
    b.js(
        "document.querySelector('#va').value = '1'; document.querySelector('#vb').value = '2';",
        json!([]),
    );
    b.click(&b.find("form.inline button[type=submit]"));
    b.find("#drift tbody tr");
    b.wait_text("@1 → @2");
    accessible(&b, "dataset diff");
    b.screenshot("data-diff");

    // The registry as a viewer: the alias form is there but may not be used.
    b.goto(&format!("{base}/ui/#/models/elec"));
    let button = b.find("#move-alias button[type=submit]");
    assert!(
        b.attr(&button, "disabled").is_some(),
        "a viewer cannot move aliases"
    );
    b.find("#audit tbody tr");
    b.find("#delivery dd");
    b.wait_text("change failure rate");
    accessible(&b, "model");

    // As an editor: `staging` moves (audited with the token's name); `champion` to a version
    // without a passing verdict is refused by the gate, with its reason.
    b.click(&b.find(".who button"));
    sign_in(&b, &base, &editor);
    b.goto(&format!("{base}/ui/#/models/elec"));
    b.fill(&b.find("#alias"), "staging");
    b.js(
        "const s = document.querySelector('#alias-version'); s.value = s.options[s.options.length - 1].value;",
        json!([]),
    );
    b.fill(&b.find("#reason"), "from the browser");
    b.click(&b.find("#move-alias button[type=submit]"));
    b.wait_text("staging: none → 1");
    b.wait("the audit row", || {
        b.all("#audit tbody tr")
            .iter()
            .any(|r| {
                let t = b.text(r);
                t.contains("staging") && t.contains("token:grace") && t.contains("from the browser")
            })
            .then_some(())
    });
    b.screenshot("registry");
    // The hand-registered version has no verdict: `champion` is refused, with the gate's
    // reason.
    let unjudged = b
        .all("#versions tbody tr")
        .iter()
        .map(|r| b.text(r))
        .find(|t| t.contains("not judged"))
        .expect("the hand-registered version");
    let v = unjudged
        .split_whitespace()
        .next()
        .unwrap()
        .trim_start_matches('@')
        .to_string();
    b.fill(&b.find("#alias"), "champion");
    b.fill(&b.find("#reason"), "no verdict");
    b.js(
        "document.querySelector('#alias-version').value = arguments[0];",
        json!([v]),
    );
    b.click(&b.find("#move-alias button[type=submit]"));
    let refusal = b.wait("the gate's refusal", || {
        let e = b.find("#alias-result");
        (b.attr(&e, "class").as_deref() == Some("error")).then(|| b.text(&e))
    });
    assert!(refusal.contains("verdict"), "{refusal}");

    // Monitoring: F1, precision and recall per window with the loop's events marked.
    b.goto(&format!("{base}/ui/#/monitor"));
    b.find("svg.chart path.series[data-name='f1 (champion)']");
    let kinds = b.js(
        "return [...new Set([...document.querySelectorAll('svg.chart line.marker')].map(l => l.dataset.kind))]",
        json!([]),
    );
    for k in ["breach", "retrain", "promote"] {
        assert!(
            kinds.as_array().unwrap().iter().any(|x| x == k),
            "{k} marked: {kinds}"
        );
    }
    b.find("#events tbody tr");
    // The drift and traffic panels of the served windows; a drift event is marked there,
    // not on the quality chart's labelled-prediction axis.
    b.find("svg.chart[aria-label='drift per window'] path.series");
    let quality_marks = b.js(
        "return [...document.querySelectorAll('svg.chart')][0].querySelectorAll('line.marker').length",
        json!([]),
    );
    let drift_on_quality = b.js(
        "return [...[...document.querySelectorAll('svg.chart')][0].querySelectorAll('line.marker title')].filter(t => t.textContent.includes(' drift')).length",
        json!([]),
    );
    assert!(quality_marks.as_u64().unwrap() >= 3, "{quality_marks}");
    assert_eq!(drift_on_quality, json!(0));
    b.find("svg.chart[aria-label='traffic per window'] path.series");
    accessible(&b, "monitoring");
    b.screenshot("monitoring");
    // The backtest, from the same page: each strategy's F1 per window, the loop's marks.
    b.click(&b.find("#backtests a"));
    b.find("#strategies tbody tr");
    let series = b.all("svg.chart path.series").len();
    assert!(series >= 3, "the loop and its baselines: {series}");
    b.find("svg.chart line.marker");
    b.screenshot("backtest");

    // The pipeline: each step a node, its state named.
    b.goto(&format!("{base}/ui/#/pipeline"));
    let nodes = b.wait("the DAG", || {
        let v = b.all("svg.graph g.node");
        (!v.is_empty()).then_some(v.len())
    });
    let rows = b.all("#steps tbody tr").len();
    assert_eq!(nodes, rows, "a node per step");
    // The data gained a version since the demo ran: its first step is out of date, and says
    // why.
    b.find("svg.graph .state-stale");
    b.wait_text("input `dataset` changed");
    accessible(&b, "pipeline");
    b.screenshot("pipeline");

    // A version's gate verdict: every check, expected and found.
    b.goto(&format!("{base}/ui/#/models/elec/1"));
    b.find("#checks tbody tr");
    accessible(&b, "model version");

    // Lineage of the champion's model, from the registry page.
    b.goto(&format!("{base}/ui/#/models/elec"));
    b.click(&b.find("#versions td.mono a"));
    b.find("svg.graph g.node");
    b.find("#lineage-edges tbody tr");
    b.screenshot("lineage");

    // Keyboard: the first Tab reaches the skip link, and it is visibly focused.
    b.goto(&format!("{base}/ui/#/runs"));
    b.find("#runs");
    b.refresh();
    b.find("#runs");
    b.keys("\u{E004}");
    let focused = b.js(
        "const e = document.activeElement; return [e.className, getComputedStyle(e).outlineStyle, e.outerHTML.slice(0, 120)]",
        json!([]),
    );
    assert_eq!(focused[0], "skip", "{focused}");
    eprintln!("screenshots in {}", shots.display());
}
