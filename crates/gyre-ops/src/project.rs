//! A gyre project: its folder, its `gyre.toml`, and the stores behind it.

use crate::{OpsError, Result, settings};
use fs_err as fs;
use gyre_core::ProjectSpec;
use gyre_store::{BlobStore, LocalBlobStore, MetaStore, S3BlobStore, open_meta_store};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The project file's name.
pub const PROJECT_FILE: &str = "gyre.toml";
/// The state folder's name (metadata database, objects, caches). Never committed.
pub const STATE_DIR: &str = ".gyre";

/// The read cache of a project whose objects are in a bucket, under the state folder.
pub const CACHE_DIR: &str = "bucket-cache";

/// Where the project's objects live when not under `.gyre/objects/`: `GYRE_OBJECTS_URL`, else
/// `[store] objects`.
pub fn objects_url(spec: &ProjectSpec) -> Option<String> {
    match std::env::var(settings::OBJECTS_URL) {
        Ok(u) if !u.is_empty() => Some(u),
        _ => spec.store.objects.clone().filter(|u| !u.is_empty()),
    }
}

/// Folders `gyre init` creates: the layout the MLOps best practices call for.
pub const LAYOUT: [(&str, &str); 8] = [
    (
        "data/raw",
        "immutable input data, as it arrived; versioned with `gyre data add`",
    ),
    ("data/processed", "data made by pipeline steps"),
    (
        "steps",
        "the data engineering and training steps, in any language",
    ),
    ("models", "model specs and exported models"),
    ("notebooks", "exploration; promote what works into steps/"),
    ("tests", "tests of feature code and steps"),
    ("deploy", "deployment files"),
    (
        "docs",
        "data sources, labelling, model selection criteria, how to run locally",
    ),
];

/// An open project.
pub struct Project {
    pub root: PathBuf,
    pub spec: ProjectSpec,
    pub meta: Arc<dyn MetaStore>,
    pub blobs: Arc<dyn BlobStore>,
    /// The metadata store's URL, with any password hidden.
    pub store_url: String,
}

impl Project {
    /// Finds the project that holds `start`: the nearest folder at or above it with a
    /// `gyre.toml`.
    pub fn discover(start: &Path) -> Result<PathBuf> {
        let start =
            std::path::absolute(start).map_err(OpsError::io("resolving the current folder"))?;
        let mut dir = Some(start.as_path());
        while let Some(d) = dir {
            if d.join(PROJECT_FILE).is_file() {
                return Ok(d.to_path_buf());
            }
            dir = d.parent();
        }
        Err(OpsError::NotAProject { start })
    }

    /// Opens the project rooted at `root`. The state folder is created when missing (a fresh
    /// clone of a project's repository has none).
    pub async fn open(root: &Path) -> Result<Project> {
        let root =
            std::path::absolute(root).map_err(OpsError::io("resolving the project folder"))?;
        let spec_path = root.join(PROJECT_FILE);
        let text = fs::read_to_string(&spec_path).map_err(|e| OpsError::Io {
            context: format!("reading {}", spec_path.display()),
            source: e,
        })?;
        let (spec, model_error) =
            ProjectSpec::parse_lenient(&text, &spec_path.display().to_string())?;
        if let Some(e) = model_error {
            // Only what trains needs [model]; those commands parse it again and fail with this.
            crate::note!("warning: {e} (commands that train will fail until it is fixed)");
        }
        let state = root.join(STATE_DIR);
        let url = match std::env::var(settings::STORE_URL) {
            Ok(u) if !u.is_empty() => u,
            _ => match &spec.store.url {
                Some(u) => u.clone(),
                None => format!("sqlite://{}", state.join("gyre.db").display()),
            },
        };
        fs::create_dir_all(&state).map_err(|e| OpsError::Io {
            context: format!("creating {}", state.display()),
            source: e,
        })?;
        let meta = open_meta_store(&url).await?;
        let blobs: Arc<dyn BlobStore> = match objects_url(&spec) {
            Some(objects) => Arc::new(S3BlobStore::open(&objects, &state.join(CACHE_DIR))?),
            None => Arc::new(LocalBlobStore::open(&state)?),
        };
        Ok(Project {
            root,
            spec,
            meta: Arc::from(meta),
            blobs,
            store_url: settings::redact_url(&url),
        })
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.join(STATE_DIR)
    }

