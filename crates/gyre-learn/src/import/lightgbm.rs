//! LightGBM's text model (`Booster.save_model("model.txt")`, format `v3` and `v4`).

use super::{
    CATEGORICAL, DEFAULT_LEFT, ImportError, ImportedTree, ImportedTrees, LEAF, Link, MISSING_MASK,
    Source,
};
use std::collections::HashMap;

fn bad(message: impl Into<String>) -> ImportError {
    ImportError {
        format: "LightGBM",
        message: message.into(),
    }
}

/// LightGBM's `decision_type` bits.
const CATEGORICAL_SPLIT: u8 = 1;
const LGB_DEFAULT_LEFT: u8 = 2;

/// One `key=value` block (the header, or one tree), with the line each key was on.
struct Block<'a> {
    name: String,
    values: HashMap<&'a str, (usize, &'a str)>,
}

impl<'a> Block<'a> {
    fn get(&self, key: &str) -> Result<(usize, &'a str), ImportError> {
        self.values
            .get(key)
            .copied()
            .ok_or_else(|| bad(format!("{}: no `{key}=` line", self.name)))
    }

    fn one<T: std::str::FromStr>(&self, key: &str) -> Result<T, ImportError> {
        let (line, v) = self.get(key)?;
        v.trim().parse().map_err(|_| {
            bad(format!(
                "line {line}: `{key}={v}` is not what {} expects",
                self.name
            ))
        })
    }

    fn list<T: std::str::FromStr>(&self, key: &str, want: usize) -> Result<Vec<T>, ImportError> {
        let (line, v) = self.get(key)?;
        let out = v
            .split_ascii_whitespace()
            .map(|x| {
                x.parse()
                    .map_err(|_| bad(format!("line {line}: `{key}` holds `{x}`, not a number")))
            })
            .collect::<Result<Vec<T>, _>>()?;
        if out.len() != want {
            return Err(bad(format!(
                "line {line}: `{key}` has {} values, {} needs {want}",
                out.len(),
                self.name
            )));
        }
        Ok(out)
    }
}

/// The header and tree blocks of a model's text, with 1-based line numbers, and the
/// `pandas_categorical:` line after them (with its number), when there is one.
type Blocks<'a> = (Block<'a>, Vec<Block<'a>>, Option<(usize, &'a str)>);

fn blocks(text: &str) -> Result<Blocks<'_>, ImportError> {
    let mut header = Block {
        name: "the header".into(),
        values: HashMap::new(),
    };
    let mut trees: Vec<Block> = Vec::new();
    let mut ended = false;
    let mut lines = text.lines().enumerate();
    for (i, line) in lines.by_ref() {
        let line = line.trim_end();
        if line == "end of trees" {
            ended = true;
            break;
        }
        if let Some(n) = line.strip_prefix("Tree=") {
            trees.push(Block {
                name: format!("tree {n}"),
                values: HashMap::new(),
            });
            continue;
        }
        let target = trees.last_mut().unwrap_or(&mut header);
        match line.split_once('=') {
            Some((k, v)) => {
                target.values.insert(k, (i + 1, v));
            }
            // A bare word is a flag (`average_output`).
            None if !line.is_empty() => {
                target.values.insert(line, (i + 1, ""));
            }
            None => {}
        }
    }
    if !ended {
        return Err(bad("no `end of trees` line: the file is cut short"));
    }
    let pandas = lines.find_map(|(i, l)| l.strip_prefix("pandas_categorical:").map(|v| (i + 1, v)));
    Ok((header, trees, pandas))
}

