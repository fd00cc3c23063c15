//! `gyre demo`: the whole loop on the Elec2 stream, with no setup.
//!
//! It makes a project, trains on the first weeks, registers and gates the model, and serves
//! it on 127.0.0.1. Then it replays the rest of the stream as traffic over HTTP in
//! accelerated time (half an hour of market time per row), labels arriving a set number of
//! rows later. Monitoring passes and trigger ticks run on the replay's clock: when F1 drops
//! below the floor a trigger retrains on the latest labelled traffic, the gate judges the
//! candidate, the canary proves it, and it is promoted or rolled back. It prints a timeline
//! and writes an SVG chart of F1 over time, next to two baselines computed on the same rows:
//! never retraining, and retraining on a fixed schedule.

use crate::render::table;
use crate::{CliResult, Failure, print_json};
use clap::Args;
use gyre_ops::monitor::short;
use gyre_ops::{OpsError, Project};
use serde::Serialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Run the closed loop on the Elec2 stream: train, serve, replay traffic with late labels,
/// watch F1 decay, retrain, canary, promote or roll back; print the timeline and write an
/// SVG chart.
#[derive(Args)]
pub struct DemoArgs {
    /// The Elec2 CSV (default: the copy built into gyre, the first 22,656 rows of the stream).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Where to make the demo project (default: a fresh temporary folder, removed after).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Rows the first model trains on (48 rows are a day).
    #[arg(long, default_value_t = 2016)]
    train_rows: usize,
    /// Rows replayed as traffic (default: the rest of the file).
    #[arg(long)]
    rows: Option<usize>,
    /// Labels arrive this many rows after their prediction.
    #[arg(long, default_value_t = 48)]
    label_delay: usize,
    /// Labelled predictions per monitoring window.
    #[arg(long, default_value_t = 500)]
    window: usize,
    /// The F1 floor that triggers retraining.
    #[arg(long, default_value_t = 0.62)]
    min_f1: f64,
    /// Labelled rows the retrain uses (a sliding window).
    #[arg(long, default_value_t = 2016)]
    retrain_rows: usize,
    /// The fixed-schedule baseline retrains every this many rows.
    #[arg(long, default_value_t = 2016)]
    schedule_every: usize,
    /// Inject a change of concept: labels are flipped from this replay row on (the report
    /// then gives the detection delay, in labelled predictions).
    #[arg(long)]
    flip_at: Option<usize>,
    /// The chart.
    #[arg(long, default_value = "gyre-demo.svg")]
    svg: PathBuf,
    /// Replay in process through `gyre backtest` (the same loop engine, an injected clock,
    /// no HTTP; about a second), next to the online learners.
    #[arg(long)]
    backtest: bool,
    #[arg(long)]
    json: bool,
}

const STEP_MS: i64 = 30 * 60 * 1000;

fn spec(a: &DemoArgs) -> String {
    format!(
        r#"# Made by `gyre demo`: the closed loop on the Elec2 stream.
[project]
name = "elec"

[model]
dataset = "elec"
task = "binary"
target = "class"
drop = ["date"]
algorithm = "logistic_regression"
split = {{ by = "rule", every = 5, index = 4 }}

[gate]
min = {{ accuracy = 0.55 }}

[serve]
model = "elec"
canary = {{ share = 0.5, min_labels = 200 }}

[monitor]
model = "elec"
window = {{ labels = {window} }}
min = {{ f1 = {min_f1} }}

[loop]
retrain = {{ data = "recent", rows = {retrain_rows} }}   # what the traffic step keeps

[steps.first]
uses = "train"

[steps.first_register]
uses = "register"
model = "first"
name = "elec"

[steps.first_gate]
uses = "gate"
model = "first_register"
promote = "champion"

[steps.traffic]
uses = "traffic"
name = "elec"
dataset = "live"
rows = {retrain_rows}

[steps.retrain]
uses = "train"
dataset = "live"

[steps.register]
uses = "register"
model = "retrain"
name = "elec"

[steps.gate]
uses = "gate"
model = "register"

[[trigger]]
name = "decay"
on = "monitor"
rule = "f1"
run = "gate"
"#,
        window = a.window,
        min_f1 = a.min_f1,
        retrain_rows = a.retrain_rows,
    )
}

/// The Elec2 stream built into the binary (public domain; see `data/README.md`), so the demo
/// needs no file next to the repository or the installed binary.
const ELEC2: &str = include_str!("../data/elec2_first_half.csv");

