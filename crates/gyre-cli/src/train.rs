//! `gyre train`, `gyre predict`, `gyre reproduce`.

use crate::data::CsvFlags;
use crate::progress::Bars;
use crate::render::{count, num, table};
use crate::{CliResult, Failure, open_project, print_json};
use clap::Args;
use gyre_core::ReadOptions;
use gyre_learn::train::{Evaluation, Report};
use gyre_ops::train::TrainOptions;
use std::path::PathBuf;

/// Train the `[model]` spec of gyre.toml: one tracked run, one model file.
#[derive(Args)]
pub struct TrainArgs {
    /// Override a spec key for this run only, e.g. `model.params.trees=300` (repeatable).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    sets: Vec<String>,
    /// The run's name (default: `train ALGORITHM`).
    #[arg(long)]
    name: Option<String>,
    /// Also copy the model file here.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

/// Score a CSV or Parquet file (or a dataset version) with a model, in batch.
#[derive(Args)]
pub struct PredictArgs {
    /// A model: a registered version (NAME@V or NAME@ALIAS), a run id (or prefix), a model
    /// hash, or a model file.
    model: String,
    /// The rows to score: a file, a folder, or a dataset version (NAME[@V]).
    #[arg(long, short)]
    input: String,
    /// Where to write the predictions (CSV: kept columns, `prediction`, then `proba_CLASS`).
    #[arg(long, short)]
    output: PathBuf,
    /// Input columns to copy into the output before the predictions (ids, keys).
    #[arg(long, value_delimiter = ',', value_name = "COL,…")]
    keep: Vec<String>,
    #[command(flatten)]
    csv: CsvFlags,
    #[arg(long)]
    json: bool,
}

/// Re-train a past run's model from what it recorded, and compare the files byte for byte.
/// Exits 1 when the new model differs.
#[derive(Args)]
pub struct ReproduceArgs {
    /// The run (id or prefix), model hash, or model file to reproduce.
    run: String,
    #[arg(long)]
    json: bool,
}

fn print_report(r: &Report, metrics: &[(String, f64)]) {
    let slices: Vec<String> = r.slices.iter().map(|s| format!("{}.", s.name)).collect();
    let rows = metrics
        .iter()
        .filter(|(k, _)| !slices.iter().any(|s| k.starts_with(s.as_str())))
        .map(|(k, v)| vec![k.clone(), num(*v)])
        .collect();
    out!("{}", table(&["metric", "test"], rows, &["test"]));
    if let Evaluation::Classification(c) = &r.test {
        let mut rows = Vec::new();
        for (t, label) in c.labels.iter().enumerate() {
            let mut row = vec![label.clone()];
            row.extend(c.confusion[t].iter().map(|n| count(*n)));
            rows.push(row);
        }
        let mut headers: Vec<&str> = vec!["true \\ predicted"];
        headers.extend(c.labels.iter().map(String::as_str));
        out!("\n{}", table(&headers, rows, &headers[1..]));
    }
    if !r.slices.is_empty() {
        let mut rows = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        for s in &r.slices {
            if let Some(m) = &s.metrics {
                for (k, _) in m.flat() {
                    if !keys.contains(&k) && keys.len() < 4 {
                        keys.push(k);
                    }
                }
            }
        }
        for s in &r.slices {
            let mut row = vec![s.name.clone(), count(s.rows as u64)];
            let flat = s.metrics.as_ref().map(|m| m.flat()).unwrap_or_default();
            for k in &keys {
                row.push(
                    flat.iter()
                        .find(|(n, _)| n == k)
                        .map(|(_, v)| num(*v))
                        .unwrap_or_else(|| "—".into()),
                );
            }
            rows.push(row);
        }
        let mut headers = vec!["slice", "rows"];
        headers.extend(keys.iter().map(String::as_str));
        out!("\n{}", table(&headers, rows, &headers[1..]));
    }
    if !r.importance.is_empty() {
        let rows = r
            .importance
            .iter()
            .take(10)
            .map(|(c, v)| vec![c.clone(), format!("{:.4}", v)])
            .collect();
        out!(
            "\n{}",
            table(&["feature", "importance"], rows, &["importance"])
        );
    }
}

pub async fn train(args: TrainArgs, project: &Option<PathBuf>, quiet: bool) -> CliResult {
    let p = open_project(project).await?;
    let spec = p.model_spec(&args.sets)?;
    let bars = Bars::new(quiet || args.json);
    let opts = TrainOptions {
        run_name: args.name,
        ..TrainOptions::default()
    };
    let out = p.train(&spec, &opts, &bars).await?;
    if let Some(path) = &args.output {
        let bytes = p
            .blobs
            .get_bytes(out.model)
            .await
            .map_err(gyre_ops::OpsError::from)?;
        std::fs::write(path, bytes).map_err(|e| {
            Failure::Error(gyre_ops::OpsError::Io {
                context: format!("writing {}", path.display()),
                source: e,
            })
        })?;
    }
    if args.json {
        print_json(&out);
        return Ok(());
    }
    let r = &out.report;
    out!(
        "Trained {} on {}: {} training rows, {} test rows, {} features, in {:.2} s{}",
        out.algorithm,
        out.dataset,
        count(r.train_rows as u64),
        count(r.test_rows as u64),
        count(r.features as u64),
        out.fit_seconds,
        r.iterations
            .map(|i| format!(" ({i} boosting iterations)"))
            .unwrap_or_default()
    );
    if r.unlabelled_rows > 0 {
        out!(
            "  {} rows without a target were left out",
            count(r.unlabelled_rows as u64)
        );
    }
    out!("Run    {}", out.run);
    out!(
        "Model  model:{} ({} bytes)\n",
        out.model,
        count(out.model_bytes as u64)
    );
    print_report(r, &out.metrics);
    out!(
        "\nNext: gyre predict {} --input FILE --output predictions.csv",
        out.run
    );
    Ok(())
}

pub async fn predict(args: PredictArgs, project: &Option<PathBuf>, quiet: bool) -> CliResult {
    let p = open_project(project).await?;
    let bars = Bars::new(quiet || args.json);
    let mut opts = ReadOptions::default();
    args.csv.overrides()?.apply(&mut opts);
    let out = p
        .predict(
            &args.model,
            &args.input,
            &args.output,
            &args.keep,
            &opts,
            &bars,
        )
        .await?;
    if args.json {
        print_json(&out);
    } else {
        out!(
            "Scored {} rows with model:{} into {} ({} rows/s scoring)",
            count(out.rows as u64),
            out.model.short(),
            out.output,
            count(out.rows_per_second as u64)
        );
    }
    Ok(())
}

pub async fn reproduce(args: ReproduceArgs, project: &Option<PathBuf>, quiet: bool) -> CliResult {
    let p = open_project(project).await?;
    let bars = Bars::new(quiet || args.json);
    let out = p.reproduce(&args.run, &bars).await?;
    if args.json {
        print_json(&out);
    } else if out.identical {
        out!(
            "Reproduced: run {} made model:{}, byte for byte the original.",
            out.run,
            out.model.short()
        );
    } else {
        out!(
            "Not identical: run {} made model:{}, the original is model:{}.",
            out.run,
            out.model.short(),
            out.original_model.short()
        );
        let rows = out
            .differences
            .iter()
            .map(|(k, a, b)| vec![k.clone(), a.clone(), b.clone()])
            .collect();
        out!("{}", table(&["what", "original", "now"], rows, &[]));
    }
    if out.identical {
        Ok(())
    } else {
        Err(Failure::CheckFailed)
    }
}

/// Search `[model.tune]`: trials scored on a validation split, the best trained and tested.
#[derive(Args)]
pub struct TuneArgs {
    /// Override a spec key for this search only (repeatable).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    sets: Vec<String>,
    #[arg(long)]
    json: bool,
}

pub async fn tune(args: TuneArgs, project: &Option<PathBuf>, quiet: bool) -> CliResult {
    let p = open_project(project).await?;
    let spec = p.model_spec(&args.sets)?;
    let bars = Bars::new(quiet || args.json);
    let out = p.tune(&spec, &bars).await?;
    if args.json {
        print_json(&out);
        return Ok(());
    }
    let mut keys: Vec<&String> = out.trials.iter().flat_map(|t| t.params.keys()).collect();
    keys.sort();
    keys.dedup();
    let rows = out
        .trials
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut row = vec![
                format!("{}{}", i + 1, if i == out.best { " *" } else { "" }),
                t.run.to_string()[..12].to_string(),
            ];
            row.extend(
                keys.iter()
                    .map(|k| t.params.get(*k).cloned().unwrap_or_default()),
            );
            row.push(num(t.value));
            row
        })
        .collect();
    let metric = format!("validation {}", out.metric);
    let mut headers = vec!["trial", "run"];
    headers.extend(keys.iter().map(|k| k.as_str()));
    headers.push(&metric);
    out!("{}", table(&headers, rows, &[metric.as_str()]));
    out!(
        "\nBest: trial {} (validation {} = {}, goal {}), trained on all training rows as run {}",
        out.best + 1,
        out.metric,
        num(out.trials[out.best].value),
        out.goal,
        out.model.run
    );
    out!("Model  model:{}\n", out.model.model);
    print_report(&out.model.report, &out.model.metrics);
    Ok(())
}
