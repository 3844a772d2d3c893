//! The verified claims of a token, as the core needs them.

use super::Permissions;

/// What a verified token grants a connection. Built by the adapter that checked the
/// signature; the core only applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The `sub` claim: whose connection this is. A refresh must keep it.
    pub user: String,
    /// The `jti` claim, the handle for revocation.
    pub token_id: Option<String>,
    pub permissions: Permissions,
    /// When the token expires, on the caller's clock (the `now_ms` it feeds the
    /// core), so the core never reads a wall clock. `None`: no `exp` claim.
    pub expires_at_ms: Option<u64>,
}

/// Why a token was not accepted. The message goes to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AuthFailure(pub String);
