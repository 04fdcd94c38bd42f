//! Trusted public keys (`trust.keys`): cosign's PEM keys, usable for cosign signature layers
//! and for raw signatures (DSSE, Sigstore bundles with a public-key hint).

use std::path::Path;

use portcullis_core::Digest;
use sigstore::cosign::verification_constraint::PublicKeyVerifier;
use sigstore::crypto::{CosignVerificationKey, Signature};

use crate::{Error, Result};

/// A trusted cosign public key.
pub struct TrustedKey {
    /// The id policies see.
    pub id: String,
    pub(crate) verifier: PublicKeyVerifier,
    /// The same key, for raw signatures (DSSE) that are not cosign signature layers.
    raw: CosignVerificationKey,
    /// Hex SHA-256 of the DER public key: matched against DSSE `keyid` hints only to explain
    /// a rejection, never to choose or trust a key.
    fingerprint: String,
    /// The DER SubjectPublicKeyInfo, to match what a transparency log recorded.
    der: Vec<u8>,
}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl TrustedKey {
    /// Loads a PEM public key (ECDSA P-256/P-384, RSA or Ed25519, as cosign writes them).
    pub fn from_pem(id: &str, pem: &[u8]) -> Result<Self> {
        let verifier = PublicKeyVerifier::try_from(pem).map_err(|e| Error::InvalidKey {
            id: id.to_owned(),
            reason: e.to_string(),
        })?;
        let raw = CosignVerificationKey::try_from_pem(pem).map_err(|e| Error::InvalidKey {
            id: id.to_owned(),
            reason: e.to_string(),
        })?;
        let der = pem_der(pem).unwrap_or_default();
        Ok(Self {
            id: id.to_owned(),
            verifier,
            raw,
            fingerprint: if der.is_empty() {
                String::new()
            } else {
                Digest::sha256_of(&der).hex().to_owned()
            },
            der,
        })
    }

    /// The DER SubjectPublicKeyInfo of the key (empty when the PEM could not be re-read).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Hex SHA-256 of the DER public key (what the testkit writes as a DSSE `keyid`).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether `signature` (raw bytes, ASN.1 DER for ECDSA) is this key's signature over
    /// `message`, e.g. a DSSE pre-authentication encoding.
    pub fn verifies(&self, signature: &[u8], message: &[u8]) -> bool {
        self.raw
            .verify_signature(Signature::Raw(signature), message)
            .is_ok()
    }

    /// Loads a PEM public key from a file.
    pub fn from_file(id: &str, path: &Path) -> Result<Self> {
        let pem = std::fs::read(path).map_err(|e| Error::InvalidKey {
            id: id.to_owned(),
            reason: format!("cannot read {}: {e}", path.display()),
        })?;
        Self::from_pem(id, &pem)
    }
}

/// The DER body of a PEM document; `None` when it is not PEM.
fn pem_der(pem: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let text = std::str::from_utf8(pem).ok()?;
    let body: String = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}
