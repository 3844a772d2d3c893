//! The claims Sluice reads from a token.

use serde::{Deserialize, Serialize};

/// A Sluice token's claims. `exp` and `sub` are required; `jti` makes the token
/// revocable on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user; a refresh on a live connection must keep it.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default)]
    pub permissions: PermissionClaims,
}

/// `permissions: {"sub": [...], "pub": [...], "all": [...]}`: subject patterns
/// (`*` one segment, trailing `>` the subtree) for subscribe, publish, and both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PermissionClaims {
    pub sub: Vec<String>,
    #[serde(rename = "pub")]
    pub publish: Vec<String>,
    pub all: Vec<String>,
}
