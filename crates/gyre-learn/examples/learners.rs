//! Learner benchmark (issue 4): fit time (median of 5) and batch prediction throughput of
//! every learner on the quality-bar datasets, with the quality bar's split and preprocessing.
//! `bench/learners.sh` runs it next to scikit-learn's figures for the same work.
//!
//! Prediction is timed on rows already read and parsed: `learner` is the learner alone on
//! the transformed matrix (one thread); `model` is the model file's path, transforms plus
//! learner over raw columns (all cores), as `gyre predict` and serving run it.

use gyre_core::dataset::FileFormat;
use gyre_core::{Algorithm, Split, Transform};
use gyre_data::InputFile;
use gyre_data::table::{as_numbers, read_table};
use gyre_learn::learner::{Data, Predictor, fit};
use gyre_learn::split::split;
use gyre_learn::transform::{self, Pipeline, Values};
use gyre_learn::trees::Target;
use std::path::Path;
use std::time::Instant;

fn load(path: &str, header: Option<&str>, nulls: &[&str]) -> (Vec<String>, Vec<Values>) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(path);
    let mut opts = gyre_core::ReadOptions::default();
    if let Some(h) = header {
        opts.header = false;
        opts.columns = Some(h.split(',').map(String::from).collect());
    }
    opts.skip_initial_space = true;
    opts.null_values.extend(nulls.iter().map(|s| s.to_string()));
    let t = read_table(
        &[InputFile {
            path: file.clone(),
            display: path.into(),
            format: FileFormat::Csv,
        }],
        &opts,
        &|_| {},
    )
    .unwrap();
    let cols = t
        .columns
        .into_iter()
        .map(|c| match as_numbers(&c) {
            Some(n) => Values::Numeric(n),
            None => Values::Text(c),
        })
        .collect();
    (t.names, cols)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let adult = "age,workclass,fnlwgt,education,education-num,marital-status,occupation,relationship,race,sex,capital-gain,capital-loss,hours-per-week,native-country,income";
    let sets = [
        (
            "adult",
            "adult/adult.data",
            Some(adult),
            "income",
            vec![],
            Split::Rule { every: 5, index: 4 },
        ),
        (
            "california_housing",
            "california_housing/housing.csv",
            None,
            "median_house_value",
            vec![],
            Split::Rule { every: 5, index: 4 },
        ),
        (
            "elec2",
            "elec2/elec2_first_half.csv",
            None,
            "class",
            vec!["date"],
            Split::Order { test: 0.2 },
        ),
    ];
    println!(
        "{:<20} {:<20} {:>9} {:>16} {:>14}",
        "data", "learner", "fit (s)", "learner rows/s", "model rows/s"
    );
    for (name, path, header, target, drop, how) in sets {
        let (names, cols) = load(path, header, &["?"]);
        let n = cols[0].len();
        let (train, test) = split(n, &how, 0);
        let chosen: Vec<usize> = (0..names.len())
            .filter(|&i| names[i] != target && !drop.contains(&names[i].as_str()))
            .collect();
        let pipeline = Pipeline {
            columns: chosen
                .iter()
                .map(|&i| {
                    transform::fit(&names[i], &cols[i], &train, &Transform::default()).unwrap()
                })
                .collect(),
        };
        let inputs: Vec<&Values> = chosen.iter().map(|&i| &cols[i]).collect();
        let width = pipeline.feature_names().len();
        let xtr = pipeline.transform(&inputs, &train).unwrap();
        let xte = pipeline.transform(&inputs, &test).unwrap();
        let t = names.iter().position(|c| c == target).unwrap();
        let (yv, yc, classes): (Vec<f64>, Vec<u32>, Vec<String>) = match &cols[t] {
            Values::Numeric(v) => (
                train.iter().map(|&i| v[i].unwrap()).collect(),
                vec![],
                vec![],
            ),
            Values::Text(v) => {
                let mut classes: Vec<String> = v.iter().flatten().cloned().collect();
                classes.sort();
                classes.dedup();
                let y = train
                    .iter()
                    .map(|&i| classes.binary_search(v[i].as_ref().unwrap()).unwrap() as u32)
                    .collect();
                (vec![], y, classes)
            }
        };
        let algorithms = if classes.is_empty() {
            [
                Algorithm::Ridge,
                Algorithm::RandomForest,
                Algorithm::GradientBoosting,
            ]
        } else {
            [
                Algorithm::LogisticRegression,
                Algorithm::RandomForest,
                Algorithm::GradientBoosting,
            ]
        };
        for algorithm in algorithms {
            let data = Data {
                x: &xtr,
                rows: train.len(),
                cols: width,
                target: if classes.is_empty() {
                    Target::Values(&yv)
                } else {
                    Target::Classes {
                        y: &yc,
                        k: classes.len(),
                    }
                },
                classes: &classes,
                weights: None,
            };
            let mut times = Vec::new();
            let mut model = None;
            for _ in 0..5 {
                let started = Instant::now();
                model = Some(fit(algorithm, &toml::Table::new(), &data, 0).unwrap());
                times.push(started.elapsed().as_secs_f64());
            }
            let model = model.unwrap();
            let k = model.outputs();
            let mut out = vec![0.0; k];
            let started = Instant::now();
            let mut reps = 0;
            while started.elapsed().as_secs_f64() < 1.0 {
                for r in 0..test.len() {
                    model.predict_row(&xte[r * width..(r + 1) * width], &mut out);
                }
                reps += 1;
            }
            let learner_rate = (reps * test.len()) as f64 / started.elapsed().as_secs_f64();
            let file = gyre_learn::model::Model {
                algorithm,
                signature: gyre_learn::model::Signature {
                    inputs: chosen
                        .iter()
                        .map(|&i| gyre_learn::model::InputColumn {
                            name: names[i].clone(),
                            kind: match &cols[i] {
                                Values::Numeric(_) => gyre_learn::model::ColumnKind::Number,
                                Values::Text(_) => gyre_learn::model::ColumnKind::Text,
                            },
                        })
                        .collect(),
                    target: target.into(),
                    classes: classes.clone(),
                },
                features: pipeline.feature_names(),
                pipeline: pipeline.clone(),
                learner: model,
                lineage: gyre_learn::model::Lineage::default(),
                metrics: vec![],
                importance: vec![],
                decision: None,
            };
            let all: Vec<usize> = (0..n).collect();
            let started = Instant::now();
            let mut reps = 0;
            while started.elapsed().as_secs_f64() < 1.0 {
                std::hint::black_box(file.predict(&inputs, &all).unwrap());
                reps += 1;
            }
            let model_rate = (reps * n) as f64 / started.elapsed().as_secs_f64();
            println!(
                "{:<20} {:<20} {:>9.3} {:>16.0} {:>14.0}",
                name,
                format!("{algorithm:?}"),
                median(times),
                learner_rate,
                model_rate
            );
        }
    }
}
