//! The search space of `gyre tune`: grid or seeded random draws over `[model.tune.params]`.

use crate::split::SplitMix64;
use gyre_core::{SearchMethod, TuneSpec};

/// Losses and errors: lower is better.
pub fn lower_is_better(metric: &str) -> bool {
    matches!(metric, "log_loss" | "rmse" | "mae" | "mape")
}

/// Whether `a` is a better value of the tune metric than `b`.
pub fn better(spec: &TuneSpec, a: f64, b: f64) -> Result<bool, String> {
    let min = match spec.goal.as_deref() {
        None => lower_is_better(&spec.metric),
        Some("min") => true,
        Some("max") => false,
        Some(g) => return Err(format!("tune.goal `{g}`: use \"max\" or \"min\"")),
    };
    Ok(if a.is_nan() {
        false
    } else if b.is_nan() {
        true
    } else if min {
        a < b
    } else {
        a > b
    })
}

/// Four significant digits: draws that read well in tables and `--set`, with no loss that
/// matters to a search.
fn round4(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(3 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

enum Space {
    Choices(Vec<toml::Value>),
    Int { min: i64, max: i64 },
    Float { min: f64, max: f64, log: bool },
}

fn space(name: &str, v: &toml::Value) -> Result<Space, String> {
    match v {
        toml::Value::Array(a) if !a.is_empty() => Ok(Space::Choices(a.clone())),
        toml::Value::Table(t) => {
            let log = t.get("log").and_then(toml::Value::as_bool).unwrap_or(false);
            for k in t.keys() {
                if !["min", "max", "log"].contains(&k.as_str()) {
                    return Err(format!(
                        "tune.params.{name}: unknown key `{k}` (min, max, log)"
                    ));
                }
            }
            match (t.get("min"), t.get("max")) {
                (Some(toml::Value::Integer(a)), Some(toml::Value::Integer(b)))
                    if a <= b && !log =>
                {
                    Ok(Space::Int { min: *a, max: *b })
                }
                (Some(a), Some(b)) => {
                    let f =
                        |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
                    match (f(a), f(b)) {
                        (Some(a), Some(b)) if a <= b && (!log || a > 0.0) => Ok(Space::Float {
                            min: a,
                            max: b,
                            log,
                        }),
                        _ => Err(format!(
                            "tune.params.{name}: need min ≤ max (and min > 0 with log)"
                        )),
                    }
                }
                _ => Err(format!("tune.params.{name}: a range needs `min` and `max`")),
            }
        }
        _ => Err(format!(
            "tune.params.{name}: give a list of values or a range {{ min, max }}"
        )),
    }
}

/// The parameter sets to try, each laid over the spec's own `params`.
pub fn candidates(
    spec: &TuneSpec,
    base: &toml::Table,
    seed: u64,
) -> Result<Vec<toml::Table>, String> {
    if spec.params.is_empty() {
        return Err("tune.params is empty: name at least one parameter to search".into());
    }
    let spaces: Vec<(String, Space)> = spec
        .params
        .iter()
        .map(|(k, v)| space(k, v).map(|s| (k.clone(), s)))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    match spec.method {
        SearchMethod::Grid => {
            let mut combos: Vec<toml::Table> = vec![base.clone()];
            for (name, s) in &spaces {
                let Space::Choices(values) = s else {
                    return Err(format!(
                        "tune.params.{name}: a grid needs a list of values; ranges are for method = \"random\""
                    ));
                };
                combos = combos
                    .into_iter()
                    .flat_map(|t| {
                        values.iter().map(move |v| {
                            let mut t = t.clone();
                            t.insert(name.clone(), v.clone());
                            t
                        })
                    })
                    .collect();
                if combos.len() > 10_000 {
                    return Err(
                        "the grid has over 10,000 combinations; use method = \"random\"".into(),
                    );
                }
            }
            out = combos;
        }
        SearchMethod::Random => {
            let mut rng = SplitMix64(seed ^ 0x7u64.rotate_left(61));
            let unit = |rng: &mut SplitMix64| (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
            for _ in 0..spec.trials.unwrap_or(20).max(1) {
                let mut t = base.clone();
                for (name, s) in &spaces {
                    let v = match s {
                        Space::Choices(v) => v[rng.below(v.len() as u64) as usize].clone(),
                        Space::Int { min, max } => {
                            toml::Value::Integer(min + rng.below((max - min) as u64 + 1) as i64)
                        }
                        Space::Float {
                            min,
                            max,
                            log: false,
                        } => toml::Value::Float(
                            round4(min + (max - min) * unit(&mut rng)).clamp(*min, *max),
                        ),
                        Space::Float {
                            min,
                            max,
                            log: true,
                        } => toml::Value::Float(
                            round4((min.ln() + (max.ln() - min.ln()) * unit(&mut rng)).exp())
                                .clamp(*min, *max),
                        ),
                    };
                    t.insert(name.clone(), v);
                }
                out.push(t);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> TuneSpec {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn grids_multiply_and_random_draws_stay_in_range() {
        let g = spec("metric = \"f1\"\nparams = { trees = [10, 20], max_depth = [2, 4, 8] }");
        let base: toml::Table = toml::from_str("min_samples_leaf = 3").unwrap();
        let c = candidates(&g, &base, 0).unwrap();
        assert_eq!(c.len(), 6);
        assert!(
            c.iter()
                .all(|t| t["min_samples_leaf"].as_integer() == Some(3))
        );
        let r = spec(
            "method = \"random\"\ntrials = 50\nmetric = \"rmse\"\nparams = { max_depth = { min = 2, max = 5 }, learning_rate = { min = 0.01, max = 0.3, log = true } }",
        );
        let c = candidates(&r, &toml::Table::new(), 1).unwrap();
        assert_eq!(c.len(), 50);
        for t in &c {
            let d = t["max_depth"].as_integer().unwrap();
            let lr = t["learning_rate"].as_float().unwrap();
            assert!((2..=5).contains(&d) && (0.01..=0.3).contains(&lr));
        }
        assert_eq!(c, candidates(&r, &toml::Table::new(), 1).unwrap(), "seeded");
        assert!(better(&r, 1.0, 2.0).unwrap(), "rmse: lower wins");
        assert!(better(&g, 0.9, 0.8).unwrap(), "f1: higher wins");
        let bad = spec("metric = \"f1\"\nparams = { max_depth = { min = 2, max = 5 } }");
        assert!(
            candidates(&bad, &toml::Table::new(), 0)
                .unwrap_err()
                .contains("grid needs a list")
        );
    }
}
