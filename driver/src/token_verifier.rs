//! The seam between the core and whoever checks token signatures.

use sluice_core::{AuthFailure, Grant};

/// Checks a token's signature and standard claims and turns it into the [`Grant`]
/// the core applies. `now_ms` is the runtime's clock ([`crate::Runtime::now_ms`]):
/// the verifier states the expiry on it, so the core never reads a wall clock.
/// Pure computation: it is called with the gateway locked.
pub trait TokenVerifier: Send + Sync {
    fn verify(&self, token: &str, now_ms: u64) -> Result<Grant, AuthFailure>;
}
