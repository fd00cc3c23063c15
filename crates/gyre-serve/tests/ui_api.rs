//! The web UI's files and the JSON API it reads, over real HTTP: what a page is sent, how a
//! client's mistake is answered (a 4xx with a JSON body, never a 5xx), and that a long series
//! is cut down on the server.

mod common;

use common::{bearer, project, raw, start};
use gyre_core::access::Role;
use serde_json::Value;

fn get(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, String) {
    let mut req = agent.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut r = req.call().unwrap();
    let heads = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    (
        r.status().as_u16(),
        heads,
        r.body_mut().read_to_string().unwrap(),
    )
}

fn header<'a>(heads: &'a [(String, String)], name: &str) -> Option<&'a str> {
    heads
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_api_answer_and_refuse_as_they_should() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(dir.path()).await;
    // A run with a long curve, logged the way `gyre train` logs one.
    let mut run = p.start_run("long", None).await.unwrap();
    for step in 0..10_000 {
        let v = if step == 7_777 { 50.0 } else { 1.0 };
        run.log_metric("loss", step, v).await.unwrap();
    }
    let long = run.id.to_string();
    run.finish(gyre_core::RunStatus::Finished).await.unwrap();
    let viewer = bearer(&p.create_token("v", Role::Viewer).await.unwrap().token);
    let editor = bearer(&p.create_token("e", Role::Editor).await.unwrap().token);
    let (addr, stop) = start(p.clone(), |_| {}).await;
    let base = format!("http://{addr}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();

    tokio::task::block_in_place(|| {
        // The page: HTML with a policy that runs this server's scripts only.
        let (s, h, body) = get(&agent, &format!("{base}/ui/"), &[]);
        assert_eq!(s, 200);
        assert!(body.contains("/ui/assets/app.js"));
        let csp = header(&h, "content-security-policy").unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
        let (s, h, _) = get(&agent, &format!("{base}/"), &[]);
        assert_eq!((s, header(&h, "location")), (303, Some("/ui/")));
        // Its files, by name from a fixed list, revalidated by ETag.
        let (s, h, body) = get(&agent, &format!("{base}/ui/assets/app.js"), &[]);
        assert_eq!(s, 200);
        assert!(
            header(&h, "content-type")
                .unwrap()
                .starts_with("text/javascript")
        );
        assert!(body.contains("import"));
        let tag = header(&h, "etag").unwrap().to_string();
        let (s, _, _) = get(
            &agent,
            &format!("{base}/ui/assets/app.js"),
            &[("if-none-match", &tag)],
        );
        assert_eq!(s, 304);
        for bad in ["nope.js", "..%2F..%2FCargo.toml", "%2e%2e"] {
            let (s, _, body) = get(&agent, &format!("{base}/ui/assets/{bad}"), &[]);
            assert_eq!(s, 404, "{bad}");
            assert!(
                serde_json::from_str::<Value>(&body).is_ok(),
                "{bad}: {body}"
            );
        }
    });

    let call = |method: &str, path: &str, who: &str, body: &str| {
        let mut headers = vec![("content-type", "application/json")];
        if !who.is_empty() {
            headers.push(("authorization", who));
        }
        tokio::task::block_in_place(|| raw(addr, method, path, &headers, body))
    };

    // Runs: a page and the count; a filter that does not parse is the client's mistake.
    let (s, page) = call("GET", "/api/runs?limit=1", "", "");
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["runs"].as_array().unwrap().len(), 1);
    assert!(page["total"].as_u64().unwrap() >= 4, "{page}");
    let (s, e) = call("GET", "/api/runs?where=metrics.f1%20%3E%3E%203", "", "");
    assert_eq!(s, 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("f1"), "{e}");
    let (s, e) = call("GET", "/api/runs?order=loss%20sideways", "", "");
    assert_eq!(s, 400, "{e}");
    let (s, e) = call("GET", "/api/runs/ffffffffffffffff", "", "");
    assert_eq!(s, 404, "{e}");

    // A 10,000-point curve comes cut down to what was asked, its spike kept; a range zooms.
    let (s, se) = call(
        "GET",
        &format!("/api/runs/{long}/series/loss?points=100"),
        "",
        "",
    );
    assert_eq!(s, 200, "{se}");
    let pts = se["points"].as_array().unwrap();
    assert!(pts.len() <= 100, "{}", pts.len());
    assert_eq!(se["total"], 10_000);
    assert!(pts.iter().any(|p| p["step"] == 7_777 && p["value"] == 50.0));
    let (_, se) = call(
        "GET",
        &format!("/api/runs/{long}/series/loss?from=7700&to=7799&points=1000"),
        "",
        "",
    );
    assert_eq!(se["in_range"], 100);
    assert_eq!(
        se["points"].as_array().unwrap().len(),
        100,
        "in full at this zoom"
    );
    let (s, e) = call(
        "GET",
        &format!("/api/runs/{long}/series/loss?from=9&to=1"),
        "",
        "",
    );
    assert_eq!(s, 400, "{e}");
    let (s, e) = call("GET", &format!("/api/runs/{long}/series/nothing"), "", "");
    assert_eq!(s, 404, "{e}");

    // The registry, the pipeline and lineage read back.
    let (s, m) = call("GET", "/api/models/elec", "", "");
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["versions"].as_array().unwrap().len(), 2);
    let (s, steps) = call("GET", "/api/pipeline", "", "");
    assert_eq!(s, 200, "{steps}");
    assert!(
        steps
            .as_array()
            .unwrap()
            .iter()
            .any(|st| st["step"] == "first_gate"
                && st["state"] == "up_to_date"
                && st["last"]["status"] == "finished")
    );
    let (s, g) = call("GET", "/api/lineage?of=elec@1", "", "");
    assert_eq!(s, 200, "{g}");
    let (s, e) = call("GET", "/api/datasets/elec/compare?a=1", "", "");
    assert_eq!(s, 400, "{e}");

    // Moving an alias: a viewer may not; a body that is not the move is a 422; champion
    // without a passing verdict is refused by the gate; staging moves, audited.
    let path = "/api/models/elec/aliases/champion";
    let (s, _) = call("POST", path, &viewer, r#"{"version": 2}"#);
    assert_eq!(s, 403);
    let (s, e) = call("POST", path, &editor, r#"{"version": "two"}"#);
    assert_eq!(s, 422, "{e}");
    let (s, e) = call("POST", path, &editor, r#"{"version": 2, "froce": true}"#);
    assert_eq!(s, 422, "{e}");
    let (s, e) = call("POST", path, &editor, r#"{"version": 2, "reason": "ui"}"#);
    assert_eq!(s, 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("verdict"), "{e}");
    let (s, e) = call(
        "POST",
        "/api/models/elec/aliases/staging",
        &editor,
        r#"{"version": 2, "reason": "ui"}"#,
    );
    assert_eq!(s, 200, "{e}");
    let (_, m) = call("GET", "/api/models/elec", "", "");
    let last = m["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["alias"].as_str(), last["user"].as_str()),
        (Some("staging"), Some("token:e"))
    );
    let _ = stop.send(());
}