    /// `path` as recorded in the store: relative to the root when inside the project, else
    /// absolute.
    pub fn display_path(&self, path: &Path) -> String {
        match path.strip_prefix(&self.root) {
            Ok(rel) if !rel.as_os_str().is_empty() => rel.to_string_lossy().replace('\\', "/"),
            _ => path.to_string_lossy().into_owned(),
        }
    }

    /// The absolute form of a path recorded with [`Project::display_path`].
    pub fn resolve_path(&self, recorded: &str) -> PathBuf {
        let p = Path::new(recorded);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }
}

#[derive(Debug, Serialize)]
pub struct InitReport {
    pub root: PathBuf,
    pub name: String,
    pub created: Vec<String>,
}

/// Creates a project in `dir` (made if missing). Refuses to touch an existing project.
pub async fn init(dir: &Path, name: Option<&str>) -> Result<InitReport> {
    init_with(dir, name, &Template::Plain).await
}

/// What `gyre init` writes into gyre.toml.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// The project and commented examples of every section.
    Plain,
    /// The whole loop, working once the dataset is added: a first model, a gate, serving
    /// with a canary, monitoring, and a retrain on decay.
    Loop { dataset: String, target: String },
}

/// [`init`] with a template for gyre.toml.
pub async fn init_with(dir: &Path, name: Option<&str>, template: &Template) -> Result<InitReport> {
    let root = std::path::absolute(dir).map_err(OpsError::io("resolving the folder"))?;
    for marker in [root.join(PROJECT_FILE), root.join(STATE_DIR)] {
        if marker.exists() {
            return Err(OpsError::AlreadyAProject { dir: root, marker });
        }
    }
    let name = match name {
        Some(n) => n.to_string(),
        None => root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "project".into()),
    };
    if name.is_empty() || name.contains(['"', '\\', '\n']) {
        return Err(OpsError::Invalid(format!(
            "invalid project name `{name}`: no quotes, backslashes or line breaks"
        )));
    }
    let io = |what: &Path| {
        let context = format!("creating {}", what.display());
        move |e: std::io::Error| OpsError::Io { context, source: e }
    };
    let mut created = Vec::new();
    for (folder, purpose) in LAYOUT {
        let path = root.join(folder);
        std::fs::create_dir_all(&path).map_err(io(&path))?;
        let keep = path.join(".gitkeep");
        if !keep.exists() {
            std::fs::write(&keep, format!("# {folder}: {purpose}\n")).map_err(io(&keep))?;
        }
        created.push(format!("{folder}/"));
    }
    let spec_path = root.join(PROJECT_FILE);
    let text = match template {
        Template::Plain => project_file(&name),
        Template::Loop { dataset, target } => {
            for (what, v) in [("dataset", dataset), ("target", target)] {
                if v.is_empty() || v.contains(['"', '\\', '\n']) {
                    return Err(OpsError::Invalid(format!(
                        "invalid {what} name `{v}`: no quotes, backslashes or line breaks"
                    )));
                }
            }
            loop_file(&name, dataset, target)
        }
    };
    std::fs::write(&spec_path, text).map_err(io(&spec_path))?;
    created.push(PROJECT_FILE.into());

    let ignore = root.join(".gitignore");
    let block = GITIGNORE;
    let existing = std::fs::read_to_string(&ignore).unwrap_or_default();
    if !existing.contains("/.gyre/") {
        let sep = if existing.is_empty() || existing.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        std::fs::write(&ignore, format!("{existing}{sep}{block}")).map_err(io(&ignore))?;
        created.push(".gitignore".into());
    }

    // Open once so the state folder, the database and its schema exist.
    let project = Project::open(&root).await?;
    drop(project);
    created.push(format!("{STATE_DIR}/"));
    Ok(InitReport {
        root,
        name,
        created,
    })
}

const GITIGNORE: &str = "\
# gyre: the state folder holds the metadata database and the object store.
/.gyre/
# Data is versioned by gyre (`gyre data add`), not by git.
/data/raw/*
/data/processed/*
!/data/*/.gitkeep
";

