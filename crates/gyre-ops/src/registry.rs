//! The model registry and the validation gate: register model files as numbered versions of
//! a named model, move aliases (audited), roll back, and judge a version against `[gate]`.

use crate::import::{ImportOptions, is_mlflow_source};
use crate::runs::now_ms;
use crate::train::LoadedModel;
use crate::{OpsError, Project, Result, settings};
use gyre_core::gate::{Check, GateSpec};
use gyre_learn::model::Model;
use gyre_learn::transform::Values;
use gyre_store::{AliasEvent, AliasKind, ModelVersion, StoredVerdict};
use serde::Serialize;

/// The alias serving and promotion revolve around.
pub const CHAMPION: &str = "champion";

#[derive(Debug, Serialize)]
pub struct ModelSummary {
    pub name: String,
    pub versions: usize,
    pub latest: i64,
    pub aliases: Vec<(String, i64)>,
}

#[derive(Debug, Serialize)]
pub struct VersionRow {
    #[serde(flatten)]
    pub version: ModelVersion,
    pub aliases: Vec<String>,
    /// The newest verdict: passed or not; None when never validated.
    pub verdict: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct ModelDetail {
    #[serde(flatten)]
    pub version: ModelVersion,
    pub aliases: Vec<String>,
    pub algorithm: String,
    pub target: String,
    pub classes: Vec<String>,
    pub inputs: Vec<(String, String)>,
    pub metrics: Vec<(String, f64)>,
    pub datasets: Vec<String>,
    pub git_commit: Option<String>,
    pub size_bytes: usize,
    pub verdict: Option<Verdict>,
    /// A model trained elsewhere: what it was registered from (a path or an MLflow source)
    /// and the hash of the original file, kept in the store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imported: Option<Imported>,
}

#[derive(Debug, Serialize)]
pub struct Imported {
    pub from: String,
    pub file: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub name: String,
    pub version: i64,
    pub passed: bool,
    pub checks: Vec<Check>,
    pub user: String,
    pub created_ms: i64,
}

impl Verdict {
    fn from_stored(v: StoredVerdict) -> Result<Verdict> {
        Ok(Verdict {
            checks: serde_json::from_str(&v.checks)
                .map_err(|e| OpsError::Invalid(format!("a stored verdict: {e}")))?,
            name: v.name,
            version: v.version,
            passed: v.passed,
            user: v.user,
            created_ms: v.created_ms,
        })
    }
}

/// `NAME@V`, `NAME@ALIAS` or `NAME` (the latest version).
fn split_ref(r: &str) -> (&str, Option<&str>) {
    match r.split_once('@') {
        Some((n, s)) => (n, Some(s)),
        None => (r, None),
    }
}

/// The `format` of a registered version that records an outside source.
const EXTERNAL_FORMAT: &str = "gyre-external-model/1";

/// The source an externally registered version records, if `bytes` are such a record.
pub fn external_source(bytes: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    (v["format"] == EXTERNAL_FORMAT).then(|| v["source"].as_str().unwrap_or("").to_string())
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 100
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        || name.starts_with('.')
    {
        return Err(OpsError::Invalid(format!(
            "model name `{name}`: use letters, digits, `_`, `-` and `.` (up to 100)"
        )));
    }
    Ok(())
}

impl Project {
    /// Registers a model as the next version of `name`: a run, a model hash, a registered
    /// `NAME@V`, a gyre model file, a file trained elsewhere (XGBoost JSON, LightGBM text,
    /// ONNX) or an ONNX model an MLflow client logged (`models:/m-…`), whose signature `from`
    /// completes.
    pub async fn register_model(
        &self,
        name: &str,
        model_ref: &str,
        from: &ImportOptions,
    ) -> Result<(ModelVersion, bool)> {
        check_name(name)?;
        let loaded = self.model_to_register(model_ref, from).await?;
        let run = loaded.run.as_ref().map(|r| r.to_string());
        self.register_loaded(name, &loaded, run.as_deref(), &settings::actor())
            .await
    }

