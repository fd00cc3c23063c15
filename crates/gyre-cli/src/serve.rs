//! `gyre serve`.

use crate::{CliResult, Failure, open_project};
use clap::Args;
use gyre_serve::{ServeOptions, serve};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Serve a registered model over REST (MLflow's /invocations and the Open Inference Protocol
/// v2), following its alias: when `champion` moves, the server swaps models with no failed
/// request. Settings come from `[serve]` in gyre.toml; flags override them.
#[derive(Args)]
pub struct ServeArgs {
    /// The registered model (default: `[serve] model`).
    model: Option<String>,
    /// The alias to serve (default: champion).
    #[arg(long)]
    alias: Option<String>,
    /// Address to bind (default 127.0.0.1; 0.0.0.0 exposes the server to the network).
    #[arg(long)]
    host: Option<String>,
    /// Port (default 8080; 0 picks a free one).
    #[arg(long)]
    port: Option<u16>,
    /// Share of requests the `challenger` alias answers, 0–1.
    #[arg(long, value_name = "SHARE")]
    canary: Option<f64>,
    /// The challenger scores every request in shadow; its answers are logged, not returned.
    #[arg(long)]
    shadow: bool,
}

pub async fn run(args: ServeArgs, project: &Option<PathBuf>) -> CliResult {
    let signalled = shutdown_signal();
    let p = open_project(project).await?;
    let spec = p.spec.serve.clone().unwrap_or_default();
    let model = args.model.or(spec.model).ok_or_else(|| {
        Failure::Error(gyre_ops::OpsError::Invalid(
            "which model? `gyre serve NAME`, or `[serve] model = \"NAME\"` in gyre.toml".into(),
        ))
    })?;
    let host = args
        .host
        .or(spec.host)
        .unwrap_or_else(|| "127.0.0.1".into());
    let port = args.port.or(spec.port).unwrap_or(8080);
    let addr: SocketAddr = format!("{host}:{port}")
        .parse()
        .or_else(|_| format!("[{host}]:{port}").parse())
        .map_err(|_| {
            Failure::Error(gyre_ops::OpsError::Invalid(format!(
                "--host `{host}` is not an IP address"
            )))
        })?;
    let mut opts = ServeOptions::new(&model, addr);
    if let Some(a) = args.alias.or(spec.alias) {
        opts.alias = a;
    }
    opts.canary_share = args.canary.or(spec.canary.map(|c| c.share)).unwrap_or(0.0);
    if !(0.0..=1.0).contains(&opts.canary_share) {
        return Err(Failure::Error(gyre_ops::OpsError::Invalid(format!(
            "the canary share {} must be between 0 and 1",
            opts.canary_share
        ))));
    }
    opts.shadow = args.shadow || spec.shadow;
    opts.ignore_extra_columns = spec.extra_columns == gyre_core::spec::ExtraColumns::Ignore;
    if let Some(b) = spec.max_body_bytes {
        opts.max_body_bytes = b;
    }
    opts.access = spec.access.clone();
    opts.durable_log = spec.log == gyre_core::spec::LogMode::Durable;
    if let Some(n) = spec.max_concurrent {
        opts.max_concurrent = n;
    }
    opts.labels = spec.labels.clone();
    if !addr.ip().is_loopback() {
        let reads = match opts.access.reads {
            gyre_core::access::OpenReads::Open => {
                "predictions and metrics are OPEN to anyone who can reach it ([serve.access] reads = \"open\")"
            }
            _ => "predictions and metrics need a predictor or viewer token",
        };
        gyre_ops::note!(
            "warning: serving on {addr}, beyond this machine: {reads}; changes need an editor \
             token (`gyre tokens create`)"
        );
    }
    // Ctrl-C or SIGTERM (what service managers send): stop accepting, finish what is in
    // flight, flush the prediction log, exit 0.
    let shutdown = async {
        signalled.await;
        gyre_ops::note!("shutting down: finishing requests and flushing the prediction log");
    };
    let alias = opts.alias.clone();
    let result = serve(Arc::new(p), opts, shutdown, |bound, m| {
        out!(
            "serving {}@{alias} (v{}) on http://{bound}",
            m.name,
            m.version
        );
        out!("web UI on http://{bound}/ui/");
    })
    .await;
    result.map_err(|e| match e {
        gyre_serve::ServeError::Ops(o) => Failure::Error(o),
        other => Failure::Error(gyre_ops::OpsError::Invalid(other.to_string())),
    })
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM. The listeners are installed when this is called,
/// not when the future is first polled, so a signal that arrives while the caller is still
/// starting up (opening the store, loading a model) is not lost.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let int = signal(SignalKind::interrupt());
    let term = signal(SignalKind::terminate());
    async move {
        let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
            match s {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = wait(int) => {}
            _ = wait(term) => {}
        }
    }
}

/// Serve the MLflow tracking API with no model, for scripts that log runs: point them at it
/// with `MLFLOW_TRACKING_URI=http://HOST:PORT` and an editor token in `MLFLOW_TRACKING_TOKEN`.
#[derive(Args)]
pub struct ServerArgs {
    /// Address to bind (default 127.0.0.1; 0.0.0.0 exposes the server to the network).
    #[arg(long)]
    host: Option<String>,
    /// Port (default 5000, MLflow's; 0 picks a free one).
    #[arg(long)]
    port: Option<u16>,
}

pub async fn server(args: ServerArgs, project: &Option<PathBuf>) -> CliResult {
    track(args, project, |bound| {
        out!("tracking server (MLflow API) on http://{bound}");
        out!("web UI on http://{bound}/ui/");
    })
    .await
}

/// Serve the web UI (and the MLflow tracking API, as `gyre server` does) and open it.
#[derive(Args)]
pub struct UiArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Print the address only; do not start a browser.
    #[arg(long)]
    no_open: bool,
}

