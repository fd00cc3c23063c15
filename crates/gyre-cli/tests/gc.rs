//! `gyre gc` through the real binary: an unreferenced object and a killed writer's temporary
//! file go, within a grace period they stay, a dry run removes nothing, and everything a
//! dataset version, a model, a run or a step result names is still there and still works.

mod common;

use common::Project;
use serde_json::Value;

/// Laid over [`common::INCOME_MODEL`].
const SPEC: &str = r#"

[steps.notes]
run = "echo kept by its step result > notes.txt"
outs = ["notes.txt"]

[steps.train]
uses = "train"
"#;

fn objects(p: &Project) -> usize {
    walk(&p.root().join(".gyre/objects"))
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[test]
fn unreferenced_objects_and_stale_temporary_files_go() {
    let p = Project::init();
    p.add_adult("adult");
    p.append_spec(common::INCOME_MODEL);
    p.append_spec(SPEC);
    p.ok(&["run"]);
    let run = p.train_run(&[]);
    p.ok(&["models", "register", "income", &run]);
    let before = objects(&p);

    // An object nothing names, and a temporary file a killed writer left.
    let stray = b"written, then its writer died before recording it".to_vec();
    let hash = blake3::hash(&stray).to_hex().to_string();
    let dir = p.root().join(".gyre/objects").join(&hash[..2]);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(&hash[2..]), &stray).unwrap();
    let tmp = p.root().join(".gyre/tmp/.tmpKILLED");
    std::fs::write(&tmp, b"half a file").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));

    // Within the grace period (the default, a day) both stay.
    let r: Value = p.ok(&["gc", "--json"]).json();
    assert_eq!(
        (r["removed"].as_u64(), r["kept_young"].as_u64()),
        (Some(0), Some(1)),
        "{r}"
    );
    assert_eq!(r["tmp_files"], 0);
    // A dry run names them and removes nothing.
    let r: Value = p.ok(&["gc", "--grace", "0h", "--dry-run", "--json"]).json();
    assert_eq!(r["removed"], 1, "{r}");
    assert_eq!(r["removed_objects"][0], hash.as_str());
    assert_eq!(r["tmp_files"], 1);
    assert_eq!(r["referenced"].as_u64().unwrap() as usize, before);
    assert!(dir.join(&hash[2..]).exists() && tmp.exists());
    // Then they go, and only they.
    let r: Value = p.ok(&["gc", "--grace", "0h", "--json"]).json();
    assert_eq!(
        (r["removed"].as_u64(), r["tmp_files"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    assert!(!dir.join(&hash[2..]).exists() && !tmp.exists());
    assert_eq!(objects(&p), before);

    // What is referenced still works: every object verifies, the data checks out, the model
    // loads, and a deleted step output is restored from the store, not re-run.
    p.ok(&["data", "verify"]);
    let dest = p.root().join("checked-out");
    p.ok(&["data", "checkout", "adult@1", dest.to_str().unwrap()]);
    p.ok(&["models", "show", "income@1"]);
    std::fs::remove_file(p.root().join("notes.txt")).unwrap();
    let r = p.ok(&["run", "--json"]).json();
    let notes = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "notes")
        .unwrap()
        .clone();
    assert_eq!(notes["state"], "restored", "{r}");
    assert_eq!(
        std::fs::read_to_string(p.root().join("notes.txt")).unwrap(),
        "kept by its step result\n"
    );
    let bad = p.gyre(&["gc", "--grace", "soon"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("--grace `soon`"), "{}", bad.stderr);
}