/// Where the stream comes from: `--data`, else `GYRE_DEMO_DATA`, else the built-in copy.
fn find_data(given: &Option<PathBuf>) -> Option<PathBuf> {
    given
        .clone()
        .or_else(|| std::env::var_os("GYRE_DEMO_DATA").map(PathBuf::from))
}

struct Stream {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn read_stream(path: &Path, text: &str) -> Result<Stream, OpsError> {
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(String::from)
        .collect();
    if header.last().map(String::as_str) != Some("class") {
        return Err(OpsError::Invalid(format!(
            "{}: expected Elec2's columns ending in `class`, found {header:?}",
            path.display()
        )));
    }
    let rows: Vec<Vec<String>> = lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    Ok(Stream { header, rows })
}

/// One point of a series: the replay row a window ends at, and its F1.
#[derive(Debug, Clone, Serialize)]
struct Point {
    row: usize,
    f1: f64,
}

#[derive(Debug, Clone, Serialize)]
struct Mark {
    row: usize,
    kind: String,
    detail: String,
}

#[derive(Debug, Serialize)]
struct DemoReport {
    project: String,
    rows_replayed: usize,
    seconds: f64,
    requests_per_second: f64,
    gyre: Vec<Point>,
    never_retrained: Vec<Point>,
    fixed_schedule: Vec<Point>,
    marks: Vec<Mark>,
    mean_f1: MeanF1,
    /// With --flip-at: labelled predictions of the changed concept before the first breach
    /// (passes run every 100 rows, so this is exact to 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    detection_delay_labels: Option<usize>,
    svg: String,
}

#[derive(Debug, Serialize)]
struct MeanF1 {
    gyre: f64,
    never_retrained: f64,
    fixed_schedule: f64,
}

fn mean(p: &[Point]) -> f64 {
    if p.is_empty() {
        return f64::NAN;
    }
    p.iter().map(|x| x.f1).sum::<f64>() / p.len() as f64
}

/// F1 of the positive class (`UP`) over labels and predictions.
fn f1(truth: &[&str], pred: &[String]) -> f64 {
    gyre_learn::metrics::classification(
        truth,
        &pred.iter().map(String::as_str).collect::<Vec<_>>(),
        None,
        Some("UP"),
    )
    .ok()
    .and_then(|c| c.binary.map(|(_, p)| p.f1))
    .unwrap_or(f64::NAN)
}

/// Trains the demo's model spec on rows, in process (for the baselines).
fn fit(
    spec: &gyre_core::ModelSpec,
    s: &Stream,
    rows: std::ops::Range<usize>,
) -> Result<gyre_learn::model::Model, OpsError> {
    let columns: Vec<Vec<Option<String>>> = (0..s.header.len())
        .map(|c| rows.clone().map(|r| Some(s.rows[r][c].clone())).collect())
        .collect();
    gyre_learn::train::train(spec, &s.header, columns, Default::default())
        .map(|t| t.model)
        .map_err(|e| OpsError::Invalid(e.0))
}

fn predict(
    model: &gyre_learn::model::Model,
    s: &Stream,
    rows: std::ops::Range<usize>,
) -> Result<Vec<String>, OpsError> {
    let columns: Vec<Vec<Option<String>>> = (0..s.header.len())
        .map(|c| rows.clone().map(|r| Some(s.rows[r][c].clone())).collect())
        .collect();
    let inputs = gyre_ops::train::inputs_for(model, &s.header, columns, "elec2")?;
    let refs: Vec<&gyre_learn::transform::Values> = inputs.iter().collect();
    let all: Vec<usize> = (0..rows.len()).collect();
    let p = model
        .predict(&refs, &all)
        .map_err(|e| OpsError::Invalid(e.to_string()))?;
    Ok((0..rows.len())
        .map(|r| model.signature.classes[p.class_of(r)].clone())
        .collect())
}

/// The baselines on the replayed rows, window by window (`window` rows each): the first model
/// forever, and a model retrained every `every` rows on the last `keep` labelled rows.
fn baselines(
    a: &DemoArgs,
    spec: &gyre_core::ModelSpec,
    s: &Stream,
    replay: std::ops::Range<usize>,
) -> Result<(Vec<Point>, Vec<Point>), OpsError> {
    let first = fit(spec, s, 0..a.train_rows)?;
    let never = predict(&first, s, replay.clone())?;
    let mut scheduled = Vec::with_capacity(replay.len());
    let mut model = first;
    let mut at = replay.start;
    while at < replay.end {
        let end = (at + a.schedule_every).min(replay.end);
        scheduled.extend(predict(&model, s, at..end)?);
        // Retrain on what is labelled by then.
        let known = end.saturating_sub(a.label_delay);
        model = fit(spec, s, known.saturating_sub(a.retrain_rows)..known)?;
        at = end;
    }
    let class = s.header.len() - 1;
    let series = |pred: &[String]| {
        let mut out = Vec::new();
        let mut i = 0;
        while i + a.window <= pred.len() {
            let truth: Vec<&str> = (i..i + a.window)
                .map(|k| s.rows[replay.start + k][class].as_str())
                .collect();
            out.push(Point {
                row: i + a.window,
                f1: f1(&truth, &pred[i..i + a.window]),
            });
            i += a.window;
        }
        out
    };
    Ok((series(&never), series(&scheduled)))
}

/// `--backtest`: the whole stream as a dataset version, replayed by `gyre backtest` with the
/// demo's protocol.
async fn backtest(
    a: &DemoArgs,
    p: &Project,
    dir: &Path,
    stream: &Stream,
    replay_rows: usize,
    quiet: bool,
) -> CliResult {
    let mut all = stream.header.join(",") + "\n";
    for r in &stream.rows[..a.train_rows + replay_rows] {
        all += &(r.join(",") + "\n");
    }
    std::fs::write(dir.join("stream.csv"), all).map_err(OpsError::io("writing stream.csv"))?;
    p.add_dataset(
        &"stream"
            .parse()
            .map_err(|e: gyre_core::CoreError| OpsError::Invalid(e.to_string()))?,
        Some(&dir.join("stream.csv")),
        &Default::default(),
        &gyre_ops::NoProgress,
    )
    .await?;
    let opts = gyre_ops::backtest::BacktestOptions {
        data: "stream".into(),
        time: None,
        row_ms: STEP_MS,
        label_delay: gyre_ops::backtest::Span::Rows(a.label_delay),
        train_rows: Some(a.train_rows),
        rows: Some(replay_rows),
        window: Some(a.window),
        schedule: Some(gyre_ops::backtest::Span::Rows(a.schedule_every)),
    };
    let bars = crate::progress::Bars::new(quiet || a.json);
    let report = p.backtest(&opts, &bars).await?;
    std::fs::write(&a.svg, crate::backtest::svg(&report))
        .map_err(OpsError::io("writing the SVG chart"))?;
    if a.json {
        print_json(&report);
    } else {
        crate::backtest::print(&report, false);
        out!("Chart: {}", a.svg.display());
    }
    Ok(())
}

fn svg(a: &DemoArgs, total: usize, series: &[(&str, &str, &[Point])], marks: &[Mark]) -> String {
    let (w, h, left, top, bottom) = (960.0, 360.0, 50.0, 20.0, 40.0);
    let plot_w = w - left - 20.0;
    let plot_h = h - top - bottom;
    let x = |row: usize| left + plot_w * row as f64 / total.max(1) as f64;
    let y = |f: f64| top + plot_h * (1.0 - f.clamp(0.0, 1.0));
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="{left}" y="13" font-size="13">F1 (UP) over the Elec2 replay, windows of {} labels</text>
"#,
        a.window
    );
    for k in 0..=5 {
        let f = k as f64 / 5.0;
        out += &format!(
            r##"<line x1="{left}" x2="{}" y1="{y0}" y2="{y0}" stroke="#eee"/><text x="{}" y="{}" text-anchor="end">{f:.1}</text>
"##,
            w - 20.0,
            left - 4.0,
            y(f) + 4.0,
            y0 = y(f)
        );
    }
    let floor = y(a.min_f1);
    out += &format!(
        r##"<line x1="{left}" x2="{}" y1="{floor}" y2="{floor}" stroke="#c00" stroke-dasharray="2,3"/><text x="{}" y="{}" fill="#c00">F1 floor {}</text>
"##,
        w - 20.0,
        left + 4.0,
        floor + 12.0,
        a.min_f1
    );
    for m in marks {
        let (color, label) = match m.kind.as_str() {
            "retrain" => ("#888", "retrain"),
            "promote" => ("#080", "promote"),
            "rollback" => ("#c60", "rollback"),
            _ => continue,
        };
        let mx = x(m.row);
        out += &format!(
            r#"<line x1="{mx}" x2="{mx}" y1="{top}" y2="{}" stroke="{color}" stroke-dasharray="4,3"><title>{}</title></line><text x="{}" y="{}" fill="{color}" transform="rotate(-90 {} {})">{label}</text>
"#,
            top + plot_h,
            crate::html::esc(&m.detail),
            mx + 3.0,
            top + plot_h - 4.0,
            mx + 3.0,
            top + plot_h - 4.0
        );
    }
    for (i, (name, color, pts)) in series.iter().enumerate() {
        let path: Vec<String> = pts
            .iter()
            .filter(|p| p.f1.is_finite())
            .map(|p| format!("{:.1},{:.1}", x(p.row), y(p.f1)))
            .collect();
        let dash = if i == 0 {
            ""
        } else {
            r#" stroke-dasharray="6,4""#
        };
        let width = if i == 0 { 2.5 } else { 1.5 };
        out += &format!(
            r#"<polyline fill="none" stroke="{color}" stroke-width="{width}"{dash} points="{}"/>
<text x="{}" y="{}" fill="{color}">{name}</text>
"#,
            path.join(" "),
            left + 10.0 + 300.0 * i as f64,
            h - 8.0
        );
    }
    out += &format!(
        r#"<text x="{}" y="{}" text-anchor="end">replayed rows (48 a day) →</text>
</svg>
"#,
        w - 20.0,
        h - 22.0
    );
    out
}

