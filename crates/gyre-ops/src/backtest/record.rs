//! A backtest kept as a run named `backtest`: its settings as params, each strategy's mean
//! metric and retrain count as metrics, and the whole report as an object (`backtest:HASH`),
//! which `gyre runs` lists and the web UI charts beside the live loop.

use super::BacktestReport;
use crate::{OpsError, Project, Result};
use gyre_core::{RunId, RunStatus};

/// The run name a backtest is recorded under.
pub const RUN_NAME: &str = "backtest";

/// A strategy's name as a metric key: `adaptive random forest` → `adaptive_random_forest`.
fn key(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Project {
    pub(super) async fn record_backtest(&self, report: &BacktestReport) -> Result<RunId> {
        let mut run = self.start_run(RUN_NAME, None).await?;
        let params: Vec<(String, String)> = [
            ("data", report.data.clone()),
            ("rows", report.rows.to_string()),
            ("train_rows", report.train_rows.to_string()),
            ("window", report.window.to_string()),
            ("metric", report.metric.clone()),
            ("label_delay", format!("{:?}", report.label_delay)),
            ("schedule", format!("{:?}", report.schedule)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        run.log_params(&params).await?;
        for s in &report.strategies {
            let k = key(&s.name);
            run.log_metric(&format!("{}.{k}", report.metric), 0, s.mean)
                .await?;
            run.log_metric(&format!("retrains.{k}"), 0, s.retrains as f64)
                .await?;
        }
        let bytes = serde_json::to_vec(report)
            .map_err(|e| OpsError::Invalid(format!("the backtest report: {e}")))?;
        let hash = self.blobs.put_bytes(bytes).await?;
        run.add_outputs(&[format!("backtest:{hash}")]).await?;
        let id = run.id.clone();
        run.finish(RunStatus::Finished).await?;
        Ok(id)
    }

    /// The report a `backtest` run kept, as it was written.
    pub async fn backtest_report(&self, reference: &str) -> Result<serde_json::Value> {
        let id = self.meta.resolve_run(reference).await?;
        let run = self.meta.get_run(&id).await?;
        let hash = run
            .outputs
            .iter()
            .find_map(|o| o.strip_prefix("backtest:"))
            .ok_or_else(|| OpsError::NotFound(format!("run {id} is not a backtest")))?;
        let hash: gyre_core::ContentHash = hash
            .parse()
            .map_err(|e: gyre_core::CoreError| OpsError::Invalid(e.to_string()))?;
        let bytes = self.blobs.get_bytes(hash).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| OpsError::Invalid(format!("the stored backtest report of run {id}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn strategy_names_become_metric_keys() {
        assert_eq!(
            super::key("adaptive random forest"),
            "adaptive_random_forest"
        );
        assert_eq!(super::key("gyre"), "gyre");
        assert_eq!(super::key("every 6w"), "every_6w");
    }
}