/// Per feature, the categories pandas coded it with: the features whose `feature_infos`
/// lists codes (not a `[min:max]` range, not `none`) take `pandas_categorical`'s lists in
/// order. Empty when the model was trained on no pandas categories.
fn categories(
    header: &Block,
    pandas: Option<(usize, &str)>,
    n_features: usize,
) -> Result<Vec<Vec<String>>, ImportError> {
    let lists: Vec<Vec<String>> = match pandas {
        None => return Ok(Vec::new()),
        Some((line, v)) => match serde_json::from_str::<Option<Vec<Vec<serde_json::Value>>>>(v) {
            Ok(Some(l)) => l
                .into_iter()
                .map(|c| {
                    c.into_iter()
                        .map(|v| match v {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        })
                        .collect()
                })
                .collect(),
            Ok(None) => return Ok(Vec::new()),
            Err(e) => {
                return Err(bad(format!(
                    "line {line}: `pandas_categorical` is not a list of lists: {e}"
                )));
            }
        },
    };
    if lists.is_empty() {
        return Ok(Vec::new());
    }
    let (line, infos) = header.get("feature_infos")?;
    let infos: Vec<&str> = infos.split_ascii_whitespace().collect();
    if infos.len() != n_features {
        return Err(bad(format!(
            "line {line}: `feature_infos` has {} entries for {n_features} features",
            infos.len()
        )));
    }
    let coded: Vec<usize> = (0..n_features)
        .filter(|&i| !infos[i].starts_with('[') && infos[i] != "none")
        .collect();
    if coded.len() != lists.len() {
        return Err(bad(format!(
            "{} categorical features but {} lists in `pandas_categorical`",
            coded.len(),
            lists.len()
        )));
    }
    let mut out = vec![Vec::new(); n_features];
    for (i, list) in coded.into_iter().zip(lists) {
        out[i] = list;
    }
    Ok(out)
}

/// The link from raw scores to output, and the number of classes, by objective.
fn link_of(objective: &str) -> Result<(Link, usize), ImportError> {
    let mut words = objective.split_ascii_whitespace();
    let name = words.next().unwrap_or("");
    let option = |key: &str| -> Option<&str> {
        objective
            .split_ascii_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix(':'))
    };
    let scale = || -> Result<f64, ImportError> {
        option("sigmoid")
            .map_or(Ok(1.0), |s| s.parse())
            .map_err(|_| bad(format!("objective `{objective}`: sigmoid is not a number")))
    };
    if objective.split_ascii_whitespace().any(|w| w == "sqrt") {
        return Err(bad(
            "objective with `sqrt` (reg_sqrt) is not evaluated; train without it",
        ));
    }
    Ok(match name {
        "regression" | "regression_l1" | "huber" | "fair" | "quantile" | "mape" => {
            (Link::Identity, 1)
        }
        "poisson" | "gamma" | "tweedie" => (Link::Exp, 1),
        "binary" => (Link::Binary { scale: scale()? }, 2),
        "cross_entropy" => (Link::SigmoidValue { scale: 1.0 }, 1),
        "multiclass" => {
            let k = option("num_class")
                .and_then(|k| k.parse().ok())
                .filter(|&k: &usize| k >= 2)
                .ok_or_else(|| bad(format!("objective `{objective}`: no num_class")))?;
            (Link::Softmax, k)
        }
        other => {
            return Err(bad(format!(
                "objective `{other}` is not one gyre evaluates; it reads regression, \
                 regression_l1, huber, fair, quantile, mape, poisson, gamma, tweedie, binary, \
                 cross_entropy and multiclass"
            )));
        }
    })
}

