//! Training, batch scoring and reproduction: the `[model]` spec in, a tracked run and a
//! content-addressed model file out.

use crate::datasets::blocking_here;
use crate::progress::Progress;
use crate::targets::{Target, options_for};
use crate::{OpsError, Project, Result};
use gyre_core::model::ModelSpec;
use gyre_core::{ContentHash, ProjectSpec, ReadOptions, RunId, RunStatus};
use gyre_learn::model::{Lineage, Model, Predictions, typed};
use gyre_learn::train::{Report, train};
use gyre_learn::transform::Values;
use serde::Serialize;

/// What `gyre train` did.
#[derive(Debug, Serialize)]
pub struct TrainOutcome {
    pub run: RunId,
    /// The model file's hash in the object store.
    pub model: ContentHash,
    pub model_bytes: usize,
    pub dataset: String,
    pub algorithm: String,
    pub fit_seconds: f64,
    /// The test metrics the spec asks for (all by default), then per slice.
    pub metrics: Vec<(String, f64)>,
    pub report: Report,
}

/// Options of one training run.
#[derive(Debug, Default, Clone)]
pub struct TrainOptions {
    pub run_name: Option<String>,
    pub parent: Option<RunId>,
    pub tags: Vec<(String, String)>,
    /// Read this dataset version instead of the spec's `dataset` (reproduction pins the
    /// recorded version; the spec, and so the model file, stay as they were).
    pub dataset: Option<String>,
}

/// A model and where it came from.
pub struct LoadedModel {
    pub model: Model,
    pub hash: ContentHash,
    /// The run that made it, when known.
    pub run: Option<RunId>,
}

/// The `model:` output reference of a run.
pub fn model_output(hash: &ContentHash) -> String {
    format!("model:{hash}")
}

impl Project {
    /// The `[model]` spec of gyre.toml with `--set` overrides (`model.params.trees=300`).
    pub fn model_spec(&self, sets: &[String]) -> Result<ModelSpec> {
        let path = self.root.join(crate::project::PROJECT_FILE);
        let text = std::fs::read_to_string(&path).map_err(OpsError::io("reading gyre.toml"))?;
        let spec = ProjectSpec::parse_with(&text, &path.display().to_string(), sets)?;
        let mut model = spec.model.ok_or_else(|| {
            OpsError::Invalid(
                "gyre.toml has no [model] section; see the README's \"Training\" section".into(),
            )
        })?;
        // The class the monitor watches is the class the model reports and cuts on, so a
        // relative floor compares like with like.
        if model.positive.is_none()
            && (model.task == gyre_core::model::Task::Binary || model.threshold.is_some())
        {
            model.positive = spec.monitor.and_then(|m| m.positive);
        }
        Ok(model)
    }

