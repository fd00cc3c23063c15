//! `gyre runs …` through the real binary, on runs recorded with the operations API (the
//! same calls `gyre train` and pipelines make).

mod common;

use common::Project;
use gyre_core::{NewRun, RunId, RunStatus};
use gyre_ops::runs::{host_name, now_ms, process_start};

fn record(p: &Project) -> (String, String) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let project = gyre_ops::Project::open(p.root()).await.unwrap();
        let mut a = project.start_run("train", None).await.unwrap();
        a.log_params(&[
            ("algorithm".into(), "random_forest".into()),
            ("trees".into(), "100".into()),
        ])
        .await
        .unwrap();
        for step in 0..50 {
            a.log_metric("loss", step, 1.0 / (step + 1) as f64)
                .await
                .unwrap();
        }
        a.log_metric("f1", 0, 0.86).await.unwrap();
        a.log_metric("odd", 0, f64::NAN).await.unwrap();
        a.add_inputs(&["dataset:adult@1".into()]).await.unwrap();
        let a_id = a.id.to_string();
        a.finish(RunStatus::Finished).await.unwrap();

        let mut b = project.start_run("train", None).await.unwrap();
        b.log_params(&[
            ("algorithm".into(), "logistic".into()),
            ("trees".into(), "100".into()),
        ])
        .await
        .unwrap();
        b.log_metric("f1", 0, 0.78).await.unwrap();
        let b_id = b.id.to_string();
        b.finish(RunStatus::Finished).await.unwrap();

        // A run whose process dies without ending it.
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let pid = child.id();
        let start = process_start(pid).unwrap();
        project
            .meta
            .create_run(
                &NewRun {
                    id: RunId::from_random([7; 16]),
                    name: "doomed".into(),
                    parent: None,
                    started_ms: now_ms(),
                    user: "tester".into(),
                    host: host_name(),
                    pid,
                    pid_start: start,
                    git_commit: None,
                    git_dirty: false,
                },
                &[],
            )
            .await
            .unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        (a_id, b_id)
    })
}

#[test]
fn list_show_compare_and_killed_runs() {
    let p = Project::init();
    let (a, b) = record(&p);

    let all = p.ok(&["runs", "list", "--json"]).json();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 3);
    let doomed = all.iter().find(|r| r["name"] == "doomed").unwrap();
    assert_eq!(
        doomed["status"], "killed",
        "a dead process's run is marked killed"
    );

    let hit = p
        .ok(&[
            "runs",
            "list",
            "--where",
            "metrics.f1 > 0.8 and params.algorithm = 'random_forest'",
            "--json",
        ])
        .json();
    assert_eq!(hit.as_array().unwrap().len(), 1);
    assert_eq!(hit[0]["id"], a.as_str());
    let ordered = p
        .ok(&[
            "runs",
            "list",
            "--order",
            "metrics.f1 asc",
            "--limit",
            "2",
            "--json",
        ])
        .json();
    assert_eq!(ordered[0]["id"], b.as_str());
    assert_eq!(ordered.as_array().unwrap().len(), 2);

    let show = p.ok(&["runs", "show", &a[..8], "--json"]).json();
    assert_eq!(show["metrics"]["odd"], "NaN", "NaN is kept exactly");
    let loss = show["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "loss")
        .unwrap();
    assert_eq!(
        (loss["points"].as_u64(), loss["last"].as_f64()),
        (Some(50), Some(0.02))
    );
    assert_eq!(show["inputs"][0], "dataset:adult@1");
    let text = p.ok(&["runs", "show", &a[..8]]).stdout;
    assert!(
        text.contains("random_forest") && text.contains("loss"),
        "{text}"
    );

    let cmp = p.ok(&["runs", "compare", &a[..8], &b[..8]]).stdout;
    let algo = cmp
        .lines()
        .find(|l| l.contains("params.algorithm"))
        .unwrap();
    assert!(algo.starts_with('*'), "differing rows are marked: {algo}");
    assert!(!cmp.contains("params.params."), "{cmp}");
    let trees = cmp.lines().find(|l| l.contains("params.trees")).unwrap();
    assert!(!trees.starts_with('*'), "equal rows are not: {trees}");

    for (args, want) in [
        (
            vec!["runs", "list", "--where", "metrics.f1 > high"],
            "neither a number",
        ),
        (vec!["runs", "show", "ffff"], "run `ffff` not found"),
        (vec!["runs", "compare", &a[..8]], "2 values"),
    ] {
        let r = p.gyre(&args);
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
}
