//! XGBoost's JSON model (`Booster.save_model("model.json")`, format of XGBoost 1.0 and up).

use super::{
    CATEGORICAL, DEFAULT_LEFT, ImportError, ImportedTree, ImportedTrees, LEAF, Link, Source,
};
use serde::Deserialize;

fn bad(message: impl Into<String>) -> ImportError {
    ImportError {
        format: "XGBoost",
        message: message.into(),
    }
}

#[derive(Deserialize)]
struct File {
    learner: Learner,
}

#[derive(Deserialize)]
struct Learner {
    #[serde(default)]
    feature_names: Vec<String>,
    gradient_booster: Booster,
    learner_model_param: ModelParam,
    objective: Objective,
}

#[derive(Deserialize)]
struct ModelParam {
    base_score: String,
    num_class: String,
    num_feature: String,
    #[serde(default)]
    num_target: Option<String>,
}

#[derive(Deserialize)]
struct Objective {
    name: String,
}

#[derive(Deserialize)]
struct Booster {
    name: String,
    model: Option<GbTree>,
    /// DART: the trees sit one level down, and each is weighed at prediction.
    gbtree: Option<Box<Booster>>,
    #[serde(default)]
    weight_drop: Vec<f64>,
}

#[derive(Deserialize)]
struct GbTree {
    trees: Vec<Tree>,
    tree_info: Vec<u32>,
    /// XGBoost 3.1 and up: each feature's categories (pandas' or Arrow's), in code order.
    #[serde(default)]
    cats: Option<Cats>,
}

#[derive(Deserialize)]
struct Cats {
    #[serde(default)]
    enc: Vec<Encoding>,
}

/// One feature's category names: UTF-8 bytes, name `i` at `values[offsets[i]..offsets[i +
/// 1]]` (the last to the end); a number has none.
#[derive(Deserialize)]
struct Encoding {
    #[serde(default)]
    offsets: Vec<usize>,
    #[serde(default)]
    values: Vec<u8>,
}

impl Encoding {
    fn names(&self, feature: usize) -> Result<Vec<String>, ImportError> {
        let ends = self
            .offsets
            .iter()
            .skip(1)
            .copied()
            .chain([self.values.len()]);
        self.offsets
            .iter()
            .zip(ends)
            .map(|(&a, b)| {
                self.values
                    .get(a..b)
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .map(String::from)
                    .ok_or_else(|| {
                        bad(format!(
                            "feature {feature}: category bytes {a}..{b} are not UTF-8 text"
                        ))
                    })
            })
            .collect()
    }
}

#[derive(Deserialize)]
struct Tree {
    tree_param: TreeParam,
    left_children: Vec<i64>,
    right_children: Vec<i64>,
    split_indices: Vec<u64>,
    split_conditions: Vec<f64>,
    default_left: Vec<Flag>,
    #[serde(default)]
    split_type: Vec<u8>,
    /// Categorical splits: node `categories_nodes[k]` sends the codes
    /// `categories[categories_segments[k]..][..categories_sizes[k]]` right.
    #[serde(default)]
    categories: Vec<u32>,
    #[serde(default)]
    categories_nodes: Vec<usize>,
    #[serde(default)]
    categories_segments: Vec<usize>,
    #[serde(default)]
    categories_sizes: Vec<usize>,
}

#[derive(Deserialize)]
struct TreeParam {
    #[serde(default)]
    size_leaf_vector: Option<String>,
}

/// XGBoost writes `default_left` as 0/1 (2.x and up) or as booleans (1.x).
#[derive(Deserialize)]
#[serde(untagged)]
enum Flag {
    Int(u8),
    Bool(bool),
}

impl Flag {
    fn on(&self) -> bool {
        match self {
            Flag::Int(i) => *i != 0,
            Flag::Bool(b) => *b,
        }
    }
}

fn number<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, ImportError> {
    s.trim()
        .parse()
        .map_err(|_| bad(format!("`{what}` = `{s}` is not a number")))
}

/// `base_score`: `5E-1`, or `[5E-1]` / `[0E0,0E0,0E0]` (one per output, XGBoost 3).
fn base_scores(s: &str) -> Result<Vec<f64>, ImportError> {
    s.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|v| number("base_score", v))
        .collect()
}

