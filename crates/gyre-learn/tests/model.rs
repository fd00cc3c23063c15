//! The model file: every learner saves and reloads to the same predictions, the same inputs
//! give the same bytes, and damaged or hostile files are refused without a panic.

use gyre_core::model::ModelSpec;
use gyre_learn::model::{FORMAT_VERSION, Lineage, Model, ModelError};
use gyre_learn::train::train;
use gyre_learn::transform::Values;
use std::path::Path;

fn iris() -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/iris/iris.csv");
    let mut rdr = csv::Reader::from_path(path).unwrap();
    let names: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let mut cols = vec![Vec::new(); names.len()];
    for r in rdr.records() {
        for (c, v) in r.unwrap().iter().enumerate() {
            cols[c].push(Some(v.to_string()));
        }
    }
    (names, cols)
}

fn spec(algorithm: &str, seed: u64) -> ModelSpec {
    toml::from_str(&format!(
        r#"
dataset = "iris"
task = "multiclass"
target = "target_name"
drop = ["target"]
algorithm = "{algorithm}"
split = {{ by = "random", test = 0.3 }}
seed = {seed}
"#
    ))
    .unwrap()
}

fn lineage() -> Lineage {
    Lineage {
        datasets: vec!["iris@1:abc".into()],
        spec: String::new(),
        spec_hash: String::new(),
        seed: 0,
        git_commit: Some("0123".into()),
        git_dirty: false,
        gyre_version: "test".into(),
    }
}

fn fit(algorithm: &str, seed: u64) -> Model {
    let (names, cols) = iris();
    train(&spec(algorithm, seed), &names, cols, lineage())
        .unwrap()
        .model
}

fn inputs(m: &Model) -> Vec<Values> {
    let (names, mut cols) = iris();
    m.signature
        .inputs
        .iter()
        .map(|c| {
            let i = names.iter().position(|n| *n == c.name).unwrap();
            gyre_learn::model::typed(c.kind, std::mem::take(&mut cols[i])).unwrap()
        })
        .collect()
}

const ALGORITHMS: [&str; 4] = [
    "logistic_regression",
    "decision_tree",
    "random_forest",
    "gradient_boosting",
];

#[test]
fn every_learner_reloads_to_the_same_predictions_and_bytes() {
    for a in ALGORITHMS {
        let m = fit(a, 3);
        let bytes = m.to_bytes();
        assert_eq!(&bytes[..8], b"GYREMODL");
        let back = Model::from_bytes(&bytes).unwrap();
        assert_eq!(back, m, "{a}");
        let x = inputs(&m);
        let refs: Vec<&Values> = x.iter().collect();
        let rows: Vec<usize> = (0..150).collect();
        assert_eq!(
            m.predict(&refs, &rows).unwrap(),
            back.predict(&refs, &rows).unwrap(),
            "{a}"
        );
        // Reproducible: the same data, spec and seed give the same file.
        assert_eq!(fit(a, 3).to_bytes(), bytes, "{a} is not reproducible");
    }
    assert_ne!(
        fit("random_forest", 4).to_bytes(),
        fit("random_forest", 3).to_bytes()
    );
}

#[test]
fn damaged_newer_and_inconsistent_files_are_refused() {
    let m = fit("gradient_boosting", 1);
    let bytes = m.to_bytes();
    assert_eq!(
        Model::from_bytes(b"PK\x03\x04 a zip"),
        Err(ModelError::NotAModel)
    );
    assert!(matches!(
        Model::from_bytes(&bytes[..bytes.len() - 1]),
        Err(ModelError::Damaged(_))
    ));
    let mut newer = bytes.clone();
    newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    assert_eq!(
        Model::from_bytes(&newer),
        Err(ModelError::TooNew(FORMAT_VERSION + 1))
    );
    let mut flipped = bytes.clone();
    let n = flipped.len();
    flipped[n / 2] ^= 1;
    assert!(
        matches!(Model::from_bytes(&flipped), Err(ModelError::Damaged(e)) if e.contains("checksum"))
    );

    // Well-formed but inconsistent: a transform dropped, a tree pointing backwards.
    let mut bad = m.clone();
    bad.pipeline.columns.pop();
    assert!(matches!(
        Model::from_bytes(&bad.to_bytes()),
        Err(ModelError::Invalid(_))
    ));
    let mut bad = m.clone();
    if let gyre_learn::learner::Learner::Boosted(b) = &mut bad.learner {
        b.trees[0].left[0] = 0;
    }
    let e = Model::from_bytes(&bad.to_bytes()).unwrap_err();
    assert!(e.to_string().contains("out of order"), "{e}");
}