    async fn model_to_register(
        &self,
        model_ref: &str,
        from: &ImportOptions,
    ) -> Result<LoadedModel> {
        if is_mlflow_source(model_ref) {
            let Some(onnx) = self.mlflow_onnx(model_ref).await? else {
                return Err(OpsError::Invalid(format!(
                    "{model_ref} holds no ONNX model (MLflow's onnx flavour): gyre never loads \
                     a pickled model (loading one runs its code); log it with \
                     mlflow.onnx.log_model"
                )));
            };
            let mut from = from.clone();
            if from.inputs.is_empty() {
                from.inputs = onnx.columns;
            }
            return self.import_model(model_ref, &onnx.bytes, &from).await;
        }
        let path = std::path::Path::new(model_ref);
        let imported = match path.is_file() {
            true => Project::sniff_import(path)?,
            false => None,
        };
        match imported {
            Some(bytes) => self.import_model(model_ref, &bytes, from).await,
            None if !from.is_empty() => Err(OpsError::Invalid(format!(
                "{model_ref}: --signature, --metrics, --dataset and --target describe a model \
                 trained elsewhere; a gyre model carries its own"
            ))),
            None => self.load_model(model_ref).await,
        }
    }

    async fn register_loaded(
        &self,
        name: &str,
        loaded: &LoadedModel,
        run: Option<&str>,
        actor: &str,
    ) -> Result<(ModelVersion, bool)> {
        if !self.blobs.contains(loaded.hash).await? {
            // A model file given by path: keep its bytes in the store.
            self.blobs.put_bytes(loaded.model.to_bytes()).await?;
        }
        Ok(self
            .meta
            .register_version(name, &loaded.hash.to_hex(), run, actor, now_ms())
            .await?)
    }

    /// Registers the source an MLflow client names for a new version: its ONNX model,
    /// servable like any version, when the source holds one (inputs from its MLflow
    /// signature or the graph; the target called `target`); else a record of the source,
    /// never loaded.
    pub async fn register_mlflow(
        &self,
        name: &str,
        source: &str,
        run_id: Option<&str>,
        actor: &str,
    ) -> Result<(ModelVersion, bool)> {
        check_name(name)?;
        // MLflow 3 names a logged model as the source and leaves the run out: the logged
        // model knows its run.
        let logged_run = match (run_id, source.strip_prefix("models:/")) {
            (None, Some(id)) => self
                .meta
                .logged_model(id)
                .await?
                .and_then(|m| m.source_run_id),
            _ => None,
        };
        let run_id = run_id.or(logged_run.as_deref());
        let onnx = match is_mlflow_source(source) {
            true => self.mlflow_onnx(source).await?,
            false => None,
        };
        if let Some(onnx) = onnx {
            let from = ImportOptions {
                target: Some("target".into()),
                inputs: onnx.columns,
                ..ImportOptions::default()
            };
            match self.import_model(source, &onnx.bytes, &from).await {
                Ok(loaded) => return self.register_loaded(name, &loaded, run_id, actor).await,
                Err(e) => crate::note!(
                    "{source}: its ONNX model is kept as a record, not served: {e}; register it \
                     with `gyre models register {name} {source} --dataset … --target …`"
                ),
            }
        }
        self.record_source(name, source, run_id, actor).await
    }

    /// Registers a model that lives elsewhere as the next version of `name`. The version's
    /// object is a small JSON record of the source, never the model: nothing of it is ever
    /// loaded, so it cannot pass the gate or serve (see [`external_source`]).
    async fn record_source(
        &self,
        name: &str,
        source: &str,
        run_id: Option<&str>,
        actor: &str,
    ) -> Result<(ModelVersion, bool)> {
        let record = serde_json::json!({
            "format": EXTERNAL_FORMAT,
            "source": source,
            "run_id": run_id,
        });
        let hash = self
            .blobs
            .put_bytes(serde_json::to_vec(&record).expect("JSON values serialise"))
            .await?;
        Ok(self
            .meta
            .register_version(name, &hash.to_hex(), run_id, actor, now_ms())
            .await?)
    }

