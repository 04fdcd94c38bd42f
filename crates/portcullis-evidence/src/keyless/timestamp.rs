//! RFC 3161 timestamps: a trusted Timestamp Authority's signed statement that some bytes (in a
//! Sigstore bundle, the artifact signature) existed at `genTime`. That time can stand in for
//! Rekor's integratedTime when checking the short-lived Fulcio leaf.

mod cms;
mod signer;

use std::time::Duration;

use rustls_pki_types::{CertificateDer, UnixTime};
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use webpki::{EndEntityCert, KeyUsage};
use x509_cert::der::oid::ObjectIdentifier;

use self::cms::Token;
use self::signer::{
    check_signing_certificate, names_signer, require_timestamping_eku, signature_algorithms,
};
use super::asn1::{self, Tlv};

/// A Timestamp Authority trusted to date signatures.
pub(crate) struct Tsa {
    /// DER certificates, leaf first, root last, as in trusted_root.json.
    pub chain: Vec<Vec<u8>>,
    /// Start of the window in which the TSA's timestamps are accepted (Unix seconds).
    pub valid_from: i64,
    /// End of that window (Unix seconds), if the TSA was retired.
    pub valid_until: Option<i64>,
}

const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// id-kp-timeStamping, DER value bytes as webpki wants them.
const TIME_STAMPING_EKU: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// Verifies a DER TimeStampToken (or the TimeStampResp carrying it, as Sigstore bundles do)
/// over `signed`: the message imprint is the hash of `signed`, the CMS signature over the
/// signed attributes (content-type TSTInfo, message-digest of the TSTInfo) verifies with the
/// TSA leaf key, the leaf chains to a configured TSA at genTime with EKU timeStamping, and
/// that TSA's window holds genTime. Returns genTime (Unix seconds).
pub(crate) fn verify_rfc3161(token_der: &[u8], signed: &[u8], tsas: &[Tsa]) -> Result<i64, String> {
    let token = cms::parse_token(token_der)?;
    let tst = cms::parse_tst_info(token.tst_info)?;
    if digest(&tst.imprint_alg, signed)? != tst.imprint {
        return Err("timestamp message imprint does not match the signed bytes".into());
    }
    check_signed_attributes(&token)?;
    let gen_time = generalized_time(tst.gen_time)?;
    let mut reasons = Vec::new();
    for tsa in tsas {
        match verify_with(&token, tsa, gen_time) {
            Ok(()) => return Ok(gen_time),
            Err(reason) => reasons.push(reason),
        }
    }
    if reasons.is_empty() {
        return Err("no timestamp authority is configured".into());
    }
    Err(format!(
        "timestamp is not by a trusted TSA: {}",
        reasons.join("; ")
    ))
}

fn digest(alg: &ObjectIdentifier, data: &[u8]) -> Result<Vec<u8>, String> {
    Ok(match *alg {
        SHA256 => Sha256::digest(data).to_vec(),
        SHA384 => Sha384::digest(data).to_vec(),
        SHA512 => Sha512::digest(data).to_vec(),
        other => return Err(format!("unsupported timestamp hash algorithm {other}")),
    })
}

/// The one value of the signed attribute `kind`, which must occur exactly once.
fn attribute<'a>(
    token: &'a Token<'_>,
    kind: ObjectIdentifier,
    name: &str,
) -> Result<Tlv<'a>, String> {
    let mut found = token.attrs.iter().filter(|(oid, _)| *oid == kind);
    match (found.next(), found.next()) {
        (Some((_, values)), None) => match values.as_slice() {
            [value] => Ok(*value),
            _ => Err(format!("timestamp {name} attribute must have one value")),
        },
        (None, _) => Err(format!("timestamp has no signed {name} attribute")),
        _ => Err(format!("timestamp has two {name} attributes")),
    }
}

fn check_signed_attributes(token: &Token<'_>) -> Result<(), String> {
    if attribute(token, CONTENT_TYPE, "content-type")?.oid()? != cms::TST_INFO {
        return Err("timestamp content-type attribute is not TSTInfo".into());
    }
    let md = attribute(token, MESSAGE_DIGEST, "message-digest")?;
    let md = md.expect(asn1::OCTET_STRING, "message-digest")?;
    if md.value != digest(&token.digest_alg, token.tst_info)? {
        return Err("timestamp message-digest attribute does not match the TSTInfo".into());
    }
    Ok(())
}

/// `YYYYMMDDHHMMSS[.fraction]Z` (RFC 5280 / X.690 DER rules), truncated to whole seconds.
fn generalized_time(text: &[u8]) -> Result<i64, String> {
    let bad = || {
        format!(
            "timestamp genTime {:?} is malformed",
            String::from_utf8_lossy(text)
        )
    };
    let text = std::str::from_utf8(text).map_err(|_| bad())?;
    let body = text.strip_suffix('Z').ok_or_else(bad)?;
    let (whole, fraction) = body.split_once('.').unwrap_or((body, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() != 14 || !digits(whole) || !digits(fraction) {
        return Err(bad());
    }
    chrono::NaiveDateTime::parse_from_str(whole, "%Y%m%d%H%M%S")
        .map(|t| t.and_utc().timestamp())
        .map_err(|_| bad())
}

fn verify_with(token: &Token<'_>, tsa: &Tsa, gen_time: i64) -> Result<(), String> {
    let (Some(leaf), Some(root)) = (tsa.chain.first(), tsa.chain.last()) else {
        return Err("a configured TSA has an empty certificate chain".into());
    };
    if gen_time < tsa.valid_from || tsa.valid_until.is_some_and(|until| gen_time > until) {
        return Err(format!(
            "genTime {gen_time} is outside the TSA's validity window"
        ));
    }
    let intermediates: Vec<CertificateDer<'_>> = tsa
        .chain
        .get(1..tsa.chain.len().saturating_sub(1))
        .unwrap_or_default()
        .iter()
        .map(|der| CertificateDer::from(der.as_slice()))
        .collect();
    let root = CertificateDer::from(root.as_slice());
    let anchor = webpki::anchor_from_trusted_cert(&root)
        .map_err(|e| format!("TSA root certificate is unusable: {e}"))?;
    let signer = token
        .certificates
        .iter()
        .copied()
        .chain([leaf.as_slice()])
        .find(|cert| names_signer(cert, &token.signer))
        .ok_or("no certificate of the token or the TSA chain matches the signer id")?;
    let secs = u64::try_from(gen_time).map_err(|_| format!("genTime {gen_time} is negative"))?;
    let der = CertificateDer::from(signer);
    let end_entity = EndEntityCert::try_from(&der).map_err(|e| format!("TSA certificate: {e}"))?;
    end_entity
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &intermediates,
            UnixTime::since_unix_epoch(Duration::from_secs(secs)),
            // Checked on every certificate that has an EKU; the leaf's is required below.
            KeyUsage::required_if_present(TIME_STAMPING_EKU),
            None,
            None,
        )
        .map_err(|e| format!("TSA certificate does not chain to the TSA at genTime: {e}"))?;
    require_timestamping_eku(signer)?;
    check_signing_certificate(token, signer)?;
    let algs = signature_algorithms(&token.signature_alg, &token.digest_alg)?;
    algs.iter()
        .find(|alg| {
            end_entity
                .verify_signature(**alg, &token.signed_attrs, token.signature)
                .is_ok()
        })
        .map(|_| ())
        .ok_or_else(|| "bad timestamp signature".into())
}

#[cfg(test)]
mod tests;
