//! Lineage: from a model, dataset version, file or run back to everything it came from,
//! through the runs that recorded each output and the inputs they read.

use crate::{OpsError, Project, Result};
use gyre_core::{ContentHash, DatasetRef, RunId};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

#[derive(Debug, Clone, Serialize)]
pub struct LineageNode {
    /// An artifact reference (`model:…`, `dataset:NAME@ID`, `file:PATH@HASH`) or `run:ID`.
    pub id: String,
    pub label: String,
}

/// The upstream graph: edges point from what was read to the run, and from the run to what
/// it wrote.
#[derive(Debug, Clone, Serialize)]
pub struct LineageGraph {
    pub root: String,
    pub nodes: Vec<LineageNode>,
    pub edges: Vec<(String, String)>,
}

/// Enough for any real pipeline; a larger graph is cut and says so in its last node.
const MAX_NODES: usize = 500;

impl Project {
    /// What a reference names, as lineage records it.
    async fn lineage_root(&self, reference: &str) -> Result<String> {
        let known_model = |h: &str| {
            let h = h.to_string();
            async move {
                let Ok(hash) = h.parse::<ContentHash>() else {
                    return Ok::<bool, OpsError>(false);
                };
                Ok(self.blobs.contains(hash).await?
                    || !self
                        .meta
                        .runs_with_output(&format!("model:{h}"))
                        .await?
                        .is_empty())
            }
        };
        if let Some(h) = reference.strip_prefix("model:") {
            if known_model(h).await? {
                return Ok(format!("model:{h}"));
            }
            return Err(OpsError::NotFound(format!(
                "no model `{reference}`: give a model's whole hash (`gyre models show NAME@V` prints it)"
            )));
        }
        if reference.len() == 64 && known_model(reference).await? {
            return Ok(format!("model:{reference}"));
        }
        let path = self.root.join(reference);
        if std::path::Path::new(reference).exists() || path.exists() {
            let p = if path.exists() {
                path
            } else {
                reference.into()
            };
            let hash = gyre_store::hash_file(&p)?;
            return Ok(format!("file:{}@{}", self.display_path(&p), hash.short()));
        }
        if reference.contains('@')
            && let Ok(r) = reference.parse::<DatasetRef>()
            && let Ok(v) = self.meta.resolve_version(&r).await
        {
            return Ok(format!("dataset:{}@{}", v.info.dataset, v.info.id));
        }
        match self.meta.resolve_run(reference).await {
            Ok(id) => Ok(format!("run:{id}")),
            Err(_) => Err(OpsError::NotFound(format!(
                "`{reference}` is not a model hash, a file, a dataset version (NAME@V) or a run"
            ))),
        }
    }

    /// The upstream graph of a model, dataset version, file or run.
    pub async fn lineage(&self, reference: &str) -> Result<LineageGraph> {
        let root = self.lineage_root(reference).await?;
        let mut nodes: BTreeMap<String, String> = BTreeMap::new();
        let mut edges: BTreeSet<(String, String)> = BTreeSet::new();
        let mut queue: VecDeque<String> = VecDeque::from([root.clone()]);
        let mut seen: BTreeSet<String> = BTreeSet::new();
        while let Some(node) = queue.pop_front() {
            if !seen.insert(node.clone()) {
                continue;
            }
            if nodes.len() >= MAX_NODES {
                nodes.insert("…".into(), format!("cut at {MAX_NODES} nodes"));
                break;
            }
            let runs: Vec<RunId> = match node.strip_prefix("run:") {
                Some(id) => vec![
                    id.parse()
                        .map_err(|e: gyre_core::CoreError| OpsError::Invalid(e.to_string()))?,
                ],
                None => {
                    nodes.insert(node.clone(), short_label(&node));
                    self.meta.runs_with_output(&node).await?
                }
            };
            for id in runs {
                let run = self.meta.get_run(&id).await?;
                let rid = format!("run:{id}");
                nodes.insert(
                    rid.clone(),
                    format!("run {} ({})", run.start.name, &id.to_string()[..8]),
                );
                if node != rid {
                    edges.insert((rid.clone(), node.clone()));
                }
                seen.insert(rid.clone());
                for input in &run.inputs {
                    edges.insert((input.clone(), rid.clone()));
                    queue.push_back(input.clone());
                }
            }
        }
        Ok(LineageGraph {
            root,
            nodes: nodes
                .into_iter()
                .map(|(id, label)| LineageNode { id, label })
                .collect(),
            edges: edges.into_iter().collect(),
        })
    }
}

