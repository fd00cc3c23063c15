//! `gyre agent`: monitoring and triggers without serving.

use crate::{CliResult, open_project};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Run `[monitor]` passes and `[[trigger]]`s (schedule, data, monitor, code, NATS messages)
/// without serving: for a machine that retrains while servers elsewhere serve. Stops on
/// Ctrl-C or SIGTERM.
#[derive(Args)]
pub struct AgentArgs {
    /// Seconds between monitoring passes.
    #[arg(long, default_value_t = 5.0)]
    monitor_every: f64,
    /// Seconds between trigger checks.
    #[arg(long, default_value_t = 1.0)]
    tick_every: f64,
}

pub async fn run(args: AgentArgs, project: &Option<PathBuf>) -> CliResult {
    let signalled = crate::serve::shutdown_signal();
    let p = Arc::new(open_project(project).await?);
    if p.spec.trigger.is_empty() && p.spec.monitor.is_none() {
        return Err(crate::Failure::Error(gyre_ops::OpsError::Invalid(
            "nothing for the agent to run: gyre.toml has no [monitor] and no [[trigger]]".into(),
        )));
    }
    let scheduler = if p.spec.trigger.is_empty() {
        None
    } else {
        Some(gyre_ops::triggers::Scheduler::new(p.clone(), gyre_ops::runs::now_ms()).await?)
    };
    let _nats = match &scheduler {
        Some(s) => gyre_ops::triggers::listen_nats(s.clone()).await?,
        None => None,
    };
    gyre_ops::note!(
        "gyre agent: {} trigger(s){}; Ctrl-C stops",
        p.spec.trigger.len(),
        if p.spec.monitor.is_some() {
            ", monitoring"
        } else {
            ""
        }
    );
    let work = gyre_ops::triggers::automate(
        p.clone(),
        scheduler,
        None,
        true,
        Duration::from_secs_f64(args.monitor_every.max(0.1)),
        Duration::from_secs_f64(args.tick_every.max(0.05)),
    );
    tokio::select! {
        _ = work => {}
        _ = signalled => {}
    }
    // A standby agent or server takes triggers and monitoring over at once.
    gyre_ops::team::release_all(&p).await?;
    Ok(())
}