    /// Trains `spec` into a tracked run and stores the model file.
    pub async fn train(
        &self,
        spec: &ModelSpec,
        opts: &TrainOptions,
        progress: &dyn Progress,
    ) -> Result<TrainOutcome> {
        let target = self
            .resolve_target(opts.dataset.as_deref().unwrap_or(&spec.dataset))
            .await?;
        let Target::Version(version) = &target else {
            return Err(OpsError::Invalid(format!(
                "model.dataset = `{}` is a path; training reads dataset versions so runs can be \
                 reproduced: `gyre data add {}` first",
                spec.dataset, spec.dataset
            )));
        };
        let dataset = format!("{}@{}", version.info.dataset, version.info.seq);
        let input_ref = format!("dataset:{}@{}", version.info.dataset, version.info.id);
        let spec_text =
            toml::to_string(spec).map_err(|e| OpsError::Invalid(format!("the model spec: {e}")))?;
        let (git_commit, git_dirty) = crate::runs::git_state(&self.root);
        let lineage = Lineage {
            datasets: vec![format!("{dataset}:{}", version.info.id)],
            spec_hash: blake3::hash(spec_text.as_bytes()).to_hex().to_string(),
            spec: spec_text,
            seed: spec.seed,
            git_commit,
            git_dirty,
            gyre_version: env!("CARGO_PKG_VERSION").to_string(),
        };

        let name = opts
            .run_name
            .clone()
            .unwrap_or_else(|| format!("train {}", algorithm_name(spec)));
        let mut run = self.start_run(&name, opts.parent.as_ref()).await?;
        let mut params = vec![
            ("algorithm".to_string(), algorithm_name(spec)),
            (
                "task".to_string(),
                format!("{:?}", spec.task).to_lowercase(),
            ),
            ("target".to_string(), spec.target.clone()),
            ("dataset".to_string(), dataset.clone()),
            ("seed".to_string(), spec.seed.to_string()),
            ("split".to_string(), split_text(spec)),
            ("spec_hash".to_string(), lineage.spec_hash.clone()),
        ];
        // The learner's parameters by their own names (`trees`, not `params.trees`: they are
        // params already, and show as `params.trees` in comparisons and filters).
        for (k, v) in &spec.params {
            params.push((k.clone(), value_text(v)));
        }
        if let Some(w) = &spec.class_weight {
            params.push(("class_weight".to_string(), w.clone()));
        }
        run.log_params(&params).await?;
        if !opts.tags.is_empty() {
            run.set_tags(&opts.tags).await?;
        }
        run.add_inputs(&[input_ref]).await?;

        let result = async {
            let readable = self.readable(version).await?;
            let read_opts = options_for(&target, &ReadOptions::default());
            let table = read(&readable.files, &read_opts, progress)?;
            progress.start(&format!("training {}", algorithm_name(spec)), 0);
            let started = std::time::Instant::now();
            let trained = blocking_here(|| train(spec, &table.names, table.columns, lineage))
                .map_err(|e| OpsError::Invalid(e.0))?;
            let fit_seconds = started.elapsed().as_secs_f64();
            progress.finish();
            let bytes = trained.model.to_bytes();
            let model_bytes = bytes.len();
            let hash = self.blobs.put_bytes(bytes).await?;
            Ok::<_, OpsError>((trained, hash, model_bytes, fit_seconds))
        }
        .await;
        let (trained, hash, model_bytes, fit_seconds) = match result {
            Ok(r) => r,
            Err(e) => {
                run.finish(RunStatus::Failed).await?;
                return Err(e);
            }
        };
        for (k, v) in &trained.model.metrics {
            run.log_metric(k, 0, *v).await?;
        }
        if let gyre_learn::learner::Learner::Boosted(b) = &trained.model.learner {
            for (i, l) in b.validation_loss.iter().enumerate() {
                run.log_metric("validation_loss", i as i64, *l).await?;
            }
        }
        run.log_metric("fit_seconds", 0, fit_seconds).await?;
        run.add_outputs(&[model_output(&hash)]).await?;
        let id = run.id.clone();
        run.finish(RunStatus::Finished).await?;
        Ok(TrainOutcome {
            run: id,
            model: hash,
            model_bytes,
            dataset,
            algorithm: algorithm_name(spec),
            fit_seconds,
            metrics: trained.model.metrics.clone(),
            report: trained.report,
        })
    }

    /// Finds a model: a model file's path, a run (id or prefix) that made one, or the
    /// model's hash.
    pub async fn load_model(&self, reference: &str) -> Result<LoadedModel> {
        let path = std::path::Path::new(reference);
        let (bytes, run) = if path.is_file() {
            let bytes = std::fs::read(path).map_err(OpsError::io("reading the model file"))?;
            (bytes, None)
        } else if let Ok(hash) = reference
            .strip_prefix("model:")
            .unwrap_or(reference)
            .parse::<ContentHash>()
        {
            (self.blobs.get_bytes(hash).await?, None)
        } else if reference.contains('@') {
            // A registered version: NAME@V or NAME@ALIAS.
            let v = self.resolve_model_version(reference).await?;
            let hash = v
                .model
                .parse::<ContentHash>()
                .map_err(|e| OpsError::Invalid(format!("{reference}: {e}")))?;
            (self.blobs.get_bytes(hash).await?, None)
        } else {
            let detail = self.run_detail(reference).await.map_err(|e| {
                OpsError::NotFound(format!(
                    "`{reference}` is not a model file, a model hash, a registered version \
                     (NAME@V) or a run: {e}"
                ))
            })?;
            let hash = detail
                .run
                .outputs
                .iter()
                .find_map(|o| o.strip_prefix("model:"))
                .ok_or_else(|| {
                    OpsError::NotFound(format!("run {} made no model", detail.run.start.id))
                })?
                .parse::<ContentHash>()
                .map_err(|e| OpsError::Invalid(e.to_string()))?;
            (
                self.blobs.get_bytes(hash).await?,
                Some(detail.run.start.id.clone()),
            )
        };
        let hash = ContentHash::of(&bytes);
        if let Some(source) = crate::registry::external_source(&bytes) {
            return Err(OpsError::Invalid(format!(
                "{reference} was registered through MLflow from {source}: gyre never loads a \
                 pickled model (loading one runs its code); export it to ONNX to serve it (an \
                 ONNX model logged by MLflow registers with `gyre models register NAME \
                 {source} --dataset … --target …`)"
            )));
        }
        let model = Model::from_bytes(&bytes)
            .map_err(|e| OpsError::Invalid(format!("{reference}: {e}")))?;
        Ok(LoadedModel { model, hash, run })
    }
}

