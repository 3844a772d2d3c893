//! Trusting exactly the certificates whose fingerprints the application pinned.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, Error, SignatureScheme};

use crate::fingerprint::Fingerprint;

/// Accepts a server whose leaf certificate has one of the pinned SHA-256
/// fingerprints, and nothing else. A pin names one certificate exactly, so names
/// and expiry are not checked (a self-signed dev certificate is the typical pin);
/// the handshake signature still proves the server holds its private key.
#[derive(Debug)]
pub(crate) struct PinnedVerifier {
    pins: Vec<Fingerprint>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedVerifier {
    pub(crate) fn new(pins: Vec<Fingerprint>, algorithms: WebPkiSupportedAlgorithms) -> Self {
        PinnedVerifier { pins, algorithms }
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let presented = Fingerprint::of(end_entity);
        if self.pins.contains(&presented) {
            return Ok(ServerCertVerified::assertion());
        }
        let pinned: Vec<String> = self.pins.iter().map(ToString::to_string).collect();
        // `Error::Other` shows the mismatch as written below; a `CertificateError`
        // would show it in debug form.
        Err(Error::Other(rustls::OtherError(std::sync::Arc::new(
            PinMismatch {
                presented,
                pinned: pinned.join(", "),
            },
        ))))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The error a client sees when the server is not the pinned one.
#[derive(Debug)]
struct PinMismatch {
    presented: Fingerprint,
    pinned: String,
}

impl std::fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "certificate pin mismatch: the server presented SHA-256 {}, pinned: {}",
            self.presented, self.pinned
        )
    }
}

impl std::error::Error for PinMismatch {}