pub fn parse(bytes: &[u8]) -> Result<ImportedTrees, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        bad(format!(
            "not UTF-8 text (byte {}): not a LightGBM text model",
            e.valid_up_to()
        ))
    })?;
    let (header, blocks, pandas) = blocks(text)?;
    let (_, objective) = header.get("objective")?;
    let (link, classes) = link_of(objective)?;
    let per_iteration: usize = header.one("num_tree_per_iteration")?;
    let k = if link == Link::Softmax { classes } else { 1 };
    if per_iteration != k {
        return Err(bad(format!(
            "{per_iteration} trees per iteration for {k} raw scores"
        )));
    }
    let n_features = header.one::<usize>("max_feature_idx")? + 1;
    let feature_names = match header.values.get("feature_names") {
        Some((_, v)) => v.split_ascii_whitespace().map(String::from).collect(),
        None => Vec::new(),
    };
    let trees = blocks
        .iter()
        .map(|b| tree(b, n_features))
        .collect::<Result<Vec<_>, _>>()?;
    let out = ImportedTrees {
        source: Source::Lightgbm,
        n_features,
        feature_names,
        link,
        base: vec![0.0; k],
        output: (0..trees.len()).map(|i| (i % k) as u32).collect(),
        trees,
        average: header.values.contains_key("average_output"),
        categories: categories(&header, pandas, n_features)?,
    };
    out.check().map_err(bad)?;
    Ok(out)
}

/// Internal nodes keep their numbers; leaf `j` (written `~j` as a child) becomes node
/// `internal + j`.
fn tree(b: &Block, n_features: usize) -> Result<ImportedTree, ImportError> {
    let leaves: usize = b.one("num_leaves")?;
    if leaves == 0 {
        return Err(bad(format!("{}: no leaves", b.name)));
    }
    if b.values
        .get("is_linear")
        .is_some_and(|(_, v)| v.trim() != "0")
    {
        return Err(bad(format!(
            "{}: linear trees (linear_tree = true) are not evaluated",
            b.name
        )));
    }
    let values: Vec<f64> = b.list("leaf_value", leaves)?;
    let inner = leaves - 1;
    let mut t = ImportedTree {
        feature: Vec::with_capacity(inner + leaves),
        threshold: Vec::with_capacity(inner + leaves),
        left: Vec::with_capacity(inner + leaves),
        right: Vec::with_capacity(inner + leaves),
        flags: Vec::with_capacity(inner + leaves),
        cat_bounds: Vec::new(),
        cat_words: Vec::new(),
    };
    if inner > 0 {
        let feature: Vec<u32> = b.list("split_feature", inner)?;
        let threshold: Vec<f64> = b.list("threshold", inner)?;
        let decision: Vec<u8> = b.list("decision_type", inner)?;
        let left: Vec<i64> = b.list("left_child", inner)?;
        let right: Vec<i64> = b.list("right_child", inner)?;
        let node = |c: i64| -> Result<u32, ImportError> {
            let n = if c < 0 { inner as i64 + !c } else { c };
            u32::try_from(n)
                .ok()
                .filter(|&n| (n as usize) < inner + leaves)
                .ok_or_else(|| bad(format!("{}: child {c} is not a node", b.name)))
        };
        let sets: usize = match b.values.get("num_cat") {
            Some(_) => b.one("num_cat")?,
            None => 0,
        };
        if sets > 0 {
            t.cat_bounds = b.list("cat_boundaries", sets + 1)?;
            let words = *t.cat_bounds.last().expect("sets + 1 bounds") as usize;
            t.cat_words = b.list("cat_threshold", words)?;
        }
        for i in 0..inner {
            if feature[i] as usize >= n_features {
                return Err(bad(format!(
                    "{}: node {i} splits on feature {} of {n_features}",
                    b.name, feature[i]
                )));
            }
            t.feature.push(feature[i]);
            t.threshold.push(threshold[i]);
            t.left.push(node(left[i])?);
            t.right.push(node(right[i])?);
            let default = if decision[i] & LGB_DEFAULT_LEFT != 0 {
                DEFAULT_LEFT
            } else {
                0
            };
            // LightGBM's missing type sits in bits 2–3; ours in bits 1–2.
            let categorical = if decision[i] & CATEGORICAL_SPLIT != 0 {
                CATEGORICAL
            } else {
                0
            };
            t.flags
                .push(default | ((decision[i] >> 1) & MISSING_MASK) | categorical);
        }
    }
    for v in values {
        t.feature.push(LEAF);
        t.threshold.push(v);
        t.left.push(0);
        t.right.push(0);
        t.flags.push(0);
    }
    Ok(t)
}