pub async fn run(a: DemoArgs, quiet: bool) -> CliResult {
    let (data, stream) = match find_data(&a.data) {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(OpsError::io(format!("reading {}", path.display())))?;
            let stream = read_stream(&path, &text)?;
            (path, stream)
        }
        None => {
            let path = PathBuf::from("elec2_first_half.csv (built in)");
            let stream = read_stream(&path, ELEC2)?;
            (path, stream)
        }
    };
    if stream.rows.len() <= a.train_rows + a.window {
        return Err(Failure::Error(OpsError::Invalid(format!(
            "{} has {} rows: too few for --train-rows {} and --window {}",
            data.display(),
            stream.rows.len(),
            a.train_rows,
            a.window
        ))));
    }
    let replay_rows = a
        .rows
        .unwrap_or(stream.rows.len() - a.train_rows)
        .min(stream.rows.len() - a.train_rows);
    let temp;
    let dir = match &a.dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::tempdir().map_err(OpsError::io("making a temporary folder"))?;
            temp.path().to_path_buf()
        }
    };
    gyre_ops::note!("gyre demo: the closed loop on {}", data.display());
    gyre_ops::note!("  project: {}", dir.display());
    gyre_ops::init(&dir, Some("elec")).await?;
    std::fs::write(dir.join("gyre.toml"), spec(&a)).map_err(OpsError::io("writing gyre.toml"))?;
    let mut first = stream.header.join(",") + "\n";
    for r in &stream.rows[..a.train_rows] {
        first += &(r.join(",") + "\n");
    }
    std::fs::write(dir.join("elec.csv"), first).map_err(OpsError::io("writing elec.csv"))?;
    let p = Arc::new(Project::open(&dir).await?);
    if a.backtest {
        if a.flip_at.is_some() {
            return Err(Failure::Error(OpsError::Invalid(
                "--flip-at changes the labels of the HTTP replay; leave out --backtest".into(),
            )));
        }
        return backtest(&a, &p, &dir, &stream, replay_rows, quiet).await;
    }
    p.add_dataset(
        &"elec"
            .parse()
            .map_err(|e: gyre_core::CoreError| OpsError::Invalid(e.to_string()))?,
        Some(&dir.join("elec.csv")),
        &Default::default(),
        &gyre_ops::NoProgress,
    )
    .await?;
    let report = p
        .run_pipeline(
            &gyre_ops::pipeline::RunOptions {
                targets: vec!["first_gate".into()],
                jobs: 1,
                sets: Vec::new(),
                force: false,
            },
            &gyre_ops::pipeline::NoEvents,
        )
        .await?;
    if report.failed() {
        return Err(Failure::Error(OpsError::Invalid(format!(
            "the first model did not pass: {:?}",
            report
                .steps
                .iter()
                .filter_map(|s| s.error.clone())
                .collect::<Vec<_>>()
        ))));
    }
    gyre_ops::note!(
        "  trained elec@1 on the first {} rows ({} days); it is champion",
        a.train_rows,
        a.train_rows / 48
    );

    // Serve it.
    let mut opts =
        gyre_serve::ServeOptions::new("elec", "127.0.0.1:0".parse().expect("an address"));
    opts.canary_share = 0.5;
    opts.automation = false;
    opts.poll = Duration::from_millis(50);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let server_project = p.clone();
    let server = tokio::spawn(async move {
        gyre_serve::serve(
            server_project,
            opts,
            async {
                let _ = stopped.await;
            },
            move |addr, _| {
                let _ = bound_tx.send(addr);
            },
        )
        .await
    });
    let addr = bound_rx
        .await
        .map_err(|_| OpsError::Invalid("the demo server did not start".into()))?;
    gyre_ops::note!(
        "  serving on http://{addr}; replaying {replay_rows} rows, labels {} rows late",
        a.label_delay
    );

    // Baselines, in process, on the same rows.
    let model_spec = p.model_spec(&[])?;
    let replay = a.train_rows..a.train_rows + replay_rows;
    let (never, scheduled) = baselines(&a, &model_spec, &stream, replay.clone())?;

    // The replay.
    let mut monitor = p.monitor().await?;
    let start_ms = gyre_ops::runs::now_ms();
    let scheduler = gyre_ops::triggers::Scheduler::new(p.clone(), start_ms).await?;
    let features: Vec<(usize, String)> = stream
        .header
        .iter()
        .enumerate()
        .filter(|(_, c)| *c != "date" && *c != "class")
        .map(|(i, c)| (i, c.clone()))
        .collect();
    let agent = ureq::Agent::new_with_defaults();
    let base = format!("http://{addr}");
    // The labels go in as a client would send them: with a predictor token.
    let bearer = format!(
        "Bearer {}",
        p.create_token(
            &format!("demo-{}", gyre_ops::runs::now_ms()),
            gyre_core::access::Role::Predictor
        )
        .await?
        .token
    );
    let mut waiting: std::collections::VecDeque<(String, String)> = Default::default();
    let started = Instant::now();
    let mut marks: Vec<Mark> = Vec::new();
    // (server clock, replay row) at each pass, to place windows on the replay's axis.
    let mut wall: Vec<(i64, usize)> = Vec::new();
    let cadence = 100;
    let class = stream.header.len() - 1;
    let progress = indicatif::ProgressBar::new(replay_rows as u64);
    if a.json || quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    for i in 0..replay_rows {
        let row = &stream.rows[replay.start + i];
        let record: serde_json::Map<String, Value> = features
            .iter()
            .map(|(c, name)| {
                (
                    name.clone(),
                    json!(row[*c].parse::<f64>().unwrap_or(f64::NAN)),
                )
            })
            .collect();
        let (agent2, url) = (agent.clone(), format!("{base}/invocations"));
        let body = json!({ "dataframe_records": [record] });
        let answer: Value = tokio::task::spawn_blocking(move || {
            agent2
                .post(&url)
                .send_json(&body)
                .and_then(|mut r| r.body_mut().read_json::<Value>())
        })
        .await
        .map_err(|e| OpsError::Invalid(e.to_string()))?
        .map_err(|e| OpsError::Invalid(format!("the demo server: {e}")))?;
        let id = answer["request_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let truth = &row[class];
        let label = match a.flip_at {
            Some(f) if i >= f => if truth == "UP" { "DOWN" } else { "UP" }.to_string(),
            _ => truth.clone(),
        };
        waiting.push_back((id, label));
        while waiting.len() > a.label_delay {
            let (id, label) = waiting.pop_front().expect("non-empty");
            let (agent2, url) = (agent.clone(), format!("{base}/feedback"));
            let bearer = bearer.clone();
            tokio::task::spawn_blocking(move || {
                agent2
                    .post(&url)
                    .header("authorization", &bearer)
                    .send_json(json!({ "request_id": id, "label": label }))
                    .map(|_| ())
            })
            .await
            .map_err(|e| OpsError::Invalid(e.to_string()))?
            .map_err(|e| OpsError::Invalid(format!("the demo server: {e}")))?;
        }
        progress.set_position(i as u64 + 1);
        if (i + 1) % cadence == 0 || i + 1 == replay_rows {
            wall.push((gyre_ops::runs::now_ms(), i + 1));
            tokio::time::sleep(Duration::from_millis(60)).await;
            let now = start_ms + (i as i64 + 1) * STEP_MS;
            let r = monitor.pass(&p, now).await?;
            if let Some(d) = &r.decision {
                marks.push(Mark {
                    row: i + 1,
                    kind: if d.promoted { "promote" } else { "rollback" }.into(),
                    detail: d.summary(),
                });
            }
            // A `retrain` event is drawn as the firing it causes, just below.
            for e in r.events.iter().filter(|e| e.kind != "retrain") {
                marks.push(Mark {
                    row: i + 1,
                    kind: e.kind.clone(),
                    detail: e.detail.clone(),
                });
            }
            for f in scheduler.tick(now, true).await? {
                marks.push(Mark {
                    row: i + 1,
                    kind: "retrain".into(),
                    detail: format!(
                        "{} → {}: {}",
                        f.firing.cause, f.firing.status, f.firing.detail
                    ),
                });
            }
        }
    }
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    let _ = server.await;

    // The loop's series: the champion's windows (fragments left out), placed at the replay
    // row whose prediction closed them (the server stamps predictions with its own clock).
    let points = p
        .meta
        .points("elec", Some("labels"), Some("champion"))
        .await
        .map_err(OpsError::from)?;
    let mut gyre_series = Vec::new();
    for pt in &points {
        if (pt.n as usize) * 2 < a.window {
            continue;
        }
        let figures: std::collections::BTreeMap<String, f64> =
            serde_json::from_str(&pt.metrics).unwrap_or_default();
        if let Some(f) = figures.get("f1") {
            let row = wall
                .iter()
                .find(|(ms, _)| *ms >= pt.end_ms)
                .map_or(replay_rows, |(_, r)| *r);
            gyre_series.push(Point { row, f1: *f });
        }
    }
    let svg_text = svg(
        &a,
        replay_rows,
        &[
            ("gyre (monitor → retrain → canary)", "#1f5fbf", &gyre_series),
            ("never retrained", "#999", &never),
            ("retrained every 6 weeks", "#b58900", &scheduled),
        ],
        &marks,
    );
    std::fs::write(&a.svg, &svg_text).map_err(OpsError::io("writing the SVG chart"))?;
    let report = DemoReport {
        project: dir.display().to_string(),
        rows_replayed: replay_rows,
        seconds,
        requests_per_second: (2 * replay_rows) as f64 / seconds,
        mean_f1: MeanF1 {
            gyre: mean(&gyre_series),
            never_retrained: mean(&never),
            fixed_schedule: mean(&scheduled),
        },
        detection_delay_labels: a.flip_at.and_then(|f| {
            marks
                .iter()
                .find(|m| m.kind == "breach" && m.row > f)
                .map(|m| m.row.saturating_sub(a.label_delay).saturating_sub(f))
        }),
        gyre: gyre_series,
        never_retrained: never,
        fixed_schedule: scheduled,
        marks,
        svg: a.svg.display().to_string(),
    };
    if a.json {
        print_json(&report);
        return Ok(());
    }
    out!("\nTimeline (row = half-hours into the replay):");
    let rows: Vec<Vec<String>> = report
        .marks
        .iter()
        .map(|m| vec![m.row.to_string(), m.kind.clone(), m.detail.clone()])
        .collect();
    out!("{}", table(&["row", "event", "detail"], rows, &["row"]));
    out!(
        "\nF1 over the replay: {}",
        crate::monitor::sparkline(&report.gyre.iter().map(|p| p.f1).collect::<Vec<_>>())
    );
    out!(
        "Mean F1 per window: gyre {}, never retrained {}, retrained on a fixed schedule {}",
        short(report.mean_f1.gyre),
        short(report.mean_f1.never_retrained),
        short(report.mean_f1.fixed_schedule)
    );
    if let (Some(low), Some(last)) = (
        report.gyre.iter().map(|p| p.f1).reduce(f64::min),
        report.gyre.last(),
    ) {
        out!("Lowest window F1 {}, last {}.", short(low), short(last.f1));
    }
    if let Some(d) = report.detection_delay_labels {
        out!("The injected change was detected after {d} labelled predictions.");
    }
    out!(
        "{} rows replayed in {:.1} s ({:.0} requests/s with feedback); chart: {}",
        replay_rows,
        report.seconds,
        report.requests_per_second,
        report.svg
    );
    Ok(())
}
