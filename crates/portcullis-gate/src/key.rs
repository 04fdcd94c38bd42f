//! The gate key: generated, loaded from PKCS#8 PEM, identified by the SHA-256 of its public
//! key (SubjectPublicKeyInfo DER), and the key ring that verifies with it and retired keys.

use std::path::Path;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, ED25519, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair, UnparsedPublicKey,
};
use sha2::{Digest as _, Sha256};

use crate::mac::{MacKey, MacPurpose};
use crate::{Error, Result};

/// A signature algorithm the gate key may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// ECDSA over P-256 with SHA-256, ASN.1 DER signatures (cosign's default).
    EcdsaP256,
    /// Ed25519.
    Ed25519,
}

impl Algorithm {
    /// The name used in `GET /v1/gate/keys`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "ecdsa-p256-sha256",
            Self::Ed25519 => "ed25519",
        }
    }
}

enum Signer {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A public key with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// `sha256:<hex>` of the SubjectPublicKeyInfo DER.
    pub key_id: String,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// SubjectPublicKeyInfo DER.
    pub spki_der: Vec<u8>,
}

impl PublicKey {
    fn new(algorithm: Algorithm, spki_der: Vec<u8>) -> Self {
        Self {
            key_id: format!("sha256:{}", hex::encode(Sha256::digest(&spki_der))),
            algorithm,
            spki_der,
        }
    }

    /// Parses a `PUBLIC KEY` PEM (P-256 or Ed25519).
    pub fn from_pem(text: &str) -> Result<Self> {
        let block = pem::parse(text)
            .map_err(|e| Error::InvalidKey(format!("not a PEM public key: {e}")))?;
        if block.tag() != "PUBLIC KEY" {
            return Err(Error::InvalidKey(format!(
                "expected a PUBLIC KEY PEM block, found {}",
                block.tag()
            )));
        }
        let der = block.contents().to_vec();
        for (alg, algorithm) in [
            (Algorithm::EcdsaP256, &ECDSA_P256_SHA256_ASN1 as _),
            (Algorithm::Ed25519, &ED25519 as _),
        ] {
            if UnparsedPublicKey::new(algorithm, &der).parse().is_ok() {
                return Ok(Self::new(alg, der));
            }
        }
        Err(Error::InvalidKey(
            "the public key is neither ECDSA P-256 nor Ed25519".into(),
        ))
    }

    /// The `PUBLIC KEY` PEM.
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.spki_der.clone()))
    }

    /// Checks `signature` over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<()> {
        let algorithm: &dyn aws_lc_rs::signature::VerificationAlgorithm = match self.algorithm {
            Algorithm::EcdsaP256 => &ECDSA_P256_SHA256_ASN1,
            Algorithm::Ed25519 => &ED25519,
        };
        UnparsedPublicKey::new(algorithm, &self.spki_der)
            .verify(message, signature)
            .map_err(|_| Error::BadSignature(format!("not signed by key {}", self.key_id)))
    }
}

/// The gate's signing key.
pub struct GateKey {
    signer: Signer,
    public: PublicKey,
    /// The PKCS#8 DER, kept to derive MAC keys from.
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for GateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GateKey")
            .field("key_id", &self.public.key_id)
            .finish_non_exhaustive()
    }
}

