//! Issuing tokens with a configured HMAC key: `sluice token`, and the tests.

use jsonwebtoken::{EncodingKey, Header};

use crate::{Claims, KeyConfig};

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("key {0}: only HS256/384/512 keys with a `secret` can issue tokens here; sign RS256/ES256 tokens with your own private key")]
    NotHmac(String),
    #[error("signing failed: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// Signs `claims` with the HMAC key `key`, naming it in the header's `kid`.
pub fn issue_token(key: &KeyConfig, claims: &Claims) -> Result<String, IssueError> {
    let secret = match (&key.secret, key.algorithm.is_hmac()) {
        (Some(secret), true) => secret,
        _ => return Err(IssueError::NotHmac(key.kid.clone())),
    };
    let mut header = Header::new(key.algorithm.jwt());
    header.kid = Some(key.kid.clone());
    Ok(jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}
