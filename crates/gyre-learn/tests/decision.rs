//! `[model] threshold`, `positive`, `refit` and `recency` on a real stream (Elec2): what
//! each changes, what it leaves alone, and the model file that carries a cutoff.

use gyre_core::model::ModelSpec;
use gyre_learn::model::{Lineage, Model};
use gyre_learn::train::{Trained, train};
use gyre_learn::transform::Values;
use std::path::Path;

/// The first `rows` rows of Elec2, as read.
fn elec2(rows: usize) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/elec2/elec2_first_half.csv");
    let mut rdr = csv::Reader::from_path(path).unwrap();
    let names: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let mut cols = vec![Vec::new(); names.len()];
    for r in rdr.records().take(rows) {
        for (c, v) in r.unwrap().iter().enumerate() {
            cols[c].push(Some(v.to_string()));
        }
    }
    (names, cols)
}

fn spec(extra: &str) -> ModelSpec {
    toml::from_str(&format!(
        "dataset = \"elec2\"\ntask = \"binary\"\ntarget = \"class\"\ndrop = [\"date\"]\n\
         algorithm = \"logistic_regression\"\nsplit = {{ by = \"order\", test = 0.25 }}\n{extra}"
    ))
    .unwrap()
}

fn lineage() -> Lineage {
    Lineage {
        datasets: vec!["elec2@1:abc".into()],
        spec: String::new(),
        spec_hash: String::new(),
        seed: 0,
        git_commit: None,
        git_dirty: false,
        gyre_version: "test".into(),
    }
}

fn fit(extra: &str, rows: usize) -> Result<Trained, String> {
    let (names, cols) = elec2(rows);
    train(&spec(extra), &names, cols, lineage()).map_err(|e| e.0)
}

fn metric(t: &Trained, name: &str) -> f64 {
    t.model
        .metrics
        .iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .1
}

/// `model`'s inputs typed from the columns as read.
fn typed_inputs(m: &Model, names: &[String], cols: &[Vec<Option<String>>]) -> Vec<Values> {
    m.signature
        .inputs
        .iter()
        .map(|c| {
            let i = names.iter().position(|n| *n == c.name).unwrap();
            gyre_learn::model::typed(c.kind, cols[i].clone()).unwrap()
        })
        .collect()
}

/// The predicted labels of the last `n` rows of the first `rows`.
fn labels(m: &Model, rows: usize, n: usize) -> Vec<String> {
    let (names, cols) = elec2(rows);
    let inputs = typed_inputs(m, &names, &cols);
    let refs: Vec<&Values> = inputs.iter().collect();
    let picked: Vec<usize> = (rows - n..rows).collect();
    let p = m.predict(&refs, &picked).unwrap();
    (0..n)
        .map(|r| m.signature.classes[p.class_of(r)].clone())
        .collect()
}

/// F1 of `positive` for a cutoff on its probability, by brute force.
fn f1_at(probs: &[(f64, bool)], at: f64) -> f64 {
    let tp = probs.iter().filter(|(p, y)| *p >= at && *y).count() as f64;
    let fp = probs.iter().filter(|(p, y)| *p >= at && !*y).count() as f64;
    let fn_ = probs.iter().filter(|(p, y)| *p < at && *y).count() as f64;
    2.0 * tp / (2.0 * tp + fp + fn_)
}

