//! `gyre push` and `gyre pull` between two checkouts on one PostgreSQL store, their objects
//! local, through a bucket on the S3 server `.ci/run` starts: only missing objects move, a
//! selection moves only its objects, a rotten local copy is refused, an object no side has is
//! named, and a project whose objects are in a bucket is told it needs neither.

mod common;

use common::Project;
use std::collections::BTreeSet;
use std::path::Path;

/// Laid over [`common::INCOME_MODEL`].
const SPEC: &str = r#"

[steps.sample]
run = "mkdir -p sample && head -c 20000000 /dev/urandom > sample/big.bin && echo small > sample/small.txt"
outs = ["sample"]
"#;

/// Every object under a project's `.gyre/objects`, by hash.
fn objects(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(shards) = std::fs::read_dir(root.join(".gyre/objects")) else {
        return out;
    };
    for shard in shards.flatten() {
        for f in std::fs::read_dir(shard.path()).unwrap().flatten() {
            let name = format!(
                "{}{}",
                shard.file_name().to_string_lossy(),
                f.file_name().to_string_lossy()
            );
            // A pulled object is what its name says.
            let bytes = std::fs::read(f.path()).unwrap();
            assert_eq!(blake3::hash(&bytes).to_hex().as_str(), name);
            out.insert(name);
        }
    }
    out
}

#[test]
fn push_and_pull_move_only_what_is_missing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some((url, bucket)) = common::team_stores(&rt, "sync") else {
        return;
    };
    let a = Project::with_store(Some(url.clone()));
    let dataset = a.add_adult("adult").json();
    a.append_spec(common::INCOME_MODEL);
    a.append_spec(SPEC);
    let run = a.train_run(&[]);
    a.ok(&["models", "register", "income", &run]);
    a.ok(&["run", "sample"]);
    let made = objects(a.root());
    let sync = |p: &Project, args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--remote", &bucket, "--json"]);
        p.gyre(&all)
    };

    // A dry run counts; nothing moves.
    let dry = sync(&a, &["push", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let dry = dry.json();
    assert_eq!(dry["direction"], "push");
    assert_eq!(dry["present"], 0);
    let wanted = dry["wanted"].as_u64().unwrap();
    assert!(wanted >= 4, "{dry}");
    assert_eq!(dry["transferred"], wanted);
    assert_eq!(sync(&a, &["push", "--dry-run"]).json()["present"], 0);

    let pushed = sync(&a, &["push"]).json();
    assert_eq!(pushed["transferred"], wanted, "{pushed}");
    assert!(pushed["bytes"].as_u64().unwrap() > 20_000_000);
    let again = sync(&a, &["push"]).json();
    assert_eq!(
        (again["present"].as_u64(), again["transferred"].as_u64()),
        (Some(wanted), Some(0)),
        "a second push moves nothing: {again}"
    );

    // Another machine pulls a dataset version only, then the rest.
    let b = a.checkout();
    let version = format!("adult@{}", dataset["version"]["seq"].as_u64().unwrap());
    let one = sync(&b, &["pull", "--dataset", &version]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    let one = one.json();
    assert_eq!(one["transferred"], one["wanted"]);
    let first = objects(b.root());
    assert_eq!(first.len() as u64, one["wanted"].as_u64().unwrap());
    let model = sync(&b, &["pull", "--model", "income@1"]).json();
    assert_eq!(model["wanted"], 1, "{model}");
    assert_eq!(model["transferred"], 1);
    let rest = sync(&b, &["pull"]).json();
    assert_eq!(rest["present"].as_u64().unwrap(), first.len() as u64 + 1);
    let pulled = objects(b.root());
    assert!(pulled.is_subset(&made));
    assert_eq!(pulled.len() as u64, wanted);
    // What was pulled serves its purpose: the step is restored, not run again.
    let status = b.gyre(&["status", "--json"]).json();
    assert_eq!(status[0]["step"], "sample", "{status}");
    assert_eq!(status[0]["restorable"], true, "{status}");

    // A local copy that rotted is refused, and the bucket never shows it.
    let c = a.checkout();
    let fresh = format!("{bucket}-rot");
    let big = made
        .iter()
        .find(|h| {
            std::fs::metadata(a.root().join(".gyre/objects").join(&h[..2]).join(&h[2..]))
                .unwrap()
                .len()
                == 20_000_000
        })
        .unwrap()
        .clone();
    a.corrupt_object(&big, 12_345_678);
    let rot = a.gyre(&["push", "--steps", "--remote", &fresh]);
    assert_eq!(rot.code, 2, "{}", rot.stderr);
    assert!(
        rot.stderr.contains(&format!("object {big} is corrupt")),
        "{}",
        rot.stderr
    );
    let there = c.gyre(&["pull", "--steps", "--remote", &fresh, "--json"]);
    assert_eq!(there.code, 1, "{}", there.stderr);
    assert_eq!(
        there.json()["unavailable"],
        serde_json::json!([big]),
        "the rotten object is not in the bucket"
    );
    assert!(!objects(c.root()).contains(&big));

    // An object only one machine has, unpushed: pull names it and exits 1.
    b.ok(&[
        "data",
        "add",
        "extra",
        common::shared("iris/iris.csv").to_str().unwrap(),
    ]);
    let missing = sync(&c, &["pull", "--dataset", "extra"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("on neither side"),
        "{}",
        missing.stderr
    );
    assert_eq!(missing.json()["unavailable"].as_array().unwrap().len(), 1);

    // A project whose objects live in a bucket needs neither; one with no bucket is told how.
    let shared = Project::with_stores(Some(url.clone()), Some(bucket.clone()));
    let r = shared.gyre(&["push"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("already live in"), "{}", r.stderr);
    let r = c.gyre(&["pull"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("[store] remote"), "{}", r.stderr);
}
