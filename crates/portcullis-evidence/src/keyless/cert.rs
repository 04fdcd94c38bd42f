//! Fulcio certificates: loading the trust root, chaining a leaf to it with webpki at the
//! Rekor integration time (which enforces every certificate's validity window at that
//! instant), the leaf's code-signing profile, and reading the Sigstore OIDC issuer and SANs.

use std::time::Duration;

use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, KeyUsage};
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::der::asn1::Utf8StringRef;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage as KeyUsageExt, SubjectAltName};
use x509_cert::spki::SubjectPublicKeyInfoOwned;

use crate::{Error, Result};

/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), DER value bytes as webpki wants them.
const CODE_SIGNING_EKU: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// Fulcio's deprecated issuer extension: the raw issuer URL as the extension value.
const OIDC_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio's current issuer extension: a DER UTF8String.
const OIDC_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");

/// Splits the configured Fulcio PEM into trust anchors (self-signed) and intermediates.
pub(super) fn load_trust_root(
    pem_bytes: &[u8],
) -> Result<(Vec<TrustAnchor<'static>>, Vec<CertificateDer<'static>>)> {
    let invalid = |reason: String| Error::InvalidKeyless(format!("trust_root: {reason}"));
    let blocks = certificates(pem_bytes).map_err(invalid)?;
    let mut anchors = Vec::new();
    let mut intermediates = Vec::new();
    for der in blocks {
        let cert = Certificate::from_der(&der)
            .map_err(|e| invalid(format!("not an X.509 certificate: {e}")))?;
        let tbs = cert.tbs_certificate();
        if tbs.subject() == tbs.issuer() {
            let anchor = webpki::anchor_from_trusted_cert(&CertificateDer::from(der.as_slice()))
                .map_err(|e| invalid(format!("unusable root certificate: {e}")))?
                .to_owned();
            anchors.push(anchor);
        } else {
            intermediates.push(CertificateDer::from(der));
        }
    }
    if anchors.is_empty() {
        return Err(invalid("no self-signed root certificate".into()));
    }
    Ok((anchors, intermediates))
}

/// The certificates of the signer-supplied chain annotation (untrusted intermediates).
pub(super) fn parse_chain(pem: &str) -> std::result::Result<Vec<CertificateDer<'static>>, String> {
    Ok(certificates(pem.as_bytes())
        .map_err(|e| format!("chain annotation: {e}"))?
        .into_iter()
        .map(CertificateDer::from)
        .collect())
}

fn certificates(pem_bytes: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
    let blocks = pem::parse_many(pem_bytes).map_err(|e| format!("invalid PEM: {e}"))?;
    if blocks.is_empty() {
        return Err("no PEM certificate found".into());
    }
    blocks
        .into_iter()
        .map(|block| match block.tag() {
            "CERTIFICATE" => Ok(block.into_contents()),
            other => Err(format!("unexpected PEM block {other:?}, want CERTIFICATE")),
        })
        .collect()
}

/// A parsed leaf certificate, keeping the DER exactly as sent (re-encoding may change bytes).
pub(super) struct Leaf {
    der: Vec<u8>,
    cert: Certificate,
}

impl Leaf {
    pub(super) fn parse(pem: &str) -> std::result::Result<Self, String> {
        let mut blocks = certificates(pem.as_bytes()).map_err(|e| format!("certificate: {e}"))?;
        let der = match (blocks.pop(), blocks.is_empty()) {
            (Some(der), true) => der,
            _ => return Err("certificate annotation must hold exactly one certificate".into()),
        };
        let cert = Certificate::from_der(&der).map_err(|e| format!("certificate: {e}"))?;
        Ok(Self { der, cert })
    }

    pub(super) fn der(&self) -> &[u8] {
        &self.der
    }

    pub(super) fn public_key_info(&self) -> &SubjectPublicKeyInfoOwned {
        self.cert.tbs_certificate().subject_public_key_info()
    }

