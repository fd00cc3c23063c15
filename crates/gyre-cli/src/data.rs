//! `gyre data …`: version, profile, compare and restore datasets.

use crate::progress::Bars;
use crate::render::{bytes, count, num, percent, short, table};
use crate::{CliResult, Failure, open_project, print_json};
use clap::{Args, Subcommand};
use gyre_core::{ColumnProfile, DatasetName, DatasetRef, DatasetSpec};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum DataCommand {
    /// Add a version of a dataset: a CSV or Parquet file, or a folder of them (recursive).
    ///
    /// The version is named by its content hash; adding identical content again creates no
    /// new version. Every column is profiled (types, nulls, distinct values, statistics,
    /// quantiles, histograms, top values) so later checks need no raw data.
    Add {
        /// The dataset's name (letters, digits, `_`, `-`, `.`).
        name: String,
        /// The file or folder. Default: `path` in gyre.toml's [datasets.NAME].
        path: Option<PathBuf>,
        #[command(flatten)]
        csv: CsvFlags,
        #[arg(long)]
        json: bool,
    },
    /// List datasets with their latest version.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a version's profile as a table (NAME, NAME@N, NAME@latest or NAME@HASH-PREFIX).
    Show {
        reference: String,
        /// Show one column in detail: histogram and top values.
        #[arg(long, value_name = "NAME")]
        column: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Compare two versions: schema, row counts, and per-column statistics.
    Diff {
        from: String,
        to: String,
        #[arg(long)]
        json: bool,
    },
    /// Restore a version's exact bytes.
    Checkout {
        reference: String,
        /// Where to write. Default: the path it was added from (when inside the project).
        dest: Option<PathBuf>,
        /// Overwrite files whose current content no version holds.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// List a dataset's versions, newest first (`--json`: oldest first).
    Log {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Infer a schema from a version and write it to schemas/NAME.toml, for you to edit.
    ///
    /// Per column: type, the largest share of missing values, numeric range, allowed
    /// categories, uniqueness, required or optional; for the dataset: row-count bounds.
    Schema {
        reference: String,
        /// Write here instead of schemas/NAME.toml.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace an existing schema file (it may hold edits).
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Check data against a schema and report every anomaly.
    ///
    /// TARGET is a dataset version (NAME, NAME@N, …; schema default schemas/NAME.toml) or a
    /// file or folder (give --schema). Exits 0 when clean or only warnings, 1 when any rule of
    /// severity `error` is broken, 2 on an error.
    Validate {
        target: String,
        /// The schema file.
        #[arg(long, value_name = "FILE")]
        schema: Option<PathBuf>,
        /// Also write an HTML report.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        #[command(flatten)]
        csv: CsvFlags,
        #[arg(long)]
        json: bool,
    },
    /// Compare a current sample with a reference, column by column.
    ///
    /// Each side is a dataset version (NAME, NAME@N, …) or a file or folder. Numeric columns
    /// get Kolmogorov–Smirnov, PSI and normalised Wasserstein; categorical ones chi-squared,
    /// PSI and Jensen–Shannon. The deciding method is chosen by type and sample size (KS or
    /// chi-squared up to 1,000 reference values, Wasserstein or Jensen–Shannon above).
    /// Exits 1 when the dataset drifts (the share of drifted columns reaches --drift-share).
    Drift {
        reference: String,
        current: String,
        /// Use only the reference version's stored profile (its histograms and value counts),
        /// as a server checking live traffic would.
        #[arg(long)]
        from_profile: bool,
        /// The method for one column: COLUMN=ks|chisquare|wasserstein|jensenshannon|psi.
        #[arg(long = "method", value_name = "COLUMN=METHOD")]
        methods: Vec<String>,
        /// The threshold of a method: METHOD=VALUE (p-value for ks and chisquare, distance
        /// for the others).
        #[arg(long = "threshold", value_name = "METHOD=VALUE")]
        thresholds: Vec<String>,
        /// The share of drifted columns at which the dataset drifts.
        #[arg(long, default_value_t = 0.5, value_name = "SHARE")]
        drift_share: f64,
        /// Also write an HTML report with overlaid histograms.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        #[command(flatten)]
        csv: CsvFlags,
        #[arg(long)]
        json: bool,
    },
    /// Re-hash every stored object: every dataset version, registered model and run model (or
    /// only one dataset's versions).
    ///
    /// Exits 1 when an object is corrupt or missing.
    Verify {
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Say which datasets' paths changed since their latest version.
    ///
    /// Fast: only files whose size or modification time changed are hashed again. Exits 1
    /// when something changed.
    Status {
        #[arg(long)]
        json: bool,
    },
}

/// How CSV files are read. Each flag overrides the same key in gyre.toml's [datasets.NAME].
#[derive(Args)]
pub(crate) struct CsvFlags {
    /// The first line is data, not a header (names come from --columns or gyre.toml).
    #[arg(long, conflicts_with = "header")]
    no_header: bool,
    /// The first line is a header.
    #[arg(long)]
    header: bool,
    /// Column names, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "A,B,…")]
    columns: Option<Vec<String>>,
    /// Field delimiter (one character; `\t` for tab).
    #[arg(long, value_name = "CHAR")]
    delimiter: Option<String>,
    /// Quote character.
    #[arg(long, value_name = "CHAR")]
    quote: Option<String>,
    /// A value that means "missing" (repeat for several; replaces the defaults).
    #[arg(long = "null", value_name = "VALUE")]
    nulls: Vec<String>,
    /// Skip spaces after each delimiter ("a, b" reads as "a" and "b").
    #[arg(long)]
    skip_initial_space: bool,
}

fn one_char(s: &str, what: &str) -> Result<char, Failure> {
    let s = if s == "\\t" { "\t" } else { s };
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(
            gyre_ops::OpsError::Invalid(format!("--{what} must be one character, not `{s}`"))
                .into(),
        ),
    }
}

impl CsvFlags {
    pub(crate) fn overrides(&self) -> Result<DatasetSpec, Failure> {
        Ok(DatasetSpec {
            path: None,
            header: if self.no_header {
                Some(false)
            } else if self.header {
                Some(true)
            } else {
                None
            },
            columns: self.columns.clone(),
            delimiter: self
                .delimiter
                .as_deref()
                .map(|d| one_char(d, "delimiter"))
                .transpose()?,
            quote: self
                .quote
                .as_deref()
                .map(|q| one_char(q, "quote"))
                .transpose()?,
            null_values: (!self.nulls.is_empty()).then(|| self.nulls.clone()),
            skip_initial_space: self.skip_initial_space.then_some(true),
        })
    }
}

pub async fn run(cmd: DataCommand, project: &Option<PathBuf>, quiet: bool) -> CliResult {
    let p = open_project(project).await?;
    match cmd {
        DataCommand::Add {
            name,
            path,
            csv,
            json,
        } => {
            let name: DatasetName = name.parse()?;
            let bars = Bars::new(quiet || json);
            let r = p
                .add_dataset(&name, path.as_deref(), &csv.overrides()?, &bars)
                .await?;
            if !r.skipped.is_empty() {
                gyre_ops::note!(
                    "warning: skipped {} file(s): {}",
                    r.skipped.len(),
                    r.skipped
                        .iter()
                        .map(|s| format!("{} ({})", s.path, s.why))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if json {
                print_json(&r);
                return Ok(());
            }
            let v = &r.version;
            if r.status == "created" {
                out!(
                    "Added {}@{} ({}): {} rows × {} columns, {} in {} file(s)",
                    v.dataset,
                    v.seq,
                    short(&v.id.to_hex()),
                    count(v.rows),
                    v.columns,
                    bytes(v.bytes),
                    r.files
                );
            } else {
                out!(
                    "Unchanged: this content is already {}@{} ({}); no new version was created",
                    v.dataset,
                    v.seq,
                    short(&v.id.to_hex())
                );
            }
            if r.status == "created" {
                let version = p
                    .dataset_version(&format!("{}@{}", v.dataset, v.seq).parse()?)
                    .await?;
                out!();
                out!("{}", profile_table(&version.profile.columns));
            }
            Ok(())
        }
        DataCommand::List { json } => {
            let list = p.list_datasets().await?;
            if json {
                print_json(&list);
            } else if list.is_empty() {
                out!("No datasets yet. Add one with: gyre data add NAME PATH");
            } else {
                let rows = list
                    .iter()
                    .map(|d| {
                        vec![
                            d.name.to_string(),
                            d.versions.to_string(),
                            format!("@{}", d.latest.seq),
                            short(&d.latest.id.to_hex()).to_string(),
                            count(d.latest.rows),
                            d.latest.columns.to_string(),
                            bytes(d.latest.bytes),
                            d.latest.created_at.clone(),
                            d.latest.source.clone(),
                        ]
                    })
                    .collect();
                out!(
                    "{}",
                    table(
                        &[
                            "dataset", "versions", "latest", "id", "rows", "columns", "size",
                            "added", "source"
                        ],
                        rows,
                        &["versions", "rows", "columns", "size"],
                    )
                );
            }
            Ok(())
        }
        DataCommand::Show {
            reference,
            column,
            json,
        } => {
            let r: DatasetRef = reference.parse()?;
            let v = p.dataset_version(&r).await?;
            if let Some(col) = column {
                let Some(c) = v.profile.column(&col) else {
                    return Err(gyre_ops::OpsError::NotFound(format!(
                        "column `{col}` not in {}@{} (columns: {})",
                        v.info.dataset,
                        v.info.seq,
                        v.profile
                            .columns
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .into());
                };
                if json {
                    print_json(c);
                } else {
                    out!("{}", column_detail(c));
                }
                return Ok(());
            }
            if json {
                print_json(&v);
                return Ok(());
            }
            let i = &v.info;
            out!(
                "{}@{}  {}\n{} rows × {} columns, {} in {} file(s)\nadded {} by {} from {}\n",
                i.dataset,
                i.seq,
                i.id,
                count(i.rows),
                i.columns,
                bytes(i.bytes),
                v.manifest.files.len(),
                i.created_at,
                i.created_by,
                i.source
            );
            out!("{}", profile_table(&v.profile.columns));
            Ok(())
        }
        DataCommand::Diff { from, to, json } => {
            let report = p.dataset_diff(&from.parse()?, &to.parse()?).await?;
            if json {
                print_json(&report);
                return Ok(());
            }
            let (a, b) = (&report.from, &report.to);
            out!(
                "{}@{} ({}) → {}@{} ({})",
                a.dataset,
                a.seq,
                short(&a.id.to_hex()),
                b.dataset,
                b.seq,
                short(&b.id.to_hex())
            );
            let d = &report.diff;
            let delta = if d.rows.1 >= d.rows.0 {
                format!("+{}", count(d.rows.1 - d.rows.0))
            } else {
                format!("-{}", count(d.rows.0 - d.rows.1))
            };
            out!("rows: {} → {} ({delta})", count(d.rows.0), count(d.rows.1));
            for (what, files) in [
                ("added", &report.files.added),
                ("removed", &report.files.removed),
                ("modified", &report.files.modified),
            ] {
                if !files.is_empty() {
                    out!("files {what}: {}", files.join(", "));
                }
            }
            for (n, t) in &d.added {
                out!("column added: {n} ({t})");
            }
            for (n, t) in &d.removed {
                out!("column removed: {n} ({t})");
            }
            for (n, from, to) in &d.retyped {
                out!("column retyped: {n} {from} → {to}");
            }
            if d.is_empty() {
                out!("no changes in the profile");
                return Ok(());
            }
            let mut rows = Vec::new();
            for c in &d.changed {
                for s in &c.stats {
                    let change = if s.from != 0.0 {
                        format!("{:+.1}%", (s.to - s.from) / s.from.abs() * 100.0)
                    } else {
                        String::new()
                    };
                    rows.push(vec![
                        c.name.clone(),
                        s.stat.to_string(),
                        num(s.from),
                        num(s.to),
                        change,
                    ]);
                }
                if !c.new_values.is_empty() {
                    rows.push(vec![
                        c.name.clone(),
                        "new values".into(),
                        String::new(),
                        c.new_values.join(", "),
                        String::new(),
                    ]);
                }
                if !c.gone_values.is_empty() {
                    rows.push(vec![
                        c.name.clone(),
                        "gone values".into(),
                        c.gone_values.join(", "),
                        String::new(),
                        String::new(),
                    ]);
                }
            }
            if !rows.is_empty() {
                out!();
                out!(
                    "{}",
                    table(
                        &["column", "stat", "from", "to", "change"],
                        rows,
                        &["from", "to", "change"]
                    )
                );
            }
            Ok(())
        }
        DataCommand::Checkout {
            reference,
            dest,
            force,
            json,
        } => {
            let bars = Bars::new(quiet || json);
            let r = p
                .checkout_dataset(&reference.parse()?, dest.as_deref(), force, &bars)
                .await?;
            if json {
                print_json(&r);
            } else {
                out!(
                    "Restored {}@{} ({}) to {}: {} file(s) written, {} already up to date",
                    r.version.dataset,
                    r.version.seq,
                    short(&r.version.id.to_hex()),
                    r.dest,
                    r.written,
                    r.unchanged
                );
            }
            Ok(())
        }
        DataCommand::Log { name, json } => {
            let log = p.dataset_log(&name.parse()?).await?;
            if json {
                print_json(&log);
                return Ok(());
            }
            let rows = log
                .iter()
                .rev()
                .map(|v| {
                    vec![
                        format!("@{}", v.seq),
                        short(&v.id.to_hex()).to_string(),
                        v.created_at.clone(),
                        v.created_by.clone(),
                        count(v.rows),
                        v.columns.to_string(),
                        bytes(v.bytes),
                        v.source.clone(),
                    ]
                })
                .collect();
            out!(
                "{}",
                table(
                    &[
                        "version", "id", "added", "by", "rows", "columns", "size", "source"
                    ],
                    rows,
                    &["rows", "columns", "size"]
                )
            );
            Ok(())
        }
        DataCommand::Schema {
            reference,
            output,
            force,
            json,
        } => {
            let r = p
                .write_schema(&reference.parse()?, output.as_deref(), force)
                .await?;
            if json {
                print_json(&r);
            } else {
                let s = &r.schema;
                let ranges = s.columns.values().filter(|c| c.min.is_some()).count();
                let cats = s
                    .columns
                    .values()
                    .filter(|c| c.categories.is_some())
                    .count();
                let unique = s.columns.values().filter(|c| c.unique).count();
                out!(
                    "Wrote {} from {}@{}: {} columns ({} with a range, {} with categories, {} unique)",
                    r.path,
                    r.version.dataset,
                    r.version.seq,
                    s.columns.len(),
                    ranges,
                    cats,
                    unique
                );
                out!(
                    "Edit it, then check data with: gyre data validate {}",
                    r.version.dataset
                );
            }
            Ok(())
        }
        DataCommand::Validate {
            target,
            schema,
            html,
            csv,
            json,
        } => {
            let bars = Bars::new(quiet || json);
            let r = p
                .validate(&target, schema.as_deref(), &csv.overrides()?, &bars)
                .await?;
            write_html(html.as_deref(), || crate::html::validation(&r))?;
            let v = &r.report;
            if json {
                print_json(&r);
            } else {
                if !v.anomalies.is_empty() {
                    let rows = v
                        .anomalies
                        .iter()
                        .map(|a| {
                            let examples: Vec<String> = a
                                .examples
                                .iter()
                                .map(|e| {
                                    let value = if e.value.is_empty() {
                                        "<missing>"
                                    } else {
                                        e.value.as_str()
                                    };
                                    if e.file.is_empty() {
                                        format!("row {}: {value}", e.row)
                                    } else {
                                        format!("{} row {}: {value}", e.file, e.row)
                                    }
                                })
                                .collect();
                            vec![
                                a.column.clone().unwrap_or_else(|| "(dataset)".into()),
                                a.rule.to_string(),
                                a.severity.to_string(),
                                a.expected.clone(),
                                a.found.clone(),
                                examples.join("; "),
                            ]
                        })
                        .collect();
                    out!(
                        "{}\n",
                        table(
                            &[
                                "column", "rule", "severity", "expected", "found", "examples"
                            ],
                            rows,
                            &[]
                        )
                    );
                }
                out!(
                    "{}: {} rows checked against {}: {} error(s), {} warning(s)",
                    r.target,
                    count(v.rows),
                    r.schema,
                    v.errors(),
                    v.warnings()
                );
                if let Some(path) = &html {
                    out!("HTML report: {}", path.display());
                }
            }
            if v.errors() > 0 {
                Err(Failure::CheckFailed)
            } else {
                Ok(())
            }
        }
        DataCommand::Drift {
            reference,
            current,
            from_profile,
            methods,
            thresholds,
            drift_share,
            html,
            csv,
            json,
        } => {
            let options = drift_options(&methods, &thresholds, drift_share)?;
            let bars = Bars::new(quiet || json);
            let r = p
                .drift(
                    &reference,
                    &current,
                    from_profile,
                    &options,
                    &csv.overrides()?,
                    &bars,
                )
                .await?;
            write_html(html.as_deref(), || crate::html::drift(&r))?;
            let d = &r.report;
            if json {
                print_json(&r);
            } else {
                let opt = |v: Option<f64>| match v {
                    Some(x) if x.is_infinite() => "inf".to_string(),
                    Some(x) => num(x),
                    None => String::new(),
                };
                let rows = d
                    .columns
                    .iter()
                    .map(|c| {
                        vec![
                            c.name.clone(),
                            c.kind
                                .map(|k| format!("{k:?}").to_lowercase())
                                .unwrap_or_default(),
                            c.method.map(|m| m.to_string()).unwrap_or_default(),
                            opt(c.score),
                            if c.threshold.is_nan() {
                                String::new()
                            } else {
                                num(c.threshold)
                            },
                            match c.drifted {
                                Some(true) => "DRIFT".into(),
                                Some(false) => "no".into(),
                                None => "n/a".into(),
                            },
                            opt(c.ks.map(|k| k.pvalue)),
                            opt(c.psi),
                            opt(c.wasserstein_normed),
                            opt(c.chisquare.map(|x| x.pvalue)),
                            opt(c.jensenshannon),
                            c.notes.join("; "),
                        ]
                    })
                    .collect();
                out!(
                    "{} → {} ({} mode): {} reference rows, {} current rows\n",
                    r.reference,
                    r.current,
                    r.mode,
                    count(d.reference_rows),
                    count(d.current_rows)
                );
                out!(
                    "{}\n",
                    table(
                        &[
                            "column",
                            "type",
                            "method",
                            "score",
                            "threshold",
                            "drift",
                            "ks p",
                            "psi",
                            "wasserstein",
                            "chi2 p",
                            "js",
                            "notes"
                        ],
                        rows,
                        &[
                            "score",
                            "threshold",
                            "ks p",
                            "psi",
                            "wasserstein",
                            "chi2 p",
                            "js"
                        ],
                    )
                );
                out!(
                    "{} of {} columns drifted ({}); dataset drift: {} (at {})",
                    d.drifted,
                    d.judged,
                    percent(d.share),
                    if d.dataset_drift { "YES" } else { "no" },
                    percent(d.drift_share)
                );
                if let Some(path) = &html {
                    out!("HTML report: {}", path.display());
                }
            }
            if d.dataset_drift {
                Err(Failure::CheckFailed)
            } else {
                Ok(())
            }
        }
        DataCommand::Verify { name, json } => {
            let name: Option<DatasetName> = name.map(|n| n.parse()).transpose()?;
            let bars = Bars::new(quiet || json);
            let checks = p.verify_datasets(name.as_ref(), &bars).await?;
            let bad = checks.iter().filter(|c| c.state != "ok").count();
            if json {
                print_json(&checks);
            } else {
                for c in checks.iter().filter(|c| c.state != "ok") {
                    let owner = match c.kind {
                        "run" => format!("run {}", c.dataset),
                        "model" => format!("model {}@{}", c.dataset, c.version),
                        _ => format!("{}@{}", c.dataset, c.version),
                    };
                    out!("{owner} {}: {} ({})", c.path, c.state, c.hash);
                }
                out!(
                    "{} object(s) checked, {} ok, {} bad",
                    checks.len(),
                    checks.len() - bad,
                    bad
                );
            }
            if bad > 0 {
                Err(Failure::CheckFailed)
            } else {
                Ok(())
            }
        }
        DataCommand::Status { json } => {
            let status = p.data_status().await?;
            let changed = status.iter().any(|s| s.state != "up to date");
            if json {
                print_json(&status);
            } else if status.is_empty() {
                out!("No datasets yet.");
            } else {
                for s in &status {
                    let version = s.version.map(|n| format!("@{n}")).unwrap_or_default();
                    out!("{}{version}: {} ({})", s.dataset, s.state, s.source);
                    for (mark, files) in [
                        ("modified", &s.modified),
                        ("new file", &s.added),
                        ("deleted", &s.removed),
                    ] {
                        for f in files.iter() {
                            out!("    {mark}: {f}");
                        }
                    }
                }
                if changed {
                    out!("\nRecord changes with: gyre data add NAME");
                }
            }
            if changed {
                Err(Failure::CheckFailed)
            } else {
                Ok(())
            }
        }
    }
}

fn top_summary(c: &ColumnProfile, n: usize) -> String {
    let shown: Vec<String> = c
        .top_values
        .iter()
        .take(n)
        .map(|v| format!("{} ({})", v.value, count(v.count)))
        .collect();
    let mut s = shown.join(", ");
    if c.top_values.len() > n || c.other_count > 0 {
        s.push_str(", …");
    }
    s
}

/// One row per column: type, missing values, distinct values, statistics, top values.
pub fn profile_table(columns: &[ColumnProfile]) -> String {
    let rows = columns
        .iter()
        .map(|c| {
            let distinct = if c.distinct_exact {
                count(c.distinct)
            } else {
                format!("~{}", count(c.distinct))
            };
            let mut row = vec![
                c.name.clone(),
                c.dtype.to_string(),
                count(c.nulls),
                percent(c.null_share()),
                distinct,
            ];
            match &c.numeric {
                Some(n) => row.extend([
                    num(n.min),
                    num(n.quantile(0.5).unwrap_or(f64::NAN)),
                    num(n.mean),
                    num(n.std),
                    num(n.max),
                    // ±inf are left out of the statistics, never silently.
                    if n.infinite > 0 {
                        format!("{} ±inf (left out)", count(n.infinite))
                    } else {
                        String::new()
                    },
                ]),
                None => {
                    let (lo, hi) = c.time_range.clone().unwrap_or_default();
                    row.extend([
                        lo,
                        String::new(),
                        String::new(),
                        String::new(),
                        hi,
                        top_summary(c, 3),
                    ]);
                }
            }
            row
        })
        .collect();
    table(
        &[
            "column",
            "type",
            "nulls",
            "null%",
            "distinct",
            "min",
            "median",
            "mean",
            "std",
            "max",
            "top values",
        ],
        rows,
        &[
            "nulls", "null%", "distinct", "min", "median", "mean", "std", "max",
        ],
    )
}

/// A column in detail: statistics, quantiles, histogram bars and top values.
fn column_detail(c: &ColumnProfile) -> String {
    let mut s = format!(
        "{} ({}): {} values, {} missing ({}), {} distinct{}\n",
        c.name,
        c.dtype,
        count(c.count),
        count(c.nulls),
        percent(c.null_share()),
        count(c.distinct),
        if c.distinct_exact { "" } else { " (estimated)" }
    );
    if let Some(n) = &c.numeric {
        s += &format!(
            "min {}  mean {}  std {}  max {}  zeros {}  infinite {}{}\n\nquantiles:\n",
            num(n.min),
            num(n.mean),
            num(n.std),
            num(n.max),
            count(n.zeros),
            count(n.infinite),
            if n.exact {
                ""
            } else {
                "  (quantiles estimated)"
            }
        );
        let q = n
            .quantiles
            .iter()
            .map(|q| vec![format!("p{}", (q.q * 100.0).round()), num(q.value)])
            .collect();
        s += &table(&["q", "value"], q, &["value"]);
        s += "\n\nhistogram:\n";
        let max = n.histogram.counts.iter().copied().max().unwrap_or(0).max(1);
        let rows = n
            .histogram
            .counts
            .iter()
            .enumerate()
            .map(|(i, &k)| {
                let bar = "█".repeat(((k as f64 / max as f64) * 40.0).round() as usize);
                vec![
                    format!(
                        "[{}, {}{}",
                        num(n.histogram.edges[i]),
                        num(n.histogram.edges[i + 1]),
                        if i + 1 == n.histogram.counts.len() {
                            "]"
                        } else {
                            ")"
                        }
                    ),
                    count(k),
                    bar,
                ]
            })
            .collect();
        s += &table(&["bin", "count", ""], rows, &["count"]);
        s += "\n";
    }
    if !c.top_values.is_empty() {
        s += "\ntop values:\n";
        let rows = c
            .top_values
            .iter()
            .map(|v| {
                vec![
                    v.value.clone(),
                    count(v.count),
                    percent(v.count as f64 / c.count.max(1) as f64),
                ]
            })
            .collect();
        s += &table(&["value", "count", "share"], rows, &["count", "share"]);
        if c.other_count > 0 {
            s += &format!("\n(other values: {})", count(c.other_count));
        }
    }
    s
}

fn drift_options(
    methods: &[String],
    thresholds: &[String],
    drift_share: f64,
) -> Result<gyre_data::drift::DriftOptions, Failure> {
    let invalid = |m: String| Failure::Error(gyre_ops::OpsError::Invalid(m));
    let mut options = gyre_data::drift::DriftOptions {
        drift_share,
        ..Default::default()
    };
    if !(0.0..=1.0).contains(&drift_share) {
        return Err(invalid(format!(
            "--drift-share {drift_share} is not between 0 and 1"
        )));
    }
    for m in methods {
        let (col, method) = m
            .split_once('=')
            .ok_or_else(|| invalid(format!("--method `{m}`: use COLUMN=METHOD")))?;
        options
            .methods
            .insert(col.to_string(), method.parse().map_err(invalid)?);
    }
    for t in thresholds {
        let (method, value) = t
            .split_once('=')
            .ok_or_else(|| invalid(format!("--threshold `{t}`: use METHOD=VALUE")))?;
        let value: f64 = value
            .parse()
            .map_err(|_| invalid(format!("--threshold `{t}`: `{value}` is not a number")))?;
        if !value.is_finite() || value < 0.0 {
            return Err(invalid(format!(
                "--threshold `{t}`: a threshold is a finite number, 0 or more"
            )));
        }
        options
            .thresholds
            .insert(method.parse().map_err(invalid)?, value);
    }
    Ok(options)
}

/// Writes an HTML report when `--html FILE` was given.
fn write_html(
    path: Option<&std::path::Path>,
    page: impl FnOnce() -> String,
) -> Result<(), Failure> {
    let Some(path) = path else { return Ok(()) };
    std::fs::write(path, page()).map_err(|e| {
        Failure::Error(gyre_ops::OpsError::Io {
            context: format!("writing {}", path.display()),
            source: e,
        })
    })
}
