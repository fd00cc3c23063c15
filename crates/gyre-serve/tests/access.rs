//! Access control and the label endpoint's bounds, against the real server on 127.0.0.1:0
//! with real HTTP (raw requests, so Host and Origin are what the test says).

mod common;

use common::{ROW, bearer, project, raw, start};
use gyre_core::access::{OpenReads, Role};
use gyre_serve::{Access, all_rules};
use serde_json::{Value, json};
use std::time::Duration;

fn path_of(template: &str) -> String {
    template
        .replace("{name}", "elec")
        .replace("{alias}", "staging")
        .replace("{*path}", "0/x/artifacts/a.txt")
        .replace("{model_id}", "m-0")
        .replace("{key}", "k")
        .replace("{version}", "1")
        .replace("{file}", "app.js")
        .replace("{id}", "0000")
}

fn body_of(path: &str) -> &'static str {
    if path.contains("aliases") {
        r#"{"version": 1}"#
    } else if path.contains("feedback") {
        r#"{"request_id": "nobody", "label": "UP"}"#
    } else if path.contains("infer") {
        r#"{"inputs": []}"#
    } else {
        ROW
    }
}

/// Every route of the router has a decision, and the server keeps it: without a token, with
/// too weak a token, and with a strong enough one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_has_a_rule_and_the_server_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(dir.path()).await;
    let viewer = p.create_token("v", Role::Viewer).await.unwrap().token;
    let editor = p.create_token("e", Role::Editor).await.unwrap().token;
    // Reads need a token, as when bound beyond loopback.
    let (addr, stop) = start(p.clone(), |o| o.access.reads = OpenReads::Token).await;
    let all = all_rules();
    assert!(all.len() >= 30, "the router's routes");
    for (method, template, rule) in &all {
        let path = path_of(template);
        let body = body_of(&path);
        let json = [("content-type", "application/json")];
        let (anon, e) =
            tokio::task::block_in_place(|| raw(addr, method.as_str(), &path, &json, body));
        let viewer_h = bearer(&viewer);
        let (as_viewer, _) = tokio::task::block_in_place(|| {
            raw(
                addr,
                method.as_str(),
                &path,
                &[json[0], ("authorization", &viewer_h)],
                body,
            )
        });
        let editor_h = bearer(&editor);
        let (as_editor, ee) = tokio::task::block_in_place(|| {
            raw(
                addr,
                method.as_str(),
                &path,
                &[json[0], ("authorization", &editor_h)],
                body,
            )
        });
        let what = format!("{method} {template}");
        match rule.access {
            Access::Open => assert!(anon < 400, "{what}: open, got {anon} {e}"),
            Access::Read => {
                assert_eq!(anon, 401, "{what}");
                assert!(
                    as_viewer != 401 && as_viewer != 403,
                    "{what}: viewer reads, got {as_viewer}"
                );
            }
            Access::Predict => {
                assert_eq!(anon, 401, "{what}");
                assert_eq!(as_viewer, 403, "{what}: a viewer may not predict");
                assert_ne!(as_editor, 401, "{what}");
                assert_ne!(as_editor, 403, "{what}: {ee}");
            }
            Access::Token(role) => {
                assert_eq!(anon, 401, "{what}");
                assert_eq!(as_viewer, 403, "{what}");
                assert!(Role::Editor >= role);
                assert!(
                    as_editor != 401 && as_editor != 403,
                    "{what}: {as_editor} {ee}"
                );
            }
            Access::Webhook => {
                assert!(anon >= 400, "{what}: no secret, no token");
                assert_eq!(as_viewer, 403, "{what}");
            }
        }
        assert!(
            anon < 500 && as_viewer < 500 && as_editor < 500,
            "{what}: never a 5xx"
        );
    }
    let _ = stop.send(());
}

/// Hosts, origins and content types that a browser page or a DNS-rebinding domain would use
/// are refused before anything changes; forcing past the gate takes an admin; the audit
/// records the token's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_cannot_move_the_live_model_and_the_audit_names_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(dir.path()).await;
    let editor = bearer(
        &p.create_token("deployer", Role::Editor)
            .await
            .unwrap()
            .token,
    );
    let admin = bearer(
        &p.create_token("ops-admin", Role::Admin)
            .await
            .unwrap()
            .token,
    );
    let (addr, stop) = start(p.clone(), |_| {}).await;
    let call = |headers: Vec<(&str, &str)>, body: &str| {
        tokio::task::block_in_place(|| {
            raw(
                addr,
                "POST",
                "/api/models/elec/aliases/champion",
                &headers,
                body,
            )
        })
    };
    let json = ("content-type", "application/json");
    let force = r#"{"version": 2, "force": true, "reason": "page"}"#;
    // No token: 401. A plain-text POST (no preflight): 415 even with a token.
    assert_eq!(call(vec![json], force).0, 401);
    let (s, e) = call(
        vec![("content-type", "text/plain"), ("authorization", &admin)],
        force,
    );
    assert_eq!(
        (s, e["code"].as_str()),
        (415, Some("unsupported_media_type")),
        "{e}"
    );
    // A rebinding domain in Host, a foreign Origin: 403.
    let (s, e) = call(
        vec![
            json,
            ("authorization", &admin),
            ("host", "rebind.example:80"),
        ],
        force,
    );
    assert_eq!(
        (s, e["code"].as_str()),
        (403, Some("host_not_allowed")),
        "{e}"
    );
    let (s, e) = call(
        vec![
            json,
            ("authorization", &admin),
            ("origin", "https://evil.example"),
        ],
        force,
    );
    assert_eq!(
        (s, e["code"].as_str()),
        (403, Some("origin_not_allowed")),
        "{e}"
    );
    // An editor may not force; the gate refuses v2 (no verdict) without force.
    let (s, e) = call(vec![json, ("authorization", &editor)], force);
    assert_eq!(s, 403, "{e}");
    let (s, e) = call(vec![json, ("authorization", &editor)], r#"{"version": 2}"#);
    assert_eq!(s, 400, "{e}");
    assert_eq!(
        p.resolve_model_version("elec@champion")
            .await
            .unwrap()
            .version,
        1,
        "unchanged"
    );
    // The server's own origin and an admin: moved, and recorded under the token's name.
    let own = format!("http://{addr}");
    let (s, e) = call(
        vec![json, ("authorization", &admin), ("origin", &own)],
        force,
    );
    assert_eq!(s, 200, "{e}");
    let events = p.alias_history("elec").await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (last.user.as_str(), last.forced, last.to),
        ("token:ops-admin", true, Some(2))
    );
    // A revoked token stops working within the cache's two seconds.
    p.revoke_token("deployer").await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        call(vec![json, ("authorization", &editor)], r#"{"version": 1}"#).0,
        401
    );
    // Errors axum makes itself come back as JSON too.
    let (s, e) = tokio::task::block_in_place(|| raw(addr, "GET", "/nope", &[], ""));
    assert_eq!((s, e["code"].as_str()), (404, Some("not_found")), "{e}");
    let (s, e) = tokio::task::block_in_place(|| raw(addr, "GET", "/feedback", &[], ""));
    assert_eq!(
        (s, e["code"].as_str()),
        (405, Some("method_not_allowed")),
        "{e}"
    );
    let _ = stop.send(());
}

