//! Black-box helpers: run the real `gyre` binary in a temporary project.

#![allow(dead_code)]

pub mod browser;
pub mod server;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const ADULT_COLUMNS: &str = "age,workclass,fnlwgt,education,education-num,marital-status,occupation,relationship,race,sex,capital-gain,capital-loss,hours-per-week,native-country,income";

/// The `[model]` most tests train: income on the Adult census, a logistic regression, every
/// fifth row held out.
pub const INCOME_MODEL: &str = r#"
[model]
dataset = "adult"
task = "binary"
target = "income"
algorithm = "logistic_regression"
split = { by = "rule", every = 5, index = 4 }
"#;

/// Fresh stores for a team test: a PostgreSQL database and a bucket prefix, or `None` (with
/// a printed notice) when `GYRE_TEST_POSTGRES_URL` or `GYRE_TEST_S3_BUCKET` is not set.
pub fn team_stores(rt: &tokio::runtime::Runtime, tag: &str) -> Option<(String, String)> {
    let url = rt.block_on(gyre_store::contract::fresh_postgres_database(tag))?;
    let bucket = gyre_store::contract::fresh_s3_prefix(tag)?;
    Some((url, bucket))
}

pub fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel)
}

pub struct Project {
    pub dir: tempfile::TempDir,
    pub store_url: Option<String>,
    /// `GYRE_OBJECTS_URL`: objects in a bucket (the `AWS_*` variables of the test's own
    /// environment reach the server).
    pub objects_url: Option<String>,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

pub fn gyre_bin() -> &'static str {
    env!("CARGO_BIN_EXE_gyre")
}

impl Project {
    /// `gyre init` in a fresh temporary folder, on SQLite.
    pub fn init() -> Project {
        Self::with_store(None)
    }

    pub fn with_store(store_url: Option<String>) -> Project {
        Self::with_stores(store_url, None)
    }

    /// `gyre init` with a metadata store and an object store (`s3://…`) shared with others.
    pub fn with_stores(store_url: Option<String>, objects_url: Option<String>) -> Project {
        let p = Project {
            dir: tempfile::tempdir().unwrap(),
            store_url,
            objects_url,
        };
        let r = p.gyre(&["init", "--name", "t"]);
        assert_eq!(r.code, 0, "init failed: {}", r.stderr);
        p
    }

    /// Another machine's checkout of this project: its gyre.toml and data folder copied to
    /// a fresh folder (no `.gyre/`), on the same stores.
    pub fn checkout(&self) -> Project {
        let p = Project {
            dir: tempfile::tempdir().unwrap(),
            store_url: self.store_url.clone(),
            objects_url: self.objects_url.clone(),
        };
        std::fs::copy(self.root().join("gyre.toml"), p.root().join("gyre.toml")).unwrap();
        p
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(gyre_bin());
        c.args(args)
            .current_dir(self.root())
            .env("GYRE_USER", "tester")
            .env_remove("GYRE_STORE_URL")
            .env_remove("GYRE_OBJECTS_URL")
            .env_remove("GYRE_REMOTE_URL");
        if let Some(url) = &self.store_url {
            c.env("GYRE_STORE_URL", url);
        }
        if let Some(url) = &self.objects_url {
            c.env("GYRE_OBJECTS_URL", url);
        }
        c
    }

    pub fn gyre(&self, args: &[&str]) -> Run {
        self.command(args).output().unwrap().into()
    }

    /// `gyre train --json ARGS`, required to succeed; the run's id.
    pub fn train_run(&self, args: &[&str]) -> String {
        let mut all = vec!["train", "--json"];
        all.extend(args);
        self.ok(&all).json()["run"]
            .as_str()
            .expect("train --json names its run")
            .to_string()
    }

    /// Runs and requires success.
    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.gyre(args);
        assert_eq!(
            r.code, 0,
            "gyre {args:?} failed:\n{}\n{}",
            r.stdout, r.stderr
        );
        r
    }

    /// Flips one bit of a stored object's byte `at` (objects are read-only; this makes it
    /// writable first), as a disk fault or a tamperer would. Returns the object's path.
    pub fn corrupt_object(&self, hash: &str, at: usize) -> std::path::PathBuf {
        let obj = self
            .root()
            .join(".gyre/objects")
            .join(&hash[..2])
            .join(&hash[2..]);
        let mut perms = std::fs::metadata(&obj).unwrap().permissions();
        assert!(perms.readonly(), "objects are read-only");
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&obj, perms).unwrap();
        let mut bytes = std::fs::read(&obj).unwrap();
        bytes[at] ^= 0x01;
        std::fs::write(&obj, bytes).unwrap();
        obj
    }

    /// Appends TOML to the project's gyre.toml.
    pub fn append_spec(&self, text: &str) {
        let path = self.root().join("gyre.toml");
        let mut s = std::fs::read_to_string(&path).unwrap();
        s.push_str(text);
        std::fs::write(path, s).unwrap();
    }

    /// A new API token's text, by the CLI.
    pub fn token(&self, role: &str, name: &str) -> String {
        self.ok(&["tokens", "create", "--role", role, "--name", name])
            .stdout
            .trim()
            .to_string()
    }

    pub fn add_adult(&self, name: &str) -> Run {
        let path = shared("adult/adult.data");
        self.ok(&[
            "data",
            "add",
            name,
            path.to_str().unwrap(),
            "--no-header",
            "--columns",
            ADULT_COLUMNS,
            "--null",
            "?",
            "--skip-initial-space",
            "--json",
        ])
    }
}
