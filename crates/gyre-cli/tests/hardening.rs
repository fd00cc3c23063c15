//! Findings of the attack review (issue 15) that a user meets through the CLI, each with the
//! command that showed it.

mod common;

use common::Project;
use std::fs;

/// `1e155` used to become JSON null in the profile (its square overflows), and from then on
/// every command that read the version failed. Now every statistic is finite, ±inf are
/// counted, and everything that reads the version works.
#[test]
fn one_huge_number_breaks_nothing() {
    let p = Project::init();
    fs::write(p.root().join("a.csv"), "x,y\n1,2\n2,3\n1e155,4\n").unwrap();
    p.ok(&["data", "add", "a", "a.csv"]);
    let show = p.ok(&["data", "show", "a", "--json"]).json();
    let x = &show["profile"]["columns"][0]["numeric"];
    // numpy: np.std([1, 2, 1e155], ddof=1) = 5.773502691896258e+154.
    let std = x["std"].as_f64().expect("a number, not null");
    assert!((std / 5.773502691896258e154 - 1.0).abs() < 1e-12, "{std}");
    p.ok(&["data", "show", "a"]);
    p.ok(&["data", "status"]);
    p.ok(&["data", "verify"]);
    p.ok(&["data", "checkout", "a", "back.csv"]);
    // A new version of the same name, and drift between the two.
    fs::write(p.root().join("a.csv"), "x,y\n1,2\n2,3\n1e155,4\n-1e300,5\n").unwrap();
    p.ok(&["data", "add", "a", "a.csv"]);
    let drift = p.gyre(&["data", "drift", "a@1", "a@2", "--json"]);
    assert!(drift.code == 0 || drift.code == 1, "{}", drift.stderr);

    // ±inf are left out of the statistics and counted, in JSON and in the table.
    fs::write(p.root().join("b.csv"), "x,y\n1,2\n2,3\ninf,4\n-inf,5\n").unwrap();
    p.ok(&["data", "add", "b", "b.csv"]);
    let show = p.ok(&["data", "show", "b", "--json"]).json();
    assert_eq!(show["profile"]["columns"][0]["numeric"]["infinite"], 2);
    let table = p.ok(&["data", "show", "b"]).stdout;
    assert!(table.contains("2 ±inf"), "{table}");
}

