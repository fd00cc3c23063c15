//! Who may call what. Every route is registered with an [`Access`] decision (the router is
//! built from [`crate::routes`], which cannot hold a route without one), and one middleware
//! enforces it before any handler runs:
//!
//! 1. the `Host` must be an address the server is bound to or a configured name (a page on a
//!    DNS-rebinding domain names its own host);
//! 2. an `Origin`, when sent, must be the server's own or a configured one (a web page's
//!    cross-site POST);
//! 3. the route's decision: open, reads and predictions (open on loopback by default, a token
//!    elsewhere), or always a token of a role;
//! 4. JSON routes take `application/json` only (a plain-text POST from a page needs no
//!    preflight; a JSON one does).
//!
//! The caller (a token's name and role, or nobody) goes to the handler as a [`Caller`].

use crate::error::ApiError;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gyre_core::access::{AccessSpec, OpenReads, Role, token_hash, token_id};
use gyre_store::TokenInfo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A route's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: liveness and readiness probes.
    Open,
    /// Metadata and metrics: a `viewer` token unless reads are open.
    Read,
    /// Predictions: a `predictor` token unless reads are open.
    Predict,
    /// Always a token of at least this role.
    Token(Role),
    /// A message trigger's webhook: an `editor` token, or the trigger's own secret, which the
    /// handler checks.
    Webhook,
}

/// What a route's body must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body is read.
    None,
    /// `application/json` only.
    Json,
    /// The handler reads the Content-Type itself (`/invocations`: JSON or CSV).
    Handler,
}

/// One route's rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub access: Access,
    pub body: BodyKind,
}

/// Who is calling: a token, or nobody (an open route).
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub token: Option<TokenInfo>,
}

impl Caller {
    /// The name the audit trail records: `token:NAME`.
    pub fn actor(&self) -> Option<String> {
        self.token.as_ref().map(|t| format!("token:{}", t.name))
    }

    pub fn allows(&self, role: Role) -> bool {
        self.token.as_ref().is_some_and(|t| t.role.allows(role))
    }
}

/// How long a looked-up token is trusted before the store is asked again (a revoked token
/// stops working within this).
const TOKEN_TTL: Duration = Duration::from_secs(2);

/// The names the server answers to, and whether reads are open: what a request's Host and
/// Origin are checked against.
pub struct Names {
    open_reads: bool,
    /// `host[:port]` texts, lowercase, that a request's Host may be.
    hosts: Vec<String>,
    /// Bound to every address (0.0.0.0 or ::): any IP literal is one of ours.
    any_ip: bool,
    port: u16,
    origins: Vec<String>,
}

