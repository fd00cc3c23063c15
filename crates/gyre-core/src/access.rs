//! Who may do what: the roles an API token carries, the token's text format, and the
//! `[serve.access]` settings.
//!
//! A token is `gyre_{id}_{secret}`: `id` (8 hex digits) names it in lists and logs, `secret`
//! (64 hex digits, 256 random bits) is what proves it. The store keeps only the BLAKE3 hash of
//! the whole text. A slow password hash buys nothing here: the secret is random, not chosen by
//! a person, so it cannot be guessed from its hash.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a token may do. Each role may do everything the roles before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads: metadata, metrics, health.
    Viewer,
    /// Also asks for predictions and sends true labels.
    Predictor,
    /// Also changes state: moves aliases (through the gate), corrects labels, fires triggers.
    Editor,
    /// Also forces what the gate refused.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Predictor, Role::Editor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Predictor => "predictor",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    /// Whether a token of this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`: use viewer, predictor, editor or admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// The prefix every token's text starts with (so secret scanners can find leaked ones).
pub const TOKEN_PREFIX: &str = "gyre_";

/// A token's text from its id and secret bytes.
pub fn token_text(id: &[u8; 4], secret: &[u8; 32]) -> String {
    format!("{TOKEN_PREFIX}{}_{}", hex(id), hex(secret))
}

/// The id of a token's text, when the text has a token's shape.
pub fn token_id(text: &str) -> Option<&str> {
    let rest = text.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let ok = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (ok(id, 8) && ok(secret, 64)).then_some(id)
}

/// What the store keeps of a token: the BLAKE3 hash of its whole text.
pub fn token_hash(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex().to_string()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Who may ask for predictions (and read metrics and metadata) without a token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpenReads {
    /// No token on a loopback address; a `predictor` (or `viewer`) token when bound to any
    /// other address.
    #[default]
    Auto,
    /// Always a token.
    Token,
    /// Never a token, wherever the server is bound (say so only behind a gateway that checks).
    Open,
}

/// `[serve.access]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessSpec {
    /// Predictions, metadata and `/metrics` without a token: `auto` (the default), `token`
    /// or `open`.
    #[serde(default)]
    pub reads: OpenReads,
    /// Names clients may reach the server by (its `Host` header), beyond the address it is
    /// bound to: `["models.internal", "models.internal:8080"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Web origins whose pages may call the server (`https://ui.example.com`). Requests with
    /// any other `Origin` are refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origins: Vec<String>,
}

/// `[serve.labels]`: what `/feedback` keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelLimits {
    /// The longest label, in bytes (default 256).
    pub max_bytes: usize,
    /// Labels for request ids no server has answered (yet) are kept this long, in seconds
    /// (default 600): a label may arrive before its prediction is written, never much before.
    pub unknown_seconds: u64,
    /// At most this many such labels are kept at once (default 10,000); more are refused.
    pub unknown_max: u64,
}

impl Default for LabelLimits {
    fn default() -> Self {
        LabelLimits {
            max_bytes: 256,
            unknown_seconds: 600,
            unknown_max: 10_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_back_and_nest() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!(Role::Admin.allows(Role::Editor));
        assert!(Role::Editor.allows(Role::Predictor));
        assert!(!Role::Predictor.allows(Role::Editor));
        assert!(!Role::Viewer.allows(Role::Predictor));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn token_text_has_a_checkable_shape() {
        let t = token_text(&[0xab, 0, 1, 2], &[7; 32]);
        assert_eq!(token_id(&t), Some("ab000102"));
        assert_eq!(t.len(), 5 + 8 + 1 + 64);
        assert_eq!(token_id("gyre_ab000102_short"), None);
        assert_eq!(token_id("Bearer x"), None);
        assert_ne!(token_hash(&t), token_hash(&t.replace('7', "8")));
    }
}