/// A table read for training or scoring, with progress.
pub(crate) fn read(
    files: &[gyre_data::InputFile],
    opts: &ReadOptions,
    progress: &dyn Progress,
) -> Result<gyre_data::table::Table> {
    Ok(crate::progress::over_files(
        files,
        "reading",
        progress,
        |advance| gyre_data::table::read_table(files, opts, advance),
    )?)
}

/// The signature's columns from a table, typed; errors name the file row and value.
pub fn inputs_for(
    model: &Model,
    names: &[String],
    mut columns: Vec<Vec<Option<String>>>,
    file: &str,
) -> Result<Vec<Values>> {
    let missing: Vec<&str> = model
        .signature
        .inputs
        .iter()
        .filter(|c| !names.contains(&c.name))
        .map(|c| c.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(OpsError::Invalid(format!(
            "{file}: missing column(s) the model needs: {}",
            missing.join(", ")
        )));
    }
    model
        .signature
        .inputs
        .iter()
        .map(|c| {
            let i = names.iter().position(|n| *n == c.name).expect("checked");
            typed(c.kind, std::mem::take(&mut columns[i])).map_err(|(row, value)| {
                OpsError::Invalid(format!(
                    "{file}: data row {} column `{}`: `{value}` is not a number (the model was trained on numbers)",
                    row + 1,
                    c.name
                ))
            })
        })
        .collect()
}

/// What `gyre predict` did.
#[derive(Debug, Serialize)]
pub struct PredictOutcome {
    pub model: ContentHash,
    pub rows: usize,
    pub output: String,
    /// Scoring alone (transforms and learner), without reading or writing files.
    pub score_seconds: f64,
    pub rows_per_second: f64,
}

impl Project {
    /// Scores a CSV or Parquet file (or a dataset version) with a model; writes a CSV of the
    /// input's key columns... the prediction and, for classes, one probability per class.
    pub async fn predict(
        &self,
        model_ref: &str,
        input: &str,
        output: &std::path::Path,
        keep: &[String],
        fallback: &ReadOptions,
        progress: &dyn Progress,
    ) -> Result<PredictOutcome> {
        let loaded = self.load_model(model_ref).await?;
        let model = &loaded.model;
        let target = self.resolve_target(input).await?;
        let readable = self.readable_target(&target).await?;
        let opts = options_for(&target, fallback);
        let table = read(&readable.files, &opts, progress)?;
        // Columns carried through to the output (ids, keys), as read.
        let kept: Vec<(String, Vec<Option<String>>)> = keep
            .iter()
            .map(|k| {
                table
                    .names
                    .iter()
                    .position(|n| n == k)
                    .map(|i| (k.clone(), table.columns[i].clone()))
                    .ok_or_else(|| {
                        OpsError::Invalid(format!(
                            "--keep `{k}`: {} has no such column; its columns: {}",
                            target.label(),
                            table.names.join(", ")
                        ))
                    })
            })
            .collect::<Result<_>>()?;
        let inputs = inputs_for(model, &table.names, table.columns, &target.label())?;
        let refs: Vec<&Values> = inputs.iter().collect();
        let rows: Vec<usize> = (0..table.rows).collect();
        progress.start("scoring", 0);
        let started = std::time::Instant::now();
        let pred = blocking_here(|| model.predict(&refs, &rows))
            .map_err(|e| OpsError::Invalid(format!("{}: {e}", target.label())))?;
        let score_seconds = started.elapsed().as_secs_f64();
        progress.finish();
        write_predictions(model, &pred, &kept, output)?;
        Ok(PredictOutcome {
            model: loaded.hash,
            rows: table.rows,
            output: self.display_path(output),
            score_seconds,
            rows_per_second: table.rows as f64 / score_seconds.max(1e-9),
        })
    }
}

