//! A real browser for the UI tests: Debian's headless Chromium driven through ChromeDriver
//! over the W3C WebDriver protocol (JSON over HTTP, spoken here with ureq). The tests need a
//! dozen of its calls; a WebDriver crate would bring a second HTTP client stack into the build
//! for them.

use serde_json::{Value, json};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    pub shots: PathBuf,
}

/// Where ChromeDriver and Chromium are, when both are installed (`apt install chromium
/// chromium-driver`).
pub fn find() -> Option<(PathBuf, PathBuf)> {
    let driver = std::env::var_os("GYRE_TEST_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
    let chrome = std::env::var_os("GYRE_TEST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    (driver.exists() && chrome.exists()).then_some((driver, chrome))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    pub fn start(driver: &Path, chrome: &Path, shots: PathBuf) -> Browser {
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let t0 = Instant::now();
        while agent.get(&format!("{base}/status")).call().is_err() {
            assert!(t0.elapsed() < Duration::from_secs(20), "chromedriver");
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut b = Browser {
            driver: child,
            base,
            session: String::new(),
            agent,
            shots,
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chrome,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1366,900"],
            },
        }}});
        let v = b.call("POST", "/session", Some(caps));
        b.session = v["sessionId"].as_str().expect("a session").to_string();
        std::fs::create_dir_all(&b.shots).unwrap();
        b
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// A call, with WebDriver's own errors (a stale element, say) as Err.
    fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, b) => self
                .agent
                .post(&url)
                .header("content-type", "application/json")
                .send(b.unwrap_or(json!({})).to_string()),
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let mut text = String::new();
        resp.into_body()
            .into_reader()
            .read_to_string(&mut text)
            .unwrap();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if let Some(err) = v["value"]["error"].as_str() {
            return Err(format!("{err}: {}", v["value"]["message"]));
        }
        Ok(v["value"].clone())
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({ "url": url })));
    }

    /// Reloads the page, waiting for it to load.
    pub fn refresh(&self) {
        self.call("POST", &self.s("/refresh"), None);
    }

    pub fn url(&self) -> String {
        self.call("GET", &self.s("/url"), None)
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            &self.s("/execute/sync"),
            Some(json!({ "script": script, "args": args })),
        )
    }

    pub fn all(&self, css: &str) -> Vec<Element> {
        self.call(
            "POST",
            &self.s("/elements"),
            Some(json!({ "using": "css selector", "value": css })),
        )
        .as_array()
        .unwrap()
        .iter()
        .map(|e| Element(e[ELEMENT].as_str().unwrap().to_string()))
        .collect()
    }

    /// The first element matching `css`, waiting up to 15 s for it (pages fetch, then draw).
    pub fn find(&self, css: &str) -> Element {
        self.wait(&format!("an element `{css}`"), || {
            self.all(css).into_iter().next()
        })
    }

    /// Polls `f` until it gives a value, up to 15 s.
    pub fn wait<T>(&self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let t0 = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            if t0.elapsed() > Duration::from_secs(15) {
                let text = self.js("return document.body.innerText", json!([]));
                self.screenshot("failure");
                panic!("waited 15 s for {what}; the page says:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the page's text contains `needle`.
    pub fn wait_text(&self, needle: &str) {
        self.wait(&format!("the text {needle:?}"), || {
            self.js("return document.body.innerText", json!([]))
                .as_str()
                .unwrap_or("")
                .contains(needle)
                .then_some(())
        })
    }

    /// An element's text; empty when the page has redrawn it away since it was found.
    pub fn text(&self, e: &Element) -> String {
        self.try_call("GET", &self.s(&format!("/element/{}/text", e.0)), None)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    }

    pub fn attr(&self, e: &Element, name: &str) -> Option<String> {
        self.call(
            "GET",
            &self.s(&format!("/element/{}/attribute/{name}", e.0)),
            None,
        )
        .as_str()
        .map(String::from)
    }

    pub fn click(&self, e: &Element) {
        self.call("POST", &self.s(&format!("/element/{}/click", e.0)), None);
    }

    /// Clears a field and types `text` into it.
    pub fn fill(&self, e: &Element, text: &str) {
        self.call("POST", &self.s(&format!("/element/{}/clear", e.0)), None);
        self.call(
            "POST",
            &self.s(&format!("/element/{}/value", e.0)),
            Some(json!({ "text": text })),
        );
    }

    /// Presses keys (WebDriver's key codes: "\u{E004}" is Tab).
    pub fn keys(&self, keys: &str) {
        let mut actions = Vec::new();
        for c in keys.chars() {
            actions.push(json!({"type": "keyDown", "value": c.to_string()}));
            actions.push(json!({"type": "keyUp", "value": c.to_string()}));
        }
        self.call(
            "POST",
            &self.s("/actions"),
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
    }

    /// Drags the mouse across `e` from `from` to `to` pixels right of its centre.
    pub fn drag(&self, e: &Element, from: i64, to: i64) {
        let origin = json!({ ELEMENT: e.0 });
        self.call(
            "POST",
            &self.s("/actions"),
            Some(json!({"actions": [{
                "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
                "actions": [
                    {"type": "pointerMove", "origin": origin, "x": from, "y": 0},
                    {"type": "pointerDown", "button": 0},
                    {"type": "pointerMove", "origin": origin, "x": (from + to) / 2, "y": 0, "duration": 50},
                    {"type": "pointerMove", "origin": origin, "x": to, "y": 0, "duration": 50},
                    {"type": "pointerUp", "button": 0},
                ],
            }]})),
        );
        self.call("DELETE", &self.s("/actions"), None);
    }

    /// Saves a PNG of the window as `NAME.png` under the screenshot folder.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine as _;
        let b64 = self.call("GET", &self.s("/screenshot"), None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or(""))
            .unwrap();
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .agent
                .delete(&format!("{}/session/{}", self.base, self.session))
                .call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
