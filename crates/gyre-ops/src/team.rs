//! Several servers and agents on one store: which process does what.
//!
//! - Firing triggers (`schedule`, `data`, `monitor`, `code`) needs the lease `triggers`; the
//!   holder saves each trigger's cursor in the store as it goes, so the process that takes
//!   over after it dies fires what happened meanwhile, and nothing twice.
//! - Monitoring passes (windows, rules, the canary's verdict) need the lease `monitor`.
//! - A pipeline runs in one process at a time: a run takes the lease `pipeline:NAME` and
//!   renews it while it works; a firing in another process waits for it, then runs once.
//! - Messages reach one process: NATS subscriptions share a queue group; a webhook reaches
//!   the one server it was sent to.
//!
//! Labels need no lease: a label is joined in the store by the statement that stores it, and
//! the join's key makes a second join of the same row a no-op. Alias moves need none either:
//! every server follows the store.

use crate::{Project, Result, settings};
use std::sync::OnceLock;

/// The lease of the process that fires triggers.
pub const TRIGGERS: &str = "triggers";
/// The lease of the process that runs monitoring passes.
pub const MONITOR: &str = "monitor";

/// The lease a pipeline's run holds.
pub fn pipeline_lease(pipeline: &str) -> String {
    format!("pipeline:{pipeline}")
}

/// How long a lease lasts unless renewed: `GYRE_LEASE_SECONDS`, default 15. Holders renew
/// every tick (a second by default), so a live holder never lets it lapse; a dead one's work
/// is taken over after at most this long.
pub fn lease_ttl_ms() -> i64 {
    std::env::var(settings::LEASE_SECONDS)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map_or(15_000, |s| (s * 1000.0) as i64)
}

/// This process, as lease holders are named: `HOST:PID:RANDOM`. One name for every scheduler
/// and monitor in the process, so a process that builds a new one keeps what it holds.
pub fn holder() -> &'static str {
    static HOLDER: OnceLock<String> = OnceLock::new();
    HOLDER.get_or_init(|| {
        let mut nonce = [0u8; 3];
        let _ = getrandom::fill(&mut nonce);
        format!(
            "{}:{}:{}",
            crate::runs::host_name(),
            std::process::id(),
            nonce.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    })
}

/// Whether this process holds `lease` now (taking or renewing it), and whether it just took
/// it, with a note on stderr when holding changes hands.
pub async fn hold(project: &Project, lease: &str, now_ms: i64, held: &mut bool) -> Result<bool> {
    let ok = project
        .meta
        .acquire_lease(lease, holder(), now_ms, lease_ttl_ms())
        .await?;
    if ok && !*held {
        crate::note!("{lease}: this process ({}) holds the lease", holder());
    } else if !ok && *held {
        crate::note!("{lease}: the lease passed to another process");
    }
    let took = ok && !*held;
    *held = ok;
    Ok(took)
}

/// Who holds `lease` now, if anyone (an expired lease is held by no one).
pub async fn holder_of(project: &Project, lease: &str, now_ms: i64) -> Result<Option<String>> {
    Ok(project
        .meta
        .leases()
        .await?
        .into_iter()
        .find(|l| l.name == lease && l.expires_ms > now_ms)
        .map(|l| l.holder))
}

/// Gives up every lease this process holds: on a clean shutdown, so a restarted or standby
/// process takes the work over at once instead of after the expiry.
pub async fn release_all(project: &Project) -> Result<()> {
    for l in project.meta.leases().await? {
        if l.holder == holder() {
            project.meta.release_lease(&l.name, holder()).await?;
        }
    }
    Ok(())
}
