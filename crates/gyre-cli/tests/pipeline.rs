//! `gyre run`, `status` and `dag` through the real binary: caching, invalidation,
//! parallelism, failure handling, recovery after kill -9, and the example project.

mod common;

use common::{Project, shared};
use std::path::Path;

fn write(p: &Project, rel: &str, text: &str) {
    let path = p.root().join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn states(r: &serde_json::Value) -> Vec<(String, String)> {
    r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn state_of(r: &serde_json::Value, step: &str) -> String {
    states(r)
        .into_iter()
        .find(|(s, _)| s == step)
        .unwrap_or_else(|| panic!("no step {step} in {r}"))
        .1
}

/// a → b → c, with d independent; each appends its name to log.txt when it runs.
const CHAIN: &str = r#"
[params.b]
factor = 2

[steps.a]
run = "echo a >> log.txt; cat in.txt > a.txt"
deps = ["in.txt"]
outs = ["a.txt"]

[steps.b]
run = "echo b >> log.txt; mkdir -p bdir; cat a.txt a.txt > bdir/b.txt; echo $GYRE_PARAM_B_FACTOR > bdir/factor.txt"
deps = ["a.txt"]
outs = ["bdir"]
params = ["b.factor"]

[steps.c]
run = "echo c >> log.txt; cat bdir/b.txt > c.txt"
deps = ["bdir/b.txt"]
outs = ["c.txt"]

[steps.d]
run = "echo d >> log.txt; echo independent > d.txt"
outs = ["d.txt"]
"#;

fn log(p: &Project) -> String {
    std::fs::read_to_string(p.root().join("log.txt")).unwrap_or_default()
}

#[test]
fn caching_invalidation_params_and_restore() {
    let p = Project::init();
    p.append_spec(CHAIN);
    write(&p, "in.txt", "hello\n");
    // More steps may live in pipelines/*.toml; `env` reaches the command.
    write(
        &p,
        "pipelines/extra.toml",
        "[steps.e]\nrun = \"echo $GREETING > e.txt\"\nenv = { GREETING = \"hi\" }\ndeps = [\"c.txt\"]\nouts = [\"e.txt\"]\n",
    );
    let dag = p.ok(&["dag", "--json"]).json();
    assert_eq!(dag["upstream"]["c"], serde_json::json!(["b"]));
    let mermaid = p.ok(&["dag", "--format", "mermaid"]).stdout;
    assert!(
        mermaid.contains("a --> b") && mermaid.contains("b --> c"),
        "{mermaid}"
    );

    let r = p.ok(&["run", "--json"]).json();
    assert!(states(&r).iter().all(|(_, s)| s == "ran"), "{r}");
    assert_eq!(
        std::fs::read_to_string(p.root().join("bdir/factor.txt")).unwrap(),
        "2\n"
    );
    assert_eq!(
        std::fs::read_to_string(p.root().join("e.txt")).unwrap(),
        "hi\n"
    );
    assert_eq!(dag["upstream"]["e"], serde_json::json!(["c"]));
    let text = log(&p);
    let mut first: Vec<&str> = text.lines().collect();
    first.sort();
    assert_eq!(first, ["a", "b", "c", "d"], "e does not log");

    // Nothing changed: nothing runs, and no run is recorded.
    let r = p.ok(&["run", "--json"]).json();
    assert!(states(&r).iter().all(|(_, s)| s == "up_to_date"), "{r}");
    assert!(r["run"].is_null());
    assert_eq!(log(&p).lines().count(), 4);
    let st = p.ok(&["status", "--json"]).json();
    assert!(
        st.as_array()
            .unwrap()
            .iter()
            .all(|s| s["up_to_date"] == true)
    );

    // A dep changes: its step and what follows run; the independent step does not.
    write(&p, "in.txt", "changed\n");
    let st = p.gyre(&["status", "--json"]);
    assert_eq!(st.code, 1, "status exits 1 when something would run");
    let st: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(st[0]["step"], "a");
    assert!(
        st[0]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("dep `in.txt` changed"),
        "{st}"
    );
    let r = p.ok(&["run", "--json"]).json();
    assert_eq!(state_of(&r, "a"), "ran");
    assert_eq!(state_of(&r, "c"), "ran");
    assert_eq!(state_of(&r, "d"), "up_to_date");

    // One param: only b and what reads its output.
    let r = p.ok(&["run", "--set", "b.factor=3", "--json"]).json();
    assert_eq!(state_of(&r, "a"), "up_to_date");
    assert_eq!(state_of(&r, "b"), "ran");
    assert_eq!(
        state_of(&r, "c"),
        "up_to_date",
        "b.txt is unchanged by the factor"
    );
    let b = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "b")
        .unwrap();
    assert!(
        b["reasons"][0]
            .as_str()
            .unwrap()
            .contains("param `b.factor` changed"),
        "{r}"
    );
    assert_eq!(
        std::fs::read_to_string(p.root().join("bdir/factor.txt")).unwrap(),
        "3\n"
    );

    // Back to the file's params: b's earlier result is restored from the object store, not
    // re-run; deleted outputs come back the same way.
    let before = log(&p).lines().count();
    std::fs::remove_file(p.root().join("d.txt")).unwrap();
    let st = p.gyre(&["status", "--json"]).json();
    let d = st
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "d")
        .unwrap();
    assert_eq!(
        (d["up_to_date"].as_bool(), d["restorable"].as_bool()),
        (Some(false), Some(true)),
        "its result is stored: {st}"
    );
    let r = p.ok(&["run", "--json"]).json();
    assert_eq!(state_of(&r, "b"), "restored");
    assert_eq!(state_of(&r, "d"), "restored");
    assert_eq!(log(&p).lines().count(), before, "nothing re-ran");
    assert_eq!(
        std::fs::read_to_string(p.root().join("bdir/factor.txt")).unwrap(),
        "2\n"
    );
    assert_eq!(
        std::fs::read_to_string(p.root().join("d.txt")).unwrap(),
        "independent\n"
    );

    // Selecting a step runs only it and what it needs.
    let r = p.ok(&["run", "a", "--force", "--json"]).json();
    assert_eq!(states(&r), vec![("a".to_string(), "ran".to_string())]);
}