    pub async fn list_models(&self) -> Result<Vec<ModelSummary>> {
        let all = self.meta.model_versions(None).await?;
        let mut out: Vec<ModelSummary> = Vec::new();
        for v in all {
            match out.last_mut() {
                Some(m) if m.name == v.name => {
                    m.versions += 1;
                    m.latest = m.latest.max(v.version);
                }
                _ => out.push(ModelSummary {
                    name: v.name.clone(),
                    versions: 1,
                    latest: v.version,
                    aliases: Vec::new(),
                }),
            }
        }
        for m in &mut out {
            m.aliases = self.meta.aliases(&m.name).await?;
        }
        Ok(out)
    }

    pub async fn model_version_rows(&self, name: &str) -> Result<Vec<VersionRow>> {
        let versions = self.meta.model_versions(Some(name)).await?;
        if versions.is_empty() {
            return Err(OpsError::NotFound(format!(
                "no model `{name}` is registered"
            )));
        }
        let aliases = self.meta.aliases(name).await?;
        let mut out = Vec::new();
        for v in versions {
            let verdict = self
                .meta
                .latest_verdict(name, v.version)
                .await?
                .map(|x| x.passed);
            out.push(VersionRow {
                aliases: aliases
                    .iter()
                    .filter(|(_, n)| *n == v.version)
                    .map(|(a, _)| a.clone())
                    .collect(),
                version: v,
                verdict,
            });
        }
        Ok(out)
    }

    /// The version `alias` of model `name` points to, if it is set.
    pub(crate) async fn alias_version(&self, name: &str, alias: &str) -> Result<Option<i64>> {
        Ok(self
            .meta
            .aliases(name)
            .await?
            .into_iter()
            .find(|(a, _)| a == alias)
            .map(|(_, v)| v))
    }

    /// The version `NAME@V`, `NAME@ALIAS` or `NAME` (latest) names.
    pub async fn resolve_model_version(&self, reference: &str) -> Result<ModelVersion> {
        let (name, sel) = split_ref(reference);
        let versions = self.meta.model_versions(Some(name)).await?;
        if versions.is_empty() {
            return Err(OpsError::NotFound(format!(
                "no model `{name}` is registered"
            )));
        }
        let want = match sel {
            None | Some("latest") => versions.last().map(|v| v.version),
            Some(s) if s.chars().all(|c| c.is_ascii_digit()) => s.parse().ok(),
            Some(alias) => {
                let found = self.alias_version(name, alias).await?;
                if found.is_none() {
                    return Err(OpsError::NotFound(format!(
                        "model `{name}` has no alias `{alias}`"
                    )));
                }
                found
            }
        };
        versions
            .into_iter()
            .find(|v| Some(v.version) == want)
            .ok_or_else(|| OpsError::NotFound(format!("`{reference}`: no such version")))
    }

    /// A registered version's model file.
    pub async fn registered_model(&self, reference: &str) -> Result<(ModelVersion, LoadedModel)> {
        let v = self.resolve_model_version(reference).await?;
        let loaded = self.load_model(&format!("model:{}", v.model)).await?;
        Ok((v, loaded))
    }

    pub async fn show_model(&self, reference: &str) -> Result<ModelDetail> {
        let (v, loaded) = self.registered_model(reference).await?;
        let m = &loaded.model;
        let aliases = self
            .meta
            .aliases(&v.name)
            .await?
            .into_iter()
            .filter(|(_, n)| *n == v.version)
            .map(|(a, _)| a)
            .collect();
        let verdict = match self.meta.latest_verdict(&v.name, v.version).await? {
            Some(s) => Some(Verdict::from_stored(s)?),
            None => None,
        };
        let size_bytes = self
            .blobs
            .get_bytes(loaded.hash)
            .await
            .map(|b| b.len())
            .unwrap_or(0);
        Ok(ModelDetail {
            aliases,
            algorithm: toml::Value::try_from(m.algorithm)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            target: m.signature.target.clone(),
            classes: m.signature.classes.clone(),
            inputs: m
                .signature
                .inputs
                .iter()
                .map(|c| (c.name.clone(), format!("{:?}", c.kind).to_lowercase()))
                .collect(),
            metrics: m.metrics.clone(),
            datasets: m.lineage.datasets.clone(),
            git_commit: m.lineage.git_commit.clone(),
            size_bytes,
            verdict,
            imported: crate::import::origin_of(m).map(|(file, from)| Imported {
                from,
                file: file.to_hex(),
            }),
            version: v,
        })
    }