impl GateKey {
    /// A new ECDSA P-256 key.
    pub fn generate() -> Result<Self> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .map_err(|_| Error::InvalidKey("key generation failed".into()))?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// Parses PKCS#8 DER (P-256 first, then Ed25519).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self> {
        if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der) {
            let spki = pair
                .public_key()
                .as_der()
                .map_err(|_| Error::InvalidKey("cannot encode the public key".into()))?;
            return Ok(Self {
                public: PublicKey::new(Algorithm::EcdsaP256, spki.as_ref().to_vec()),
                signer: Signer::Ecdsa(pair),
                pkcs8: der.to_vec(),
            });
        }
        if let Ok(pair) = Ed25519KeyPair::from_pkcs8(der) {
            let spki = pair
                .public_key()
                .as_der()
                .map_err(|_| Error::InvalidKey("cannot encode the public key".into()))?;
            return Ok(Self {
                public: PublicKey::new(Algorithm::Ed25519, spki.as_ref().to_vec()),
                signer: Signer::Ed25519(pair),
                pkcs8: der.to_vec(),
            });
        }
        Err(Error::InvalidKey(
            "the private key is neither an ECDSA P-256 nor an Ed25519 PKCS#8 key".into(),
        ))
    }

    /// Parses a `PRIVATE KEY` (PKCS#8) PEM.
    pub fn from_pem(text: &str) -> Result<Self> {
        let block = pem::parse(text)
            .map_err(|e| Error::InvalidKey(format!("not a PEM private key: {e}")))?;
        if block.tag() != "PRIVATE KEY" {
            return Err(Error::InvalidKey(format!(
                "expected an unencrypted PKCS#8 PRIVATE KEY PEM block, found {}",
                block.tag()
            )));
        }
        Self::from_pkcs8(block.contents())
    }

    /// Reads a key file; the error names the file, never its content.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_pem(&text).map_err(|e| Error::InvalidKey(format!("{}: {e}", path.display())))
    }

    /// The `PRIVATE KEY` PEM, for `portcullis keys generate`.
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PRIVATE KEY", self.pkcs8.clone()))
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The key id.
    pub fn key_id(&self) -> &str {
        &self.public.key_id
    }

    /// Signs `message` (DER for ECDSA, 64 bytes for Ed25519).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        match &self.signer {
            Signer::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| Error::Sign),
            Signer::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }

    /// The MAC key for `purpose`, derived from this key with HKDF-SHA256.
    pub fn mac_key(&self, purpose: MacPurpose) -> Result<MacKey> {
        MacKey::derive(&self.pkcs8, &self.public.key_id, purpose)
    }
}

/// The current gate key and the retired public keys that old records were signed with.
#[derive(Debug)]
pub struct KeyRing {
    current: GateKey,
    retired: Vec<PublicKey>,
}

impl KeyRing {
    /// A ring of `current` and `retired`.
    pub fn new(current: GateKey, retired: Vec<PublicKey>) -> Self {
        Self { current, retired }
    }

    /// The signing key.
    pub fn current(&self) -> &GateKey {
        &self.current
    }

    /// The retired public keys.
    pub fn retired(&self) -> &[PublicKey] {
        &self.retired
    }

    /// The public key with `key_id`, current or retired.
    pub fn public_key(&self, key_id: &str) -> Option<&PublicKey> {
        std::iter::once(self.current.public())
            .chain(self.retired.iter())
            .find(|k| k.key_id == key_id)
    }

    /// Checks that `key_id` (current or retired) signed `message`.
    pub fn verify(&self, key_id: &str, message: &[u8], signature: &[u8]) -> Result<()> {
        self.public_key(key_id)
            .ok_or_else(|| Error::BadSignature(format!("unknown gate key {key_id}")))?
            .verify(message, signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_round_trips_through_pem_and_verifies_its_signatures() {
        let key = GateKey::generate().unwrap();
        let again = GateKey::from_pem(&key.to_pem()).unwrap();
        assert_eq!(key.key_id(), again.key_id());
        let sig = again.sign(b"message").unwrap();
        key.public().verify(b"message", &sig).unwrap();
        assert!(key.public().verify(b"massage", &sig).is_err());
        let public = PublicKey::from_pem(&key.public().to_pem()).unwrap();
        assert_eq!(&public, key.public());
    }

    #[test]
    fn the_ring_verifies_with_retired_keys_and_refuses_unknown_ones() {
        let old = GateKey::generate().unwrap();
        let new = GateKey::generate().unwrap();
        let stranger = GateKey::generate().unwrap();
        let sig = old.sign(b"m").unwrap();
        let ring = KeyRing::new(new, vec![old.public().clone()]);
        ring.verify(old.key_id(), b"m", &sig).unwrap();
        let forged = stranger.sign(b"m").unwrap();
        assert!(ring.verify(old.key_id(), b"m", &forged).is_err());
        assert!(ring.verify(stranger.key_id(), b"m", &forged).is_err());
    }

    #[test]
    fn an_ed25519_key_signs_and_verifies_too() {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let key = GateKey::from_pkcs8(doc.as_ref()).unwrap();
        assert_eq!(key.public().algorithm, Algorithm::Ed25519);
        let again = GateKey::from_pem(&key.to_pem()).unwrap();
        let sig = again.sign(b"m").unwrap();
        let public = PublicKey::from_pem(&key.public().to_pem()).unwrap();
        assert_eq!(public.algorithm, Algorithm::Ed25519);
        public.verify(b"m", &sig).unwrap();
        assert!(public.verify(b"n", &sig).is_err());
    }

    #[test]
    fn an_encrypted_or_foreign_pem_is_refused_with_a_reason() {
        let err = GateKey::from_pem("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n").unwrap_err();
        assert!(err.to_string().contains("PKCS#8"), "{err}");
    }
}
