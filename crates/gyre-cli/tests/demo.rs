//! `gyre demo` on a stretch of the Elec2 stream, and `gyre monitor` on the project it leaves.

mod common;
use common::{Run, gyre_bin, shared};
use std::process::Command;

fn run(dir: &std::path::Path, args: &[&str]) -> Run {
    Command::new(gyre_bin())
        .args(args)
        .current_dir(dir)
        .env("GYRE_USER", "tester")
        .env_remove("GYRE_STORE_URL")
        .output()
        .unwrap()
        .into()
}

#[test]
fn the_demo_runs_the_loop_and_draws_it() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("elec");
    let svg = work.path().join("f1.svg");
    // No --data: the copy built into the binary, as the README's main command runs it.
    let r = run(
        work.path(),
        &[
            "demo",
            "--dir",
            project.to_str().unwrap(),
            "--rows",
            "3000",
            "--svg",
            svg.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let report = r.json();
    assert_eq!(report["rows_replayed"], 3000);
    let kinds: Vec<&str> = report["marks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    // On this stretch F1 falls below the floor early; the loop retrains and promotes (the
    // breach may recover on its own before the canary's verdict).
    let at = |kind: &str, after: usize| {
        kinds[after..]
            .iter()
            .position(|k| *k == kind)
            .map(|i| i + after)
            .unwrap_or_else(|| panic!("no {kind} after mark {after}: {kinds:?}"))
    };
    let breach = at("breach", 0);
    let retrain = at("retrain", breach);
    at("promote", retrain);
    assert!(report["gyre"].as_array().unwrap().len() >= 3);
    assert_eq!(report["never_retrained"].as_array().unwrap().len(), 6);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.contains("polyline") && text.contains(">promote<"));

    // The project stays, and monitoring reads it.
    let status = run(&project, &["monitor", "status", "--json"]).json();
    assert_eq!(status["model"], "elec");
    assert_eq!(status["aliases"][0], serde_json::json!(["champion", 2]));
    let history = run(&project, &["monitor", "history", "--metric", "f1"]);
    assert_eq!(history.code, 0, "{}", history.stderr);
    assert!(history.stdout.contains("elec f1: "), "{}", history.stdout);
    assert!(history.stdout.contains("breach f1"), "{}", history.stdout);
    let h = run(
        &project,
        &["monitor", "history", "--metric", "f1", "--json"],
    )
    .json();
    assert!(h["points"].as_array().unwrap().len() >= 3);
    assert!(
        h["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "promote")
    );
    // `gyre check` on the demo project: the loop it ran is evidence for the ML Test Score.
    let score = run(&project, &["check", "--json"]).json();
    for id in [
        "model.2",
        "infra.4",
        "infra.5",
        "infra.6",
        "infra.7",
        "monitor.7",
    ] {
        let t = score["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap();
        assert_eq!(t["how"], "automated", "{t}");
    }
    assert_eq!(score["tests"].as_array().unwrap().len(), 28);
    // The same stretch through `gyre backtest` (the loop engine in process, no HTTP) gives
    // the same baselines, and the loop's figure within the noise of where windows fall.
    let bt_dir = work.path().join("bt");
    let bt = run(
        work.path(),
        &[
            "demo",
            "--backtest",
            "--dir",
            bt_dir.to_str().unwrap(),
            "--rows",
            "3000",
            "--svg",
            svg.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(bt.code, 0, "{}", bt.stderr);
    let bt = bt.json();
    let mean = |i: usize| bt["strategies"][i]["mean"].as_f64().unwrap();
    let http = |k: &str| report["mean_f1"][k].as_f64().unwrap();
    assert!((mean(1) - http("never_retrained")).abs() < 1e-9, "{bt}");
    assert!((mean(2) - http("fixed_schedule")).abs() < 0.01, "{bt}");
    // The loop over HTTP decides on a wall clock (monitor passes every 100 rows, labels joined
    // as the log writer flushes), so its canary verdict can land a window later than the
    // backtest's; over this replay's four windows one window moves the mean by up to ~0.1
    // (0.670 against 0.734 seen). The full-length comparison (0.713 against 0.714) is in
    // bench/README.md.
    assert!((mean(0) - http("gyre")).abs() < 0.1, "{bt} {report}");

    // No [monitor] section: a clear error.
    let bare = tempfile::tempdir().unwrap();
    assert_eq!(run(bare.path(), &["init", "--name", "x"]).code, 0);
    let r = run(bare.path(), &["monitor", "status"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("[monitor]"), "{}", r.stderr);
}

#[test]
fn the_demo_reads_a_given_file_and_names_a_bad_one() {
    let work = tempfile::tempdir().unwrap();
    // The shared copy is byte for byte the built-in one.
    assert_eq!(
        std::fs::read(shared("elec2/elec2_first_half.csv")).unwrap(),
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/elec2_first_half.csv"
        ))
        .unwrap()
    );
    let bad = work.path().join("prices.csv");
    std::fs::write(&bad, "date,price\n1,2\n").unwrap();
    let r = run(work.path(), &["demo", "--data", bad.to_str().unwrap()]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("prices.csv") && r.stderr.contains("ending in `class`"),
        "{}",
        r.stderr
    );
    let missing = work.path().join("nowhere.csv");
    let r = run(work.path(), &["demo", "--data", missing.to_str().unwrap()]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("nowhere.csv"), "{}", r.stderr);
}
