//! `gyre init` and `gyre data …` through the real binary, on real files.

mod common;

use common::{Project, Run, gyre_bin, shared};
use std::fs;

fn column<'a>(show: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    show["profile"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

#[test]
fn init_creates_the_layout_and_refuses_to_overwrite() {
    let p = Project::init();
    for dir in [
        "data/raw",
        "data/processed",
        "steps",
        "models",
        "notebooks",
        "tests",
        "deploy",
        "docs",
        ".gyre",
    ] {
        assert!(p.root().join(dir).is_dir(), "{dir}");
    }
    let toml = fs::read_to_string(p.root().join("gyre.toml")).unwrap();
    assert!(
        toml.contains("name = \"t\"") && toml.contains("# "),
        "commented gyre.toml"
    );
    assert!(
        fs::read_to_string(p.root().join(".gitignore"))
            .unwrap()
            .contains("/.gyre/")
    );
    let again = p.gyre(&["init"]);
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("already holds a gyre project"),
        "{}",
        again.stderr
    );
    assert_eq!(
        fs::read_to_string(p.root().join("gyre.toml")).unwrap(),
        toml,
        "untouched"
    );
}

#[test]
fn adult_and_elec2_profiles() {
    let p = Project::init();
    let added = p.add_adult("adult").json();
    assert_eq!(added["status"], "created");
    assert_eq!(added["version"]["rows"], 32_561);
    let show = p.ok(&["data", "show", "adult", "--json"]).json();
    assert_eq!(column(&show, "workclass")["nulls"], 1_836);
    assert_eq!(column(&show, "age")["type"], "integer");

    let elec = shared("elec2/elec2_first_half.csv");
    p.ok(&["data", "add", "elec2", elec.to_str().unwrap()]);
    let show = p.ok(&["data", "show", "elec2@1", "--json"]).json();
    assert_eq!(show["rows"], 22_656);
    let class = column(&show, "class");
    assert_eq!(class["top_values"][0]["value"], "DOWN");
    assert_eq!(class["top_values"][0]["count"], 12_925);
    assert_eq!(class["top_values"][1]["value"], "UP");
    assert_eq!(class["top_values"][1]["count"], 9_731);

    // The human table is aligned: every row of it has the header's width or less, and the
    // numbers line up on the right edge of their column.
    let table = p.ok(&["data", "show", "elec2"]).stdout;
    assert!(table.contains("22,656 rows × 9 columns"), "{table}");
    let header = table.lines().find(|l| l.starts_with("COLUMN")).unwrap();
    let nulls_end = header.find("NULLS").unwrap() + "NULLS".len();
    for line in table
        .lines()
        .skip_while(|l| !l.starts_with("COLUMN"))
        .skip(1)
    {
        assert_eq!(&line[nulls_end - 1..nulls_end], "0", "{line}");
    }
    let list = p.ok(&["data", "list", "--json"]).json();
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[test]
fn identical_content_creates_no_version_and_versions_resolve() {
    let p = Project::init();
    let elec = shared("elec2/elec2_first_half.csv");
    let raw = p.root().join("data/raw/elec2.csv");
    fs::copy(&elec, &raw).unwrap();
    let first = p
        .ok(&["data", "add", "elec2", "data/raw/elec2.csv", "--json"])
        .json();
    let again = p
        .ok(&["data", "add", "elec2", "data/raw/elec2.csv", "--json"])
        .json();
    assert_eq!(again["status"], "unchanged");
    assert_eq!(again["version"]["id"], first["version"]["id"]);
    let text = p.ok(&["data", "add", "elec2"]).stdout;
    assert!(text.contains("no new version"), "{text}");

    // A second version, from the remembered path.
    let half: String = fs::read_to_string(&elec)
        .unwrap()
        .lines()
        .take(5001)
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&raw, half).unwrap();
    let second = p.ok(&["data", "add", "elec2", "--json"]).json();
    assert_eq!(
        (second["status"].as_str(), second["version"]["seq"].as_u64()),
        (Some("created"), Some(2))
    );
    assert_eq!(second["version"]["rows"], 5_000);

    let log = p.ok(&["data", "log", "elec2", "--json"]).json();
    assert_eq!(log.as_array().unwrap().len(), 2);
    let id1 = first["version"]["id"].as_str().unwrap();
    for r in [
        "elec2@1".to_string(),
        format!("elec2@{}", &id1[..8]),
        format!("elec2@{id1}"),
    ] {
        assert_eq!(
            p.ok(&["data", "show", &r, "--json"]).json()["seq"],
            1,
            "{r}"
        );
    }
    assert_eq!(
        p.ok(&["data", "show", "elec2@latest", "--json"]).json()["seq"],
        2
    );
    let missing = p.gyre(&["data", "show", "elec2@9"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("`elec2@9` not found"),
        "{}",
        missing.stderr
    );

    let diff = p
        .ok(&["data", "diff", "elec2@1", "elec2@2", "--json"])
        .json();
    assert_eq!(diff["diff"]["rows"], serde_json::json!([22_656, 5_000]));
    assert_eq!(diff["files"]["modified"], serde_json::json!(["elec2.csv"]));
    let text = p.ok(&["data", "diff", "elec2@1", "elec2@2"]).stdout;
    assert!(text.contains("rows: 22,656 → 5,000 (-17,656)"), "{text}");
}

#[test]
fn checkout_restores_exact_bytes_and_never_hands_out_corrupt_ones() {
    let p = Project::init();
    let raw = p.root().join("data/raw/elec2.csv");
    fs::copy(shared("elec2/elec2_first_half.csv"), &raw).unwrap();
    let original = fs::read(&raw).unwrap();
    let v = p
        .ok(&["data", "add", "elec2", "data/raw/elec2.csv", "--json"])
        .json();

    // A local edit that no version holds is not overwritten without --force.
    fs::write(&raw, b"day,class\n1,UP\n").unwrap();
    let refused = p.gyre(&["data", "checkout", "elec2"]);
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("no version holds"),
        "{}",
        refused.stderr
    );
    assert_eq!(fs::read(&raw).unwrap(), b"day,class\n1,UP\n");
    p.ok(&["data", "checkout", "elec2", "--force"]);
    assert_eq!(fs::read(&raw).unwrap(), original);
    p.ok(&["data", "checkout", "elec2@1", "restored.csv"]);
    assert_eq!(fs::read(p.root().join("restored.csv")).unwrap(), original);

    // Flip one byte of the stored object: checkout and verify report it, write nothing.
    let hash = v["version"]["id"].as_str().unwrap();
    let show = p
        .ok(&["data", "show", &format!("elec2@{hash}"), "--json"])
        .json();
    let file_hash = show["manifest"]["files"][0]["hash"]
        .as_str()
        .unwrap()
        .to_string();
    p.corrupt_object(&file_hash, 1000);
    let bad = p.gyre(&["data", "checkout", "elec2", "other.csv"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("is corrupt"), "{}", bad.stderr);
    assert!(!p.root().join("other.csv").exists(), "nothing written");
    let verify = p.gyre(&["data", "verify", "--json"]);
    assert_eq!(verify.code, 1);
    assert_eq!(verify.json()[0]["state"], "corrupt");
}

#[test]
fn folders_share_objects_and_status_rehashes_only_what_changed() {
    let p = Project::init();
    let folder = p.root().join("data/raw/parts");
    fs::create_dir_all(folder.join("nested")).unwrap();
    let text = fs::read_to_string(shared("elec2/elec2_first_half.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    for (i, chunk) in rows.chunks(1000).enumerate() {
        let name = if i % 2 == 0 {
            format!("part{i:02}.csv")
        } else {
            format!("nested/part{i:02}.csv")
        };
        let body: String = chunk.iter().map(|l| format!("{l}\n")).collect();
        fs::write(folder.join(name), format!("{header}\n{body}")).unwrap();
    }
    fs::write(folder.join("README.txt"), "not data").unwrap();
    let added = p.gyre(&["data", "add", "parts", "data/raw/parts", "--json"]);
    assert_eq!(added.code, 0, "{}", added.stderr);
    assert!(
        added.stderr.contains("skipped 1 file"),
        "a skip is never silent: {}",
        added.stderr
    );
    let added = added.json();
    assert_eq!(added["version"]["rows"], 22_656);
    assert_eq!(added["files"], 23);
    // The same files under another name are stored once.
    let copy = p
        .ok(&["data", "add", "copy", "data/raw/parts", "--json"])
        .json();
    assert_eq!(copy["objects_stored"], 0);

    let clean = p.ok(&["data", "status", "--json"]).json();
    assert!(
        clean
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "up to date" && s["rehashed"] == 0),
        "{clean}"
    );

    fs::write(folder.join("nested/part01.csv"), format!("{header}\n")).unwrap();
    fs::remove_file(folder.join("part22.csv")).unwrap();
    fs::write(folder.join("extra.csv"), format!("{header}\n")).unwrap();
    let changed = p.gyre(&["data", "status", "--json"]);
    assert_eq!(changed.code, 1, "changes exit 1");
    let s = &changed.json()[1];
    assert_eq!(s["dataset"], "parts");
    assert_eq!(s["state"], "changed");
    assert_eq!(s["modified"], serde_json::json!(["nested/part01.csv"]));
    assert_eq!(s["removed"], serde_json::json!(["part22.csv"]));
    assert_eq!(s["added"], serde_json::json!(["extra.csv"]));
    // Same size trick: rewrite a file with other bytes of the same length.
    let f = folder.join("part00.csv");
    let body = fs::read_to_string(&f).unwrap();
    fs::write(&f, body.replacen("UP", "XX", 1)).unwrap();
    let again = p.gyre(&["data", "status", "--json"]).json();
    // Both datasets track the folder; the one changed file is hashed once between them.
    let rehashed: u64 = again
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rehashed"].as_u64().unwrap())
        .sum();
    assert_eq!(rehashed, 1, "only the file whose mtime changed is hashed");
    assert!(
        again[1]["modified"]
            .as_array()
            .unwrap()
            .contains(&"part00.csv".into())
    );

    // Checkout of the folder version restores it, file by file.
    p.ok(&["data", "checkout", "parts@1", "restored"]);
    let v = p
        .ok(&["data", "add", "restored-check", "restored", "--json"])
        .json();
    assert_eq!(v["version"]["rows"], 22_656);
}

#[test]
fn bad_input_is_named_and_changes_nothing() {
    let p = Project::init();
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "ragged.csv",
            b"a,b\n1,2\n3\n",
            "ragged.csv line 3: expected 2 fields, found 1",
        ),
        (
            "utf8.csv",
            b"a,b\n1,\xff\n",
            "line 2 column 2 (`b`): invalid UTF-8",
        ),
        (
            "quote.csv",
            b"a,b\n1,\"open\n",
            "line 2 column 2: a quoted field is never closed",
        ),
        ("empty.csv", b"", "empty.csv is empty"),
    ];
    for (name, bytes, want) in cases {
        fs::write(p.root().join(name), bytes).unwrap();
        let r = p.gyre(&["data", "add", "bad", name]);
        assert_eq!(r.code, 2, "{name}");
        assert!(r.stderr.contains(want), "{name}: {}", r.stderr);
    }
    let r = p.gyre(&["data", "add", "bad", "no/such/file.csv"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    let r = p.gyre(&["data", "add", "../escape", "ragged.csv"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("invalid dataset name"), "{}", r.stderr);
    assert_eq!(
        p.ok(&["data", "list", "--json"]).json(),
        serde_json::json!([])
    );
    assert_eq!(
        fs::read_dir(p.root().join(".gyre/objects"))
            .unwrap()
            .count(),
        0,
        "no object was stored"
    );
}

#[test]
fn concurrent_processes_lose_nothing() {
    concurrent_adds(&Project::init());
}

#[test]
fn concurrent_processes_lose_nothing_on_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(url) = rt.block_on(gyre_store::contract::fresh_postgres_database("cli")) else {
        return;
    };
    let p = Project::with_store(Some(url));
    concurrent_adds(&p);
}

fn concurrent_adds(p: &Project) {
    let text = fs::read_to_string(shared("iris/iris.csv")).unwrap();
    let n = 6;
    for i in 0..n {
        // Distinct contents: the first i+10 rows.
        let body: String = text
            .lines()
            .take(i + 11)
            .map(|l| format!("{l}\n"))
            .collect();
        fs::write(p.root().join(format!("iris{i}.csv")), body).unwrap();
    }
    let children: Vec<_> = (0..n)
        .map(|i| {
            p.command(&[
                "data",
                "add",
                "iris",
                &format!("iris{i}.csv"),
                "--json",
                "-q",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for c in children {
        let r: Run = c.wait_with_output().unwrap().into();
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let log = p.ok(&["data", "log", "iris", "--json"]).json();
    let mut seqs: Vec<u64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["seq"].as_u64().unwrap())
        .collect();
    let mut rows: Vec<u64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rows"].as_u64().unwrap())
        .collect();
    seqs.sort();
    rows.sort();
    assert_eq!(seqs, (1..=n as u64).collect::<Vec<_>>());
    assert_eq!(rows, (10..10 + n as u64).collect::<Vec<_>>());
    let verify = p.ok(&["data", "verify", "--json"]).json();
    assert_eq!(verify.as_array().unwrap().len(), n);
}

#[test]
fn kill_during_add_leaves_a_consistent_store() {
    let p = Project::init();
    // A file big enough that adding it takes a while.
    let text = fs::read_to_string(shared("elec2/elec2_first_half.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let body: String = lines.map(|l| format!("{l}\n")).collect();
    let mut big = format!("{header}\n");
    for _ in 0..40 {
        big.push_str(&body);
    }
    fs::write(p.root().join("big.csv"), &big).unwrap();
    for delay_ms in [20u64, 80, 200, 400, 800] {
        let mut child = p
            .command(&["data", "add", "big", "big.csv", "-q"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // Whatever happened, the store is consistent: every recorded version's objects are
        // whole, and nothing half-written is visible.
        let verify = p.gyre(&["data", "verify", "--json"]);
        assert_eq!(
            verify.code, 0,
            "after kill at {delay_ms} ms: {}",
            verify.stdout
        );
        for shard in fs::read_dir(p.root().join(".gyre/objects")).unwrap() {
            for obj in fs::read_dir(shard.unwrap().path()).unwrap() {
                let obj = obj.unwrap().path();
                let name: String = obj
                    .iter()
                    .rev()
                    .take(2)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .map(|s| s.to_string_lossy().into_owned())
                    .collect();
                let hash = blake3::hash(&fs::read(&obj).unwrap()).to_hex().to_string();
                assert_eq!(name, hash, "a visible object is always complete");
            }
        }
    }
    let done = p
        .ok(&["data", "add", "big", "big.csv", "--json", "-q"])
        .json();
    assert_eq!(done["version"]["rows"], 22_656 * 40);
    assert_eq!(
        p.ok(&["data", "log", "big", "--json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let _ = gyre_bin();
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["init", "--help"],
        vec!["data", "--help"],
        vec!["data", "add", "--help"],
        vec!["data", "list", "--help"],
        vec!["data", "show", "--help"],
        vec!["data", "diff", "--help"],
        vec!["data", "checkout", "--help"],
        vec!["data", "log", "--help"],
        vec!["data", "status", "--help"],
        vec!["data", "verify", "--help"],
    ] {
        let out = std::process::Command::new(gyre_bin())
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{args:?}"
        );
    }
}

#[test]
fn outside_a_project_says_how_to_start_one() {
    let dir = tempfile::tempdir().unwrap();
    let out: Run = std::process::Command::new(gyre_bin())
        .args(["data", "list"])
        .current_dir(dir.path())
        .output()
        .unwrap()
        .into();
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("no gyre project here") && out.stderr.contains("hint: run `gyre init`"),
        "{}",
        out.stderr
    );
}

#[test]
fn parquet_and_csv_in_one_folder_and_options_from_gyre_toml() {
    let p = Project::init();
    let folder = p.root().join("data/raw/iris");
    fs::create_dir_all(&folder).unwrap();
    fs::copy(shared("iris/iris.csv"), folder.join("a.csv")).unwrap();
    fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../gyre-data/tests/fixtures/iris.parquet"),
        folder.join("b.parquet"),
    )
    .unwrap();
    let v = p
        .ok(&["data", "add", "iris", "data/raw/iris", "--json"])
        .json();
    assert_eq!(v["version"]["rows"], 300);
    let show = p.ok(&["data", "show", "iris", "--json"]).json();
    assert_eq!(column(&show, "target_name")["top_values"][0]["count"], 100);
    assert_eq!(column(&show, "petal_length_cm")["numeric"]["max"], 6.9);

    // Reading options from gyre.toml: `gyre data add adult` needs no flags.
    fs::copy(
        shared("adult/adult.data"),
        p.root().join("data/raw/adult.data"),
    )
    .unwrap();
    let mut toml = fs::read_to_string(p.root().join("gyre.toml")).unwrap();
    toml.push_str(&format!(
        "\n[datasets.adult]\npath = \"data/raw/adult.data\"\nheader = false\ncolumns = {:?}\nnull_values = [\"?\"]\nskip_initial_space = true\n",
        common::ADULT_COLUMNS.split(',').collect::<Vec<_>>()
    ));
    fs::write(p.root().join("gyre.toml"), toml).unwrap();
    p.ok(&["data", "add", "adult"]);
    let show = p.ok(&["data", "show", "adult", "--json"]).json();
    assert_eq!(column(&show, "workclass")["nulls"], 1_836);
    assert_eq!(show["source"], "data/raw/adult.data");

    // A typo in gyre.toml is an error with its line, not a silently ignored key.
    let mut toml = fs::read_to_string(p.root().join("gyre.toml")).unwrap();
    toml.push_str("skip_inital_space = true\n");
    fs::write(p.root().join("gyre.toml"), toml).unwrap();
    let r = p.gyre(&["data", "list"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("gyre.toml") && r.stderr.contains("skip_inital_space"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_fresh_clone_without_state_starts_an_empty_store() {
    let p = Project::init();
    fs::remove_dir_all(p.root().join(".gyre")).unwrap();
    assert_eq!(
        p.ok(&["data", "list", "--json"]).json(),
        serde_json::json!([])
    );
    assert!(p.root().join(".gyre/gyre.db").is_file());
}

/// Unmounts a test file system when dropped.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk");
    fs::create_dir(&disk).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1200k", "tmpfs"])
        .arg(&disk)
        .stderr(std::process::Stdio::null())
        .status();
    if !matches!(mounted, Ok(s) if s.success()) {
        eprintln!("notice: cannot mount a small tmpfs (needs root); skipping the full-disk test");
        return;
    }
    let _unmount = Mount(disk.clone());
    let init: Run = std::process::Command::new(gyre_bin())
        .args(["init", "--name", "full"])
        .arg(&disk)
        .env_remove("GYRE_STORE_URL")
        .output()
        .unwrap()
        .into();
    assert_eq!(init.code, 0, "{}", init.stderr);
    let run = |args: &[&str]| -> Run {
        std::process::Command::new(gyre_bin())
            .args(args)
            .current_dir(&disk)
            .env_remove("GYRE_STORE_URL")
            .output()
            .unwrap()
            .into()
    };
    // 1.5 MB of data does not fit on a 1.2 MB disk.
    let elec = shared("elec2/elec2_first_half.csv");
    let r = run(&["data", "add", "elec2", elec.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("No space left on device"), "{}", r.stderr);
    assert!(
        r.stderr.contains("elec2_first_half.csv"),
        "names the file: {}",
        r.stderr
    );
    assert_eq!(
        run(&["data", "list", "--json"]).json(),
        serde_json::json!([])
    );
    assert_eq!(fs::read_dir(disk.join(".gyre/objects")).unwrap().count(), 0);
    assert_eq!(
        fs::read_dir(disk.join(".gyre/tmp")).unwrap().count(),
        0,
        "no temporary left"
    );
    // Something small still fits afterwards.
    let r = run(&[
        "data",
        "add",
        "iris",
        shared("iris/iris.csv").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}
