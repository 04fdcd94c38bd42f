//! Cosign-compatible signing keys: generation, PEM export and loading of
//! `ENCRYPTED SIGSTORE PRIVATE KEY` files, all through sigstore's own code.

use std::fmt;

use sigstore::crypto::{
    CosignVerificationKey, SigStoreSigner, SigningScheme, signing_key::SigStoreKeyPair,
};

use crate::{Error, Result};

/// The only scheme cosign uses for generated keys (`cosign generate-key-pair`).
pub const SIGNING_SCHEME: SigningScheme = SigningScheme::ECDSA_P256_SHA256_ASN1;

/// An ECDSA P-256 key pair in the formats cosign reads and writes.
pub struct TestKey {
    /// PEM `PUBLIC KEY` (what `cosign.pub` holds).
    pub public_pem: String,
    /// PEM `ENCRYPTED SIGSTORE PRIVATE KEY` (scrypt + nacl/secretbox, what `cosign.key` holds).
    pub private_pem: String,
    /// Password that decrypts [`TestKey::private_pem`]; may be empty, as with cosign.
    pub password: String,
    signer: SigStoreSigner,
}

impl TestKey {
    /// Generates a fresh key pair protected by an empty password.
    pub fn generate() -> Result<Self> {
        Self::generate_with_password("")
    }

    /// Generates a fresh key pair whose private PEM is encrypted with `password`.
    pub fn generate_with_password(password: &str) -> Result<Self> {
        let signer = SIGNING_SCHEME.create_signer()?;
        let pair = signer.to_sigstore_keypair()?;
        // Cosign encrypts the key even when the password is empty, so always encrypt.
        let private_pem = pair.private_key_to_encrypted_pem(password.as_bytes())?;
        Ok(Self {
            public_pem: pair.public_key_to_pem()?,
            private_pem: private_pem.as_str().to_owned(),
            password: password.to_owned(),
            signer,
        })
    }

    /// Loads a cosign private key (encrypted, or plain PKCS#8 with an empty password).
    pub fn load(private_pem: &str, password: &str) -> Result<Self> {
        let load_error = |e| Error::KeyLoad(Box::new(e));
        let pair = SigStoreKeyPair::from_encrypted_pem(private_pem.as_bytes(), password.as_bytes())
            .map_err(load_error)?;
        let signer = pair
            .to_sigstore_signer(&SIGNING_SCHEME)
            .map_err(load_error)?;
        Ok(Self {
            public_pem: pair.public_key_to_pem()?,
            private_pem: private_pem.to_owned(),
            password: password.to_owned(),
            signer,
        })
    }

    /// The signer handed to sigstore's `PrivateKeySigner`.
    pub fn signer(&self) -> &SigStoreSigner {
        &self.signer
    }

    /// Builds a fresh signer from the stored key; `PrivateKeySigner` takes ownership of one.
    pub fn to_signer(&self) -> Result<SigStoreSigner> {
        Ok(self
            .signer
            .to_sigstore_keypair()?
            .to_sigstore_signer(&SIGNING_SCHEME)?)
    }

    /// The public half as a sigstore verification key.
    pub fn verification_key(&self) -> Result<CosignVerificationKey> {
        Ok(self.signer.to_verification_key()?)
    }
}

impl fmt::Debug for TestKey {
    // Never print the private key or its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKey")
            .field("public_pem", &self.public_pem)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_round_trips_through_encrypted_pem() {
        let key = TestKey::generate_with_password("s3cret").expect("generate");
        assert!(key.private_pem.contains("ENCRYPTED SIGSTORE PRIVATE KEY"));
        assert!(key.public_pem.contains("BEGIN PUBLIC KEY"));
        let loaded = TestKey::load(&key.private_pem, "s3cret").expect("load");
        assert_eq!(loaded.public_pem, key.public_pem);
    }

    #[test]
    fn empty_password_still_encrypts() {
        let key = TestKey::generate().expect("generate");
        assert!(key.private_pem.contains("ENCRYPTED SIGSTORE PRIVATE KEY"));
        assert!(TestKey::load(&key.private_pem, "").is_ok());
    }

    #[test]
    fn wrong_password_is_rejected() {
        let key = TestKey::generate_with_password("right").expect("generate");
        let err = TestKey::load(&key.private_pem, "wrong").expect_err("must fail");
        assert!(matches!(err, Error::KeyLoad(_)), "{err:?}");
    }
}
