//! Served traffic: windows of inputs, predictions, errors and latencies judged for drift
//! and service rules, and labelled traffic exported as a dataset version for a retrain.

use super::*;

/// A window of served traffic, as the server saw it: the watched inputs, the predictions,
/// errors and latencies. [`Monitor::judge_traffic`] turns it into a `traffic` point.
#[derive(Debug, Clone, Default)]
pub struct TrafficSample {
    pub version: i64,
    pub role: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Rows predicted.
    pub rows: u64,
    /// Watched input columns.
    pub columns: Vec<(String, gyre_data::drift::ColumnSample)>,
    /// Predicted labels (classification) or values (regression), as a sample.
    pub predicted: gyre_data::drift::ColumnSample,
    pub requests: u64,
    pub errors: u64,
    /// Request latencies in milliseconds.
    pub latencies_ms: Vec<f64>,
}

impl Monitor {
    /// Judges a traffic window: each watched input's drift against the training data's
    /// stored profile, the predictions' shift against the training target, the error rate
    /// and the p99 latency. Records the point and the events.
    pub async fn judge_traffic(
        &mut self,
        project: &Project,
        mut sample: TrafficSample,
        now: i64,
    ) -> Result<(MonitorPoint, Vec<MonitorEvent>)> {
        use gyre_data::drift::{DriftOptions, Method, Reference, drift};
        let mut figures: BTreeMap<String, f64> = BTreeMap::new();
        let mut judgements = Vec::new();
        let profile = self.reference_profile(project, sample.version).await?;
        let mut options = DriftOptions::default();
        let method: Option<Method> = match &self.spec.drift {
            Some(d) => Some(d.method.parse().map_err(OpsError::Invalid)?),
            None => None,
        };
        for (_, c) in sample.columns.iter_mut() {
            c.numbers.sort_by(f64::total_cmp);
        }
        sample.predicted.numbers.sort_by(f64::total_cmp);
        if let (Some(profile), Some(m)) = (&profile, method) {
            let thr = self
                .spec
                .drift
                .as_ref()
                .and_then(|d| d.threshold)
                .unwrap_or(m.default_threshold());
            options.thresholds.insert(m, thr);
            let refs: Vec<(String, Reference<'_>)> = profile
                .columns
                .iter()
                .filter(|p| sample.columns.iter().any(|(n, _)| *n == p.name))
                .map(|p| (p.name.clone(), Reference::Profile(p)))
                .collect();
            for (name, _) in &refs {
                options.methods.insert(name.clone(), m);
            }
            let current: Vec<(String, &gyre_data::drift::ColumnSample)> =
                sample.columns.iter().map(|(n, c)| (n.clone(), c)).collect();
            let report = drift(&refs, profile.rows, &current, sample.rows, &options);
            for c in report.columns {
                if let (Some(score), Some(drifted)) = (c.score, c.drifted) {
                    let rule = format!("drift.{}", c.name);
                    figures.insert(rule.clone(), score);
                    judgements.push(Judgement {
                        rule,
                        value: score,
                        threshold: thr,
                        breached: drifted,
                    });
                }
            }
        }
        if let (Some(profile), Some(max)) = (&profile, self.spec.prediction_shift) {
            let target = self.target_of(project, sample.version).await?;
            if let Some(p) = profile.columns.iter().find(|p| p.name == target) {
                let mut o = DriftOptions::default();
                o.methods.insert(target.clone(), Method::Psi);
                let report = drift(
                    &[(target.clone(), Reference::Profile(p))],
                    profile.rows,
                    &[(target.clone(), &sample.predicted)],
                    sample.rows,
                    &o,
                );
                if let Some(psi) = report.columns.first().and_then(|c| c.psi) {
                    figures.insert("prediction_shift".into(), psi);
                    judgements.push(Judgement {
                        rule: "prediction_shift".into(),
                        value: psi,
                        threshold: max,
                        breached: psi >= max,
                    });
                }
            }
        }
        if sample.requests > 0 {
            let rate = sample.errors as f64 / sample.requests as f64;
            figures.insert("error_rate".into(), rate);
            if let Some(max) = self.spec.max_error_rate {
                judgements.push(Judgement {
                    rule: "error_rate".into(),
                    value: rate,
                    threshold: max,
                    breached: rate > max,
                });
            }
        }
        if !sample.latencies_ms.is_empty() {
            sample.latencies_ms.sort_by(f64::total_cmp);
            let i = ((sample.latencies_ms.len() as f64 * 0.99).ceil() as usize)
                .clamp(1, sample.latencies_ms.len())
                - 1;
            let p99 = sample.latencies_ms[i];
            figures.insert("p99_ms".into(), p99);
            if let Some(max) = self.spec.max_p99_ms {
                judgements.push(Judgement {
                    rule: "p99_ms".into(),
                    value: p99,
                    threshold: max,
                    breached: p99 > max,
                });
            }
        }
        let mut point = MonitorPoint {
            id: 0,
            model: self.model.clone(),
            role: sample.role.clone(),
            version: sample.version,
            kind: TRAFFIC.into(),
            first_seq: 0,
            last_seq: 0,
            start_ms: sample.start_ms,
            end_ms: sample.end_ms,
            n: sample.rows as i64,
            metrics: serde_json::to_string(&figures).unwrap_or_default(),
        };
        point.id = project.meta.add_point(&point).await?;
        let mut report = PassReport::default();
        if sample.role == "champion" {
            self.sync_versions(project, now).await?;
            for judgement in judgements {
                self.judged(sample.version, judgement, now);
            }
            self.apply(project, now, Some(point.id), &mut report)
                .await?;
        }
        Ok((point, report.events))
    }

    pub(super) async fn target_of(&mut self, project: &Project, version: i64) -> Result<String> {
        let (_, loaded) = project
            .registered_model(&format!("{}@{version}", self.model))
            .await?;
        Ok(loaded.model.signature.target.clone())
    }

    /// The stored profile of the data a version trained on (its first training dataset).
    pub(super) async fn reference_profile(
        &mut self,
        project: &Project,
        version: i64,
    ) -> Result<Option<gyre_core::DatasetProfile>> {
        if let Some(p) = self.profiles.get(&version) {
            return Ok(p.clone());
        }
        let (_, loaded) = project
            .registered_model(&format!("{}@{version}", self.model))
            .await?;
        let profile = match loaded.model.lineage.datasets.first() {
            Some(d) => {
                let reference = d.split(':').next().unwrap_or(d);
                match reference.parse::<gyre_core::DatasetRef>() {
                    Ok(r) => project
                        .meta
                        .resolve_version(&r)
                        .await
                        .ok()
                        .map(|v| v.profile),
                    Err(_) => None,
                }
            }
            None => None,
        };
        self.profiles.insert(version, profile.clone());
        Ok(profile)
    }
}

/// What [`Project::export_traffic`] turns into a dataset version.
#[derive(Debug, Clone)]
pub struct TrafficExport {
    /// The registered model whose labelled traffic is exported.
    pub model: String,
    /// The dataset that gets the new version.
    pub dataset: String,
    /// `NAME[@V]`: rows that come first (all data so far).
    pub base: Option<String>,
    /// Keep the last N rows.
    pub rows: Option<u64>,
    /// Keep traffic predicted in the last N days (base rows are then left out).
    pub days: Option<f64>,
    pub now_ms: i64,
}

impl Project {
    /// Labelled serving traffic (prediction log + feedback) as a new dataset version: the
    /// model's inputs in its signature's order and the label under its target's name, after
    /// the base dataset's rows when given. The version's lineage is the file it was written
    /// from, under `.gyre/traffic/`.
    pub async fn export_traffic(&self, x: &TrafficExport) -> Result<crate::datasets::AddReport> {
        let (_, loaded) = match self
            .registered_model(&format!("{}@champion", x.model))
            .await
        {
            Ok(found) => found,
            Err(_) => self.registered_model(&x.model).await?,
        };
        let sig = &loaded.model.signature;
        let since = x
            .days
            .map_or(i64::MIN, |d| x.now_ms - (d * 86_400_000.0) as i64);
        let limit = x.rows.map_or(i64::MAX, |r| r.min(i64::MAX as u64) as i64);
        let mut traffic = self.meta.labelled_inputs(&x.model, since, limit).await?;
        traffic.reverse();
        let mut names: Vec<String> = sig.inputs.iter().map(|c| c.name.clone()).collect();
        // Columns `[model]` drops come along empty, so the same spec trains on the export.
        let dropped: Vec<String> = self
            .spec
            .model
            .as_ref()
            .map(|m| m.drop.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|d| !names.contains(d) && *d != sig.target)
            .collect();
        names.extend(dropped.iter().cloned());
        names.push(sig.target.clone());
        let mut rows: Vec<Vec<String>> = Vec::new();
        if let Some(base) = x.base.as_ref().filter(|_| x.days.is_none()) {
            let target = self.resolve_target(base).await?;
            let readable = self.readable_target(&target).await?;
            let opts = crate::targets::options_for(&target, &gyre_core::ReadOptions::default());
            let files = readable.files.clone();
            let table = tokio::task::spawn_blocking(move || {
                crate::train::read(&files, &opts, &crate::progress::NoProgress)
            })
            .await
            .map_err(|e| OpsError::Invalid(e.to_string()))??;
            let index: Vec<Option<usize>> = names
                .iter()
                .map(|n| table.names.iter().position(|t| t == n))
                .collect();
            for r in 0..table.rows {
                rows.push(
                    index
                        .iter()
                        .map(|i| {
                            i.and_then(|i| table.columns[i][r].clone())
                                .unwrap_or_default()
                        })
                        .collect(),
                );
            }
        }
        for (_, _, inputs, label) in &traffic {
            let values: Vec<Value> = serde_json::from_str(inputs).unwrap_or_default();
            let mut row: Vec<String> = (0..sig.inputs.len())
                .map(|i| match values.get(i) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(v) => v.to_string(),
                })
                .collect();
            row.extend(dropped.iter().map(|_| String::new()));
            row.push(label.clone());
            rows.push(row);
        }
        if let Some(n) = x.rows {
            let n = n as usize;
            if rows.len() > n {
                rows.drain(..rows.len() - n);
            }
        }
        if rows.is_empty() {
            return Err(OpsError::Invalid(format!(
                "`{}` has no labelled traffic to export yet",
                x.model
            )));
        }
        let dir = self.state_dir().join("traffic");
        std::fs::create_dir_all(&dir).map_err(OpsError::io("creating .gyre/traffic"))?;
        let path = dir.join(format!("{}.csv", x.dataset));
        {
            let mut w = csv::Writer::from_path(&path)
                .map_err(|e| OpsError::Invalid(format!("writing {}: {e}", path.display())))?;
            let io = |e: csv::Error| OpsError::Invalid(format!("writing {}: {e}", path.display()));
            w.write_record(&names).map_err(io)?;
            for r in &rows {
                w.write_record(r).map_err(io)?;
            }
            w.flush()
                .map_err(OpsError::io("writing the traffic file"))?;
        }
        let name = x
            .dataset
            .parse()
            .map_err(|e: gyre_core::CoreError| OpsError::Invalid(e.to_string()))?;
        self.add_dataset(
            &name,
            Some(&path),
            &Default::default(),
            &crate::progress::NoProgress,
        )
        .await
    }
}
