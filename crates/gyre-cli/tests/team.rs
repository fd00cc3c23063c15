//! Team mode: two `gyre serve` and two `gyre agent` processes, each in its own checkout (its
//! own `.gyre/`, so its own read cache), on one PostgreSQL store and one S3 bucket (`s3s-fs`,
//! which `.ci/run` starts). Each trigger fires once, by whichever process holds the lease;
//! when that process is killed, another takes over and fires what follows. Each label is
//! joined once, whichever server took it; each monitoring window is judged once; an alias
//! move reaches both servers, the second of which never had the model's bytes on its disk.

mod common;

use common::Project;
use common::server::Server;
use serde_json::{Value, json};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Laid over [`common::INCOME_MODEL`].
const SPEC: &str = r#"

[monitor]
model = "income"
window = { labels = 10 }
min = { accuracy = 0.01 }

[loop]
enabled = false

[steps.ingest]
run = "echo ingested"

[[trigger]]
name = "landed"
on = "data"
dataset = "inbox"
run = "ingest"
"#;

fn row(age: i64) -> Value {
    json!({"age": age, "workclass": "State-gov", "fnlwgt": 77516, "education": "Bachelors",
           "education-num": 13, "marital-status": "Never-married", "occupation": "Adm-clerical",
           "relationship": "Not-in-family", "race": "White", "sex": "Male", "capital-gain": 2174,
           "capital-loss": 0, "hours-per-week": 40, "native-country": "United-States"})
}

/// Leases last 2 s here (15 by default), so a takeover is quick to see.
const LEASE: (&str, &str) = ("GYRE_LEASE_SECONDS", "2");

