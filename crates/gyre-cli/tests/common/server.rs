//! A `gyre serve` (or `gyre server`) process on 127.0.0.1:0, with an admin token, for the
//! HTTP tests.

use super::Project;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

pub struct Server {
    pub child: Child,
    pub base: String,
    pub agent: ureq::Agent,
    /// An admin token every request carries (the access rules have tests of their own).
    pub bearer: String,
}

/// A new admin token of the project, by the CLI.
pub fn admin_token(p: &Project) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!(
        "test-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    p.token("admin", &name)
}

impl Server {
    pub fn start(p: &Project, model: &str, args: &[&str]) -> Server {
        Server::start_with_env(p, model, args, &[])
    }

    /// [`Server::start`] with environment variables for the server process.
    pub fn start_with_env(p: &Project, model: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut all = vec!["serve", model, "--port", "0"];
        all.extend(args);
        Server::spawn(p, &all, env)
    }

    /// Runs `gyre ARGS` (a `serve` or `server` on port 0) and waits for the address it
    /// prints.
    pub fn spawn(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = p
            .command(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .rsplit(" on ")
            .next()
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .trim()
            .to_string();
        assert!(
            base.starts_with("http://127.0.0.1:"),
            "binds 127.0.0.1: {base}"
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let bearer = format!("Bearer {}", admin_token(p));
        Server {
            child,
            base,
            agent,
            bearer,
        }
    }

    pub fn post(&self, path: &str, ctype: &str, body: &str) -> (u16, Value, Option<String>) {
        let mut r = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("content-type", ctype)
            .header("authorization", &self.bearer)
            .send(body)
            .unwrap();
        let status = r.status().as_u16();
        let version = r
            .headers()
            .get("x-model-version")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let text = r.body_mut().read_to_string().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            version,
        )
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let mut r = self
            .agent
            .get(&format!("{}{path}", self.base))
            .call()
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    }

    /// SIGINT, as Ctrl-C: finish, flush the log, exit 0.
    pub fn stop(mut self) {
        std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
    }
}

/// A failed test never leaves a server behind.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