impl Names {
    pub fn new(spec: &AccessSpec, addr: SocketAddr) -> Names {
        let loopback = addr.ip().is_loopback();
        let port = addr.port();
        let mut hosts: Vec<String> = Vec::new();
        let mut add = |h: &str| {
            let h = h.to_ascii_lowercase();
            if !hosts.contains(&h) {
                hosts.push(h);
            }
        };
        add(&addr.to_string());
        if loopback {
            for h in ["localhost", "127.0.0.1", "[::1]"] {
                add(&format!("{h}:{port}"));
            }
        }
        for h in &spec.hosts {
            if h.contains(':') && !h.ends_with(']') {
                add(h);
            } else {
                add(h);
                add(&format!("{h}:{port}"));
            }
        }
        Names {
            open_reads: match spec.reads {
                OpenReads::Open => true,
                OpenReads::Token => false,
                OpenReads::Auto => loopback,
            },
            hosts,
            any_ip: addr.ip().is_unspecified(),
            port,
            origins: spec
                .origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        if self.hosts.contains(&host) {
            return true;
        }
        if self.any_ip {
            // Bound everywhere: the machine's own addresses are not known here, but an IP
            // literal cannot be a rebinding domain.
            let bare = match host.rsplit_once(':') {
                Some((h, p)) if p == self.port.to_string() => h,
                Some((_, _)) if !host.starts_with('[') => return false,
                _ => host.as_str(),
            };
            let bare = bare.trim_start_matches('[').trim_end_matches(']');
            return bare.parse::<std::net::IpAddr>().is_ok();
        }
        false
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        if self.origins.contains(&origin) {
            return true;
        }
        match origin.strip_prefix("http://") {
            Some(h) => self.host_allowed(h),
            None => false,
        }
    }
}

/// The guard's settings and its token cache.
pub struct Guard {
    project: Arc<gyre_ops::Project>,
    rules: HashMap<(Method, &'static str), Rule>,
    names: Names,
    cache: Mutex<HashMap<String, (Option<TokenInfo>, Instant)>>,
}

impl Guard {
    pub fn new(
        project: Arc<gyre_ops::Project>,
        rules: HashMap<(Method, &'static str), Rule>,
        spec: &AccessSpec,
        addr: SocketAddr,
    ) -> Guard {
        Guard {
            project,
            rules,
            names: Names::new(spec, addr),
            cache: Mutex::new(HashMap::new()),
        }
    }

    async fn token(&self, text: &str) -> Result<Option<TokenInfo>, ApiError> {
        let key = token_hash(text);
        if let Ok(cache) = self.cache.lock()
            && let Some((t, at)) = cache.get(&key)
            && at.elapsed() < TOKEN_TTL
        {
            return Ok(t.clone());
        }
        let found = self
            .project
            .authenticate(text)
            .await
            .map_err(ApiError::from_ops)?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(key, (found.clone(), Instant::now()));
        }
        Ok(found)
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// The middleware: checks the request against its route's rule, then hands it on with its
/// [`Caller`]. A refusal on the MLflow API is in MLflow's shape, so its client says why.
pub async fn guard(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let mlflow = req.uri().path().starts_with("/api/2.0/mlflow");
    match check(&g, req, next).await {
        Ok(answer) => answer,
        Err(e) if mlflow => crate::mlflow::MlflowError::refused(e).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn check(g: &Guard, mut req: Request, next: Next) -> Result<Response, ApiError> {
    // An Arc clone, not a copy of the text: this runs for every request.
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let path = matched.as_ref().map_or("", MatchedPath::as_str);
    // Fail closed: a route without a rule answers to nobody.
    let Some(rule) = g.rules.get(&(req.method().clone(), path)).copied() else {
        if g.rules.keys().any(|(_, p)| *p == path) {
            return Err(ApiError::bad(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                format!("{path} does not take {}", req.method()),
            ));
        }
        return Err(ApiError::forbidden(format!(
            "{} {path} has no access rule",
            req.method()
        )));
    };
    let headers = req.headers();
    if let Some(host) = headers.get(header::HOST) {
        let host = host.to_str().unwrap_or("");
        if !g.names.host_allowed(host) {
            return Err(ApiError::forbidden(format!(
                "Host `{host}` is not this server's; add it to [serve.access] hosts"
            ))
            .with_code("host_not_allowed"));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !g.names.origin_allowed(origin) {
            return Err(ApiError::forbidden(format!(
                "Origin `{origin}` may not call this server; add it to [serve.access] origins"
            ))
            .with_code("origin_not_allowed"));
        }
    }
    let token = match bearer(headers) {
        // A webhook's own secret is not a gyre token: the handler checks it.
        Some(text) if rule.access == Access::Webhook && token_id(text).is_none() => None,
        Some(text) => match g.token(text).await? {
            Some(t) => Some(t),
            None => {
                return Err(ApiError::unauthorized(
                    "the token is not valid (or revoked)",
                ));
            }
        },
        None => None,
    };
    let caller = Caller { token };
    let needs = |role: Role| -> Result<(), ApiError> {
        match &caller.token {
            Some(t) if t.role.allows(role) => Ok(()),
            Some(t) => Err(ApiError::forbidden(format!(
                "token `{}` is a {}; this needs {role} or above",
                t.name, t.role
            ))),
            None => Err(ApiError::unauthorized(format!(
                "this needs an `Authorization: Bearer …` token of role {role} or above \
                 (`gyre tokens create --role {role} --name NAME`)"
            ))),
        }
    };
    match rule.access {
        Access::Open => {}
        Access::Read if g.names.open_reads => {}
        Access::Predict if g.names.open_reads => {}
        Access::Read => needs(Role::Viewer)?,
        Access::Predict => needs(Role::Predictor)?,
        Access::Token(role) => needs(role)?,
        // Without a token, the handler checks the trigger's own secret.
        Access::Webhook if caller.token.is_none() => {}
        Access::Webhook => needs(Role::Editor)?,
    }
    if rule.body == BodyKind::Json {
        let ctype = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = ctype.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::unsupported_media(format!(
                "Content-Type `{ctype}`: this route takes application/json"
            )));
        }
    }
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(addr: &str, spec: AccessSpec) -> Names {
        Names::new(&spec, addr.parse().unwrap())
    }

    #[test]
    fn hosts_are_the_bound_address_and_configured_names() {
        let g = guard("127.0.0.1:8080", AccessSpec::default());
        assert!(g.open_reads);
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
        ] {
            assert!(g.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "localhost:9090",
            "127.0.0.1",
            "attacker.test",
        ] {
            assert!(!g.host_allowed(bad), "{bad}");
        }
        let g = guard(
            "0.0.0.0:80",
            AccessSpec {
                hosts: vec!["models.internal".into()],
                origins: vec!["https://ui.example/".into()],
                ..AccessSpec::default()
            },
        );
        assert!(!g.open_reads, "bound everywhere: reads need a token");
        for ok in [
            "10.1.2.3:80",
            "10.1.2.3",
            "models.internal",
            "models.internal:80",
            "[fe80::1]:80",
        ] {
            assert!(g.host_allowed(ok), "{ok}");
        }
        for bad in ["rebind.example", "rebind.example:80", "10.1.2.3:81"] {
            assert!(!g.host_allowed(bad), "{bad}");
        }
        assert!(g.origin_allowed("https://ui.example"));
        assert!(g.origin_allowed("http://models.internal"));
        assert!(!g.origin_allowed("https://evil.example"));
        assert!(!g.origin_allowed("null"));
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer gyre_x".parse().unwrap());
        assert_eq!(bearer(&h), Some("gyre_x"));
        h.insert(header::AUTHORIZATION, "bearer  gyre_y ".parse().unwrap());
        assert_eq!(bearer(&h), Some("gyre_y"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