/// A binary model (iris: setosa or not) of `algorithm`.
fn fit_binary(algorithm: &str) -> Model {
    let (names, mut cols) = iris();
    let t = names.iter().position(|n| n == "target_name").unwrap();
    for v in cols[t].iter_mut() {
        if v.as_deref() != Some("setosa") {
            *v = Some("other".into());
        }
    }
    let spec: ModelSpec = toml::from_str(&format!(
        "dataset = \"iris\"\ntask = \"binary\"\ntarget = \"target_name\"\ndrop = [\"target\"]\n\
         algorithm = \"{algorithm}\"\nsplit = {{ by = \"random\", test = 0.3 }}\n"
    ))
    .unwrap();
    train(&spec, &names, cols, lineage()).unwrap().model
}

/// Re-frames a changed body behind a valid header and checksum.
fn reframe(mut bytes: Vec<u8>, body: &[u8]) -> Vec<u8> {
    bytes.truncate(52);
    bytes[12..20].copy_from_slice(&(body.len() as u64).to_le_bytes());
    bytes[20..52].copy_from_slice(blake3::hash(body).as_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// Bytes changed behind a valid header and checksum (a crafted file), for every learner:
/// loading either refuses it or yields a model that predicts without a panic. (A property
/// test over seeded mutations: byte changes, cuts and repeats; `bench/fuzz_model.sh` runs
/// the same decoder under cargo-fuzz for longer.)
#[test]
fn crafted_bodies_never_panic() {
    let mut models: Vec<(String, Model)> = ALGORITHMS
        .iter()
        .chain(&["online_logistic_regression", "adaptive_random_forest"])
        .map(|a| (a.to_string(), fit(a, 2)))
        .collect();
    for a in [
        "logistic_regression",
        "gradient_boosting",
        "online_logistic_regression",
    ] {
        models.push((format!("{a} (binary)"), fit_binary(a)));
    }
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (name, m) in &models {
        let bytes = m.to_bytes();
        let x = inputs(m);
        let refs: Vec<&Values> = x.iter().collect();
        let rows: Vec<usize> = (0..150).collect();
        let body = &bytes[52..];
        let iterations: usize = std::env::var("GYRE_FUZZ_ITERATIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(400);
        for i in 0..iterations {
            let mut b = body.to_vec();
            match i % 3 {
                0 => {
                    for _ in 0..1 + next() % 4 {
                        let at = (next() as usize) % b.len();
                        b[at] = (next() >> 32) as u8;
                    }
                }
                1 => {
                    let at = (next() as usize) % b.len();
                    b.truncate(at);
                }
                _ => {
                    let at = (next() as usize) % b.len();
                    let len = 1 + (next() as usize) % 16;
                    let piece: Vec<u8> = b[at..(at + len).min(b.len())].to_vec();
                    b.splice(at..at, piece);
                }
            }
            let framed = reframe(bytes.clone(), &b);
            let outcome = std::panic::catch_unwind(|| {
                if let Ok(mut loaded) = Model::from_bytes(&framed) {
                    let _ = loaded.predict(&refs, &rows);
                    let _ = loaded.predict(&refs, &rows[..1]);
                    // An online model also learns in the server.
                    if let Some(c) = loaded.signature.classes.first().cloned() {
                        for r in 0..40 {
                            let _ = loaded.learn(&refs, r, &c);
                        }
                    }
                }
            });
            assert!(outcome.is_ok(), "{name}: mutation {i} panicked");
        }
    }
}

/// The two crafted files the attack review found: each passed the load checks and panicked
/// on the first prediction. Now each is refused at load, with the reason.
#[test]
fn inconsistent_models_are_refused_at_load() {
    let mut one_class = fit_binary("logistic_regression");
    one_class.signature.classes.truncate(1);
    if let gyre_learn::learner::Learner::Linear(l) = &mut one_class.learner {
        l.classes.truncate(1);
    }
    let err = Model::from_bytes(&one_class.to_bytes()).unwrap_err();
    assert!(matches!(err, ModelError::Invalid(_)), "{err}");

    let mut twins = fit("logistic_regression", 1);
    let first = twins.signature.inputs[0].name.clone();
    twins.signature.inputs[1].name = first.clone();
    if let gyre_learn::transform::Fitted::Numeric { column, .. } = &mut twins.pipeline.columns[1] {
        *column = first;
    }
    let err = Model::from_bytes(&twins.to_bytes()).unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");
}
