//! Embedded Signed Certificate Timestamps (RFC 6962 sections 3.2 and 3.3): proof that a
//! Fulcio leaf was logged in a known Certificate Transparency log. The SCT signs the
//! *precertificate* entry: the leaf's TBSCertificate without the SCT-list extension, bound to
//! the issuer by the hash of its SubjectPublicKeyInfo.

use sha2::{Digest as _, Sha256};
use sigstore::crypto::{CosignVerificationKey, Signature};
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::der::oid::ObjectIdentifier;

use super::asn1::{self, Tlv};

/// The embedded SCT list extension (RFC 6962 section 3.3).
const SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");
/// `[3] EXPLICIT Extensions` inside a TBSCertificate.
const EXTENSIONS_TAG: u8 = 0xa3;

/// A Certificate Transparency log trusted to vouch for leaf certificates.
pub(crate) struct CtLog {
    /// SHA-256 of the log key's SubjectPublicKeyInfo DER, as SCTs name it.
    pub log_id: [u8; 32],
    /// The log's public key.
    pub key: CosignVerificationKey,
    /// Start of the window in which the log's SCTs are accepted (Unix seconds).
    pub valid_from: i64,
    /// End of that window (Unix seconds), if the log was retired.
    pub valid_until: Option<i64>,
}

/// One parsed `SignedCertificateTimestamp` (v1).
struct Sct<'a> {
    log_id: [u8; 32],
    timestamp_ms: u64,
    extensions: &'a [u8],
    hash_alg: u8,
    sig_alg: u8,
    signature: &'a [u8],
}

/// True when the certificate carries the embedded SCT list extension (1.3.6.1.4.1.11129.2.4.2).
pub(crate) fn has_embedded_sct(leaf_der: &[u8]) -> Result<bool, String> {
    Ok(sct_list_extension(leaf_der)?.is_some())
}

/// Ok(()) when at least one embedded SCT in `leaf_der` verifies with a known CT log whose
/// window holds the SCT's timestamp. The error names why each SCT was refused.
pub(crate) fn verify_embedded_scts(
    leaf_der: &[u8],
    issuer_spki_der: &[u8],
    logs: &[CtLog],
) -> Result<(), String> {
    let list = sct_list_extension(leaf_der)?.ok_or("certificate has no embedded SCT")?;
    let scts = parse_sct_list(&list)?;
    let tbs = precert_tbs(leaf_der)?;
    let issuer_key_hash: [u8; 32] = Sha256::digest(issuer_spki_der).into();
    let mut reasons = Vec::new();
    for sct in &scts {
        match verify_one(sct, &issuer_key_hash, &tbs, logs) {
            Ok(()) => return Ok(()),
            Err(reason) => reasons.push(reason),
        }
    }
    Err(format!("no embedded SCT verifies: {}", reasons.join("; ")))
}

fn verify_one(
    sct: &Sct<'_>,
    issuer_key_hash: &[u8; 32],
    tbs: &[u8],
    logs: &[CtLog],
) -> Result<(), String> {
    let log_hex = hex::encode(sct.log_id);
    let log = logs
        .iter()
        .find(|log| log.log_id == sct.log_id)
        .ok_or_else(|| format!("SCT from unknown CT log {log_hex}"))?;
    let seconds = i64::try_from(sct.timestamp_ms / 1000)
        .map_err(|_| format!("SCT from CT log {log_hex}: timestamp out of range"))?;
    if seconds < log.valid_from || log.valid_until.is_some_and(|until| seconds > until) {
        return Err(format!(
            "SCT from CT log {log_hex} at {seconds} is outside the log's validity window"
        ));
    }
    if !algorithm_matches(&log.key, sct.hash_alg, sct.sig_alg) {
        return Err(format!(
            "SCT from CT log {log_hex}: signature algorithm (hash {}, signature {}) does not \
             match the log key",
            sct.hash_alg, sct.sig_alg
        ));
    }
    let message = signed_data(sct, issuer_key_hash, tbs)?;
    log.key
        .verify_signature(Signature::Raw(sct.signature), &message)
        .map_err(|_| format!("SCT from CT log {log_hex}: bad signature"))
}

/// TLS `SignatureAndHashAlgorithm` codes (RFC 5246 section 7.4.1.4.1) for the key's scheme.
fn algorithm_matches(key: &CosignVerificationKey, hash: u8, signature: u8) -> bool {
    const SHA256: u8 = 4;
    const SHA384: u8 = 5;
    const SHA512: u8 = 6;
    const RSA: u8 = 1;
    const ECDSA: u8 = 3;
    let want = match key {
        CosignVerificationKey::ECDSA_P256_SHA256_ASN1(_) => (SHA256, ECDSA),
        CosignVerificationKey::ECDSA_P384_SHA384_ASN1(_) => (SHA384, ECDSA),
        CosignVerificationKey::ECDSA_P521_SHA512_ASN1(_) => (SHA512, ECDSA),
        CosignVerificationKey::RSA_PKCS1_SHA256(_) => (SHA256, RSA),
        // RFC 6962 logs sign with ECDSA or RSASSA-PKCS1-v1_5 only.
        CosignVerificationKey::RSA_PSS_SHA256(_) | CosignVerificationKey::ED25519(_) => {
            return false;
        }
    };
    want == (hash, signature)
}