#[test]
fn a_tuned_threshold_is_the_best_f1_cutoff_on_the_test_rows() {
    let plain = fit("", 6000).unwrap();
    let tuned = fit("threshold = \"f1\"", 6000).unwrap();
    let cut = tuned
        .model
        .decision
        .expect("a tuned model keeps its cutoff");
    assert_eq!(tuned.model.signature.classes[cut.class as usize], "UP");
    // The same learner; only the decision moved.
    assert_eq!(plain.model.learner, tuned.model.learner);
    assert!(metric(&tuned, "f1") >= metric(&plain, "f1"));
    // Brute force over every test row's probability: none gives a higher F1.
    let (names, cols) = elec2(6000);
    let truth = cols[names.iter().position(|n| n == "class").unwrap()].clone();
    let inputs = typed_inputs(&tuned.model, &names, &cols);
    let refs: Vec<&Values> = inputs.iter().collect();
    let test: Vec<usize> = (4500..6000).collect();
    let p = tuned.model.predict(&refs, &test).unwrap();
    let probs: Vec<(f64, bool)> = (0..test.len())
        .map(|i| (p.row(i)[1], truth[test[i]].as_deref() == Some("UP")))
        .collect();
    let best = probs
        .iter()
        .map(|(q, _)| f1_at(&probs, *q))
        .fold(0.0f64, f64::max);
    assert!((f1_at(&probs, cut.at) - best).abs() < 1e-12);
    assert!((metric(&tuned, "f1") - best).abs() < 1e-12);
}

#[test]
fn a_fixed_threshold_and_positive_class_decide_labels() {
    let plain = fit("", 3000).unwrap();
    let strict = fit("threshold = 0.9", 3000).unwrap();
    let up = |m: &Model| labels(m, 3000, 1000).iter().filter(|l| *l == "UP").count();
    assert!(up(&strict.model) < up(&plain.model));
    // The other class as positive: its F1 is reported, and a cutoff of 0.9 on DOWN makes
    // fewer DOWN (more UP) than the plain argmax.
    let down = fit("positive = \"DOWN\"\nthreshold = 0.9", 3000).unwrap();
    assert!(up(&down.model) > up(&plain.model));
    assert_ne!(metric(&down, "f1"), metric(&plain, "f1"));
    // Named without a threshold: the cutoff is the plain 0.5 and the labels do not move.
    let named = fit("positive = \"UP\"", 3000).unwrap();
    assert_eq!(
        labels(&named.model, 3000, 1000),
        labels(&plain.model, 3000, 1000)
    );

    for (extra, why) in [
        ("positive = \"SIDEWAYS\"", "is not a class"),
        ("threshold = 1.5", "between 0 and 1"),
        ("threshold = \"f2\"", "threshold"),
    ] {
        let e = match toml::from_str::<ModelSpec>(&format!(
            "dataset = \"e\"\ntask = \"binary\"\ntarget = \"class\"\nalgorithm = \"ridge\"\n{extra}"
        )) {
            Err(e) => e.to_string(),
            Ok(s) => {
                let (names, cols) = elec2(500);
                let mut s = s;
                s.algorithm = gyre_core::Algorithm::LogisticRegression;
                s.drop = vec!["date".into()];
                match train(&s, &names, cols, lineage()) {
                    Err(e) => e.0,
                    Ok(_) => panic!("{extra}: trained"),
                }
            }
        };
        assert!(e.contains(why), "{extra}: {e}");
    }
    let regression: ModelSpec = toml::from_str(
        "dataset = \"e\"\ntask = \"regression\"\ntarget = \"nswprice\"\nalgorithm = \"ridge\"\n\
         threshold = 0.3",
    )
    .unwrap();
    assert!(regression.check().unwrap_err().contains("binary"));
}

#[test]
fn a_model_with_a_cutoff_is_format_2_and_one_without_stays_format_1() {
    let plain = fit("", 2000).unwrap().model;
    let tuned = fit("threshold = \"f1\"", 2000).unwrap().model;
    let (p, t) = (plain.to_bytes(), tuned.to_bytes());
    assert_eq!(u32::from_le_bytes(p[8..12].try_into().unwrap()), 1);
    assert_eq!(u32::from_le_bytes(t[8..12].try_into().unwrap()), 2);
    assert_eq!(Model::from_bytes(&p).unwrap(), plain);
    assert_eq!(Model::from_bytes(&t).unwrap(), tuned);
    assert_eq!(
        labels(&Model::from_bytes(&t).unwrap(), 2000, 500),
        labels(&tuned, 2000, 500)
    );
    // A crafted cutoff on a class that does not exist is refused at load.
    let mut bad = tuned.clone();
    bad.decision.as_mut().unwrap().class = 7;
    assert!(Model::from_bytes(&bad.to_bytes()).is_err());
}

