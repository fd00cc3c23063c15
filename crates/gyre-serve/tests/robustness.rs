//! What one client can cost the server: half-sent headers, slow bodies, too many requests or
//! too many large bodies at once, and a reused request id.

mod common;

use common::{ROW, project, raw, start};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Reads the answer to a request already sent (to the connection's end).
fn answer(mut s: TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_greedy_clients_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(dir.path()).await;
    let (addr, stop) = start(p.clone(), |o| {
        o.header_timeout = Duration::from_millis(300);
        o.request_timeout = Duration::from_millis(800);
        o.max_concurrent = 2;
        o.max_inflight_body_bytes = 64 << 10;
    })
    .await;
    tokio::task::block_in_place(|| {
        // Half a header: the connection is closed once the header timeout passes.
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"POST /invocations HTTP/1.1\r\nhost: x")
            .unwrap();
        let t = Instant::now();
        let got = answer(s);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "held {:?}",
            t.elapsed()
        );
        assert!(!got.starts_with("HTTP/1.1 200"), "{got}");

        // A body that never finishes: 408, as JSON.
        let mut slow = TcpStream::connect(addr).unwrap();
        write!(
            slow,
            "POST /invocations HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 60000\r\n\r\n{{"
        )
        .unwrap();
        // While it waits it holds 59 of the 64 KiB body budget: a 10 KB body is refused
        // with 503 and Retry-After.
        std::thread::sleep(Duration::from_millis(100));
        let body = format!("{:<10000}", ROW);
        let (status, e) = raw(
            addr,
            "POST",
            "/invocations",
            &[("content-type", "application/json")],
            &body,
        );
        assert_eq!(
            (status, e["code"].as_str()),
            (503, Some("unavailable")),
            "{e}"
        );
        let got = answer(slow);
        assert!(got.starts_with("HTTP/1.1 408"), "{got}");
        assert!(
            got.contains("\"code\":\"request_timeout\"") || got.contains("request_timeout"),
            "{got}"
        );

        // Two requests in flight at most: a third waits for nothing, it gets 503.
        let hold = |n: usize| {
            let mut s = TcpStream::connect(addr).unwrap();
            write!(
                s,
                "POST /invocations HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {n}\r\n\r\n{{"
            )
            .unwrap();
            s
        };
        let (a, b) = (hold(100), hold(100));
        std::thread::sleep(Duration::from_millis(100));
        let (status, e) = raw(addr, "GET", "/health", &[], "");
        assert_eq!(status, 503, "{e}");
        drop((a, b));
        std::thread::sleep(Duration::from_millis(900));
        assert_eq!(raw(addr, "GET", "/health", &[], "").0, 200, "free again");

        // Oversized headers: 431, as JSON.
        let big = "x".repeat(40 << 10);
        let (status, e) = raw(addr, "GET", "/health", &[("x-padding", &big)], "");
        assert_eq!(
            (status, e["code"].as_str()),
            (431, Some("headers_too_large")),
            "{e}"
        );
    });
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_request_id_is_refused_and_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(dir.path()).await;
    let (addr, stop) = start(p.clone(), |_| {}).await;
    let send = |id: &str| {
        tokio::task::block_in_place(|| {
            raw(
                addr,
                "POST",
                "/invocations",
                &[("content-type", "application/json"), ("x-request-id", id)],
                ROW,
            )
        })
    };
    assert_eq!(send("order-1").0, 200);
    let (status, e) = send("order-1");
    assert_eq!(
        (status, e["code"].as_str()),
        (409, Some("request_id_reused")),
        "{e}"
    );
    let _ = stop.send(());
    // Another server on the same store finds it in the log.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (addr, stop) = start(p.clone(), |_| {}).await;
    let (status, _) = tokio::task::block_in_place(|| {
        raw(
            addr,
            "POST",
            "/invocations",
            &[
                ("content-type", "application/json"),
                ("x-request-id", "order-1"),
            ],
            ROW,
        )
    });
    assert_eq!(status, 409);
    assert_eq!(
        p.meta.predictions_of("order-1").await.unwrap().len(),
        1,
        "logged once"
    );
    let _ = stop.send(());
}

/// The label endpoint against seeded mutations of valid bodies: never a 5xx, every refusal
/// JSON with a code, and what was stored before is still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_label_bodies_get_4xx_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(dir.path()).await;
    let token = common::bearer(
        &p.create_token("fuzz", gyre_core::access::Role::Predictor)
            .await
            .unwrap()
            .token,
    );
    let (addr, stop) = start(p.clone(), |_| {}).await;
    let h = [
        ("content-type", "application/json"),
        ("authorization", token.as_str()),
    ];
    let (_, first) =
        tokio::task::block_in_place(|| raw(addr, "POST", "/invocations", &h[..1], ROW));
    let id = first["request_id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let kept = format!(r#"{{"request_id": "{id}", "label": "UP"}}"#);
    assert_eq!(
        tokio::task::block_in_place(|| raw(addr, "POST", "/feedback", &h, &kept)).0,
        200
    );
    let bodies = [
        kept.clone(),
        format!(r#"[{{"request_id": "{id}", "label": "DOWN", "row": 0}}]"#),
        format!(r#"{{"labels": [{{"request_id": "{id}", "label": 1}}], "correct": true}}"#),
    ];
    let mut state = 0xD1B5_4A32_D192_ED03u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    tokio::task::block_in_place(|| {
        for i in 0..300 {
            let mut b = bodies[i % bodies.len()].as_bytes().to_vec();
            let at = (next() as usize) % b.len();
            match next() % 3 {
                0 => b[at] = (next() >> 24) as u8,
                1 => b.truncate(at),
                _ => {
                    let piece = b[at..(at + 8).min(b.len())].to_vec();
                    b.splice(at..at, piece);
                }
            }
            let text = String::from_utf8_lossy(&b).to_string();
            let (status, e) = raw(addr, "POST", "/feedback", &h, &text);
            assert!(status < 500, "{text}: {status} {e}");
            if status >= 400 {
                assert!(e["code"].is_string(), "{text}: {e}");
            }
        }
    });
    let f = p.meta.feedback_of(&id).await.unwrap();
    assert_eq!(f.len(), 1, "the first label is kept");
    assert_eq!(f[0].label, "UP", "a predictor cannot correct it");
    let _ = stop.send(());
}