/// A reference with its hash cut to 12 digits.
fn short_label(r: &str) -> String {
    match r.rsplit_once(['@', ':']) {
        Some((head, tail)) if tail.len() > 12 && tail.chars().all(|c| c.is_ascii_hexdigit()) => {
            format!("{head}{}{}", &r[head.len()..head.len() + 1], &tail[..12])
        }
        _ => r.to_string(),
    }
}

impl LineageGraph {
    /// An indented tree, the root first, each node's sources below it.
    pub fn to_text(&self) -> String {
        let label: BTreeMap<&str, &str> = self
            .nodes
            .iter()
            .map(|n| (n.id.as_str(), n.label.as_str()))
            .collect();
        let mut sources: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (from, to) in &self.edges {
            sources.entry(to.as_str()).or_default().push(from.as_str());
        }
        let mut out = String::new();
        let mut shown: BTreeSet<&str> = BTreeSet::new();
        /// `branch`: None for the root, else whether the node is its parent's last source.
        fn walk<'a>(
            node: &'a str,
            prefix: &str,
            branch: Option<bool>,
            label: &BTreeMap<&'a str, &'a str>,
            sources: &BTreeMap<&'a str, Vec<&'a str>>,
            shown: &mut BTreeSet<&'a str>,
            out: &mut String,
        ) {
            let name = label.get(node).copied().unwrap_or(node);
            let (branch, next) = match branch {
                None => ("", String::new()),
                Some(true) => ("└─ ", format!("{prefix}   ")),
                Some(false) => ("├─ ", format!("{prefix}│  ")),
            };
            let again = !shown.insert(node);
            out.push_str(&format!(
                "{prefix}{branch}{name}{}\n",
                if again && sources.contains_key(node) {
                    " (see above)"
                } else {
                    ""
                }
            ));
            if again {
                return;
            }
            if let Some(src) = sources.get(node) {
                for (i, s) in src.iter().enumerate() {
                    walk(
                        s,
                        &next,
                        Some(i + 1 == src.len()),
                        label,
                        sources,
                        shown,
                        out,
                    );
                }
            }
        }
        walk(&self.root, "", None, &label, &sources, &mut shown, &mut out);
        out
    }

    pub fn to_mermaid(&self) -> String {
        let ids: BTreeMap<&str, usize> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.as_str(), i))
            .collect();
        let mut out = String::from("graph BT\n");
        for (i, n) in self.nodes.iter().enumerate() {
            out.push_str(&format!("  n{i}[\"{}\"]\n", n.label.replace('"', "'")));
        }
        for (a, b) in &self.edges {
            if let (Some(x), Some(y)) = (ids.get(a.as_str()), ids.get(b.as_str())) {
                out.push_str(&format!("  n{x} --> n{y}\n"));
            }
        }
        out
    }

    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph lineage {\n  rankdir=BT;\n");
        for n in &self.nodes {
            let shape = if n.id.starts_with("run:") {
                "box"
            } else {
                "ellipse"
            };
            out.push_str(&format!(
                "  \"{}\" [label=\"{}\", shape={shape}];\n",
                n.id,
                n.label.replace('"', "'")
            ));
        }
        for (a, b) in &self.edges {
            out.push_str(&format!("  \"{a}\" -> \"{b}\";\n"));
        }
        out.push_str("}\n");
        out
    }
}
