//! The client's TLS configuration: whom to trust, which protocol to ask for.

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};

use crate::error::TlsError;
use crate::fingerprint::Fingerprint;
use crate::pinned_verifier::PinnedVerifier;

/// A client configuration that trusts exactly `pins` when there are any, else the
/// Mozilla root certificates (webpki-roots: compiled in, so the same on every
/// platform and in minimal containers). `alpn` is offered in the handshake.
/// `early_data` allows 0-RTT on resumption; the caller decides what it sends early.
///
/// Each call has its own session-ticket cache, so sessions (and 0-RTT) are only
/// resumed with a server this same configuration verified.
pub fn client_config(
    pins: &[Fingerprint],
    alpn: &[&[u8]],
    early_data: bool,
) -> Result<ClientConfig, TlsError> {
    let provider = crate::provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?;
    let mut config = if pins.is_empty() {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        let verifier =
            PinnedVerifier::new(pins.to_vec(), provider.signature_verification_algorithms);
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth()
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.enable_early_data = early_data;
    Ok(config)
}
