//! What the monitor has recorded, read back: a metric's history and the status of the
//! watched model.

use super::*;

/// A metric's series over closed windows, with the events among them.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub model: String,
    pub metric: String,
    pub points: Vec<HistoryPoint>,
    pub events: Vec<MonitorEvent>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryPoint {
    pub id: i64,
    pub role: String,
    pub version: i64,
    pub start_ms: i64,
    pub end_ms: i64,
    pub n: i64,
    pub value: Option<f64>,
}

/// Where monitoring stands.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub model: String,
    pub aliases: Vec<(String, i64)>,
    pub pending_labels: u64,
    /// The latest window of each role and kind.
    pub latest: Vec<MonitorPoint>,
    pub breached: Vec<String>,
    pub recent_events: Vec<MonitorEvent>,
}

/// Everything the monitor recorded for the watched model: every closed window with its
/// figures, every event, and where the aliases point (the web UI's monitoring page).
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub model: String,
    pub aliases: Vec<(String, i64)>,
    pub windows: Vec<TimelineWindow>,
    pub events: Vec<MonitorEvent>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineWindow {
    pub id: i64,
    pub role: String,
    pub version: i64,
    /// `labels` or `traffic`.
    pub kind: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// The labelled predictions it holds, in join order (`labels` windows).
    pub first_seq: i64,
    pub last_seq: i64,
    pub n: i64,
    pub metrics: serde_json::Map<String, serde_json::Value>,
}

impl Project {
    pub async fn monitor_timeline(&self) -> Result<Timeline> {
        let (model, _) = self.monitor_target()?;
        let windows = self
            .meta
            .points(&model, None, None)
            .await?
            .into_iter()
            .map(|p| TimelineWindow {
                metrics: serde_json::from_str(&p.metrics).unwrap_or_default(),
                id: p.id,
                role: p.role,
                version: p.version,
                kind: p.kind,
                start_ms: p.start_ms,
                end_ms: p.end_ms,
                first_seq: p.first_seq,
                last_seq: p.last_seq,
                n: p.n,
            })
            .collect();
        Ok(Timeline {
            aliases: self.meta.aliases(&model).await?,
            events: self.meta.events(Some(&model), 0).await?,
            windows,
            model,
        })
    }

    pub async fn monitor_history(&self, metric: &str, role: Option<&str>) -> Result<History> {
        let (model, _) = self.monitor_target()?;
        let points = self
            .meta
            .points(&model, None, role)
            .await?
            .into_iter()
            .filter_map(|p| {
                let figures: BTreeMap<String, f64> = serde_json::from_str(&p.metrics).ok()?;
                let value = figures.get(metric).copied();
                value.map(|v| HistoryPoint {
                    id: p.id,
                    role: p.role,
                    version: p.version,
                    start_ms: p.start_ms,
                    end_ms: p.end_ms,
                    n: p.n,
                    value: Some(v),
                })
            })
            .collect();
        let events = self.meta.events(Some(&model), 0).await?;
        Ok(History {
            model,
            metric: metric.to_string(),
            points,
            events,
        })
    }

    pub async fn monitor_status(&self) -> Result<Status> {
        let monitor = self.monitor().await?;
        let model = monitor.model.clone();
        let mut latest = Vec::new();
        for kind in [LABELS, TRAFFIC] {
            for role in ROLES {
                if let Some(p) = self.meta.last_point(&model, kind, role).await? {
                    latest.push(p);
                }
            }
        }
        let events = self.meta.events(Some(&model), 0).await?;
        let recent_events = events[events.len().saturating_sub(10)..].to_vec();
        Ok(Status {
            aliases: self.meta.aliases(&model).await?,
            pending_labels: self.meta.pending_labels().await?,
            latest,
            breached: monitor.breached(),
            recent_events,
            model,
        })
    }
}
