//! A certificate's SHA-256 fingerprint: what the gateway prints and a client pins.

use std::fmt;
use std::str::FromStr;

use crate::error::TlsError;

/// SHA-256 of a certificate's DER encoding. Written as 32 colon-separated hex
/// pairs (`AB:CD:...`, as `openssl x509 -fingerprint -sha256` prints it); parsed
/// with or without colons, in either case.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub fn of(certificate_der: &[u8]) -> Fingerprint {
        let digest = ring::digest::digest(&ring::digest::SHA256, certificate_der);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Fingerprint(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = TlsError;

    fn from_str(text: &str) -> Result<Fingerprint, TlsError> {
        let invalid = || TlsError::Fingerprint(text.to_owned());
        let hex: Vec<u8> = text.trim().bytes().filter(|b| *b != b':').collect();
        if hex.len() != 64 {
            return Err(invalid());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| invalid())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
        }
        Ok(Fingerprint(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_the_der_printed_and_parsed_back() {
        // SHA-256("abc"), FIPS 180-2's example.
        let fingerprint = Fingerprint::of(b"abc");
        let printed = fingerprint.to_string();
        assert!(printed.starts_with("BA:78:16:BF:8F:01:CF:EA"), "{printed}");
        assert_eq!(printed.parse::<Fingerprint>().unwrap(), fingerprint);
        let bare = printed.replace(':', "").to_lowercase();
        assert_eq!(bare.parse::<Fingerprint>().unwrap(), fingerprint);
    }

    #[test]
    fn malformed_fingerprints_are_refused() {
        for text in ["", "AB:CD", &"G".repeat(64), &"é".repeat(32)] {
            assert!(text.parse::<Fingerprint>().is_err(), "{text}");
        }
    }
}