/// Writes the kept columns, `prediction` and (for classification) `proba_CLASS` columns as
/// CSV, atomically.
fn write_predictions(
    model: &Model,
    pred: &Predictions,
    kept: &[(String, Vec<Option<String>>)],
    output: &std::path::Path,
) -> Result<()> {
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let io = |what: &str| {
        let what = format!("{what} {}", output.display());
        move |e| OpsError::Io {
            context: what,
            source: e,
        }
    };
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io("creating"))?;
    {
        let mut w = csv::Writer::from_writer(std::io::BufWriter::new(tmp.as_file()));
        let classes = &model.signature.classes;
        let mut header: Vec<String> = kept.iter().map(|(k, _)| k.clone()).collect();
        header.push("prediction".to_string());
        header.extend(classes.iter().map(|c| format!("proba_{c}")));
        let csv_err =
            |e: csv::Error| OpsError::Invalid(format!("writing {}: {e}", output.display()));
        w.write_record(&header).map_err(csv_err)?;
        let mut rec: Vec<String> = Vec::with_capacity(header.len());
        for r in 0..pred.rows() {
            rec.clear();
            rec.extend(kept.iter().map(|(_, v)| v[r].clone().unwrap_or_default()));
            if classes.is_empty() {
                rec.push(format!("{}", pred.row(r)[0]));
            } else {
                rec.push(classes[pred.class_of(r)].clone());
                rec.extend(pred.row(r).iter().map(|p| format!("{p}")));
            }
            w.write_record(&rec).map_err(csv_err)?;
        }
        w.flush().map_err(io("writing"))?;
    }
    tmp.as_file().sync_all().map_err(io("syncing"))?;
    tmp.persist(output)
        .map_err(|e| e.error)
        .map_err(io("writing"))?;
    Ok(())
}

