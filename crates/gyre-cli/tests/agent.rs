//! `gyre agent` runs triggers without serving: a changed path fires its pipeline, the firing
//! is recorded with its cause, and SIGTERM stops the agent cleanly, giving its leases up.

mod common;
use common::Project;
use std::time::Duration;

#[test]
fn the_agent_fires_a_data_trigger() {
    let p = Project::init();
    std::fs::create_dir_all(p.root().join("inbox")).unwrap();
    std::fs::write(p.root().join("inbox/a.csv"), "x\n1\n").unwrap();
    p.append_spec(
        r#"
[steps.ingest]
run = "cat inbox/*.csv > merged.csv"
deps = ["inbox"]
outs = ["merged.csv"]

[[trigger]]
name = "landed"
on = "data"
path = "inbox"
run = "ingest"
"#,
    );
    let mut agent = p
        .command(&["agent", "--tick-every", "0.1"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The agent takes what exists when it starts as the baseline: wait until it has.
    let mut stderr = std::io::BufReader::new(agent.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut first).unwrap();
    assert!(first.starts_with("gyre agent: 1 trigger"), "{first}");
    let rest = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).unwrap();
        s
    });
    std::fs::write(p.root().join("inbox/b.csv"), "x\n2\n").unwrap();
    let mut merged = String::new();
    for _ in 0..100 {
        merged = std::fs::read_to_string(p.root().join("merged.csv")).unwrap_or_default();
        if merged.contains('2') {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &agent.id().to_string()])
        .status();
    let status = agent.wait().unwrap();
    let log = rest.join().unwrap();
    assert!(status.success(), "{log}");
    assert_eq!(merged, "x\n1\nx\n2\n");
    assert!(
        log.contains("trigger landed: `inbox` changed → ingest (running)"),
        "{log}"
    );
    // It held the triggers lease, and gave it up as it stopped: an agent restarted (or one on
    // standby) fires at once, not after the lease expires.
    assert!(log.contains("triggers: this process"), "{log}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = format!("sqlite://{}", p.root().join(".gyre/gyre.db").display());
    let store = rt.block_on(gyre_store::open_meta_store(&url)).unwrap();
    assert_eq!(rt.block_on(store.leases()).unwrap(), vec![]);
}

#[test]
fn an_agent_with_nothing_to_do_says_so() {
    let p = Project::init();
    let r = p.gyre(&["agent"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no [monitor] and no [[trigger]]"),
        "{}",
        r.stderr
    );
}
