//! Pipelines: steps declared in `gyre.toml` (`[steps.NAME]`) and `pipelines/*.toml`, and the
//! DAG they form. Pure: the runner lives in gyre-ops.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A built-in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Builtin {
    /// Versions `dataset` from its path in `[datasets.NAME]` (no new version when unchanged)
    /// and validates it against `schemas/NAME.toml`; error anomalies fail the step.
    Validate,
    /// Trains the `[model]` spec on its dataset's latest version.
    Train,
    /// Scores the model a `train` step made on a dataset version and writes the metrics as
    /// JSON to the step's one `outs` file.
    Evaluate,
    /// Registers the model a `train` step made (`model`), or a model file a command wrote
    /// (`file`: XGBoost JSON, LightGBM text or a gyre model), as the next version of `name`.
    Register,
    /// Judges the version a `register` step made against `[gate]`; a failed verdict fails
    /// the step. With `promote`, a passing version gets that alias (e.g. `challenger`).
    Gate,
    /// Turns the labelled serving traffic of the registered model `name` (prediction log +
    /// feedback) into a new version of `dataset`: after the rows of `base` when given, and
    /// cut to the last `rows` rows or the last `days` days.
    Traffic,
}

/// One step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// A shell command (`sh -c`), run in the project folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// A built-in step instead of a command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses: Option<Builtin>,
    /// `validate` and `evaluate`: the dataset (default for evaluate: the model's); `train`:
    /// the dataset it trains on instead of `[model] dataset`; `traffic`: the dataset it
    /// writes; a command (`run`): a dataset whose latest version it reads, given to it as
    /// `GYRE_DATASET` (`NAME@SEQ`) and `GYRE_DATASET_FILES` (its files, one per line); a
    /// new version runs it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// `evaluate` and `register`: the `train` step whose model they use; `gate`: the
    /// `register` step whose version it judges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `register`: the registered model's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `register`: a model file (written by a `run` step) instead of a train step's model.
    /// An XGBoost or LightGBM file takes its signature from `signature` when given, else
    /// from its own feature names, `[model] target` and `dataset` (default `[model]
    /// dataset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// `register` with `file`: a signature file (`inputs`, `target`, `classes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// `register` with `file`: the test figures the script measured, as a JSON object
    /// (`{"accuracy": 0.91}`), for `[gate]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
    /// `gate`: the alias a passing version gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote: Option<String>,
    /// `traffic`: a dataset whose rows come first (all data so far).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// `traffic`: keep the last N rows (a sliding window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// `traffic`: keep traffic predicted in the last N days (without `base` rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<f64>,
    /// Files and folders the step reads (code included), relative to the project.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<String>,
    /// Files and folders the step writes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outs: Vec<String>,
    /// Keys of `[params]` / params.toml (`train.trees`) the step reads. Commands get them as
    /// `GYRE_PARAM_TRAIN_TREES` and all at once as JSON in `GYRE_PARAMS`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<String>,
    /// `train`: spec keys set from params, e.g. `{ "model.params.trees" = "train.trees" }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Steps that must finish first, besides those whose outputs this step reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

impl StepSpec {
    /// Every file the step reads: its `deps`, and a `register` step's `file`, `signature`
    /// and `metrics`.
    pub fn reads(&self) -> impl Iterator<Item = &String> {
        self.deps
            .iter()
            .chain(&self.file)
            .chain(&self.signature)
            .chain(&self.metrics)
    }
}

/// The steps in dependency order, with each step's upstream steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Dag {
    /// Step names in a topological order (ties by name).
    pub order: Vec<String>,
    /// Per step, the steps it waits for (sorted).
    pub upstream: BTreeMap<String, Vec<String>>,
}

impl Dag {
    /// `targets` and everything they need, in order; all steps when `targets` is empty.
    pub fn closure(&self, targets: &[String]) -> Result<Vec<String>, String> {
        if targets.is_empty() {
            return Ok(self.order.clone());
        }
        let mut keep: BTreeSet<String> = BTreeSet::new();
        let mut stack: Vec<String> = Vec::new();
        for t in targets {
            if !self.upstream.contains_key(t) {
                return Err(format!(
                    "no step `{t}`; the steps: {}",
                    self.order.join(", ")
                ));
            }
            stack.push(t.clone());
        }
        while let Some(s) = stack.pop() {
            if keep.insert(s.clone()) {
                stack.extend(self.upstream[&s].iter().cloned());
            }
        }
        Ok(self
            .order
            .iter()
            .filter(|s| keep.contains(*s))
            .cloned()
            .collect())
    }

