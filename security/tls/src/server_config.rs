//! The gateway's TLS configuration for one transport.

use std::sync::Arc;

use rustls::server::ServerSessionMemoryCache;
use rustls::ServerConfig;

use crate::error::TlsError;
use crate::reloadable_cert::ReloadableCert;

/// A server configuration serving `cert`, offering `alpn`. `session_cache_entries_max`
/// bounds the sessions kept for resumption (stateful tickets, single use: a 0-RTT
/// ticket cannot be replayed against this process). `early_data` accepts 0-RTT
/// (QUIC); the transport must then hold non-idempotent requests until the
/// handshake is complete.
pub fn server_config(
    cert: Arc<ReloadableCert>,
    alpn: &[&[u8]],
    session_cache_entries_max: usize,
    early_data: bool,
) -> Result<ServerConfig, TlsError> {
    let mut config = ServerConfig::builder_with_provider(crate::provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.session_storage = ServerSessionMemoryCache::new(session_cache_entries_max);
    if early_data {
        // QUIC requires exactly this value when early data is on (RFC 9001 §4.6.1).
        config.max_early_data_size = u32::MAX;
    }
    Ok(config)
}
