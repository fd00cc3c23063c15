//! Online models in the server: an online champion (`algorithm = "adaptive_random_forest"`,
//! `"hoeffding_adaptive_tree"` or `"online_logistic_regression"`) learns every joined label
//! in the monitor's pass, and every `[loop] snapshot.labels` labels its state becomes a new
//! registered version, which goes through the gate and serves as the canary like any
//! retrained candidate. The served model never changes in place: what it learnt reaches
//! traffic only as a gated snapshot, and a bad one is rolled back.
//!
//! A snapshot's lineage names the labelled rows it learnt (`labelled:NAME:FROM..TO@MS`), so a
//! restarted server goes on from the next one.

use crate::{Project, Result};
use gyre_learn::model::{ColumnKind, Model};
use gyre_learn::transform::Values;
use gyre_store::MonitorEvent;
use serde_json::Value;

/// Labels between snapshots when `[loop] snapshot` is not set.
pub const DEFAULT_SNAPSHOT_LABELS: u64 = 1000;

/// The champion's learning copy (`model` is None when the champion is not online, so a batch
/// champion's file is read once, not on every pass).
pub(crate) struct Live {
    version: i64,
    model: Option<Model>,
    /// Labelled rows with `seq <= cursor` are learnt.
    cursor: i64,
    /// The prediction time of the row at the cursor (labelled rows are read from there).
    cursor_ms: i64,
    /// The first seq learnt since the last snapshot.
    from: i64,
    learned: u64,
    /// Keeps a tuned cutoff current as the copy learns (snapshots carry it).
    retuner: gyre_learn::online::Retuner,
}

/// `labelled:NAME:FROM..TO@MS` in a snapshot's lineage: (TO, MS).
fn learnt_until(model: &Model, name: &str) -> Option<(i64, i64)> {
    let prefix = format!("labelled:{name}:");
    model.lineage.datasets.iter().rev().find_map(|d| {
        let rest = d.strip_prefix(&prefix)?;
        let (range, ms) = rest.split_once('@')?;
        let (_, to) = range.split_once("..")?;
        Some((to.parse().ok()?, ms.parse().ok()?))
    })
}

/// One pass of online learning for `name`: the champion learns the labels joined since the
/// last pass; a snapshot is registered, gated and made challenger when enough are learnt
/// and no canary runs. The events it recorded.
pub(crate) async fn learn(
    live: &mut Option<Live>,
    project: &Project,
    name: &str,
    every: u64,
    canary_live: bool,
    now: i64,
) -> Result<Vec<MonitorEvent>> {
    let Ok(champion) = project
        .resolve_model_version(&format!("{name}@champion"))
        .await
    else {
        return Ok(Vec::new());
    };
    if live.as_ref().is_none_or(|l| l.version != champion.version) {
        let (_, loaded) = project
            .registered_model(&format!("{name}@{}", champion.version))
            .await?;
        let (cursor, cursor_ms) =
            learnt_until(&loaded.model, name).unwrap_or((0, champion.created_ms));
        *live = Some(Live {
            version: champion.version,
            model: loaded.model.is_online().then_some(loaded.model),
            cursor,
            cursor_ms,
            from: cursor + 1,
            learned: 0,
            retuner: Default::default(),
        });
    }
    let Some(l) = live.as_mut() else {
        return Ok(Vec::new());
    };
    let Some(model) = l.model.as_mut() else {
        return Ok(Vec::new());
    };
    let mut rows = project
        .meta
        .labelled_inputs(name, l.cursor_ms, 1 << 20)
        .await?;
    rows.retain(|(seq, ..)| *seq > l.cursor);
    rows.reverse();
    if !rows.is_empty() {
        let sig = &model.signature;
        let mut columns: Vec<Values> = sig
            .inputs
            .iter()
            .map(|c| match c.kind {
                ColumnKind::Number => Values::Numeric(Vec::with_capacity(rows.len())),
                ColumnKind::Text => Values::Text(Vec::with_capacity(rows.len())),
            })
            .collect();
        for (_, _, inputs, _) in &rows {
            let values: Vec<Value> = serde_json::from_str(inputs).unwrap_or_default();
            for (k, column) in columns.iter_mut().enumerate() {
                let v = values.get(k);
                match column {
                    Values::Numeric(c) => c.push(v.and_then(|v| match v {
                        Value::Number(n) => n.as_f64(),
                        Value::String(s) => s.trim().parse().ok(),
                        _ => None,
                    })),
                    Values::Text(c) => c.push(v.and_then(|v| match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Null => None,
                        other => Some(other.to_string()),
                    })),
                }
            }
        }
        let refs: Vec<&Values> = columns.iter().collect();
        for (r, (_, _, _, label)) in rows.iter().enumerate() {
            // A row that cannot be transformed, or a class the model does not know, is
            // skipped: it is still in the log for the next retrain.
            if l.retuner
                .learn(model, &refs, r, label.trim())
                .unwrap_or(false)
            {
                l.learned += 1;
            }
        }
        let (seq, ms, ..) = rows[rows.len() - 1];
        l.cursor = seq;
        l.cursor_ms = ms;
    }
    if l.learned < every || canary_live {
        return Ok(Vec::new());
    }
    snapshot(l, project, name, now).await
}

/// Registers the learning copy as a new version, gates it, and makes it challenger.
async fn snapshot(
    l: &mut Live,
    project: &Project,
    name: &str,
    now: i64,
) -> Result<Vec<MonitorEvent>> {
    let Some(mut model) = l.model.clone() else {
        return Ok(Vec::new());
    };
    model.lineage.datasets.push(format!(
        "labelled:{name}:{}..{}@{}",
        l.from, l.cursor, l.cursor_ms
    ));
    let hash = project.blobs.put_bytes(model.to_bytes()).await?;
    let (version, _) = project
        .register_model(name, &format!("model:{hash}"), &Default::default())
        .await?;
    let reference = format!("{name}@{}", version.version);
    let learned = l.learned;
    l.learned = 0;
    l.from = l.cursor + 1;
    let passed = match &project.spec.gate {
        Some(_) => project.validate_model(&reference).await?.passed,
        None => true,
    };
    let detail = format!(
        "{reference}: a snapshot of v{} after {learned} more labels",
        l.version
    );
    let mut event = MonitorEvent {
        id: 0,
        ts_ms: now,
        model: name.to_string(),
        version: version.version,
        rule: "gate".into(),
        kind: if passed { "canary" } else { "gate_failed" }.into(),
        point: None,
        value: None,
        threshold: None,
        detail: if passed {
            format!("{detail}; passed the gate and is challenger")
        } else {
            format!("{detail}; failed the gate")
        },
    };
    if passed {
        project
            .set_alias(
                &reference,
                "challenger",
                &format!("loop: {detail}"),
                false,
                &crate::settings::actor(),
            )
            .await?;
    }
    event.id = project.meta.add_event(&event).await?;
    Ok(vec![event])
}