/// `data verify` used to check dataset objects only: a corrupt model file gave "N ok".
#[test]
fn verify_checks_model_files_too() {
    let p = Project::init();
    p.add_adult("adult");
    p.append_spec(common::INCOME_MODEL);
    let run = p.train_run(&[]);
    p.ok(&["models", "register", "income", &run]);
    let ok = p.ok(&["data", "verify", "--json"]).json();
    assert!(ok.as_array().unwrap().iter().any(|c| c["kind"] == "model"));
    let hash = p.ok(&["models", "show", "income@1", "--json"]).json()["model"]
        .as_str()
        .unwrap()
        .to_string();
    p.corrupt_object(&hash, 10);
    let r = p.gyre(&["data", "verify"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("model income@1 model file: corrupt"),
        "{}",
        r.stdout
    );
}

/// A file with its own header is checked by its own names: the dataset's column list used to
/// replace them, and a file of `c0 … c14` passed against the Adult schema.
#[test]
fn validation_reads_a_files_own_header() {
    let p = Project::init();
    p.add_adult("adult");
    p.ok(&["data", "schema", "adult"]);
    let text = fs::read_to_string(common::shared("adult/adult.data")).unwrap();
    let header: Vec<String> = (0..15).map(|i| format!("c{i}")).collect();
    let mut csv = header.join(",") + "\n";
    for l in text.lines().take(50) {
        csv += l;
        csv += "\n";
    }
    fs::write(p.root().join("h.csv"), csv).unwrap();
    let r = p.gyre(&[
        "data",
        "validate",
        "h.csv",
        "--schema",
        "schemas/adult.toml",
        "--header",
        "--skip-initial-space",
        "--json",
    ]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let missing = r.stdout.matches("missing_column").count();
    assert!(
        missing >= 15,
        "every schema column is missing: {}",
        r.stdout
    );
}

/// A link inside a dataset folder used to be followed to a file outside the project, and an
/// error printed that file's first line. Links are skipped now, as are hidden files, and
/// both are listed.
#[test]
fn links_and_hidden_files_in_a_folder_are_skipped_and_listed() {
    let p = Project::init();
    let outside = tempfile::tempdir().unwrap();
    fs::write(
        outside.path().join("secret.csv"),
        "password,token\nhunter2,abc\n",
    )
    .unwrap();
    let folder = p.root().join("d");
    fs::create_dir(&folder).unwrap();
    fs::write(folder.join("a.csv"), "x,y\n1,2\n").unwrap();
    fs::write(folder.join(".draft.csv"), "x,y\n3,4\n").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.csv"), folder.join("b.csv")).unwrap();
    let r = p.ok(&["data", "add", "d", "d", "--json"]);
    assert!(
        !r.stderr.contains("hunter2") && !r.stderr.contains("password"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("b.csv (symbolic link (not followed))"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(".draft.csv (hidden)"), "{}", r.stderr);
    let added = r.json();
    assert_eq!(added["files"], 1);
    assert_eq!(added["version"]["rows"], 1);
}

/// The smaller defects a new user met, each as the command that showed it.
#[test]
fn small_defects_found_as_a_new_user() {
    let p = Project::init();
    p.append_spec("\n[steps.a]\nrun = \"seq 1 20000\"\n\n[steps.b]\nrun = \"exit 3\"\n");
    // `gyre run 2>&1 | head` used to panic (exit 101) once the pipe closed.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{}' run 2>&1 | head -1 >/dev/null; echo \"${{PIPESTATUS[0]}}\"",
            common::gyre_bin()
        ))
        .current_dir(p.root())
        .env("GYRE_USER", "tester")
        .output()
        .unwrap();
    let code = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_ne!(code, "101", "a closed pipe is not a panic");
    // A failed run does not also say everything is up to date.
    let r = p.gyre(&["run"]);
    assert_eq!(r.code, 2);
    assert!(!r.stdout.contains("up to date ("), "{}", r.stdout);
    // An unknown model has no lineage.
    let r = p.gyre(&["lineage", "model:nope"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    // `data log` lists newest first, and says so.
    assert!(
        p.ok(&["data", "log", "--help"])
            .stdout
            .contains("newest first")
    );
    // A threshold must be a number that means something.
    fs::write(p.root().join("a.csv"), "x\n1\n2\n").unwrap();
    fs::write(p.root().join("b.csv"), "x\n1\n3\n").unwrap();
    let r = p.gyre(&["data", "drift", "a.csv", "b.csv", "--threshold", "psi=nan"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("finite"), "{}", r.stderr);
    // A bad [model] breaks training, not unrelated commands.
    p.append_spec("\n[model]\ndataset = \"d\"\ntarget = \"y\"\nalgoritm = \"x\"\n");
    let r = p.gyre(&["data", "drift", "a.csv", "b.csv"]);
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("algoritm"),
        "the problem is still said: {}",
        r.stderr
    );
    let r = p.gyre(&["train"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("algoritm"), "{}", r.stderr);
    // Shell completions.
    let bash = p.ok(&["completions", "bash"]).stdout;
    assert!(bash.contains("_gyre") && bash.contains("tokens"), "{bash}");
}

/// ±inf in training data named the learner's symptom ("Hessian not positive definite"); now
/// the column and the row.
#[test]
fn infinite_training_values_name_their_column() {
    let p = Project::init();
    let mut csv = String::from("x,z,y\n");
    for i in 0..40 {
        let x = if i == 17 {
            "inf".to_string()
        } else {
            i.to_string()
        };
        csv += &format!("{x},{},{}\n", i % 7, if i % 2 == 0 { "a" } else { "b" });
    }
    fs::write(p.root().join("t.csv"), csv).unwrap();
    p.ok(&["data", "add", "t", "t.csv"]);
    p.append_spec(
        "\n[model]\ndataset = \"t\"\ntask = \"binary\"\ntarget = \"y\"\nalgorithm = \"logistic_regression\"\n",
    );
    let r = p.gyre(&["train"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("`x`") || r.stderr.contains("x:"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("infinite"), "{}", r.stderr);
}
