//! The Open Inference Protocol as its real clients call it: `tritonclient.http`
//! (tests/oip/triton.py) and KServe's `InferenceRESTClient` (tests/oip/kserve_client.py)
//! against a live server, with binary tensors and JSON, on the model and on a pinned
//! version. Needs a Python with `tritonclient[http]` and `kserve` (`.ci/run` installs them
//! beside the mlflow client); without one, that client's part says so and passes.

mod common;

use common::{project, python_with, raw, start};
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oip_clients_read_health_metadata_and_predictions() {
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

    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oip");
    let base = format!("http://{addr}");
    for (module, script, args) in [
        (
            "tritonclient.http",
            "triton.py",
            [addr.to_string(), "elec".into(), "1".into()].to_vec(),
        ),
        ("kserve", "kserve_client.py", [base, "elec".into()].to_vec()),
    ] {
        let Some(python) = python_with(module) else {
            eprintln!("no Python with {module} (set GYRE_TEST_MLFLOW_PYTHON): skipping {script}");
            continue;
        };
        let out = tokio::task::block_in_place(|| {
            Command::new(&python)
                .arg(here.join(script))
                .args(&args)
                .output()
                .unwrap()
        });
        assert!(
            out.status.success(),
            "{script} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = stop.send(());
}