    /// The steps that wait for `step`, directly or not.
    pub fn downstream(&self, step: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut changed = true;
        while changed {
            changed = false;
            for (s, ups) in &self.upstream {
                if !out.contains(s) && ups.iter().any(|u| u == step || out.contains(u)) {
                    out.insert(s.clone());
                    changed = true;
                }
            }
        }
        out
    }
}

/// Normalises a declared path: forward slashes, no `./`, no trailing `/`.
pub fn norm(path: &str) -> String {
    let p = path.replace('\\', "/");
    let p = p.trim_start_matches("./").trim_end_matches('/');
    p.to_string()
}

/// `inner` is `outer` or inside it.
fn within(inner: &str, outer: &str) -> bool {
    inner == outer || inner.starts_with(&format!("{outer}/"))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Checks the steps and builds the DAG: edges from each output to the steps that read it
/// (a folder and the files in it count), plus `after`; built-in `train` steps wait for the
/// `validate` steps of the model's dataset, and `evaluate` for its `train` step. A cycle, two
/// steps writing the same output, or an unknown step is an error naming the steps.
pub fn plan(
    steps: &BTreeMap<String, StepSpec>,
    model_dataset: Option<&str>,
) -> Result<Dag, String> {
    let mut problems = Vec::new();
    for (name, s) in steps {
        if !valid_name(name) {
            problems.push(format!(
                "step `{name}`: use letters, digits, `_` and `-` in step names"
            ));
        }
        match (&s.run, &s.uses) {
            (Some(_), Some(_)) => {
                problems.push(format!("step `{name}`: give `run` or `uses`, not both"))
            }
            (None, None) => problems.push(format!(
                "step `{name}`: give `run` (a command) or `uses` (validate, train, evaluate, register, gate, traffic)"
            )),
            _ => {}
        }
        match s.uses {
            Some(Builtin::Validate) if s.dataset.is_none() => problems.push(format!(
                "step `{name}`: `uses = \"validate\"` needs `dataset`"
            )),
            Some(Builtin::Evaluate) if s.outs.len() != 1 => problems.push(format!(
                "step `{name}`: `uses = \"evaluate\"` writes its metrics to one `outs` file"
            )),
            Some(Builtin::Register) => {
                match (&s.model, &s.file) {
                    (Some(m), None)
                        if steps.get(m).and_then(|t| t.uses) == Some(Builtin::Train) => {}
                    (None, Some(_)) => {}
                    _ => problems.push(format!(
                        "step `{name}`: `uses = \"register\"` needs `model` (a `uses = \"train\"` step) or `file` (a model file), not both"
                    )),
                }
                if (s.signature.is_some() || s.metrics.is_some()) && s.file.is_none() {
                    problems.push(format!(
                        "step `{name}`: `signature` and `metrics` describe a `file`; a trained model has its own"
                    ));
                }
                if s.name.is_none() {
                    problems.push(format!(
                        "step `{name}`: `uses = \"register\"` needs `name`, the registered model's name"
                    ));
                }
            }
            Some(Builtin::Traffic) if s.name.is_none() || s.dataset.is_none() => problems.push(format!(
                "step `{name}`: `uses = \"traffic\"` needs `name` (the registered model) and `dataset` (the dataset it writes)"
            )),
            Some(Builtin::Gate) => match &s.model {
                Some(m) if steps.get(m).and_then(|t| t.uses) == Some(Builtin::Register) => {}
                _ => problems.push(format!(
                    "step `{name}`: `uses = \"gate\"` needs `model`, a `uses = \"register\"` step"
                )),
            },
            Some(Builtin::Evaluate) => match &s.model {
                Some(m) if steps.get(m).and_then(|t| t.uses) == Some(Builtin::Train) => {}
                Some(m) => problems.push(format!(
                    "step `{name}`: `model = \"{m}\"` must name a `uses = \"train\"` step"
                )),
                None => problems.push(format!(
                    "step `{name}`: `uses = \"evaluate\"` needs `model`, the train step it scores"
                )),
            },
            _ => {}
        }
        if s.uses.is_some() && s.uses != Some(Builtin::Train) && !s.set.is_empty() {
            problems.push(format!("step `{name}`: `set` applies to train steps only"));
        }
        for a in &s.after {
            if !steps.contains_key(a) {
                problems.push(format!("step `{name}`: `after` names no step `{a}`"));
            }
        }
        // Outputs are written, so they stay inside the project; deps are only read.
        for p in &s.outs {
            let n = norm(p);
            if n.is_empty() || n.starts_with('/') || n.split('/').any(|c| c == "..") {
                problems.push(format!(
                    "step `{name}`: output `{p}` must be a path inside the project (no `..`, not absolute)"
                ));
            }
        }
    }
    // Two writers of one output (or of a folder and a file in it).
    let outs: Vec<(String, String)> = steps
        .iter()
        .flat_map(|(n, s)| s.outs.iter().map(move |o| (n.clone(), norm(o))))
        .collect();
    for (i, (a, oa)) in outs.iter().enumerate() {
        for (b, ob) in &outs[i + 1..] {
            if within(oa, ob) || within(ob, oa) {
                problems.push(if a == b {
                    format!("step `{a}` declares `{oa}` and `{ob}`, one inside the other")
                } else {
                    format!(
                        "steps `{a}` and `{b}` both write `{}`",
                        if oa.len() <= ob.len() { oa } else { ob }
                    )
                });
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    let mut upstream: BTreeMap<String, BTreeSet<String>> =
        steps.keys().map(|k| (k.clone(), BTreeSet::new())).collect();
    for (name, s) in steps {
        let ups = upstream.get_mut(name).expect("every step");
        for d in s.reads() {
            let d = norm(d);
            for (writer, o) in &outs {
                if writer != name && (within(&d, o) || within(o, &d)) {
                    ups.insert(writer.clone());
                }
            }
        }
        ups.extend(s.after.iter().cloned());
        match s.uses {
            // A train step reads its dataset (default `[model] dataset`); a command, the one
            // it names: either waits for the steps that write it.
            Some(Builtin::Train) | None => {
                let reads = match s.uses {
                    None => model_dataset_name(s.dataset.as_deref()),
                    _ => model_dataset_name(s.dataset.as_deref().or(model_dataset)),
                };
                if reads.is_none() {
                    continue;
                }
                for (other, t) in steps {
                    if matches!(t.uses, Some(Builtin::Validate | Builtin::Traffic))
                        && t.dataset.as_deref() == reads
                    {
                        ups.insert(other.clone());
                    }
                }
            }
            Some(Builtin::Evaluate | Builtin::Register | Builtin::Gate) => {
                ups.extend(s.model.iter().cloned());
            }
            _ => {}
        }
    }
    // Kahn's algorithm, ties broken by name.
    let mut remaining: BTreeMap<String, BTreeSet<String>> = upstream.clone();
    let mut order = Vec::new();
    loop {
        let ready: Vec<String> = remaining
            .iter()
            .filter(|(_, ups)| ups.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        if ready.is_empty() {
            break;
        }
        for r in &ready {
            remaining.remove(r);
        }
        for ups in remaining.values_mut() {
            for r in &ready {
                ups.remove(r);
            }
        }
        order.extend(ready);
    }
    if !remaining.is_empty() {
        let cycle: Vec<&str> = remaining.keys().map(String::as_str).collect();
        return Err(format!(
            "the steps form a cycle: {} (each waits for another of them)",
            cycle.join(", ")
        ));
    }
    Ok(Dag {
        order,
        upstream: upstream
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().collect()))
            .collect(),
    })
}

/// The dataset name of a `NAME[@V]` reference.
fn model_dataset_name(r: Option<&str>) -> Option<&str> {
    r.map(|r| r.split('@').next().unwrap_or(r))
}

/// Looks up `a.b.c` in params.
pub fn param<'a>(params: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let mut parts = key.split('.');
    let mut v = params.get(parts.next()?)?;
    for p in parts {
        v = v.as_table()?.get(p)?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(text: &str) -> BTreeMap<String, StepSpec> {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn edges_come_from_outputs_and_after() {
        let s = steps(
            r#"
[prepare]
run = "python3 prep.py"
deps = ["data/raw", "prep.py"]
outs = ["data/processed/"]
[features]
run = "x"
deps = ["./data/processed/a.csv"]
outs = ["data/features.csv"]
[report]
run = "y"
after = ["features"]
[check]
uses = "validate"
dataset = "elec2"
[fit]
uses = "train"
[score]
uses = "evaluate"
model = "fit"
outs = ["metrics.json"]
"#,
        );
        let dag = plan(&s, Some("elec2@latest")).unwrap();
        assert_eq!(dag.upstream["features"], ["prepare"]);
        assert_eq!(dag.upstream["report"], ["features"]);
        assert_eq!(dag.upstream["fit"], ["check"]);
        assert_eq!(dag.upstream["score"], ["fit"]);
        let pos = |n: &str| dag.order.iter().position(|s| s == n).unwrap();
        assert!(pos("prepare") < pos("features") && pos("features") < pos("report"));
        assert_eq!(
            dag.closure(&["features".into()]).unwrap(),
            vec!["prepare".to_string(), "features".to_string()]
        );
        assert_eq!(
            dag.downstream("prepare").into_iter().collect::<Vec<_>>(),
            ["features", "report"]
        );
        assert!(
            dag.closure(&["nope".into()])
                .unwrap_err()
                .contains("no step `nope`")
        );
    }

    #[test]
    fn cycles_and_double_writers_name_the_steps() {
        let s = steps(
            r#"
[a]
run = "x"
deps = ["b.txt"]
outs = ["a.txt"]
[b]
run = "y"
deps = ["a.txt"]
outs = ["b.txt"]
[c]
run = "z"
"#,
        );
        let e = plan(&s, None).unwrap_err();
        assert!(e.contains("cycle: a, b"), "{e}");
        let s = steps(
            r#"
[a]
run = "x"
outs = ["out"]
[b]
run = "y"
outs = ["out/file.csv"]
[c]
uses = "validate"
[d]
run = "x"
uses = "train"
[e]
run = "x"
outs = ["../secret"]
"#,
        );
        let e = plan(&s, None).unwrap_err();
        assert!(e.contains("steps `a` and `b` both write `out`"), "{e}");
        assert!(
            e.contains("step `c`: `uses = \"validate\"` needs `dataset`"),
            "{e}"
        );
        assert!(
            e.contains("step `d`: give `run` or `uses`, not both"),
            "{e}"
        );
        assert!(
            e.contains("`../secret` must be a path inside the project"),
            "{e}"
        );
    }

    #[test]
    fn a_script_trains_and_a_register_step_takes_its_file() {
        let s = steps(
            r#"
[traffic]
uses = "traffic"
name = "m"
dataset = "live"
[retrain]
run = "python3 train.py out"
dataset = "live"
outs = ["out"]
[register]
uses = "register"
file = "out/model.json"
metrics = "out/metrics.json"
name = "m"
[gate]
uses = "gate"
model = "register"
[loose]
run = "echo"
"#,
        );
        let dag = plan(&s, None).unwrap();
        assert_eq!(
            dag.upstream["retrain"],
            ["traffic"],
            "a command reads its dataset"
        );
        assert_eq!(dag.upstream["register"], ["retrain"], "the file's writer");
        assert_eq!(dag.upstream["gate"], ["register"]);
        assert!(dag.upstream["loose"].is_empty());
        let s = steps(
            r#"
[fit]
uses = "train"
[both]
uses = "register"
model = "fit"
file = "m.json"
name = "m"
[neither]
uses = "register"
name = "m"
[described]
uses = "register"
model = "fit"
signature = "sig.toml"
name = "m"
"#,
        );
        let e = plan(&s, None).unwrap_err();
        assert!(
            e.contains("step `both`: `uses = \"register\"` needs `model`"),
            "{e}"
        );
        assert!(
            e.contains("step `neither`: `uses = \"register\"` needs"),
            "{e}"
        );
        assert!(
            e.contains("step `described`: `signature` and `metrics` describe"),
            "{e}"
        );
    }

    #[test]
    fn params_resolve_by_dotted_key() {
        let p: toml::Table = toml::from_str("[train]\ntrees = 50\n").unwrap();
        assert_eq!(
            param(&p, "train.trees").and_then(|v| v.as_integer()),
            Some(50)
        );
        assert!(param(&p, "train.depth").is_none());
    }
}