    /// Chains to a configured anchor as of `integrated_time`: Fulcio leaves live ten minutes,
    /// so "now" is meaningless; what matters is that Rekor saw the signature while the
    /// certificate was valid.
    pub(super) fn verify_chain(
        &self,
        anchors: &[TrustAnchor<'static>],
        intermediates: &[CertificateDer<'static>],
        supplied: &[CertificateDer<'static>],
        integrated_time: i64,
    ) -> std::result::Result<(), String> {
        let secs = u64::try_from(integrated_time)
            .map_err(|_| format!("integratedTime {integrated_time} is negative"))?;
        let time = UnixTime::since_unix_epoch(Duration::from_secs(secs));
        let all: Vec<CertificateDer<'_>> = intermediates.iter().chain(supplied).cloned().collect();
        let der = CertificateDer::from(self.der.as_slice());
        let end_entity = EndEntityCert::try_from(&der).map_err(|e| format!("certificate: {e}"))?;
        end_entity
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                anchors,
                &all,
                time,
                // webpki applies this to every certificate of the path; CAs without an EKU
                // extension are fine, the leaf's is required below.
                KeyUsage::required_if_present(CODE_SIGNING_EKU),
                None,
                None,
            )
            .map_err(|e| {
                format!("certificate does not chain to the Fulcio root at integratedTime {integrated_time}: {e}")
            })?;
        let eku = self
            .cert
            .tbs_certificate()
            .get_extension::<ExtendedKeyUsage>()
            .map_err(|e| format!("certificate extendedKeyUsage: {e}"))?;
        if !eku.is_some_and(|(_, eku)| eku.0.contains(&CODE_SIGNING)) {
            return Err("certificate lacks the codeSigning extended key usage".into());
        }
        // webpki does not check keyUsage; Fulcio leaves assert digitalSignature.
        let key_usage = self
            .cert
            .tbs_certificate()
            .get_extension::<KeyUsageExt>()
            .map_err(|e| format!("certificate keyUsage: {e}"))?;
        match key_usage {
            Some((_, usage)) if usage.digital_signature() => Ok(()),
            _ => Err("certificate lacks the digitalSignature key usage".into()),
        }
    }

    /// The OIDC issuer from the v2 extension, else the deprecated v1; both must agree.
    pub(super) fn oidc_issuer(&self) -> std::result::Result<String, String> {
        let mut v1 = None;
        let mut v2 = None;
        for ext in self
            .cert
            .tbs_certificate()
            .extensions()
            .into_iter()
            .flatten()
        {
            if ext.extn_id == OIDC_ISSUER_V1 {
                let raw = String::from_utf8(ext.extn_value.as_bytes().to_vec())
                    .map_err(|_| "issuer extension (.1.1) is not UTF-8")?;
                v1 = Some(raw);
            } else if ext.extn_id == OIDC_ISSUER_V2 {
                let value = Utf8StringRef::from_der(ext.extn_value.as_bytes())
                    .map_err(|e| format!("issuer extension (.1.8): {e}"))?;
                v2 = Some(value.as_str().to_owned());
            }
        }
        match (v1, v2) {
            (Some(a), Some(b)) if a != b => Err(format!(
                "issuer extensions disagree: .1.1 says {a:?}, .1.8 says {b:?}"
            )),
            (_, Some(issuer)) | (Some(issuer), None) => Ok(issuer),
            (None, None) => Err("certificate has no OIDC issuer extension".into()),
        }
    }

    /// Every email and URI SAN of the certificate.
    pub(super) fn subjects(&self) -> std::result::Result<Vec<String>, String> {
        let (_, san) = self
            .cert
            .tbs_certificate()
            .get_extension::<SubjectAltName>()
            .map_err(|e| format!("certificate SAN: {e}"))?
            .ok_or("certificate has no subject alternative name")?;
        let subjects: Vec<String> = san
            .0
            .iter()
            .filter_map(|name| match name {
                GeneralName::Rfc822Name(email) => Some(email.to_string()),
                GeneralName::UniformResourceIdentifier(uri) => Some(uri.to_string()),
                _ => None,
            })
            .collect();
        if subjects.is_empty() {
            return Err("certificate has no email or URI subject".into());
        }
        Ok(subjects)
    }
}
