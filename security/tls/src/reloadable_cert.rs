//! The gateway's certificate, swappable while connections are up.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::error::TlsError;
use crate::fingerprint::Fingerprint;

/// The certificate every new handshake gets, on both transports. [`reload`]
/// replaces it; connections already up keep the session they negotiated, so a
/// reload (on SIGHUP) drops nothing.
///
/// [`reload`]: ReloadableCert::reload
#[derive(Debug)]
pub struct ReloadableCert {
    /// `None` for a generated certificate, which has nothing to reload from.
    files: Option<(PathBuf, PathBuf)>,
    current: RwLock<Loaded>,
}

#[derive(Debug, Clone)]
struct Loaded {
    key: Arc<CertifiedKey>,
    fingerprint: Fingerprint,
}

impl ReloadableCert {
    /// Loads a PEM certificate chain (leaf first) and its PEM private key (PKCS#8,
    /// PKCS#1 or SEC1), checking that they belong together.
    pub fn from_files(cert_path: &Path, key_path: &Path) -> Result<ReloadableCert, TlsError> {
        let loaded = load(cert_path, key_path)?;
        Ok(ReloadableCert {
            files: Some((cert_path.to_owned(), key_path.to_owned())),
            current: RwLock::new(loaded),
        })
    }

    /// Dev mode: a fresh self-signed certificate for `names` (host names or IP
    /// addresses). Clients trust it by pinning [`ReloadableCert::fingerprint`].
    #[cfg(feature = "self-signed")]
    pub fn self_signed(names: &[String]) -> Result<ReloadableCert, TlsError> {
        let generated = rcgen::generate_simple_self_signed(names.to_vec())
            .map_err(|err| TlsError::Generate(err.to_string()))?;
        let cert = generated.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(generated.signing_key.serialize_der().into());
        let loaded = certified(vec![cert], key)?;
        Ok(ReloadableCert {
            files: None,
            current: RwLock::new(loaded),
        })
    }

    /// Reads the files again and serves the new certificate to new handshakes.
    /// On error the old one stays. A generated certificate is kept as it is.
    pub fn reload(&self) -> Result<Fingerprint, TlsError> {
        if let Some((cert_path, key_path)) = &self.files {
            let loaded = load(cert_path, key_path)?;
            *self.current.write().unwrap_or_else(|p| p.into_inner()) = loaded;
        }
        Ok(self.fingerprint())
    }

    /// Whether [`ReloadableCert::reload`] reads files (false in dev mode).
    pub fn is_reloadable(&self) -> bool {
        self.files.is_some()
    }

    /// SHA-256 of the leaf certificate served now: what a client pins.
    pub fn fingerprint(&self) -> Fingerprint {
        self.loaded().fingerprint
    }

    fn loaded(&self) -> Loaded {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.loaded().key)
    }
}

fn load(cert_path: &Path, key_path: &Path) -> Result<Loaded, TlsError> {
    let pem_error = |path: &Path, err: rustls::pki_types::pem::Error| match err {
        rustls::pki_types::pem::Error::Io(source) => TlsError::Read {
            path: path.to_owned(),
            source,
        },
        other => TlsError::Pem {
            path: path.to_owned(),
            reason: other.to_string(),
        },
    };
    let certs = CertificateDer::pem_file_iter(cert_path)
        .map_err(|err| pem_error(cert_path, err))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| pem_error(cert_path, err))?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: cert_path.to_owned(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|err| pem_error(key_path, err))?;
    certified(certs, key)
}

fn certified(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Loaded, TlsError> {
    let fingerprint = Fingerprint::of(&certs[0]);
    let key = CertifiedKey::from_der(certs, key, &crate::provider()).map_err(TlsError::Key)?;
    Ok(Loaded {
        key: Arc::new(key),
        fingerprint,
    })
}
