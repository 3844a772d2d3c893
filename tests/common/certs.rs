//! Certificates for tests, as an operator would deploy them: PEM files.

use std::path::{Path, PathBuf};

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

/// [`write_certificate`] to `dir/name.crt` and `dir/name.key`; returns both paths.
pub fn write_certificate_in(dir: &Path, name: &str) -> (PathBuf, PathBuf, Fingerprint) {
    let cert_path = dir.join(format!("{name}.crt"));
    let key_path = dir.join(format!("{name}.key"));
    let fingerprint = write_certificate(&cert_path, &key_path);
    (cert_path, key_path, fingerprint)
}

/// A fresh directory for one test's files.
pub fn temp_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
