//! Keyed MACs derived from the gate key: one HKDF-SHA256 derivation per purpose, so the
//! audit chain key and the token hash key are independent and neither reveals the signing
//! key.

use aws_lc_rs::{hkdf, hmac};

use crate::{Error, Result};

/// What a derived MAC key is for; the label is part of the derivation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacPurpose {
    /// The audit event chain.
    AuditEvents,
    /// API token hashes at rest.
    ApiTokens,
}

impl MacPurpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::AuditEvents => b"portcullis/v1/audit-events",
            Self::ApiTokens => b"portcullis/v1/api-tokens",
        }
    }
}

/// An HMAC-SHA256 key tied to one gate key and one purpose.
#[derive(Clone)]
pub struct MacKey {
    key: hmac::Key,
    key_id: String,
}

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MacKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

impl MacKey {
    /// A MAC key over `secret` as given (not derived from the gate key), e.g. a webhook
    /// subscriber's shared secret; `key_id` names it in logs.
    pub fn from_secret(secret: &[u8], key_id: &str) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            key_id: key_id.to_owned(),
        }
    }

    pub(crate) fn derive(secret: &[u8], key_id: &str, purpose: MacPurpose) -> Result<Self> {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"portcullis gate key");
        let info = [purpose.label()];
        let mut okm = [0u8; 32];
        salt.extract(secret)
            .expand(&info, Len32)
            .and_then(|o| o.fill(&mut okm))
            .map_err(|_| Error::InvalidKey("HKDF derivation failed".into()))?;
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &okm),
            key_id: key_id.to_owned(),
        })
    }

    /// The id of the gate key this was derived from.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// HMAC-SHA256 of `data`.
    pub fn sign(&self, data: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&self.key, data);
        let mut out = [0u8; 32];
        out.copy_from_slice(&tag.as_ref()[..32]);
        out
    }

    /// Constant-time check of `tag` over `data`.
    pub fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.key, data, tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use crate::GateKey;

    use super::*;

    #[test]
    fn purposes_and_keys_give_different_macs() {
        let a = GateKey::generate().unwrap();
        let b = GateKey::generate().unwrap();
        let audit = a.mac_key(MacPurpose::AuditEvents).unwrap();
        let tokens = a.mac_key(MacPurpose::ApiTokens).unwrap();
        assert_ne!(audit.sign(b"x"), tokens.sign(b"x"));
        assert_ne!(
            audit.sign(b"x"),
            b.mac_key(MacPurpose::AuditEvents).unwrap().sign(b"x")
        );
        assert_eq!(
            audit.sign(b"x"),
            GateKey::from_pem(&a.to_pem())
                .unwrap()
                .mac_key(MacPurpose::AuditEvents)
                .unwrap()
                .sign(b"x")
        );
        assert!(audit.verify(b"x", &audit.sign(b"x")));
        assert!(!audit.verify(b"y", &audit.sign(b"x")));
    }
}
