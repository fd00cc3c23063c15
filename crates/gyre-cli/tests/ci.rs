//! `gyre ci init github|gitlab`: the workflows it writes are valid by GitHub's and GitLab's
//! published JSON schemas (checked with the real `check-jsonschema`, which carries both), name
//! the project's model and datasets, and count as CI for `gyre check`.
//!
//! The validator comes from the test virtual environment `.ci/run` makes (the directory of
//! `GYRE_TEST_MLFLOW_PYTHON`); without it the schema checks are skipped with a notice.

mod common;

use common::Project;
use std::path::{Path, PathBuf};
use std::process::Command;

fn validator() -> Option<PathBuf> {
    let python = std::env::var_os("GYRE_TEST_MLFLOW_PYTHON")?;
    let exe = Path::new(&python).parent()?.join("check-jsonschema");
    exe.exists().then_some(exe)
}

/// Whether `file` is valid by the vendored `schema`, with the validator's words.
fn valid(exe: &Path, schema: &str, file: &Path) -> (bool, String) {
    let o = Command::new(exe)
        .args(["--builtin-schema", schema])
        .arg(file)
        .output()
        .unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn the_workflows_are_valid_and_name_the_project() {
    let p = Project::init();
    p.add_adult("adult");
    p.append_spec(
        r#"
[model]
dataset = "adult"
task = "binary"
target = "income"
algorithm = "logistic_regression"

[serve]
model = "income"

[steps.train]
uses = "train"
"#,
    );
    p.ok(&["data", "schema", "adult"]);
    let gh = p
        .ok(&["ci", "init", "github", "--min-score", "1.5", "--json"])
        .json();
    assert_eq!(gh["path"], ".github/workflows/gyre.yml");
    assert_eq!(gh["model"], "income");
    assert_eq!(gh["datasets"], serde_json::json!(["adult"]));
    p.ok(&["ci", "init", "gitlab"]);
    let github = p.root().join(".github/workflows/gyre.yml");
    let gitlab = p.root().join(".gitlab-ci.yml");
    let text = std::fs::read_to_string(&github).unwrap();
    for needle in [
        "gyre data validate adult",
        "gyre run",
        "gyre check --markdown --junit ml-test-score.xml --min-score 1.5",
        "environment: production",
        "gyre models alias income@staging champion",
    ] {
        assert!(text.contains(needle), "{needle}:\n{text}");
    }
    let text = std::fs::read_to_string(&gitlab).unwrap();
    assert!(text.contains("when: manual") && text.contains("junit: ml-test-score.xml"));

    // An existing workflow is kept unless --force.
    let again = p.gyre(&["ci", "init", "github"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    p.ok(&["ci", "init", "github", "--force"]);
    assert_eq!(p.gyre(&["ci", "init", "jenkins"]).code, 2);

    // `gyre check` sees the pipeline run in CI.
    let score = p.ok(&["check", "--json"]).json();
    let infra3 = score["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "infra.3")
        .unwrap()
        .clone();
    assert_eq!(infra3["how"], "automated", "{infra3}");

    let Some(exe) = validator() else {
        eprintln!(
            "skipping the schema checks: no check-jsonschema beside GYRE_TEST_MLFLOW_PYTHON \
             (`pip install check-jsonschema`; .ci/run installs it)"
        );
        return;
    };
    for (schema, file) in [
        ("vendor.github-workflows", &github),
        ("vendor.gitlab-ci", &gitlab),
    ] {
        let (ok, said) = valid(&exe, schema, file);
        assert!(ok, "{}: {said}", file.display());
    }
    // With [environments], the deploy steps promote through them (their requirements hold).
    p.append_spec(
        "\n[environments.staging]\nrequires = { verdict = true }\n\n[environments.production]\nalias = \"champion\"\nfrom = \"staging\"\nrequires = { verdict = true, approvals = 1 }\n",
    );
    p.ok(&["ci", "init", "github", "--force"]);
    p.ok(&["ci", "init", "gitlab", "--force"]);
    for file in [&github, &gitlab] {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            text.contains("--to staging")
                && text.contains("gyre promote income@staging --to production"),
            "{text}"
        );
    }
    for (schema, file) in [
        ("vendor.github-workflows", &github),
        ("vendor.gitlab-ci", &gitlab),
    ] {
        let (ok, said) = valid(&exe, schema, file);
        assert!(ok, "{}: {said}", file.display());
    }
    // The validator does reject a broken workflow, so the checks above can fail.
    let broken = p.root().join("broken.yml");
    std::fs::write(
        &broken,
        std::fs::read_to_string(&github)
            .unwrap()
            .replace("runs-on:", "runs_on:"),
    )
    .unwrap();
    let (ok, said) = valid(&exe, "vendor.github-workflows", &broken);
    assert!(!ok, "a job without runs-on passed: {said}");
}
