//! Each trigger kind fires its pipeline: a cron schedule in a time zone (with an injected
//! clock), a new dataset version, a changed path, a monitor event, the git HEAD, and a real
//! NATS message on 127.0.0.1:4222. Firings are rows with their cause; a firing while the
//! pipeline runs is coalesced.

use gyre_ops::Project;
use gyre_ops::triggers::Scheduler;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn spec(triggers: &str) -> String {
    format!(
        r#"
[project]
name = "t"

[steps.work]
run = "cat watched/* > out.txt 2>/dev/null; date +%s%N >> runs.log"
outs = ["out.txt"]

{triggers}
"#
    )
}

async fn project(dir: &Path, triggers: &str) -> Arc<Project> {
    gyre_ops::init(dir, Some("t")).await.unwrap();
    std::fs::write(dir.join("gyre.toml"), spec(triggers)).unwrap();
    std::fs::create_dir_all(dir.join("watched")).unwrap();
    std::fs::write(dir.join("watched/a.txt"), "1").unwrap();
    Arc::new(Project::open(dir).await.unwrap())
}

/// A version of dataset `d`: what a data trigger on it waits for.
async fn add_version_of_d(p: &Project, dir: &Path) {
    std::fs::write(dir.join("d.csv"), "x,y\n1,2\n").unwrap();
    p.add_dataset(
        &"d".parse().unwrap(),
        Some(&dir.join("d.csv")),
        &Default::default(),
        &gyre_ops::NoProgress,
    )
    .await
    .unwrap();
}

fn runs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("runs.log"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// 2026-03-28 12:01 UTC, in milliseconds.
const T0: i64 = 1_774_699_260_000;
const MIN: i64 = 60_000;

#[tokio::test]
async fn a_schedule_fires_when_due_in_its_time_zone() {
    let dir = tempfile::tempdir().unwrap();
    // 14:00 in Berlin is 13:00 UTC on this day (CET, before the switch to summer time).
    let p = project(
        dir.path(),
        "[[trigger]]\nname = \"nightly\"\non = \"schedule\"\ncron = \"0 14 * * *\"\ntimezone = \"Europe/Berlin\"\nrun = \"work\"\n",
    )
    .await;
    let s = Scheduler::new(p.clone(), T0).await.unwrap();
    assert!(s.tick(T0 + 30 * MIN, true).await.unwrap().is_empty());
    let fired = s.tick(T0 + 59 * MIN, true).await.unwrap();
    assert_eq!(fired.len(), 1);
    let f = &fired[0].firing;
    assert_eq!(
        (f.kind.as_str(), f.status.as_str()),
        ("schedule", "succeeded")
    );
    assert!(f.cause.contains("2026-03-28T13:00:00"), "{}", f.cause);
    assert_eq!(runs(dir.path()), 1);
    // Not again until the next day.
    assert!(s.tick(T0 + 120 * MIN, true).await.unwrap().is_empty());
    assert_eq!(s.tick(T0 + 24 * 60 * MIN, true).await.unwrap().len(), 1);
    assert_eq!(p.meta.firings(Some("nightly"), 10).await.unwrap().len(), 2);
    // A bad expression or zone is refused up front.
    assert!(gyre_ops::triggers::next_cron("61 * * * *", "UTC", T0).is_err());
    assert!(gyre_ops::triggers::next_cron("0 * * * *", "Mars/Olympus", T0).is_err());
}

#[tokio::test]
async fn new_data_and_changed_paths_fire() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(
        dir.path(),
        "[[trigger]]\nname = \"files\"\non = \"data\"\npath = \"watched\"\nrun = \"work\"\n\n[[trigger]]\nname = \"versions\"\non = \"data\"\ndataset = \"d\"\nrun = \"work\"\n",
    )
    .await;
    let s = Scheduler::new(p.clone(), T0).await.unwrap();
    assert!(s.tick(T0, true).await.unwrap().is_empty());
    std::fs::write(dir.path().join("watched/b.txt"), "2").unwrap();
    let fired = s.tick(T0 + MIN, true).await.unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].firing.trigger, "files");
    assert!(fired[0].firing.cause.contains("`watched` changed"));
    add_version_of_d(&p, dir.path()).await;
    let fired = s.tick(T0 + 2 * MIN, true).await.unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].firing.cause, "new version d@1");
    assert!(s.tick(T0 + 3 * MIN, true).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_monitor_event_and_a_moved_head_fire() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(
        dir.path(),
        "[[trigger]]\nname = \"decay\"\non = \"monitor\"\nrule = \"f1\"\nrun = \"work\"\n\n[[trigger]]\nname = \"code\"\non = \"code\"\nrun = \"work\"\n",
    )
    .await;
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "gyre.toml"]);
    git(&["commit", "-qm", "one"]);
    let s = Scheduler::new(p.clone(), T0).await.unwrap();
    assert!(s.tick(T0, true).await.unwrap().is_empty());
    let event = |rule: &str, kind: &str| gyre_store::MonitorEvent {
        id: 0,
        ts_ms: T0,
        model: "m".into(),
        version: 1,
        rule: rule.into(),
        kind: kind.into(),
        point: None,
        value: Some(0.3),
        threshold: Some(0.5),
        detail: String::new(),
    };
    // A retrain the loop asks for on another rule, and a breach (which the loop engine,
    // not the trigger, turns into a retrain), do not fire it.
    p.meta
        .add_event(&event("accuracy", "retrain"))
        .await
        .unwrap();
    p.meta.add_event(&event("f1", "breach")).await.unwrap();
    assert!(s.tick(T0 + MIN, true).await.unwrap().is_empty());
    p.meta.add_event(&event("f1", "retrain")).await.unwrap();
    let fired = s.tick(T0 + 2 * MIN, true).await.unwrap();
    assert_eq!(fired.len(), 1);
    assert!(fired[0].firing.cause.contains("retrain on f1"));
    std::fs::write(dir.path().join("watched/a.txt"), "2").unwrap();
    git(&["add", "watched"]);
    git(&["commit", "-qm", "two"]);
    let fired = s.tick(T0 + 3 * MIN, true).await.unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].firing.trigger, "code");
    assert!(fired[0].firing.cause.starts_with("git HEAD moved"));
}