    /// Points `alias` at `NAME@V`, with an audit row. Making a version `champion` needs a
    /// passing verdict, or `force` (audited as forced).
    pub async fn set_alias(
        &self,
        reference: &str,
        alias: &str,
        reason: &str,
        force: bool,
        actor: &str,
    ) -> Result<AliasEvent> {
        check_name(alias)?;
        if alias.chars().all(|c| c.is_ascii_digit()) || alias == "latest" {
            return Err(OpsError::Invalid(format!(
                "`{alias}` cannot be an alias: it reads as a version"
            )));
        }
        let v = self.resolve_model_version(reference).await?;
        let passed = self
            .meta
            .latest_verdict(&v.name, v.version)
            .await?
            .is_some_and(|x| x.passed);
        if alias == CHAMPION && !passed && !force {
            return Err(OpsError::Invalid(format!(
                "{}@{} has no passing verdict; run `gyre models validate {}@{}`, or pass --force (recorded as forced)",
                v.name, v.version, v.name, v.version
            )));
        }
        let from = self.alias_version(&v.name, alias).await?;
        let event = AliasEvent {
            name: v.name.clone(),
            alias: alias.to_string(),
            from,
            to: Some(v.version),
            user: actor.to_string(),
            reason: reason.to_string(),
            forced: alias == CHAMPION && !passed,
            at_ms: now_ms(),
            kind: AliasKind::Move,
        };
        self.meta.move_alias(&event).await?;
        Ok(event)
    }

    /// Moves `champion` back to the version it pointed to before its current one.
    pub async fn rollback(&self, name: &str, reason: &str) -> Result<AliasEvent> {
        let current = self
            .alias_version(name, CHAMPION)
            .await?
            .ok_or_else(|| OpsError::NotFound(format!("model `{name}` has no champion")))?;
        let previous = self
            .meta
            .alias_events(name)
            .await?
            .into_iter()
            .rev()
            // The move that made the current version champion (a rollback to it does not
            // count: rolling back twice goes further back, not forth).
            .find(|e| e.alias == CHAMPION && e.to == Some(current) && e.kind == AliasKind::Move)
            .and_then(|e| e.from)
            .ok_or_else(|| {
                OpsError::NotFound(format!(
                    "`{name}@champion` has no earlier champion to go back to"
                ))
            })?;
        let event = AliasEvent {
            name: name.to_string(),
            alias: CHAMPION.to_string(),
            from: Some(current),
            to: Some(previous),
            user: settings::actor(),
            reason: if reason.is_empty() {
                "rollback".to_string()
            } else {
                format!("rollback: {reason}")
            },
            forced: false,
            at_ms: now_ms(),
            kind: AliasKind::Rollback,
        };
        self.meta.move_alias(&event).await?;
        Ok(event)
    }

    /// The run that made a registered version: the one recorded with it, or the run that
    /// wrote its model file (a pipeline's train step registers by hash).
    pub async fn training_run(&self, v: &ModelVersion) -> Result<Option<gyre_core::Run>> {
        let id = match &v.run_id {
            Some(r) => self.meta.resolve_run(r).await.ok(),
            None => self
                .meta
                .runs_with_output(&format!("model:{}", v.model))
                .await?
                .into_iter()
                .next(),
        };
        Ok(match id {
            Some(id) => Some(self.meta.get_run(&id).await?),
            None => None,
        })
    }

    /// The model the project serves or watches: `[serve] model`, else `[monitor] model`.
    pub fn served_model(&self) -> Option<String> {
        self.spec
            .serve
            .as_ref()
            .and_then(|s| s.model.clone())
            .or_else(|| self.spec.monitor.as_ref().and_then(|m| m.model.clone()))
    }

    pub async fn alias_history(&self, name: &str) -> Result<Vec<AliasEvent>> {
        Ok(self.meta.alias_events(name).await?)
    }