fn algorithm_name(spec: &ModelSpec) -> String {
    toml::Value::try_from(spec.algorithm)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn split_text(spec: &ModelSpec) -> String {
    toml::Value::try_from(&spec.split)
        .map(|v| v.to_string())
        .unwrap_or_default()
}

fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What `gyre reproduce` found.
#[derive(Debug, Serialize)]
pub struct ReproduceOutcome {
    pub original_run: Option<RunId>,
    pub original_model: ContentHash,
    pub run: RunId,
    pub model: ContentHash,
    /// The new model file is byte for byte the old one.
    pub identical: bool,
    /// Why not, when it is not: lineage fields and metrics that differ (name, was, now).
    pub differences: Vec<(String, String, String)>,
}

impl Project {
    /// Re-trains a past run's model from what its model file records (the spec as trained,
    /// the dataset version, the seed) and compares the result.
    pub async fn reproduce(
        &self,
        reference: &str,
        progress: &dyn Progress,
    ) -> Result<ReproduceOutcome> {
        let old = self.load_model(reference).await?;
        let lineage = &old.model.lineage;
        let spec: ModelSpec = toml::from_str(&lineage.spec).map_err(|e| {
            OpsError::Invalid(format!("the model's recorded spec does not parse: {e}"))
        })?;
        let dataset = lineage
            .datasets
            .first()
            .and_then(|d| {
                let (name_seq, id) = d.rsplit_once(':')?;
                let (name, _) = name_seq.split_once('@')?;
                Some(format!("{name}@{id}"))
            })
            .ok_or_else(|| OpsError::Invalid("the model records no dataset version".into()))?;
        let mut tags = vec![("reproduces".to_string(), old.hash.to_hex())];
        if let Some(r) = &old.run {
            tags.push(("reproduces_run".to_string(), r.to_string()));
        }
        let out = self
            .train(
                &spec,
                &TrainOptions {
                    run_name: Some(format!("reproduce {}", old.hash.short())),
                    parent: None,
                    tags,
                    dataset: Some(dataset),
                },
                progress,
            )
            .await?;
        let new = self.load_model(&out.model.to_hex()).await?;
        let mut differences = Vec::new();
        let (a, b) = (&old.model.lineage, &new.model.lineage);
        let mut diff = |name: &str, x: String, y: String| {
            if x != y {
                differences.push((name.to_string(), x, y));
            }
        };
        diff(
            "git_commit",
            format!("{:?}", a.git_commit),
            format!("{:?}", b.git_commit),
        );
        diff(
            "git_dirty",
            a.git_dirty.to_string(),
            b.git_dirty.to_string(),
        );
        diff(
            "gyre_version",
            a.gyre_version.clone(),
            b.gyre_version.clone(),
        );
        for ((k, x), (_, y)) in old.model.metrics.iter().zip(&new.model.metrics) {
            diff(&format!("metrics.{k}"), format!("{x}"), format!("{y}"));
        }
        Ok(ReproduceOutcome {
            original_run: old.run,
            original_model: old.hash,
            run: out.run,
            model: out.model,
            identical: old.hash == out.model,
            differences,
        })
    }
}

/// One trial of a search.
#[derive(Debug, Serialize)]
pub struct Trial {
    pub run: RunId,
    pub params: std::collections::BTreeMap<String, String>,
    /// The tune metric on the validation split.
    pub value: f64,
}

/// What `gyre tune` did.
#[derive(Debug, Serialize)]
pub struct TuneOutcome {
    /// The parent run; trials and the final training are its children.
    pub run: RunId,
    pub metric: String,
    pub goal: &'static str,
    pub trials: Vec<Trial>,
    /// Index into `trials`.
    pub best: usize,
    /// The best params trained on the whole training split and scored on the test split.
    pub model: TrainOutcome,
}

impl Project {
    /// Searches `[model.tune]`: each trial a child run scored on a validation share of the
    /// training rows; the best is then trained on all training rows and tested once.
    pub async fn tune(&self, spec: &ModelSpec, progress: &dyn Progress) -> Result<TuneOutcome> {
        use gyre_learn::train::{Holdout, train_with};
        use gyre_learn::tune::{better, candidates, lower_is_better};
        let tune = spec.tune.clone().ok_or_else(|| {
            OpsError::Invalid("gyre.toml has no [model.tune] section to search".into())
        })?;
        let share = tune.validation.unwrap_or(0.2);
        let cands = candidates(&tune, &spec.params, spec.seed).map_err(OpsError::Invalid)?;
        better(&tune, 0.0, 0.0).map_err(OpsError::Invalid)?;
        let goal = match tune.goal.as_deref() {
            Some("min") => "min",
            Some(_) => "max",
            None if lower_is_better(&tune.metric) => "min",
            None => "max",
        };
        let target = self.resolve_target(&spec.dataset).await?;
        let Target::Version(version) = &target else {
            return Err(OpsError::Invalid(format!(
                "model.dataset = `{}` is a path; `gyre data add` it first",
                spec.dataset
            )));
        };
        let readable = self.readable(version).await?;
        let table = read(
            &readable.files,
            &options_for(&target, &ReadOptions::default()),
            progress,
        )?;
        let pinned = format!("{}@{}", version.info.dataset, version.info.id);

        let parent = self
            .start_run(&format!("tune {}", algorithm_name(spec)), None)
            .await?;
        parent
            .log_params(&[
                ("algorithm".into(), algorithm_name(spec)),
                ("tune.metric".into(), tune.metric.clone()),
                ("tune.goal".into(), goal.into()),
                ("tune.trials".into(), cands.len().to_string()),
                ("tune.validation".into(), share.to_string()),
            ])
            .await?;
        let parent_id = parent.id.clone();
        let mut trials: Vec<Trial> = Vec::new();
        let mut best: Option<usize> = None;
        let outcome: Result<()> = async {
            for (i, params) in cands.iter().enumerate() {
                progress.start(&format!("trial {}/{}", i + 1, cands.len()), 0);
                let mut trial_spec = spec.clone();
                trial_spec.params = params.clone();
                trial_spec.tune = None;
                let mut run = self
                    .start_run(&format!("trial {}", i + 1), Some(&parent_id))
                    .await?;
                let shown: std::collections::BTreeMap<String, String> = params
                    .iter()
                    .map(|(k, v)| (k.clone(), value_text(v)))
                    .collect();
                let logged: Vec<(String, String)> = shown
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .chain([("algorithm".to_string(), algorithm_name(spec))])
                    .collect();
                run.log_params(&logged).await?;
                let columns = table.columns.clone();
                let result = blocking_here(|| {
                    train_with(
                        &trial_spec,
                        &table.names,
                        columns,
                        // Trials keep no model file: no lineage to record.
                        Lineage::default(),
                        Holdout::Validation(share),
                    )
                });
                let trained = match result {
                    Ok(t) => t,
                    Err(e) => {
                        run.finish(RunStatus::Failed).await?;
                        return Err(OpsError::Invalid(format!("trial {}: {}", i + 1, e.0)));
                    }
                };
                let flat = trained.report.test.flat();
                let Some(value) = flat
                    .iter()
                    .find(|(k, _)| *k == tune.metric)
                    .map(|(_, v)| *v)
                else {
                    run.finish(RunStatus::Failed).await?;
                    return Err(OpsError::Invalid(format!(
                        "tune.metric `{}` is not reported for this task; choose from {}",
                        tune.metric,
                        flat.iter()
                            .map(|(k, _)| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                };
                for (k, v) in &flat {
                    run.log_metric(&format!("validation.{k}"), 0, *v).await?;
                }
                run.set_tags(&[("tune".into(), parent_id.to_string())])
                    .await?;
                let id = run.id.clone();
                run.finish(RunStatus::Finished).await?;
                if best.is_none_or(|b| better(&tune, value, trials[b].value).unwrap_or(false)) {
                    best = Some(i);
                }
                trials.push(Trial {
                    run: id,
                    params: shown,
                    value,
                });
            }
            progress.finish();
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            parent.finish(RunStatus::Failed).await?;
            return Err(e);
        }
        let best = best.expect("at least one candidate");
        let mut final_spec = spec.clone();
        final_spec.params = cands[best].clone();
        final_spec.tune = None;
        let model = self
            .train(
                &final_spec,
                &TrainOptions {
                    run_name: Some("tune best".into()),
                    parent: Some(parent_id.clone()),
                    tags: vec![("tune".into(), parent_id.to_string())],
                    dataset: Some(pinned),
                },
                progress,
            )
            .await;
        let model = match model {
            Ok(m) => m,
            Err(e) => {
                parent.finish(RunStatus::Failed).await?;
                return Err(e);
            }
        };
        let mut parent = parent;
        let best_params: Vec<(String, String)> = trials[best]
            .params
            .iter()
            .map(|(k, v)| (format!("best.{k}"), v.clone()))
            .collect();
        parent.log_params(&best_params).await?;
        parent
            .log_metric(
                &format!("best.validation.{}", tune.metric),
                0,
                trials[best].value,
            )
            .await?;
        for (i, t) in trials.iter().enumerate() {
            parent
                .log_metric(&format!("validation.{}", tune.metric), i as i64, t.value)
                .await?;
        }
        parent.add_outputs(&[model_output(&model.model)]).await?;
        parent.finish(RunStatus::Finished).await?;
        Ok(TuneOutcome {
            run: parent_id,
            metric: tune.metric,
            goal,
            trials,
            best,
            model,
        })
    }
}

impl Project {
    /// Scores a model (a run, hash or file) on a dataset version: every labelled row.
    pub async fn evaluate(
        &self,
        model_ref: &str,
        dataset: &str,
    ) -> Result<gyre_learn::train::Evaluation> {
        let loaded = self.load_model(model_ref).await?;
        let target = self.resolve_target(dataset).await?;
        let readable = self.readable_target(&target).await?;
        let table = read(
            &readable.files,
            &options_for(&target, &ReadOptions::default()),
            &crate::NoProgress,
        )?;
        blocking_here(|| gyre_learn::train::evaluate(&loaded.model, &table.names, table.columns))
            .map_err(|e| OpsError::Invalid(format!("{}: {}", target.label(), e.0)))
    }
}
