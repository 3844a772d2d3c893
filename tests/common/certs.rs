//! Certificates for tests, as an operator would deploy them: PEM files.

use std::path::Path;

use sluice_tls::Fingerprint;

/// Writes a fresh self-signed certificate for localhost and its key as PEM files;
/// returns the certificate's SHA-256 fingerprint.
pub fn write_certificate(cert_path: &Path, key_path: &Path) -> Fingerprint {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    std::fs::write(cert_path, generated.cert.pem()).unwrap();
    std::fs::write(key_path, generated.signing_key.serialize_pem()).unwrap();
    Fingerprint::of(generated.cert.der())
}

/// A fresh directory for one test's files.
pub fn temp_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