    /// Judges `NAME@V` against `[gate]` and stores the verdict.
    pub async fn validate_model(&self, reference: &str) -> Result<Verdict> {
        let gate = self.spec.gate.clone().ok_or_else(|| {
            OpsError::Invalid("gyre.toml has no [gate] section: nothing to check".into())
        })?;
        let (v, loaded) = self.registered_model(reference).await?;
        let checks = self.gate_checks(&gate, &v, &loaded).await?;
        let passed = checks.iter().all(|c| c.passed);
        let verdict = Verdict {
            name: v.name.clone(),
            version: v.version,
            passed,
            checks,
            user: settings::actor(),
            created_ms: now_ms(),
        };
        self.meta
            .put_verdict(&StoredVerdict {
                name: verdict.name.clone(),
                version: verdict.version,
                passed,
                checks: serde_json::to_string(&verdict.checks).expect("serialises"),
                user: verdict.user.clone(),
                created_ms: verdict.created_ms,
            })
            .await?;
        Ok(verdict)
    }

    async fn gate_checks(
        &self,
        gate: &GateSpec,
        v: &ModelVersion,
        loaded: &LoadedModel,
    ) -> Result<Vec<Check>> {
        let m = &loaded.model;
        // A model trained here carries its test figures; one trained elsewhere is measured
        // by running it on the gate's data, or else judged on what its script reported.
        let (figures, missing) = match (m.algorithm.is_imported(), &gate.dataset) {
            (false, _) => (m.metrics.clone(), "not recorded"),
            (true, None) if !m.metrics.is_empty() => (m.metrics.clone(), "not reported"),
            (true, Some(ds)) => (
                self.evaluate(&format!("model:{}", v.model), ds)
                    .await?
                    .flat(),
                "not measured",
            ),
            (true, None) => (
                Vec::new(),
                "not measured: a model trained elsewhere is measured on [gate] dataset, or \
                 judged on the figures its script reports (--metrics FILE)",
            ),
        };
        let metric = |k: &str| figures.iter().find(|(n, _)| n == k).map(|(_, x)| *x);
        let num = |x: f64| format!("{x:.4}");
        let mut checks = Vec::new();
        for (k, min) in &gate.min {
            let found = metric(k);
            checks.push(Check {
                check: format!("{k} ≥ min"),
                expected: format!("≥ {}", num(*min)),
                found: found.map_or(missing.into(), num),
                passed: found.is_some_and(|f| f >= *min),
            });
        }
        for (k, max) in &gate.max {
            let found = metric(k);
            checks.push(Check {
                check: format!("{k} ≤ max"),
                expected: format!("≤ {}", num(*max)),
                found: found.map_or(missing.into(), num),
                passed: found.is_some_and(|f| f <= *max),
            });
        }
        for (slice, mins) in &gate.slices {
            for (k, min) in mins {
                let found = metric(&format!("{slice}.{k}"));
                checks.push(Check {
                    check: format!("slice {slice}: {k}"),
                    expected: format!("≥ {}", num(*min)),
                    found: found.map_or(
                        "not recorded (declare the slice in [model].slices)".into(),
                        num,
                    ),
                    passed: found.is_some_and(|f| f >= *min),
                });
            }
        }
        if let Some(max) = gate.max_size_bytes {
            let size = self.blobs.get_bytes(loaded.hash).await?.len() as u64;
            checks.push(Check {
                check: "model size".into(),
                expected: format!("≤ {max} bytes"),
                found: format!("{size} bytes"),
                passed: size <= max,
            });
        }
        if let Some(beat) = &gate.beat_champion {
            let check = format!("beats champion on {} by {}", beat.metric, beat.margin);
            let champion = self.alias_version(&v.name, CHAMPION).await?;
            match (champion, &gate.dataset) {
                (None, _) => checks.push(Check {
                    check,
                    expected: "a champion to compare with".into(),
                    found: "no champion yet: passes".into(),
                    passed: true,
                }),
                (Some(c), _) if c == v.version => checks.push(Check {
                    check,
                    expected: "a different champion".into(),
                    found: "it is the champion: passes".into(),
                    passed: true,
                }),
                (Some(_), None) => checks.push(Check {
                    check,
                    expected: "gate.dataset: data neither model trained on".into(),
                    found: "no gate.dataset".into(),
                    passed: false,
                }),
                (Some(c), Some(ds)) => {
                    let champ = self
                        .resolve_model_version(&format!("{}@{c}", v.name))
                        .await?;
                    let mine = self.evaluate(&format!("model:{}", v.model), ds).await?;
                    let theirs = self.evaluate(&format!("model:{}", champ.model), ds).await?;
                    let get = |e: &gyre_learn::train::Evaluation| {
                        e.flat()
                            .into_iter()
                            .find(|(k, _)| *k == beat.metric)
                            .map(|(_, x)| x)
                    };
                    let (a, b) = (get(&mine), get(&theirs));
                    let lower = gyre_learn::tune::lower_is_better(&beat.metric);
                    let passed = match (a, b) {
                        (Some(a), Some(b)) if lower => a <= b - beat.margin,
                        (Some(a), Some(b)) => a >= b + beat.margin,
                        _ => false,
                    };
                    checks.push(Check {
                        check,
                        expected: match b {
                            Some(b) if lower => format!(
                                "≤ {} (champion v{c} {} − {})",
                                num(b - beat.margin),
                                num(b),
                                beat.margin
                            ),
                            Some(b) => format!(
                                "≥ {} (champion v{c} {} + {})",
                                num(b + beat.margin),
                                num(b),
                                beat.margin
                            ),
                            None => format!("champion's {}", beat.metric),
                        },
                        found: a.map_or(format!("{} not reported", beat.metric), num),
                        passed,
                    });
                }
            }
        }
        if let Some(max) = gate.max_p99_ms {
            let p99 = self.single_row_p99(m, gate.dataset.as_deref()).await?;
            checks.push(Check {
                check: "single-row p99 latency".into(),
                expected: format!("≤ {max} ms"),
                found: format!("{p99:.3} ms"),
                passed: p99 <= max,
            });
        }
        Ok(checks)
    }