#[tokio::test]
async fn fires_while_running_are_coalesced() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(
        dir.path(),
        "[[trigger]]\nname = \"poke\"\non = \"message\"\nrun = \"slow\"\n\n[steps.slow]\nrun = \"sleep 1; date +%s%N >> runs.log\"\n",
    )
    .await;
    let s = Scheduler::new(p.clone(), T0).await.unwrap();
    let (first, handle) = s.fire("poke", "one", T0).await.unwrap();
    assert_eq!(first.firing.status, "running");
    let (second, none) = s.fire("poke", "two", T0).await.unwrap();
    let (third, _) = s.fire("poke", "three", T0).await.unwrap();
    assert!(none.is_none());
    assert_eq!(second.firing.status, "coalesced");
    assert_eq!(third.firing.status, "coalesced");
    handle.unwrap().await.unwrap().unwrap();
    // One run for the first firing, one more for both coalesced ones (which finds the
    // step's result stored: nothing changed since).
    assert_eq!(runs(dir.path()), 1);
    let rows = p.meta.firings(Some("poke"), 10).await.unwrap();
    let seen: Vec<(&str, &str, &str)> = rows
        .iter()
        .rev()
        .map(|f| (f.cause.as_str(), f.status.as_str(), f.detail.as_str()))
        .collect();
    assert_eq!(seen.len(), 3);
    assert_eq!((seen[0].0, seen[0].1), ("one", "succeeded"));
    assert!(seen[0].2.starts_with("run "), "{seen:?}");
    assert_eq!(seen[1], ("two", "succeeded", "up to date"));
    assert_eq!(seen[2].1, "coalesced");
    assert!(
        seen[2].2.contains(&format!("firing #{}", rows[1].id)),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_nats_message_fires() {
    let url = gyre_ops::triggers::nats_url();
    let Ok(client) = async_nats::connect(&url).await else {
        eprintln!("NATS is not reachable at {url}; skipping the NATS trigger test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let subject = format!("gyre.test.{}", std::process::id());
    let p = project(
        dir.path(),
        &format!(
            "[[trigger]]\nname = \"bus\"\non = \"message\"\nsubject = \"{subject}\"\nrun = \"work\"\n"
        ),
    )
    .await;
    let s = Scheduler::new(p.clone(), T0).await.unwrap();
    let listener = gyre_ops::triggers::listen_nats(s.clone())
        .await
        .unwrap()
        .expect("a subject to listen on");
    client
        .publish(subject.clone(), "retrain please".into())
        .await
        .unwrap();
    client.flush().await.unwrap();
    let mut done = None;
    for _ in 0..600 {
        let rows = p.meta.firings(Some("bus"), 10).await.unwrap();
        if let Some(f) = rows.first().filter(|f| f.status == "succeeded") {
            done = Some(f.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Some(f) = done else {
        let rows = p.meta.firings(Some("bus"), 10).await.unwrap();
        panic!("the message did not fire the pipeline; firings: {rows:?}");
    };
    assert_eq!(f.kind, "message");
    assert_eq!(f.cause, format!("NATS `{subject}`: retrain please"));
    assert_eq!(runs(dir.path()), 1);
    listener.abort();
}

/// A pipeline another process is running (it holds `pipeline:work`) is waited for: the
/// firing is `waiting`, names the holder, and runs once the lease is free.
#[tokio::test]
async fn a_pipeline_running_in_another_process_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(
        dir.path(),
        "[[trigger]]\nname = \"poke\"\non = \"message\"\nrun = \"work\"\n",
    )
    .await;
    let elsewhere = "other-host:4242:abcdef";
    let now = gyre_ops::runs::now_ms();
    assert!(
        p.meta
            .acquire_lease("pipeline:work", elsewhere, now, 60_000)
            .await
            .unwrap()
    );
    let s = Scheduler::new(p.clone(), now).await.unwrap();
    let (_, handle) = s.fire("poke", "a webhook", now).await.unwrap();
    let mut waiting = None;
    for _ in 0..50 {
        let f = p.meta.firings(Some("poke"), 1).await.unwrap();
        if f[0].status == "waiting" {
            waiting = Some(f[0].clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let waiting = waiting.expect("the firing waits for the other process");
    assert!(waiting.detail.contains(elsewhere), "{}", waiting.detail);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        runs(dir.path()),
        0,
        "nothing runs while the other process does"
    );
    p.meta
        .release_lease("pipeline:work", elsewhere)
        .await
        .unwrap();
    let done = handle.unwrap().await.unwrap().unwrap();
    assert_eq!(done.firing.status, "succeeded");
    assert_eq!(runs(dir.path()), 1);
    // The run gave the lease back.
    assert!(
        p.meta
            .leases()
            .await
            .unwrap()
            .iter()
            .all(|l| l.name != "pipeline:work")
    );
}

/// The process that takes the `triggers` lease over continues from the cursors its
/// predecessor saved: a version added while no one held the lease fires, once.
#[tokio::test]
async fn a_successor_fires_what_happened_while_no_one_held_the_triggers() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(
        dir.path(),
        "[[trigger]]\nname = \"versions\"\non = \"data\"\ndataset = \"d\"\nrun = \"work\"\n",
    )
    .await;
    let first = Scheduler::new(p.clone(), T0).await.unwrap();
    assert!(first.tick(T0, true).await.unwrap().is_empty());
    // The holder goes away; a version lands before anyone takes over.
    p.meta
        .release_lease("triggers", gyre_ops::team::holder())
        .await
        .unwrap();
    drop(first);
    add_version_of_d(&p, dir.path()).await;
    // Alone, a scheduler started now would take d@1 as its baseline and never fire it.
    let successor = Scheduler::new(p.clone(), T0 + MIN).await.unwrap();
    let fired = successor.tick(T0 + MIN, true).await.unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].firing.cause, "new version d@1");
    assert!(successor.tick(T0 + 2 * MIN, true).await.unwrap().is_empty());
    assert_eq!(p.meta.firings(Some("versions"), 10).await.unwrap().len(), 1);
}
