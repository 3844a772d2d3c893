//! `sluice token`: issues a token with one of the configured HMAC keys, for
//! development and for services that mint tokens with the gateway's own config.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sluice::config::Config;
use sluice_auth::{Claims, PermissionClaims};

/// What the token grants, from the command line.
pub struct TokenRequest {
    pub kid: Option<String>,
    pub user: String,
    pub subscribe: Vec<String>,
    pub publish: Vec<String>,
    pub all: Vec<String>,
    pub ttl_s: u64,
    pub jti: Option<String>,
}

/// Prints a signed token for `request` with the key `kid` (or the only key).
pub fn issue(config: &Config, request: TokenRequest) -> anyhow::Result<()> {
    let keys = &config.auth.keys;
    let key = match &request.kid {
        Some(kid) => keys
            .iter()
            .find(|k| &k.kid == kid)
            .with_context(|| format!("no key {kid:?} in auth.keys"))?,
        None if keys.len() == 1 => &keys[0],
        None => anyhow::bail!("auth.keys has {} keys; choose one with --kid", keys.len()),
    };
    for pattern in request
        .subscribe
        .iter()
        .chain(&request.publish)
        .chain(&request.all)
    {
        sluice_core::SubjectPattern::parse(pattern)
            .map_err(|e| anyhow::anyhow!("{pattern:?}: {e}"))?;
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let claims = Claims {
        jti: Some(
            request
                .jti
                .unwrap_or_else(|| format!("{}-{}", request.user, now.as_nanos())),
        ),
        sub: request.user,
        exp: now.as_secs() + request.ttl_s,
        nbf: None,
        iat: Some(now.as_secs()),
        permissions: PermissionClaims {
            sub: request.subscribe,
            publish: request.publish,
            all: request.all,
        },
    };
    println!("{}", sluice_auth::issue_token(key, &claims)?);
    Ok(())
}