    /// The p99 of single-row predictions over up to 2,000 rows of the gate's data (or the
    /// model's training data), measured here.
    async fn single_row_p99(&self, m: &Model, dataset: Option<&str>) -> Result<f64> {
        let ds = match dataset {
            Some(d) => d.to_string(),
            None => m
                .lineage
                .datasets
                .first()
                .and_then(|d| {
                    let (name_seq, id) = d.rsplit_once(':')?;
                    Some(format!("{}@{id}", name_seq.split('@').next()?))
                })
                .ok_or_else(|| OpsError::Invalid("the latency check needs gate.dataset".into()))?,
        };
        let target = self.resolve_target(&ds).await?;
        let readable = self.readable_target(&target).await?;
        let table = crate::train::read(
            &readable.files,
            &crate::targets::options_for(&target, &Default::default()),
            &crate::NoProgress,
        )?;
        let inputs = crate::train::inputs_for(m, &table.names, table.columns, &target.label())?;
        let refs: Vec<&Values> = inputs.iter().collect();
        let n = table.rows.min(2000);
        let mut times = Vec::with_capacity(n);
        for r in 0..n {
            let t = std::time::Instant::now();
            let _ = std::hint::black_box(m.predict(&refs, &[r]));
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        Ok(times
            .get(((times.len() as f64) * 0.99) as usize)
            .or(times.last())
            .copied()
            .unwrap_or(0.0))
    }
}

impl Project {
    /// Removes an alias, with an audit row.
    pub async fn remove_alias(
        &self,
        name: &str,
        alias: &str,
        reason: &str,
        actor: &str,
    ) -> Result<AliasEvent> {
        let from = self
            .alias_version(name, alias)
            .await?
            .ok_or_else(|| OpsError::NotFound(format!("model `{name}` has no alias `{alias}`")))?;
        let event = AliasEvent {
            name: name.to_string(),
            alias: alias.to_string(),
            from: Some(from),
            to: None,
            user: actor.to_string(),
            reason: reason.to_string(),
            forced: false,
            at_ms: now_ms(),
            kind: gyre_store::AliasKind::Move,
        };
        self.meta.move_alias(&event).await?;
        Ok(event)
    }
}