/// The `digitally-signed` struct of RFC 6962 section 3.2 for a precert entry.
fn signed_data(sct: &Sct<'_>, issuer_key_hash: &[u8; 32], tbs: &[u8]) -> Result<Vec<u8>, String> {
    let tbs_len = u32::try_from(tbs.len())
        .ok()
        .filter(|len| *len < 1 << 24)
        .ok_or("precertificate TBS too long for an SCT")?;
    let ext_len = u16::try_from(sct.extensions.len()).map_err(|_| "SCT extensions too long")?;
    let mut out = Vec::with_capacity(tbs.len() + 64);
    out.push(0); // sct_version v1
    out.push(0); // signature_type certificate_timestamp
    out.extend_from_slice(&sct.timestamp_ms.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // entry_type precert_entry
    out.extend_from_slice(issuer_key_hash);
    out.extend_from_slice(&tbs_len.to_be_bytes()[1..]);
    out.extend_from_slice(tbs);
    out.extend_from_slice(&ext_len.to_be_bytes());
    out.extend_from_slice(sct.extensions);
    Ok(out)
}

/// The TLS-encoded SignedCertificateTimestampList inside the extension, if present.
fn sct_list_extension(leaf_der: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let cert = Certificate::from_der(leaf_der).map_err(|e| format!("certificate: {e}"))?;
    let mut found = cert
        .tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .filter(|ext| ext.extn_id == SCT_LIST);
    let Some(ext) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err("certificate has two SCT list extensions".into());
    }
    // The extension value is itself a DER OCTET STRING holding the TLS bytes.
    let inner = Tlv::parse_exact(ext.extn_value.as_bytes())
        .and_then(|tlv| tlv.expect(asn1::OCTET_STRING, "SCT list"))
        .map_err(|e| format!("malformed SCT list extension: {e}"))?;
    Ok(Some(inner.value.to_vec()))
}

/// A byte cursor over TLS-encoded data; every read fails closed on truncation.
struct Tls<'a>(&'a [u8]);

impl<'a> Tls<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("malformed SCT list: truncated".into());
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }
    fn vec16(&mut self) -> Result<&'a [u8], String> {
        let len = self.take(2)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        self.take(len)
    }
}

fn parse_sct_list(list: &[u8]) -> Result<Vec<Sct<'_>>, String> {
    let mut outer = Tls(list);
    let mut entries = Tls(outer.vec16()?);
    if !outer.0.is_empty() {
        return Err("malformed SCT list: trailing bytes".into());
    }
    let mut scts = Vec::new();
    while !entries.0.is_empty() {
        let mut sct = Tls(entries.vec16()?);
        let version = sct.u8()?;
        if version != 0 {
            return Err(format!(
                "malformed SCT list: unsupported SCT version {version}"
            ));
        }
        let mut log_id = [0u8; 32];
        log_id.copy_from_slice(sct.take(32)?);
        let mut ts = [0u8; 8];
        ts.copy_from_slice(sct.take(8)?);
        let parsed = Sct {
            log_id,
            timestamp_ms: u64::from_be_bytes(ts),
            extensions: sct.vec16()?,
            hash_alg: sct.u8()?,
            sig_alg: sct.u8()?,
            signature: sct.vec16()?,
        };
        if !sct.0.is_empty() {
            return Err("malformed SCT list: trailing bytes in an SCT".into());
        }
        scts.push(parsed);
    }
    if scts.is_empty() {
        return Err("certificate has no embedded SCT (empty SCT list)".into());
    }
    Ok(scts)
}

/// The leaf's TBSCertificate with the SCT list extension removed, every other byte as sent.
fn precert_tbs(leaf_der: &[u8]) -> Result<Vec<u8>, String> {
    let malformed = |e: String| format!("malformed certificate: {e}");
    let cert = Tlv::parse_exact(leaf_der).and_then(|t| t.expect(asn1::SEQUENCE, "certificate"));
    let parts = cert.and_then(Tlv::children).map_err(malformed)?;
    let tbs = parts.first().ok_or("malformed certificate: empty")?;
    let mut out = Vec::with_capacity(tbs.raw.len());
    for field in tbs.children().map_err(malformed)? {
        if field.tag != EXTENSIONS_TAG {
            out.extend_from_slice(field.raw);
            continue;
        }
        let inner = match field.children().map_err(malformed)?.as_slice() {
            [seq] => seq
                .expect(asn1::SEQUENCE, "extensions")
                .map_err(malformed)?,
            _ => return Err("malformed certificate: extensions field".into()),
        };
        let mut kept = Vec::new();
        for ext in inner.children().map_err(malformed)? {
            let oid = ext.children().map_err(malformed)?;
            let oid = oid
                .first()
                .ok_or("malformed certificate: empty extension")?;
            if oid.oid().map_err(malformed)? != SCT_LIST {
                kept.extend_from_slice(ext.raw);
            }
        }
        if !kept.is_empty() {
            out.extend(asn1::encode(
                EXTENSIONS_TAG,
                &asn1::encode(asn1::SEQUENCE, &kept),
            ));
        }
    }
    Ok(asn1::encode(asn1::SEQUENCE, &out))
}

#[cfg(test)]
mod tests;
