//! The seam between the core and whoever checks token signatures.

use super::{AuthFailure, Grant};

/// Checks a token's signature and standard claims and turns it into the [`Grant`]
/// the core applies. `now_ms` is the driver's clock: the verifier states the expiry
/// on it, so the core never reads a wall clock.
///
/// The core only names the seam: it asks for a check with
/// [`crate::Output::Authenticate`] and takes the verdict as
/// [`crate::Input::Authenticated`]. A driver calls `verify` between the two without
/// holding the gateway, so a signature check never stalls other connections.
pub trait TokenVerifier: Send + Sync {
    fn verify(&self, token: &str, now_ms: u64) -> Result<Grant, AuthFailure>;
}