/// The loop template: every knob with its default and what it does.
fn loop_file(name: &str, dataset: &str, target: &str) -> String {
    format!(
        r#"# gyre.toml: the whole loop. A first model is trained, gated and served; every prediction
# is logged; labels join it when they arrive; when quality decays a retrain follows, the gate
# judges the candidate, a canary proves it on live traffic, and it is promoted or rolled back.
#
#   gyre data add {dataset} data/raw/{dataset}.csv     # the data (CSV or Parquet)
#   gyre backtest {dataset} --label-delay 100          # replay it through this loop first
#   gyre run first_gate                                # train, register, gate: champion
#   gyre serve                                         # POST /invocations, then /feedback
#
# Every knob is explained in the README ("The loop").

[project]
name = "{name}"

[model]
dataset = "{dataset}"
task = "classification"
target = "{target}"
# drop = ["id"]                     # columns that must not be features
algorithm = "logistic_regression"   # or random_forest, gradient_boosting; or the online
                                    # adaptive_random_forest, hoeffding_adaptive_tree and
                                    # online_logistic_regression, which learn every label
                                    # as it arrives
split = {{ by = "order", test = 0.2 }}  # rows are a stream: test on the latest
threshold = "f1"                    # two classes: the cutoff with the best F1 on the latest
                                    # rows, re-tuned at every retrain, so a moving base rate
                                    # is followed (0.682 -> 0.762 mean F1 on Elec2);
                                    # an online model re-tunes it as it learns

[gate]                              # what a version must show to serve
min = {{ accuracy = 0.6 }}

[serve]
model = "{name}"
canary = {{ share = 0.2 }}           # a candidate answers this share of requests

[monitor]
model = "{name}"
window = {{ labels = 500 }}          # quality is judged per 500 labelled predictions
relative = {{ f1 = 0.9 }}            # breach below 90 % of the F1 the version showed in its test
# min = {{ f1 = 0.6 }}               # or an absolute floor
# positive = "yes"                  # the positive class (default: the second of two, sorted)

[loop]
cooldown = {{ windows = 2 }}         # a breach that persists fires again after two windows
retrain = {{ min_labels = 200, min_positives = 10, data = "auto", rows = 5000 }}
canary = {{ min_labels = 200, min_positives = 10, confidence = 0.9 }}
tolerance = 0.0                     # how much worse than the champion a candidate may be
# detect = {{ method = "page_hinkley" }}   # retrain on a change in the error rate too
# snapshot = {{ labels = 1000 }}    # an online model's learnt state goes on canary this often

# The first model: train, register, gate, and make it champion.
[steps.first]
uses = "train"

[steps.first_register]
uses = "register"
model = "first"
name = "{name}"

[steps.first_gate]
uses = "gate"
model = "first_register"
promote = "champion"

# A retrain: the labelled traffic (after the base data), trained, registered, gated; the loop
# makes a passing candidate `challenger` and the canary decides.
[steps.traffic]
uses = "traffic"
name = "{name}"
dataset = "live"
base = "{dataset}"
rows = 5000

[steps.retrain]
uses = "train"
dataset = "live"

[steps.register]
uses = "register"
model = "retrain"
name = "{name}"

[steps.gate]
uses = "gate"
model = "register"

[[trigger]]
name = "decay"
on = "monitor"                      # any breach of [monitor]'s rules
run = "gate"
"#
    )
}

fn project_file(name: &str) -> String {
    format!(
        r#"# gyre.toml: what this project is. Flags only say how to run it now.
# Precedence: command-line flag > GYRE_* environment variable > this file > defaults.

[project]
name = "{name}"

# Where metadata lives. Default: SQLite at .gyre/gyre.db (embedded, nothing to run).
# A team shares PostgreSQL instead (GYRE_STORE_URL overrides this line):
[store]
# url = "postgres://gyre@db.internal:5432/gyre"

# Datasets: `gyre data add NAME` reads its path and CSV options from here, so the
# command is the same every time. Flags of `gyre data add` override these keys.
#
# [datasets.adult]
# path = "data/raw/adult.data"
# header = false                  # no header line: names come from `columns`
# columns = ["age", "workclass", "fnlwgt", "education", "education-num",
#            "marital-status", "occupation", "relationship", "race", "sex",
#            "capital-gain", "capital-loss", "hours-per-week", "native-country", "income"]
# delimiter = ","
# quote = '"'
# null_values = ["?"]             # default: "", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"
# skip_initial_space = true       # "a, b" reads as "a" and "b"
"#
    )
}
