//! Verifies JWTs: signature with the key the `kid` names, standard claims, and
//! Sluice's permissions. Hands the core a [`Grant`].

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, Validation};
use sluice_core::TokenVerifier;
use sluice_core::{AuthFailure, Grant, Permissions, SubjectPattern};

use crate::{AuthConfig, Claims, KeyConfig};

/// A configured key that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("auth.keys: key {0:?} is listed twice")]
    DuplicateKid(String),
    #[error("auth.keys: {0:?} is an HS* key and needs `secret`")]
    MissingSecret(String),
    #[error("auth.keys: {0:?} is an RS256/ES256 key and needs `public_key_pem_file`")]
    MissingPem(String),
    #[error("auth.keys: {kid:?}: {path}: {err}")]
    Pem {
        kid: String,
        path: String,
        err: String,
    },
    #[error("auth.mode = \"jwt\" needs at least one key in auth.keys")]
    NoKeys,
}

struct Key {
    kid: String,
    decoding: DecodingKey,
    validation: Validation,
}

/// Checks tokens against the configured keys.
pub struct JwtVerifier {
    keys: Vec<Key>,
    nbf_leeway_s: u64,
}

impl JwtVerifier {
    pub fn new(config: &AuthConfig) -> Result<Self, KeyError> {
        if config.keys.is_empty() {
            return Err(KeyError::NoKeys);
        }
        let mut keys: Vec<Key> = Vec::with_capacity(config.keys.len());
        for key in &config.keys {
            if keys.iter().any(|k| k.kid == key.kid) {
                return Err(KeyError::DuplicateKid(key.kid.clone()));
            }
            keys.push(Key {
                kid: key.kid.clone(),
                decoding: decoding_key(key)?,
                validation: validation(config, key),
            });
        }
        Ok(JwtVerifier {
            keys,
            nbf_leeway_s: config.nbf_leeway_s,
        })
    }

    /// The key a token's header names. Without `kid`, only a lone key is assumed.
    fn key_for(&self, kid: Option<&str>) -> Result<&Key, AuthFailure> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid == kid)
                .ok_or_else(|| fail("unknown key id (`kid`)")),
            None if self.keys.len() == 1 => Ok(&self.keys[0]),
            None => Err(fail("the token names no key (`kid`)")),
        }
    }
}

fn fail(message: &str) -> AuthFailure {
    AuthFailure(message.to_owned())
}

fn decoding_key(key: &KeyConfig) -> Result<DecodingKey, KeyError> {
    if key.algorithm.is_hmac() {
        let secret = key
            .secret
            .as_ref()
            .ok_or_else(|| KeyError::MissingSecret(key.kid.clone()))?;
        return Ok(DecodingKey::from_secret(secret.as_bytes()));
    }
    let path = key
        .public_key_pem_file
        .as_ref()
        .ok_or_else(|| KeyError::MissingPem(key.kid.clone()))?;
    let pem_error = |err: String| KeyError::Pem {
        kid: key.kid.clone(),
        path: path.display().to_string(),
        err,
    };
    let pem = std::fs::read(path).map_err(|e| pem_error(e.to_string()))?;
    let decoded = match key.algorithm.jwt() {
        jsonwebtoken::Algorithm::ES256 => DecodingKey::from_ec_pem(&pem),
        _ => DecodingKey::from_rsa_pem(&pem),
    };
    decoded.map_err(|e| pem_error(e.to_string()))
}

/// Exactly the key's algorithm (no algorithm confusion, no `none`), `exp` and `sub`
/// required, `exp` without leeway; `nbf` is checked by [`JwtVerifier`] with its own.
fn validation(config: &AuthConfig, key: &KeyConfig) -> Validation {
    let mut v = Validation::new(key.algorithm.jwt());
    v.leeway = 0;
    v.validate_nbf = false;
    v.set_required_spec_claims(&["exp", "sub"]);
    if let Some(iss) = &config.issuer {
        v.set_issuer(&[iss]);
    }
    match &config.audience {
        Some(aud) => v.set_audience(&[aud]),
        None => v.validate_aud = false,
    }
    v
}

fn describe(err: &jsonwebtoken::errors::Error) -> &'static str {
    match err.kind() {
        ErrorKind::ExpiredSignature => "token expired",
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidAlgorithm => "the token's algorithm is not its key's",
        ErrorKind::InvalidIssuer => "wrong issuer (`iss`)",
        ErrorKind::InvalidAudience => "wrong audience (`aud`)",
        ErrorKind::MissingRequiredClaim(_) => "the token lacks `exp` or `sub`",
        ErrorKind::Json(_) => "malformed claims",
        _ => "malformed token",
    }
}

fn parse_patterns(texts: &[String]) -> Result<Vec<SubjectPattern>, AuthFailure> {
    texts
        .iter()
        .map(|t| {
            SubjectPattern::parse(t).map_err(|e| AuthFailure(format!("permissions: {t:?}: {e}")))
        })
        .collect()
}

impl TokenVerifier for JwtVerifier {
    fn verify(&self, token: &str, now_ms: u64) -> Result<Grant, AuthFailure> {
        // `alg: none` and unknown algorithms fail here: jsonwebtoken has no `none`.
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| fail("malformed token header, or an algorithm Sluice does not accept"))?;
        let key = self.key_for(header.kid.as_deref())?;
        let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, &key.validation)
            .map_err(|e| fail(describe(&e)))?;
        let claims = data.claims;
        let wall_now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        if claims
            .nbf
            .is_some_and(|nbf| nbf > wall_now_ms / 1000 + self.nbf_leeway_s)
        {
            return Err(fail("token not valid yet (`nbf`)"));
        }
        let expires_in_ms = claims.exp.saturating_mul(1000).saturating_sub(wall_now_ms);
        if expires_in_ms == 0 {
            return Err(fail("token expired"));
        }
        let p = &claims.permissions;
        Ok(Grant {
            user: claims.sub,
            token_id: claims.jti,
            permissions: Permissions {
                subscribe: parse_patterns(&p.sub)?,
                publish: parse_patterns(&p.publish)?,
                all: parse_patterns(&p.all)?,
            },
            expires_at_ms: Some(now_ms.saturating_add(expires_in_ms)),
        })
    }
}
