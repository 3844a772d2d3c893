//! Why TLS could not be set up.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("the private key does not fit the certificate or is unsupported: {0}")]
    Key(rustls::Error),
    #[error("building the TLS configuration: {0}")]
    Config(rustls::Error),
    #[error("generating a self-signed certificate: {0}")]
    Generate(String),
    #[error("not a SHA-256 fingerprint (64 hex digits, colons allowed): {0:?}")]
    Fingerprint(String),
}