fn until(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn add_inbox(p: &Project, n: usize) {
    let csv = p.root().join(format!("inbox-{n}.csv"));
    let rows: String = (0..=n).map(|i| format!("{i},{}\n", i * i)).collect();
    std::fs::write(&csv, format!("x,y\n{rows}")).unwrap();
    p.ok(&["data", "add", "inbox", csv.to_str().unwrap()]);
}

#[test]
fn two_servers_and_two_agents_share_postgres_and_s3() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some((url, bucket)) = common::team_stores(&rt, "team") else {
        return;
    };
    let nats_url = std::env::var("GYRE_NATS_URL").unwrap_or("nats://127.0.0.1:4222".into());
    let nats = rt.block_on(async_nats::connect(&nats_url)).ok();
    let subject = format!("gyre.test.team.{}", std::process::id());
    let store = rt.block_on(gyre_store::open_meta_store(&url)).unwrap();

    // Machine A makes the model; its objects go to the bucket as they are stored.
    let a = Project::with_stores(Some(url.clone()), Some(bucket.clone()));
    a.add_adult("adult");
    a.append_spec(common::INCOME_MODEL);
    a.append_spec(SPEC);
    if nats.is_some() {
        a.append_spec(&format!(
            "\n[[trigger]]\nname = \"bus\"\non = \"message\"\nsubject = \"{subject}\"\nrun = \"ingest\"\n"
        ));
    }
    for algorithm in ["logistic_regression", "gradient_boosting"] {
        let run = a.train_run(&["--set", &format!("model.algorithm=\"{algorithm}\"")]);
        a.ok(&["models", "register", "income", &run]);
    }
    a.ok(&["models", "alias", "income@1", "champion", "--force"]);
    add_inbox(&a, 1);
    assert_eq!(
        walk_files(&a.root().join(".gyre/objects")),
        0,
        "with objects in a bucket, nothing is kept under .gyre/objects"
    );

    // Three more machines: a server and two agents, checkouts with no objects of their own.
    let (b, c, d) = (a.checkout(), a.checkout(), a.checkout());
    let s1 = Server::start_with_env(&a, "income", &[], &[LEASE]);
    let s2 = Server::start_with_env(&b, "income", &[], &[LEASE]);
    let agent = |p: &Project, log: &str| -> Child {
        p.command(&["agent", "--tick-every", "0.1", "--monitor-every", "0.2"])
            .env(LEASE.0, LEASE.1)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(p.root().join(log)).unwrap())
            .spawn()
            .unwrap()
    };
    let mut agents = vec![agent(&c, "agent.log"), agent(&d, "agent.log")];
    let pids: Vec<u32> = [s1.child.id(), s2.child.id()]
        .into_iter()
        .chain(agents.iter().map(|a| a.id()))
        .collect();
    let holder_pid = |lease: &str| -> Option<u32> {
        rt.block_on(store.leases())
            .unwrap()
            .into_iter()
            .find(|l| l.name == lease && l.expires_ms > now_ms())
            .and_then(|l| l.holder.split(':').nth(1).and_then(|p| p.parse().ok()))
    };
    until("every process is up and the leases are held", 60, || {
        holder_pid("triggers").is_some() && holder_pid("monitor").is_some()
    });
    for lease in ["triggers", "monitor"] {
        let pid = holder_pid(lease).unwrap();
        assert!(pids.contains(&pid), "{lease} is held by one of ours: {pid}");
    }

    let firings = |trigger: &str| -> Vec<gyre_store::Firing> {
        rt.block_on(store.firings(Some(trigger), 100)).unwrap()
    };
    let settled = |trigger: &str, n: usize| {
        until(&format!("{trigger} fired {n} time(s)"), 30, || {
            let f = firings(trigger);
            f.len() >= n && f.iter().all(|f| f.finished_ms.is_some())
        });
        // Give any second firing (the bug this test is for) time to show.
        std::thread::sleep(Duration::from_millis(1500));
        firings(trigger)
    };

    // A new data version fires its trigger once among four processes watching it.
    add_inbox(&a, 2);
    let landed = settled("landed", 1);
    assert_eq!(landed.len(), 1, "{landed:?}");
    assert_eq!(landed[0].cause, "new version inbox@2");
    let listed = d
        .ok(&["monitor", "firings", "--trigger", "landed", "--json"])
        .json();
    assert_eq!(listed[0]["cause"], "new version inbox@2", "{listed}");
    let table = d.ok(&["monitor", "firings"]).stdout;
    assert!(
        table.contains("landed") && table.contains("succeeded"),
        "{table}"
    );

    // Each message fires once: the subscriptions share a queue group.
    if let Some(nats) = &nats {
        for i in 0..3 {
            rt.block_on(nats.publish(subject.clone(), format!("retrain {i}").into()))
                .unwrap();
            rt.block_on(nats.flush()).unwrap();
            std::thread::sleep(Duration::from_millis(300));
        }
        let bus = settled("bus", 3);
        assert_eq!(bus.len(), 3, "{bus:?}");
    } else {
        eprintln!("notice: NATS is not reachable at {nats_url}; the message part is skipped");
    }

    // Predictions on both servers; each one's labels sent to the other server.
    let body = json!({"dataframe_records": [row(38)]}).to_string();
    let (mut to_s1, mut to_s2) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        for (s, labels) in [(&s1, &mut to_s2), (&s2, &mut to_s1)] {
            let (status, r, _) = s.post("/invocations", "application/json", &body);
            assert_eq!(status, 200, "{r}");
            labels.push(json!({"request_id": r["request_id"], "label": "<=50K"}));
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    for (s, labels) in [(&s1, &to_s1), (&s2, &to_s2)] {
        let (status, fb, _) = s.post("/feedback", "application/json", &json!(labels).to_string());
        assert_eq!((status, fb["stored"].as_u64()), (200, Some(20)), "{fb}");
    }
    let joined = rt
        .block_on(store.labelled_after("income", "champion", 0, 1000))
        .unwrap();
    assert_eq!(joined.len(), 40, "every label joined once");
    assert_eq!(rt.block_on(store.pending_labels()).unwrap(), 0);
    // Four windows of ten labels, each judged once, by the monitor lease's holder.
    until("the monitor judged four windows", 30, || {
        rt.block_on(store.points("income", None, Some("champion")))
            .unwrap()
            .iter()
            .filter(|p| p.last_seq > 0)
            .map(|p| p.last_seq)
            .max()
            .is_some_and(|last| last >= 40)
    });
    std::thread::sleep(Duration::from_millis(1000));
    let points = rt
        .block_on(store.points("income", None, Some("champion")))
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    for p in &points {
        assert!(
            seen.insert((p.kind.clone(), p.first_seq, p.last_seq)),
            "a window judged twice: {p:?}"
        );
    }

    // An alias moved on another machine reaches both servers; the second loads the new
    // version from the bucket.
    c.ok(&["models", "alias", "income@2", "champion", "--force"]);
    for s in [&s1, &s2] {
        until(&format!("{} serves income@2", s.base), 20, || {
            s.post("/invocations", "application/json", &body)
                .2
                .as_deref()
                == Some("income@2")
        });
    }
    let cached = b.root().join(".gyre/bucket-cache/objects");
    assert!(
        walk_files(&cached) >= 2,
        "server B read both models through its cache"
    );
    // The collector lists the bucket; with --cache it would drop the cached copies.
    let gc = b
        .ok(&["gc", "--cache", "--grace", "0h", "--dry-run", "--json"])
        .json();
    assert_eq!(
        gc["removed"], 0,
        "everything in the bucket is referenced: {gc}"
    );
    assert!(gc["objects"].as_u64().unwrap() >= 4, "{gc}");
    assert_eq!(
        gc["cached_dropped"].as_u64(),
        Some(walk_files(&cached) as u64)
    );

    // The process firing triggers dies without a word; another takes over and fires once.
    let victim = holder_pid("triggers").unwrap();
    std::process::Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status()
        .unwrap();
    add_inbox(&c, 3);
    let landed = settled("landed", 2);
    assert_eq!(landed.len(), 2, "{landed:?}");
    assert_eq!(landed[0].cause, "new version inbox@3");
    let successor = holder_pid("triggers").unwrap();
    assert_ne!(successor, victim);
    assert!(pids.contains(&successor));

    for a in &mut agents {
        let _ = a.kill();
        let _ = a.wait();
    }
    drop((s1, s2));
}

fn walk_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                walk_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