/// Turns a stored base score (in output space) into a raw score.
type ToMargin = fn(f64) -> f64;

/// The link from raw scores to output, and how the stored base score becomes a raw score,
/// by objective.
fn link_of(objective: &str, classes: usize) -> Result<(Link, ToMargin), ImportError> {
    let logit = |p: f64| (p / (1.0 - p)).ln();
    Ok(match objective {
        "reg:squarederror"
        | "reg:linear"
        | "reg:squaredlogerror"
        | "reg:absoluteerror"
        | "reg:pseudohubererror" => (Link::Identity, |b| b),
        "reg:logistic" => (Link::SigmoidValue { scale: 1.0 }, logit),
        "binary:logistic" => (Link::Binary { scale: 1.0 }, logit),
        "count:poisson" | "reg:gamma" | "reg:tweedie" => (Link::Exp, f64::ln),
        "multi:softprob" | "multi:softmax" if classes >= 2 => (Link::Softmax, |b| b),
        other => {
            return Err(bad(format!(
                "objective `{other}` is not one gyre evaluates; it reads reg:squarederror, \
                 reg:absoluteerror, reg:pseudohubererror, reg:logistic, binary:logistic, \
                 multi:softprob, multi:softmax, count:poisson, reg:gamma and reg:tweedie"
            )));
        }
    })
}

pub fn parse(bytes: &[u8]) -> Result<ImportedTrees, ImportError> {
    let file: File = serde_json::from_slice(bytes).map_err(|e| {
        bad(format!(
            "not an XGBoost JSON model (line {}, column {}): {e}",
            e.line(),
            e.column()
        ))
    })?;
    let l = file.learner;
    let booster = l.gradient_booster;
    let (model, weights) = match booster.name.as_str() {
        "gbtree" => (booster.model, Vec::new()),
        "dart" => (booster.gbtree.and_then(|g| g.model), booster.weight_drop),
        other => {
            return Err(bad(format!(
                "booster `{other}`: gyre reads gbtree and dart models (gblinear is not \
                 evaluated)"
            )));
        }
    };
    let Some(model) = model else {
        return Err(bad("the booster has no trees"));
    };
    if !weights.is_empty() && weights.len() != model.trees.len() {
        return Err(bad(format!(
            "{} DART weights for {} trees",
            weights.len(),
            model.trees.len()
        )));
    }
    let n_features: usize = number("num_feature", &l.learner_model_param.num_feature)?;
    let num_class: usize = number("num_class", &l.learner_model_param.num_class)?;
    if let Some(t) = &l.learner_model_param.num_target
        && number::<usize>("num_target", t)? > 1
    {
        return Err(bad("a model of several targets is not evaluated"));
    }
    let (link, to_margin) = link_of(&l.objective.name, num_class)?;
    let k = if link == Link::Softmax { num_class } else { 1 };
    let stored = base_scores(&l.learner_model_param.base_score)?;
    let base: Vec<f64> = match stored.len() {
        1 => vec![to_margin(stored[0]); k],
        n if n == k => stored.into_iter().map(to_margin).collect(),
        n => return Err(bad(format!("{n} base scores for {k} outputs"))),
    };
    if model.tree_info.len() != model.trees.len() {
        return Err(bad(format!(
            "{} trees but {} tree_info entries",
            model.trees.len(),
            model.tree_info.len()
        )));
    }
    let mut trees = model
        .trees
        .iter()
        .enumerate()
        .map(|(i, t)| tree(i, t, n_features))
        .collect::<Result<Vec<_>, _>>()?;
    // DART weighs each tree's output: fold the weight into its leaves.
    for (t, w) in trees.iter_mut().zip(&weights) {
        for (f, v) in t.feature.iter().zip(t.threshold.iter_mut()) {
            if *f == LEAF {
                *v *= w;
            }
        }
    }
    let categories = match &model.cats {
        Some(c) if c.enc.iter().any(|e| !e.offsets.is_empty()) => {
            if c.enc.len() != n_features {
                return Err(bad(format!(
                    "categories for {} features, not {n_features}",
                    c.enc.len()
                )));
            }
            c.enc
                .iter()
                .enumerate()
                .map(|(i, e)| e.names(i))
                .collect::<Result<Vec<_>, _>>()?
        }
        _ => Vec::new(),
    };
    let out = ImportedTrees {
        source: Source::Xgboost,
        n_features,
        feature_names: l.feature_names,
        link,
        base,
        trees,
        output: model.tree_info,
        average: false,
        categories,
    };
    out.check().map_err(bad)?;
    Ok(out)
}

