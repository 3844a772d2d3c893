//! The `[auth]` section of the configuration.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Who may connect. `docs/security.md` documents each key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// Verification keys; a token names one by `kid` (optional with a single key).
    pub keys: Vec<KeyConfig>,
    /// A token's `nbf` may be this far in the future (clock skew between issuer and
    /// gateway). `exp` gets no leeway.
    pub nbf_leeway_s: u64,
    /// If set, tokens must carry this `iss`.
    pub issuer: Option<String>,
    /// If set, tokens must carry this `aud`.
    pub audience: Option<String>,
    /// Revoked token ids (`jti`), one per line; reloaded when it changes and on SIGHUP.
    pub revoked_tokens_file: Option<PathBuf>,
    /// How often the revocation file is checked for changes.
    pub revoked_tokens_poll_ms: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            mode: AuthMode::None,
            keys: Vec::new(),
            nbf_leeway_s: 5,
            issuer: None,
            audience: None,
            revoked_tokens_file: None,
            revoked_tokens_poll_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// No authentication: every client may use every exposed topic. For development.
    #[default]
    None,
    /// Every connection needs a valid JWT.
    Jwt,
}

/// One verification key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The `kid` tokens name this key by.
    pub kid: String,
    pub algorithm: KeyAlgorithm,
    /// HS*: the shared secret (its UTF-8 bytes; use at least 32 random bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// RS256/ES256: the PEM file of the public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_pem_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    HS256,
    HS384,
    HS512,
    RS256,
    ES256,
}

impl KeyAlgorithm {
    pub fn jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm;
        match self {
            KeyAlgorithm::HS256 => Algorithm::HS256,
            KeyAlgorithm::HS384 => Algorithm::HS384,
            KeyAlgorithm::HS512 => Algorithm::HS512,
            KeyAlgorithm::RS256 => Algorithm::RS256,
            KeyAlgorithm::ES256 => Algorithm::ES256,
        }
    }

    pub fn is_hmac(self) -> bool {
        matches!(
            self,
            KeyAlgorithm::HS256 | KeyAlgorithm::HS384 | KeyAlgorithm::HS512
        )
    }
}
