//! `gyre tokens`: made once and shown once, listed without their texts, revoked by name.

mod common;

use common::Project;

#[test]
fn tokens_are_shown_once_listed_without_texts_and_revoked() {
    let p = Project::init();
    let token = p
        .ok(&["tokens", "create", "--role", "editor", "--name", "ci"])
        .stdout
        .trim()
        .to_string();
    assert!(token.starts_with("gyre_") && token.len() == 78, "{token}");
    let made = p
        .ok(&[
            "tokens", "create", "--role", "viewer", "--name", "grafana", "--json",
        ])
        .json();
    assert_eq!(
        (made["name"].as_str(), made["role"].as_str()),
        (Some("grafana"), Some("viewer"))
    );
    assert!(made["token"].as_str().unwrap().starts_with("gyre_"));

    let list = p.ok(&["tokens", "list"]).stdout;
    assert!(list.contains("ci") && list.contains("editor"), "{list}");
    assert!(
        !list.contains(&token),
        "a listing never shows a token's text"
    );
    let db = std::fs::read(p.root().join(".gyre/gyre.db")).unwrap();
    let text = token.as_bytes();
    assert!(
        !db.windows(text.len()).any(|w| w == text),
        "the store keeps a hash, not the text"
    );

    // Names stay unique; roles are checked; revoking is once.
    assert_eq!(
        p.gyre(&["tokens", "create", "--role", "admin", "--name", "ci"])
            .code,
        2
    );
    let r = p.gyre(&["tokens", "create", "--role", "root", "--name", "x"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("viewer, predictor, editor or admin"),
        "{}",
        r.stderr
    );
    p.ok(&["tokens", "revoke", "ci"]);
    assert_eq!(p.gyre(&["tokens", "revoke", "ci"]).code, 2);
    let list = p.ok(&["tokens", "list", "--json"]).json();
    let ci = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .unwrap();
    assert!(ci["revoked_ms"].as_i64().is_some());
}
