//! What the benchmark examples share: a run numbered `n`, and the median of timings.

use gyre_core::{NewRun, RunId};
use std::net::SocketAddr;
use std::sync::Arc;

/// Run `n` of a benchmark store: a fixed id from `n`, started at `n` ms, one of 100 names.
pub fn run(n: u64) -> NewRun {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&n.to_be_bytes());
    b[8] = 0x5a;
    NewRun {
        id: RunId::from_random(b),
        name: format!("train-{}", n % 100),
        parent: None,
        started_ms: n as i64,
        user: "bench".into(),
        host: "bench".into(),
        pid: 1,
        pid_start: 1,
        git_commit: None,
        git_dirty: false,
    }
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `gyre server`'s code on 127.0.0.1:0 over `project`, in the background: its address, and
/// what stops it.
pub async fn serve(
    project: Arc<gyre_ops::Project>,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let opts = gyre_serve::TrackingOptions {
        addr: "127.0.0.1:0".parse().unwrap(),
        access: Default::default(),
        max_body_bytes: 8 << 20,
    };
    tokio::spawn(gyre_serve::serve_tracking(
        project,
        opts,
        async {
            let _ = stopped.await;
        },
        move |addr| {
            let _ = bound_tx.send(addr);
        },
    ));
    (bound_rx.await.unwrap(), stop)
}