/// Request ids cannot be guessed; labels for unanswered ids are said to be unknown and
/// bounded; labels are bounded in size; a correction takes an editor and is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_are_bounded_and_corrections_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(dir.path()).await;
    let predictor = bearer(&p.create_token("app", Role::Predictor).await.unwrap().token);
    let editor = bearer(
        &p.create_token("labeller", Role::Editor)
            .await
            .unwrap()
            .token,
    );
    let (addr, stop) = start(p.clone(), |o| {
        o.labels.unknown_max = 5;
        o.labels.max_bytes = 16;
    })
    .await;
    let post = |path: &str, token: &str, body: Value| {
        let body = body.to_string();
        let h = [
            ("content-type", "application/json"),
            ("authorization", token),
        ];
        tokio::task::block_in_place(|| raw(addr, "POST", path, &h, &body))
    };
    let (_, a) = post(
        "/invocations",
        &predictor,
        serde_json::from_str(ROW).unwrap(),
    );
    let (_, b) = post(
        "/invocations",
        &predictor,
        serde_json::from_str(ROW).unwrap(),
    );
    let (a, b) = (
        a["request_id"].as_str().unwrap().to_string(),
        b["request_id"].as_str().unwrap().to_string(),
    );
    // The next id's number is guessable; its tag is not.
    let (prefix, rest) = a.split_once('-').unwrap();
    let (counter, tag_a) = rest.split_once('-').unwrap();
    let tag_b = b.rsplit('-').next().unwrap();
    assert_eq!(tag_a.len(), 16);
    assert_ne!(tag_a, tag_b);
    let n = u64::from_str_radix(counter, 16).unwrap();
    let guessed = format!("{prefix}-{:010x}-{tag_a}", n + 5);
    tokio::time::sleep(Duration::from_millis(300)).await; // the log writer flushes
    let (s, r) = post(
        "/feedback",
        &predictor,
        json!([{"request_id": a, "label": "UP"}, {"request_id": guessed, "label": "UP"}]),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["stored"], 2);
    assert_eq!(r["unknown"], json!([{"request_id": guessed, "row": 0}]));
    // Too many unknown ids: the ones past the bound are refused, not kept.
    let strays: Vec<Value> = (0..10)
        .map(|i| json!({"request_id": format!("x-{i}"), "label": "UP"}))
        .collect();
    let (_, r) = post("/feedback", &predictor, json!(strays));
    assert_eq!(
        (r["stored"].as_u64(), r["refused"].as_array().map(Vec::len)),
        (Some(4), Some(6)),
        "{r}"
    );
    // A label over max_bytes: 422, nothing kept.
    let (s, r) = post(
        "/feedback",
        &predictor,
        json!({"request_id": b, "label": "x".repeat(17)}),
    );
    assert_eq!(s, 422, "{r}");
    assert!(p.meta.feedback_of(&b).await.unwrap().is_empty());
    // The first label wins; a correction needs an editor and keeps both in the audit.
    let (_, r) = post(
        "/feedback",
        &predictor,
        json!({"request_id": a, "label": "DOWN"}),
    );
    assert_eq!(r["duplicates"], 1);
    let fix = json!({"request_id": a, "label": "DOWN", "correct": true});
    assert_eq!(post("/feedback", &predictor, fix.clone()).0, 403);
    let (s, r) = post("/feedback", &editor, fix);
    assert_eq!((s, r["corrected"].as_u64()), (200, Some(1)), "{r}");
    assert_eq!(p.meta.feedback_of(&a).await.unwrap()[0].label, "DOWN");
    let audit = p.meta.label_corrections(&a).await.unwrap();
    assert_eq!(
        (
            audit[0].old_label.as_str(),
            audit[0].new_label.as_str(),
            audit[0].user.as_str()
        ),
        ("UP", "DOWN", "token:labeller")
    );
    let _ = stop.send(());
}
