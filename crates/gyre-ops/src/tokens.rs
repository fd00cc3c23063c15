//! API tokens: made here, shown once, kept as a hash; and the check every request to the
//! server goes through.

use crate::runs::now_ms;
use crate::{OpsError, Project, Result, settings};
use gyre_core::access::{Role, token_hash, token_id, token_text};
use gyre_store::TokenInfo;

/// A token just made: the only time its text exists outside the client that keeps it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewToken {
    #[serde(flatten)]
    pub info: TokenInfo,
    pub token: String,
}

fn check_token_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if !ok {
        return Err(OpsError::Invalid(format!(
            "token name `{name}`: use letters, digits, `_`, `-`, `.` and `@` (up to 64)"
        )));
    }
    Ok(())
}

/// Random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b)
        .map_err(|e| OpsError::Invalid(format!("the system's random source failed: {e}")))?;
    Ok(b)
}

impl Project {
    /// Makes a token of `role` named `name`, records its hash, and returns its text.
    pub async fn create_token(&self, name: &str, role: Role) -> Result<NewToken> {
        check_token_name(name)?;
        let id = random_bytes::<4>()?;
        let text = token_text(&id, &random_bytes::<32>()?);
        let info = TokenInfo {
            id: token_id(&text)
                .expect("made in the token shape")
                .to_string(),
            name: name.to_string(),
            role,
            created_by: settings::actor(),
            created_ms: now_ms(),
            revoked_ms: None,
        };
        self.meta.create_token(&info, &token_hash(&text)).await?;
        Ok(NewToken { info, token: text })
    }

    pub async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        Ok(self.meta.tokens().await?)
    }

    pub async fn revoke_token(&self, name: &str) -> Result<()> {
        if self.meta.revoke_token(name, now_ms()).await? {
            Ok(())
        } else {
            Err(OpsError::NotFound(format!("no live token named `{name}`")))
        }
    }

    /// The live token a text is, if any. Texts without a token's shape are never looked up.
    pub async fn authenticate(&self, text: &str) -> Result<Option<TokenInfo>> {
        if token_id(text).is_none() {
            return Ok(None);
        }
        Ok(self.meta.token_by_hash(&token_hash(text)).await?)
    }
}