#[test]
fn refit_keeps_the_test_figures_and_learns_the_test_rows() {
    let plain = fit("", 4000).unwrap();
    let refit = fit("refit = true", 4000).unwrap();
    assert_eq!(plain.model.metrics, refit.model.metrics);
    assert_eq!(plain.report.train_rows, refit.report.train_rows);
    assert_ne!(plain.model.learner, refit.model.learner);
    // Fitted on the test rows too, it labels them at least as well as the model that never
    // saw them (deterministic: logistic regression has no seed).
    let on_test = |m: &Model| {
        let l = labels(m, 4000, 1000);
        let (names, cols) = elec2(4000);
        let truth = &cols[names.iter().position(|n| n == "class").unwrap()];
        l.iter()
            .zip(&truth[3000..])
            .filter(|(a, b)| Some(a.as_str()) == b.as_deref())
            .count()
    };
    assert!(on_test(&refit.model) >= on_test(&plain.model));
}

#[test]
fn recency_weights_follow_the_latest_rows() {
    let plain = fit("", 4000).unwrap();
    let flat = fit("recency = { half_life = 1e12 }", 4000).unwrap();
    let recent = fit("recency = { half_life = 300 }", 4000).unwrap();
    // A half-life far longer than the data weighs every row alike.
    for (a, b) in plain.model.metrics.iter().zip(&flat.model.metrics) {
        assert!((a.1 - b.1).abs() < 1e-6, "{a:?} {b:?}");
    }
    assert_ne!(recent.model.learner, plain.model.learner);
    let Err(e) = fit("recency = { half_life = 0 }", 500) else {
        panic!("a half-life of 0 trained");
    };
    assert!(e.contains("half_life"), "{e}");
}

#[test]
fn an_online_model_re_tunes_a_tuned_cutoff_as_it_learns_and_keeps_a_fixed_one() {
    use gyre_learn::online::Retuner;
    let (names, cols) = elec2(2000);
    let learn_rows = |extra: &str, cols: &[Vec<Option<String>>]| {
        let spec: ModelSpec = toml::from_str(&format!(
            "dataset = \"elec2\"\ntask = \"binary\"\ntarget = \"class\"\ndrop = [\"date\"]\n\
             algorithm = \"online_logistic_regression\"\n\
             split = {{ by = \"order\", test = 0.25 }}\n{extra}"
        ))
        .unwrap();
        // The first 1,000 rows fit it; it then learns 1,000 more, as the loop would.
        let head: Vec<Vec<Option<String>>> = cols.iter().map(|c| c[..1000].to_vec()).collect();
        let mut model = train(&spec, &names, head, lineage()).unwrap().model;
        let before = model.decision.unwrap();
        let inputs = typed_inputs(&model, &names, cols);
        let refs: Vec<&Values> = inputs.iter().collect();
        let target = names.iter().position(|n| n == "class").unwrap();
        let mut retuner = Retuner::default();
        let mut after_first = None;
        for (r, label) in cols[target].iter().enumerate().take(2000).skip(1000) {
            let label = label.clone().unwrap();
            assert!(retuner.learn(&mut model, &refs, r, &label).unwrap());
            if r == 1000 + Retuner::EVERY - 2 {
                after_first = model.decision;
            }
        }
        (before, after_first.unwrap(), model.decision.unwrap())
    };
    let (before, early, after) = learn_rows("threshold = \"f1\"", &cols);
    assert!(before.tuned);
    assert_eq!(early.at, before.at, "no re-tune before 500 labels");
    assert_ne!(after.at, before.at, "re-tuned on the labels it learnt");
    let (before, _, after) = learn_rows("threshold = 0.4", &cols);
    assert!(!before.tuned);
    assert_eq!(after.at, 0.4, "a fixed cutoff stays");
}