pub async fn ui(args: UiArgs, project: &Option<PathBuf>) -> CliResult {
    let open = !args.no_open;
    track(args.server, project, move |bound| {
        let url = format!("http://{bound}/ui/");
        out!("web UI on {url}");
        if open {
            open_browser(&url);
        }
    })
    .await
}

/// Starts the desktop's browser on `url` (`xdg-open`, or `open` on macOS), without a shell;
/// when there is none, the printed address is enough.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let started = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if started.is_err() {
        gyre_ops::note!("could not start a browser ({opener}); open {url}");
    }
}

/// The tracking server with the UI, announcing its address through `on_bound`.
async fn track(
    args: ServerArgs,
    project: &Option<PathBuf>,
    on_bound: impl FnOnce(SocketAddr),
) -> CliResult {
    let signalled = shutdown_signal();
    let p = open_project(project).await?;
    let spec = p.spec.serve.clone().unwrap_or_default();
    let host = args.host.unwrap_or_else(|| "127.0.0.1".into());
    let port = args.port.unwrap_or(5000);
    let addr: SocketAddr = format!("{host}:{port}")
        .parse()
        .or_else(|_| format!("[{host}]:{port}").parse())
        .map_err(|_| {
            Failure::Error(gyre_ops::OpsError::Invalid(format!(
                "--host `{host}` is not an IP address"
            )))
        })?;
    if !addr.ip().is_loopback() {
        gyre_ops::note!(
            "warning: serving on {addr}, beyond this machine: reads need a viewer token, writes \
             an editor token"
        );
    }
    let opts = gyre_serve::TrackingOptions {
        addr,
        access: spec.access.clone(),
        max_body_bytes: spec.max_body_bytes.unwrap_or(8 << 20),
    };
    let result = gyre_serve::serve_tracking(Arc::new(p), opts, signalled, on_bound).await;
    result.map_err(|e| match e {
        gyre_serve::ServeError::Ops(o) => Failure::Error(o),
        other => Failure::Error(gyre_ops::OpsError::Invalid(other.to_string())),
    })
}
