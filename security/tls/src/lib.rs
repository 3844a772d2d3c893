//! # sluice-tls
//!
//! TLS for both Sluice transports (`wss://` and QUIC) and for the Rust client, on
//! rustls with the `ring` provider. The gateway side serves a certificate that
//! can be reloaded while connections stay up ([`ReloadableCert`]); the client side
//! trusts either the Mozilla roots or pinned SHA-256 fingerprints
//! ([`client_config`]). [`Fingerprint`] is the pin format both sides print and parse.

mod client_config;
mod error;
mod fingerprint;
mod pinned_verifier;
mod reloadable_cert;
mod server_config;

pub use client_config::client_config;
pub use error::TlsError;
pub use fingerprint::Fingerprint;
pub use reloadable_cert::ReloadableCert;
pub use rustls;
pub use server_config::server_config;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

/// The one crypto provider of Sluice, named explicitly so a dependency that
/// enables another rustls backend cannot make the choice ambiguous.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
