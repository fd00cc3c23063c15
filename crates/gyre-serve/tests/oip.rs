//! The Open Inference Protocol as its real client calls it: `tritonclient.http`
//! (tests/oip/triton.py) against a live server, with binary tensors and JSON, on the model
//! and on a pinned version. Needs a Python with `tritonclient[http]` (`.ci/run` installs it
//! beside the mlflow client); without one the test says so and passes.

mod common;

use common::{project, python_with, raw, start};
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tritonclient_reads_health_metadata_and_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(dir.path()).await;
    let (addr, stop) = start(p, |_| {}).await;
    // Without the client: the protocol's bodies, and a browser form's type is refused.
    let (code, live) = tokio::task::block_in_place(|| raw(addr, "GET", "/v2/health/live", &[], ""));
    assert_eq!((code, live["live"].as_bool()), (200, Some(true)));
    let (code, v2) = tokio::task::block_in_place(|| raw(addr, "GET", "/v2", &[], ""));
    assert_eq!((code, v2["name"].as_str()), (200, Some("gyre")));
    let (code, err) = tokio::task::block_in_place(|| {
        raw(
            addr,
            "POST",
            "/v2/models/elec/infer",
            &[("content-type", "text/plain")],
            r#"{"inputs": []}"#,
        )
    });
    assert_eq!(code, 415, "{err}");
    assert!(err["error"].is_string(), "{err}");
    let (code, _) = tokio::task::block_in_place(|| raw(addr, "GET", "/version", &[], ""));
    assert_eq!(code, 200);

    let Some(python) = python_with("tritonclient.http") else {
        eprintln!("no Python with tritonclient[http] (set GYRE_TEST_MLFLOW_PYTHON): skipping");
        let _ = stop.send(());
        return;
    };
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oip/triton.py");
    let out = tokio::task::block_in_place(|| {
        Command::new(&python)
            .arg(&script)
            .arg(addr.to_string())
            .arg("elec")
            .arg("1")
            .output()
            .unwrap()
    });
    assert!(
        out.status.success(),
        "tritonclient failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = stop.send(());
}
