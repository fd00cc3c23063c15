//! `gyre gc`.

use crate::render::{bytes, count, table, time_span};
use crate::{CliResult, open_project, print_json};
use clap::Args;
use gyre_ops::gc::GcOptions;
use std::path::PathBuf;

/// Remove the objects nothing references (no dataset version, model version, run, step result
/// or MLflow artifact names them) and the temporary files a killed writer left. Objects and
/// files written within the grace period are kept: a writer stores objects before it records
/// what names them.
#[derive(Args)]
pub struct GcArgs {
    /// Keep what was written less than this long ago (`24h`, `7d`, `0h`).
    #[arg(long, default_value = "24h", value_name = "SPAN")]
    grace: String,
    /// Report what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// With objects in a bucket: also drop this machine's cached copies fetched before the
    /// grace period (`.gyre/bucket-cache/`); they are fetched again when next read.
    #[arg(long)]
    cache: bool,
    #[arg(long)]
    json: bool,
}

pub async fn run(a: GcArgs, project: &Option<PathBuf>) -> CliResult {
    let opts = GcOptions {
        grace_ms: time_span("--grace", &a.grace)?,
        dry_run: a.dry_run,
        cache: a.cache,
    };
    let p = open_project(project).await?;
    let r = p.gc(opts).await?;
    if a.json {
        print_json(&r);
        return Ok(());
    }
    let verb = if r.dry_run { "would remove" } else { "removed" };
    let mut rows = vec![
        vec!["objects".into(), count(r.objects as u64), String::new()],
        vec![
            "referenced".into(),
            count(r.referenced as u64),
            String::new(),
        ],
        vec![
            format!("unreferenced, younger than {}", a.grace),
            count(r.kept_young as u64),
            "kept".into(),
        ],
        vec![
            "unreferenced".into(),
            count(r.removed as u64),
            format!("{verb} {}", bytes(r.removed_bytes)),
        ],
        vec![
            "temporary files".into(),
            count(r.tmp_files as u64),
            format!("{verb} {}", bytes(r.tmp_bytes)),
        ],
    ];
    if a.cache {
        rows.push(vec![
            format!("cached copies, older than {}", a.grace),
            count(r.cached_dropped as u64),
            format!("{verb} {}", bytes(r.cached_bytes)),
        ]);
    }
    out!("{}", table(&["", "count", ""], rows, &["count"]));
    Ok(())
}
