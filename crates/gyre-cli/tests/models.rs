//! `gyre models …` through the real binary: registering, aliases with their audit trail,
//! rollback, and the gate's verdicts (pass, fail, forced).

mod common;

use common::Project;

const SPEC: &str = r#"
[model]
dataset = "adult"
task = "binary"
target = "income"
algorithm = "gradient_boosting"
params = { iterations = 40 }
split = { by = "rule", every = 5, index = 4 }
slices = { women = "sex = 'Female'" }

[gate]
min = { accuracy = 0.80 }
max = { log_loss = 0.6 }
slices = { women = { accuracy = 0.85 } }
max_size_bytes = 50000000
max_p99_ms = 50.0
dataset = "adult"
beat_champion = { metric = "roc_auc", margin = 0.0 }
"#;

fn project() -> Project {
    let p = Project::init();
    p.add_adult("adult");
    p.append_spec(SPEC);
    p
}

fn train(p: &Project, sets: &[&str]) -> String {
    let args: Vec<&str> = sets.iter().flat_map(|s| ["--set", *s]).collect();
    p.train_run(&args)
}

#[test]
fn registry_gate_aliases_and_rollback() {
    let p = project();
    let good = train(&p, &[]);
    let weak = train(
        &p,
        &[
            "model.algorithm=\"random_forest\"",
            "model.params={trees=3, max_depth=2}",
        ],
    );

    let r = p
        .ok(&["models", "register", "income", &good, "--json"])
        .json();
    assert_eq!(r["version"]["version"], 1);
    assert_eq!(r["created"], true);
    let again = p
        .ok(&["models", "register", "income", &good, "--json"])
        .json();
    assert_eq!(
        again["created"], false,
        "the same model file is the same version"
    );
    p.ok(&["models", "register", "income", &weak]);
    let r = p.gyre(&["models", "register", "../etc", &weak]);
    assert_eq!(r.code, 2);

    // No verdict yet: champion needs one.
    let r = p.gyre(&["models", "alias", "income@1", "champion"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no passing verdict"), "{}", r.stderr);

    // v1 passes every check (no champion to beat yet).
    let v = p.ok(&["models", "validate", "income@1", "--json"]).json();
    assert_eq!(v["passed"], true, "{v}");
    let names: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    for want in [
        "accuracy ≥ min",
        "log_loss ≤ max",
        "slice women: accuracy",
        "model size",
        "beats champion on roc_auc by 0",
        "single-row p99 latency",
    ] {
        assert!(names.contains(&want), "no check {want}: {names:?}");
    }
    p.ok(&[
        "models",
        "alias",
        "income@1",
        "champion",
        "--reason",
        "first release",
    ]);

    // v2 (a three-tree forest) fails against the champion and keeps what it found.
    let r = p.gyre(&["models", "validate", "income@2", "--json"]);
    assert_eq!(r.code, 1, "a failed verdict exits 1");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["passed"], false);
    let beat = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"].as_str().unwrap().starts_with("beats champion"))
        .unwrap();
    assert_eq!(beat["passed"], false, "{beat}");
    assert!(
        beat["expected"].as_str().unwrap().contains("champion v1"),
        "{beat}"
    );
    let versions = p.ok(&["models", "versions", "income", "--json"]).json();
    assert_eq!(versions[0]["verdict"], true);
    assert_eq!(versions[1]["verdict"], false);
    assert_eq!(versions[0]["aliases"], serde_json::json!(["champion"]));

    // Promoting it anyway needs --force, and the audit says so.
    let r = p.gyre(&["models", "alias", "income@2", "champion"]);
    assert_eq!(r.code, 2);
    let e = p
        .ok(&[
            "models", "alias", "income@2", "champion", "--force", "--reason", "hotfix", "--json",
        ])
        .json();
    assert_eq!(
        (e["from"].as_i64(), e["to"].as_i64(), e["forced"].as_bool()),
        (Some(1), Some(2), Some(true))
    );
    // Other aliases need no verdict.
    p.ok(&["models", "alias", "income@2", "challenger"]);
    let shown = p
        .ok(&["models", "show", "income@champion", "--json"])
        .json();
    assert_eq!(shown["version"], 2);

    // Rollback: champion goes back to v1; a second rollback has nowhere to go.
    let e = p
        .ok(&[
            "models", "rollback", "income", "--reason", "worse", "--json",
        ])
        .json();
    assert_eq!((e["from"].as_i64(), e["to"].as_i64()), (Some(2), Some(1)));
    let r = p.gyre(&["models", "rollback", "income"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no earlier champion"), "{}", r.stderr);

    let h = p.ok(&["models", "history", "income", "--json"]).json();
    type Move = (String, Option<i64>, Option<i64>, bool, String);
    let moves: Vec<Move> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["alias"].as_str().unwrap().to_string(),
                e["from"].as_i64(),
                e["to"].as_i64(),
                e["forced"].as_bool().unwrap(),
                e["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        vec![
            (
                "champion".into(),
                None,
                Some(1),
                false,
                "first release".into()
            ),
            ("champion".into(), Some(1), Some(2), true, "hotfix".into()),
            ("challenger".into(), None, Some(2), false, "".into()),
            (
                "champion".into(),
                Some(2),
                Some(1),
                false,
                "rollback: worse".into()
            ),
        ]
    );
    assert!(h[0]["user"] == "tester");
    assert_eq!(h[3]["kind"], "rollback");
    assert_eq!(h[1]["kind"], "move");
    let list = p.ok(&["models", "list", "--json"]).json();
    assert_eq!(list[0]["versions"], 2);

    // A move whose free-text reason starts with "rollback" is still a move: the next rollback
    // undoes it (it used to be skipped as if it were a rollback, and the rollback failed).
    p.ok(&["models", "alias", "income@2", "champion", "--force"]);
    p.ok(&[
        "models",
        "alias",
        "income@1",
        "champion",
        "--reason",
        "rollback of v2, by hand",
    ]);
    let e = p.ok(&["models", "rollback", "income", "--json"]).json();
    assert_eq!((e["from"].as_i64(), e["to"].as_i64()), (Some(1), Some(2)));
    assert_eq!(e["kind"], "rollback");

    // The delivery report reads the same audit trail. Champion's moves, in order: →1, 1→2
    // (forced), rollback 2→1, 1→2 (forced), 2→1 by hand, rollback 1→2. Rollbacks are not
    // deployments: four promotions, of v1, v2, v2 and v1. A promotion failed when the next
    // move rolled it back: the first v2 and the second v1, so 2 of 4.
    let d = p
        .ok(&["report", "delivery", "--model", "income", "--json"])
        .json();
    let versions: Vec<i64> = d["promotions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 2, 1], "{d}");
    assert_eq!(d["deployments"], 4);
    assert_eq!(d["change_failure_rate"], 0.5, "{d}");
    assert!(
        d["lead_time"]["n"].as_u64().unwrap() == 4,
        "every version's run is known: {d}"
    );
    let table = p.ok(&["report", "delivery", "--model", "income"]).stdout;
    assert!(table.contains("deployment frequency"), "{table}");
    let none = p.gyre(&["report", "delivery", "--model", "nothing"]);
    assert_eq!(none.code, 2, "{}", none.stderr);
    let bad = p.gyre(&["report", "delivery", "--model", "income", "--since", "soon"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("--since `soon`"), "{}", bad.stderr);
}
