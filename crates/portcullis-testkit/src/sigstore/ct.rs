//! A fake Certificate Transparency log and RFC 6962 embedded SCTs.
//!
//! A leaf is issued without the SCT-list extension first; its TBS is the precertificate TBS
//! the log signs. The final certificate is that TBS with the (non-critical) SCT-list extension
//! 1.3.6.1.4.1.11129.2.4.2 appended and re-signed by the issuer, so removing that extension
//! from the final TBS gives back exactly the bytes the log signed.

use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PublicKeyData as _, SigningKey as _};
use sha2::{Digest as _, Sha256};

use super::der;
use crate::{Error, Result};

/// OID of the embedded SCT list extension.
pub const SCT_LIST_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2];

/// A fake CT log with an ECDSA P-256 key; its log id is sha256(SPKI DER).
pub struct FakeCtLog {
    key: KeyPair,
}

fn key_error(e: rcgen::Error) -> Error {
    Error::Invalid(format!("CT log key: {e}"))
}

impl FakeCtLog {
    /// A fresh log key.
    pub fn new() -> Result<Self> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(key_error)?;
        Ok(Self { key })
    }

    /// The log's public key, SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.key.subject_public_key_info()
    }

    /// The log's public key, PEM.
    pub fn public_key_pem(&self) -> String {
        self.key.public_key_pem()
    }

    /// The RFC 6962 log id: sha256 of the SPKI DER.
    pub fn log_id(&self) -> [u8; 32] {
        Sha256::digest(self.public_key_der()).into()
    }

    /// A v1 SCT (TLS encoding) for the precertificate `tbs` issued by the key `issuer_spki`
    /// (DER SubjectPublicKeyInfo), timestamped `timestamp_ms` (Unix milliseconds).
    pub fn sign_sct(&self, issuer_spki: &[u8], tbs: &[u8], timestamp_ms: u64) -> Result<Vec<u8>> {
        let issuer_key_hash: [u8; 32] = Sha256::digest(issuer_spki).into();
        let signed = sct_signed_data(timestamp_ms, &issuer_key_hash, tbs)?;
        let signature = self.key.sign(&signed).map_err(key_error)?;
        let mut sct = vec![0u8]; // version v1
        sct.extend_from_slice(&self.log_id());
        sct.extend_from_slice(&timestamp_ms.to_be_bytes());
        sct.extend_from_slice(&[0, 0]); // no extensions
        sct.extend_from_slice(&[4, 3]); // sha256, ecdsa
        sct.extend_from_slice(&u16_len(signature.len())?);
        sct.extend_from_slice(&signature);
        Ok(sct)
    }
}

impl std::fmt::Debug for FakeCtLog {
    // Never print the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeCtLog")
            .field("log_id", &hex::encode(self.log_id()))
            .finish_non_exhaustive()
    }
}

fn u16_len(len: usize) -> Result<[u8; 2]> {
    u16::try_from(len)
        .map(u16::to_be_bytes)
        .map_err(|_| Error::Invalid(format!("{len} bytes do not fit a TLS u16 length")))
}

/// The RFC 6962 `digitally-signed` struct of a precert SCT: version v1, certificate_timestamp,
/// the timestamp, entry type precert_entry, issuer key hash, the TBS (u24 length), and no
/// extensions.
pub fn sct_signed_data(
    timestamp_ms: u64,
    issuer_key_hash: &[u8; 32],
    tbs: &[u8],
) -> Result<Vec<u8>> {
    let len = u32::try_from(tbs.len())
        .ok()
        .filter(|l| *l < 1 << 24)
        .ok_or_else(|| Error::Invalid("TBS too large for an SCT".into()))?;
    let mut out = vec![0u8, 0u8]; // v1, certificate_timestamp
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    out.extend_from_slice(&[0, 1]); // precert_entry
    out.extend_from_slice(issuer_key_hash);
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(tbs);
    out.extend_from_slice(&[0, 0]);
    Ok(out)
}

/// `cert_der` (issued by `issuer_key`) with an SCT from `log` embedded: the log signs the TBS
/// as issued, the returned certificate is that TBS plus the SCT-list extension, re-signed.
pub(crate) fn embed_sct(
    cert_der: &[u8],
    issuer_key: &KeyPair,
    log: &FakeCtLog,
    timestamp_ms: u64,
) -> Result<Vec<u8>> {
    let cert = der::read_only(cert_der, 0x30)?;
    let [tbs, algorithm, _signature] = der::children(cert.content)?[..] else {
        return Err(Error::Invalid(
            "certificate is not TBS, algorithm, signature".into(),
        ));
    };
    let sct = log.sign_sct(&issuer_key.subject_public_key_info(), tbs.raw, timestamp_ms)?;
    let mut list = u16_len(sct.len() + 2)?.to_vec();
    list.extend_from_slice(&u16_len(sct.len())?);
    list.extend_from_slice(&sct);
    let extension = der::seq(&[&der::oid(SCT_LIST_OID), &der::octets(&der::octets(&list))]);

    let fields = der::children(tbs.content)?;
    let Some((last, leading)) = fields.split_last().filter(|(last, _)| last.tag == 0xa3) else {
        return Err(Error::Invalid("certificate TBS has no extensions".into()));
    };
    let extensions = der::read_only(last.content, 0x30)?;
    let new_extensions = der::explicit(
        3,
        &der::tlv(0x30, &[extensions.content, &extension].concat()),
    );
    let mut tbs_content: Vec<u8> = leading.iter().flat_map(|f| f.raw.iter().copied()).collect();
    tbs_content.extend_from_slice(&new_extensions);
    let new_tbs = der::tlv(0x30, &tbs_content);
    let signature = issuer_key.sign(&new_tbs).map_err(key_error)?;
    Ok(der::seq(&[&new_tbs, algorithm.raw, &der::bits(&signature)]))
}
