//! `gyre promote` through `[environments]`: a version enters staging with a verdict, and
//! production only from staging, after its time there, with no breach, and with an approval by
//! a token of the right role; every refusal names each unmet requirement, and the move is
//! audited with what was checked.

mod common;

use common::Project;
use common::server::Server;

/// Laid over [`common::INCOME_MODEL`].
const SPEC: &str = r#"

[gate]
min = { accuracy = 0.8 }

[environments.staging]
requires = { verdict = true }

[environments.production]
alias = "champion"
from = "staging"
requires = { verdict = true, hours = 1000, no_breach = true, approvals = 1 }
"#;

#[test]
fn production_takes_what_the_environment_requires() {
    let p = Project::init();
    p.add_adult("adult");
    p.append_spec(common::INCOME_MODEL);
    p.append_spec(SPEC);
    let run = p.train_run(&[]);
    p.ok(&["models", "register", "income", &run]);

    // No verdict yet: staging refuses, and says why.
    let r = p.gyre(&["promote", "income@1", "--to", "staging"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("gate verdict") && r.stdout.contains("NOT MET"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("may not enter staging"), "{}", r.stderr);
    p.ok(&["models", "validate", "income@1"]);
    let r = p
        .ok(&["promote", "income@1", "--to", "staging", "--json"])
        .json();
    assert_eq!(r["event"]["alias"], "staging");
    assert_eq!(r["event"]["to"], 1);

    // Production: from staging, but not yet 1000 h there and no approval.
    let r = p.gyre(&["promote", "income@1", "--to", "production", "--json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let checked = r.json();
    let met = |name: &str| {
        checked["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["requirement"] == name)
            .unwrap_or_else(|| panic!("{name}: {checked}"))["met"]
            .as_bool()
            .unwrap()
    };
    assert!(met("gate verdict") && met("in staging") && met("no breach in staging"));
    assert!(!met("time in staging") && !met("approvals"));
    assert!(checked["event"].is_null());
    let aliases = p.ok(&["models", "show", "income@1", "--json"]).json();
    assert_eq!(
        aliases["aliases"],
        serde_json::json!(["staging"]),
        "nothing moved"
    );

    // Approvals are made with a token of the environment's approver role.
    let none = p.gyre(&["approve", "income@1", "--for", "production"]);
    assert_eq!(none.code, 2);
    assert!(none.stderr.contains("GYRE_TOKEN"), "{}", none.stderr);
    let viewer = p.token("viewer", "val");
    let weak = p
        .command(&["approve", "income@1", "--for", "production"])
        .env("GYRE_TOKEN", &viewer)
        .output()
        .unwrap();
    assert_eq!(weak.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&weak.stderr).contains("need editor or above"));
    let editor = p.token("editor", "eve");
    let ok = p
        .command(&[
            "approve",
            "income@1",
            "--for",
            "production",
            "--note",
            "looked at slices",
        ])
        .env("GYRE_TOKEN", &editor)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    // With the time requirement met (here: lowered), production takes it, audited.
    let spec = std::fs::read_to_string(p.root().join("gyre.toml")).unwrap();
    std::fs::write(
        p.root().join("gyre.toml"),
        spec.replace("hours = 1000", "hours = 0"),
    )
    .unwrap();
    let dry = p
        .ok(&[
            "promote",
            "income@1",
            "--to",
            "production",
            "--dry-run",
            "--json",
        ])
        .json();
    assert!(dry["event"].is_null(), "a dry run moves nothing");
    let r = p
        .ok(&[
            "promote",
            "income@1",
            "--to",
            "production",
            "--reason",
            "release 1",
        ])
        .stdout;
    assert!(r.contains("champion: none → income@1"), "{r}");
    let history = p.ok(&["models", "history", "income", "--json"]).json();
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["alias"], "champion");
    let reason = last["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("promoted to production (")
            && reason.contains("approvals token:eve")
            && reason.ends_with(": release 1"),
        "{reason}"
    );

    // The environment's servers follow: a server on champion, a second version promoted
    // through staging and production, and `promote` waits until the server serves it.
    let server = Server::start(&p, "income", &[]);
    let spec = std::fs::read_to_string(p.root().join("gyre.toml")).unwrap();
    std::fs::write(
        p.root().join("gyre.toml"),
        spec.replace(
            "from = \"staging\"",
            &format!("from = \"staging\"\nservers = [\"{}\"]", server.base),
        ),
    )
    .unwrap();
    let run = p.train_run(&["--set", "model.algorithm=decision_tree"]);
    p.ok(&["models", "register", "income", &run]);
    p.ok(&["models", "validate", "income@2"]);
    p.ok(&["promote", "income@2", "--to", "staging"]);
    let ok = p
        .command(&["approve", "income@2", "--for", "production"])
        .env("GYRE_TOKEN", &editor)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let r = p
        .ok(&["promote", "income@2", "--to", "production", "--json"])
        .json();
    assert_eq!(r["event"]["to"], 2, "{r}");
    assert_eq!(r["servers"][0]["serves"], "income@2", "{r}");
    assert_eq!(r["servers"][0]["follows"], true);
    // A server that is not there fails the check, after the move.
    let spec = std::fs::read_to_string(p.root().join("gyre.toml")).unwrap();
    std::fs::write(
        p.root().join("gyre.toml"),
        spec.replace(&server.base, "http://127.0.0.1:9"),
    )
    .unwrap();
    let r = p.gyre(&["promote", "income@1", "--to", "staging", "--wait", "1"]);
    assert_eq!(r.code, 0, "staging lists no servers: {}", r.stderr);
    let ok = p
        .command(&["approve", "income@1", "--for", "production"])
        .env("GYRE_TOKEN", &editor)
        .output()
        .unwrap();
    assert!(ok.status.success());
    let r = p.gyre(&["promote", "income@1", "--to", "production", "--wait", "1"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("did not answer /ready"), "{}", r.stdout);
    assert!(
        r.stderr
            .contains("not every server of production serves it"),
        "{}",
        r.stderr
    );
    server.stop();

    let r = p.gyre(&["promote", "income@1", "--to", "qa"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("`production`, `staging`"), "{}", r.stderr);
}