fn tree(at: usize, t: &Tree, n_features: usize) -> Result<ImportedTree, ImportError> {
    let n = t.left_children.len();
    let here = |m: String| bad(format!("tree {at}: {m}"));
    if let Some(s) = &t.tree_param.size_leaf_vector
        && number::<usize>("size_leaf_vector", s)? > 1
    {
        return Err(here(
            "vector leaves (multi_strategy = multi_output_tree) are not evaluated".into(),
        ));
    }
    if t.right_children.len() != n
        || t.split_indices.len() != n
        || t.split_conditions.len() != n
        || t.default_left.len() != n
        || n == 0
    {
        return Err(here("its node arrays have different lengths".into()));
    }
    // Each categorical split's codes, as a bitset in the layout LightGBM's use.
    let k = t.categories_nodes.len();
    if t.categories_segments.len() != k || t.categories_sizes.len() != k {
        return Err(here("its category arrays have different lengths".into()));
    }
    let mut sets: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    let mut cat_bounds = vec![0u32];
    let mut cat_words: Vec<u32> = Vec::new();
    for j in 0..k {
        let (start, size) = (t.categories_segments[j], t.categories_sizes[j]);
        let codes = t
            .categories
            .get(start..start + size)
            .ok_or_else(|| here(format!("category set {j} points past its codes")))?;
        let words = codes
            .iter()
            .map(|&c| c as usize / 32 + 1)
            .max()
            .unwrap_or(0);
        if words > 1 << 20 {
            return Err(here(format!("category set {j} holds a code past 2^25")));
        }
        let base = cat_words.len();
        cat_words.resize(base + words, 0);
        for &c in codes {
            cat_words[base + c as usize / 32] |= 1 << (c % 32);
        }
        cat_bounds.push(cat_words.len() as u32);
        sets.insert(t.categories_nodes[j], j);
    }
    let child = |c: i64| -> Result<u32, ImportError> {
        u32::try_from(c)
            .ok()
            .filter(|&c| (c as usize) < n)
            .ok_or_else(|| here(format!("child {c} is not a node")))
    };
    let mut out = ImportedTree {
        feature: Vec::with_capacity(n),
        threshold: Vec::with_capacity(n),
        left: Vec::with_capacity(n),
        right: Vec::with_capacity(n),
        flags: Vec::with_capacity(n),
        cat_bounds: if k > 0 { cat_bounds } else { Vec::new() },
        cat_words,
    };
    for i in 0..n {
        if t.left_children[i] == -1 {
            out.feature.push(LEAF);
            out.threshold.push(t.split_conditions[i]);
            out.left.push(0);
            out.right.push(0);
            out.flags.push(0);
            continue;
        }
        let f = t.split_indices[i];
        if f as usize >= n_features {
            return Err(here(format!(
                "node {i} splits on feature {f} of {n_features}"
            )));
        }
        out.feature.push(f as u32);
        let default = if t.default_left[i].on() {
            DEFAULT_LEFT
        } else {
            0
        };
        if t.split_type.get(i).is_some_and(|&s| s != 0) {
            let set = sets
                .get(&i)
                .ok_or_else(|| here(format!("categorical node {i} has no category set")))?;
            out.threshold.push(*set as f64);
            out.flags.push(default | CATEGORICAL);
        } else {
            // XGBoost keeps thresholds as f32: the JSON text is that f32, printed.
            out.threshold.push(t.split_conditions[i] as f32 as f64);
            out.flags.push(default);
        }
        out.left.push(child(t.left_children[i])?);
        out.right.push(child(t.right_children[i])?);
    }
    Ok(out)
}