#[test]
fn independent_steps_run_at_the_same_time() {
    let p = Project::init();
    p.append_spec(
        r#"
[steps.left]
run = "date +%s%N > left.start; sleep 1; date +%s%N > left.end"
outs = ["left.start", "left.end"]
[steps.right]
run = "date +%s%N > right.start; sleep 1; date +%s%N > right.end"
outs = ["right.start", "right.end"]
"#,
    );
    let read = |f: &str| -> u128 {
        std::fs::read_to_string(p.root().join(f))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    p.ok(&["run", "--jobs", "2", "--json"]);
    // The two intervals overlap: each started before the other ended.
    assert!(read("left.start") < read("right.end") && read("right.start") < read("left.end"));
    p.ok(&["run", "--jobs", "1", "--force", "--json"]);
    assert!(
        read("left.end") <= read("right.start") || read("right.end") <= read("left.start"),
        "one job at a time"
    );
}

#[test]
fn a_failure_stops_its_dependents_only_and_keeps_finished_results() {
    let p = Project::init();
    p.append_spec(
        r#"
[steps.ok]
run = "echo fine > ok.txt"
outs = ["ok.txt"]
[steps.bad]
run = "echo 'step output line'; echo 'something broke' >&2; exit 3"
outs = ["bad.txt"]
[steps.after_bad]
run = "cat bad.txt > x.txt"
deps = ["bad.txt"]
outs = ["x.txt"]
[steps.slow_independent]
run = "sleep 0.3; echo done > slow.txt"
outs = ["slow.txt"]
"#,
    );
    let r = p.gyre(&["run", "--json"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("step `bad` failed (exit 3)") && r.stderr.contains("something broke"),
        "{}",
        r.stderr
    );
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(state_of(&j, "bad"), "failed");
    assert_eq!(state_of(&j, "after_bad"), "not_run");
    assert_eq!(state_of(&j, "ok"), "ran");
    assert_eq!(state_of(&j, "slow_independent"), "ran");
    assert!(j["steps"].as_array().unwrap().iter().any(|s| {
        s["log_tail"]
            .as_str()
            .is_some_and(|t| t.contains("step output line"))
    }));
    // The failed step's run holds its log; the pipeline run is marked failed.
    let runs = p.ok(&["runs", "list", "--json"]).json();
    let failed: Vec<&serde_json::Value> = runs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 2, "the step and the pipeline: {runs}");
    let step_run = failed.iter().find(|r| r["name"] == "step bad").unwrap()["id"]
        .as_str()
        .unwrap();
    let log = p.ok(&["runs", "log", step_run]).stdout;
    assert_eq!(log, "step output line\nsomething broke\n");

    // Fixed: the finished steps are not run again.
    let spec = std::fs::read_to_string(p.root().join("gyre.toml")).unwrap();
    std::fs::write(
        p.root().join("gyre.toml"),
        spec.replace("echo 'something broke' >&2; exit 3", "echo ok > bad.txt"),
    )
    .unwrap();
    let j = p.ok(&["run", "--json"]).json();
    assert_eq!(state_of(&j, "ok"), "up_to_date");
    assert_eq!(state_of(&j, "slow_independent"), "up_to_date");
    assert_eq!(state_of(&j, "bad"), "ran");
    assert_eq!(state_of(&j, "after_bad"), "ran");
}

#[test]
fn bad_pipelines_are_refused_with_the_steps_named() {
    let p = Project::init();
    p.append_spec(
        r#"
[steps.x]
run = "true"
deps = ["y.txt"]
outs = ["x.txt"]
[steps.y]
run = "true"
deps = ["x.txt"]
outs = ["y.txt"]
"#,
    );
    let r = p.gyre(&["run"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cycle: x, y"), "{}", r.stderr);
    let r = p.gyre(&["dag"]);
    assert_eq!(r.code, 2);

    let q = Project::init();
    q.append_spec(
        r#"
[steps.s]
run = "true"
params = ["train.trees"]
[steps.t]
run = "true"
deps = ["missing.txt"]
"#,
    );
    let r = q.gyre(&["run"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("reads param `train.trees`"),
        "{}",
        r.stderr
    );
    std::fs::write(q.root().join("params.toml"), "[train]\ntrees = 5\n").unwrap();
    let r = q.gyre(&["run", "--json"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("depends on `missing.txt`, which does not exist"),
        "{}",
        r.stderr
    );
}

/// kill -9 in the middle of a step: nothing of it is cached, and the next run finishes the
/// job, skipping the step that had completed.
#[test]
fn kill_9_mid_run_then_resume() {
    let p = Project::init();
    p.append_spec(r#"
[steps.first]
run = "echo one > one.txt"
outs = ["one.txt"]
[steps.second]
run = "echo started > second.started; head -c 100000 /dev/zero > two.txt; sleep 30; echo done >> two.txt"
deps = ["one.txt"]
outs = ["two.txt"]
"#,
    );
    let mut child = p.command(&["run", "--json"]).spawn().unwrap();
    let started = p.root().join("second.started");
    let t0 = std::time::Instant::now();
    while !started.exists() {
        assert!(t0.elapsed().as_secs() < 20, "the second step never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The orphaned `sleep` may still hold two.txt; it is not recorded either way.
    let spec = std::fs::read_to_string(p.root().join("gyre.toml")).unwrap();
    std::fs::write(p.root().join("gyre.toml"), spec.replace("sleep 30; ", "")).unwrap();
    let j = p.ok(&["run", "--json"]).json();
    assert_eq!(state_of(&j, "first"), "up_to_date");
    assert_eq!(state_of(&j, "second"), "ran");
    assert!(
        std::fs::read_to_string(p.root().join("two.txt"))
            .unwrap()
            .ends_with("done\n")
    );
}

/// The example project: shell/Python preparation → validate → train → evaluate; the second
/// run skips everything; one param re-runs only what depends on it.
#[test]
fn the_example_pipeline_runs_end_to_end() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/elec2-pipeline");
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("python3 not found: skipping the example pipeline");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Outside the repository, as a user would run it: the stream in data/raw/.
    let root = dir.path().join("example");
    std::fs::create_dir_all(root.join("steps")).unwrap();
    std::fs::create_dir_all(root.join("schemas")).unwrap();
    for f in [
        "gyre.toml",
        "params.toml",
        "steps/prepare.py",
        "schemas/elec2.toml",
    ] {
        std::fs::copy(example.join(f), root.join(f)).unwrap();
    }
    let data = root.join("data/raw");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(shared("elec2/elec2_first_half.csv"), data.join("elec2.csv")).unwrap();
    let p = Project {
        dir: tempfile::tempdir().unwrap(),
        store_url: None,
        objects_url: None,
    };
    let run = |args: &[&str]| {
        let out = p.command(args).current_dir(&root).output().unwrap();
        assert!(
            out.status.success(),
            "gyre {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let r = run(&["run", "--json"]);
    assert!(states(&r).iter().all(|(_, s)| s == "ran"), "{r}");
    let metrics: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("metrics/evaluation.json")).unwrap(),
    )
    .unwrap();
    assert!(metrics["accuracy"].as_f64().unwrap() > 0.7, "{metrics}");
    let r = run(&["run", "--json"]);
    assert!(states(&r).iter().all(|(_, s)| s == "up_to_date"), "{r}");

    // Lineage from the metrics file back to the script and the raw data, through the model
    // and the validated dataset version.
    let g = run(&["lineage", "metrics/evaluation.json", "--json"]);
    let labels: Vec<&str> = g["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["label"].as_str().unwrap())
        .collect();
    for want in [
        "run step evaluate",
        "run step train",
        "run step validate",
        "run step prepare",
        "file:steps/prepare.py@",
        "file:data/processed/elec2.csv@",
        "model:",
        "dataset:elec2@",
    ] {
        assert!(
            labels.iter().any(|l| l.contains(want)),
            "no {want} in {labels:?}"
        );
    }
    let r = run(&["run", "--set", "train.max_leaves=15", "--json"]);
    assert_eq!(state_of(&r, "prepare"), "up_to_date");
    assert_eq!(state_of(&r, "validate"), "up_to_date");
    assert_eq!(state_of(&r, "train"), "ran");
    assert_eq!(state_of(&r, "evaluate"), "ran");
    assert_eq!(state_of(&r, "gate"), "ran");

    // register and gate: each passing model became champion, with a verdict.
    let v = run(&["models", "versions", "elec2", "--json"]);
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert!(v.as_array().unwrap().iter().all(|x| x["verdict"] == true));
    assert_eq!(v[1]["aliases"], serde_json::json!(["champion"]));

    // A gate the model cannot pass fails the step, and only that step.
    let spec = std::fs::read_to_string(root.join("gyre.toml")).unwrap();
    std::fs::write(
        root.join("gyre.toml"),
        spec.replace(
            "min = { accuracy = 0.65, roc_auc = 0.7 }",
            "min = { accuracy = 0.99 }",
        ),
    )
    .unwrap();
    let out = p
        .command(&["run", "--json"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(state_of(&r, "gate"), "failed");
    assert_eq!(state_of(&r, "register"), "up_to_date");
    assert!(String::from_utf8_lossy(&out.stderr).contains("FAIL accuracy ≥ min"));

    // The example's own documented command: more days pass its schema (the gate above is
    // still impossible, so only the steps before it are checked).
    let out = p
        .command(&["run", "--set", "prepare.days=300", "--json"])
        .current_dir(&root)
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for step in ["prepare", "validate", "train"] {
        assert_eq!(state_of(&r, step), "ran", "{r}");
    }
}
