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

/// A root and its DER, from the configured Fulcio PEM.
pub(super) type Root = (TrustAnchor<'static>, Vec<u8>);

/// Splits the configured Fulcio PEM into trust anchors (self-signed) and intermediates.
pub(super) fn load_trust_root(
    pem_bytes: &[u8],
) -> Result<(Vec<Root>, Vec<CertificateDer<'static>>)> {
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
            anchors.push((anchor, der));
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

/// Fulcio's extensions for CI builds: the current ones (DER UTF8String) and the deprecated
/// GitHub ones they replace (raw bytes).
const SOURCE_REPOSITORY_URI: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.12");
const SOURCE_REPOSITORY_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.13");
const SOURCE_REPOSITORY_REF: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.14");
const BUILD_CONFIG_URI: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.18");
const RUN_INVOCATION_URI: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.21");
const LEGACY_WORKFLOW_SHA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.3");
const LEGACY_WORKFLOW_REPOSITORY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.5");
const LEGACY_WORKFLOW_REF: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.6");
/// The otherName SAN Fulcio uses for usernames (`user!issuer-host`).
const OTHER_NAME_USERNAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");

/// A parsed leaf certificate, keeping the DER exactly as sent (re-encoding may change bytes).
pub(crate) struct Leaf {
    der: Vec<u8>,
    cert: Certificate,
}

impl Leaf {
    /// A leaf from a PEM annotation holding exactly one certificate.
    pub(crate) fn parse(pem: &str) -> std::result::Result<Self, String> {
        let mut blocks = certificates(pem.as_bytes()).map_err(|e| format!("certificate: {e}"))?;
        match (blocks.pop(), blocks.is_empty()) {
            (Some(der), true) => Self::from_der(der),
            _ => Err("certificate annotation must hold exactly one certificate".into()),
        }
    }

    /// A leaf from DER bytes.
    pub(crate) fn from_der(der: Vec<u8>) -> std::result::Result<Self, String> {
        let cert = Certificate::from_der(&der).map_err(|e| format!("certificate: {e}"))?;
        Ok(Self { der, cert })
    }

    pub(crate) fn der(&self) -> &[u8] {
        &self.der
    }

    pub(crate) fn public_key_info(&self) -> &SubjectPublicKeyInfoOwned {
        self.cert.tbs_certificate().subject_public_key_info()
    }

    /// Chains the leaf, by signature, to a CA of the trust root that was valid at `time`,
    /// with every certificate of the path valid at that instant. Fulcio leaves live ten
    /// minutes, so "now" is meaningless: what matters is that the log or the TSA saw the
    /// signature while the certificate was valid. Returns the issuing CA's URI.
    pub(crate) fn verify_chain_at<'c>(
        &self,
        cas: &'c [super::root::CertificateAuthority],
        supplied: &[CertificateDer<'static>],
        time: i64,
    ) -> std::result::Result<&'c str, String> {
        let secs = u64::try_from(time).map_err(|_| format!("signing time {time} is negative"))?;
        let at = UnixTime::since_unix_epoch(Duration::from_secs(secs));
        let der = CertificateDer::from(self.der.as_slice());
        let end_entity = EndEntityCert::try_from(&der).map_err(|e| format!("certificate: {e}"))?;
        let mut last_error = None;
        for ca in cas.iter().filter(|ca| ca.valid.contains(time)) {
            let all: Vec<CertificateDer<'_>> =
                ca.intermediates.iter().chain(supplied).cloned().collect();
            match end_entity.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                std::slice::from_ref(&ca.anchor),
                &all,
                at,
                // webpki applies this to every certificate of the path; CAs without an EKU
                // extension are fine, the leaf's is required below.
                KeyUsage::required_if_present(CODE_SIGNING_EKU),
                None,
                None,
            ) {
                Ok(_) => {
                    self.check_profile()?;
                    return Ok(&ca.uri);
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(match last_error {
            Some(e) => {
                format!("certificate does not chain to a trusted CA at signing time {time}: {e}")
            }
            None => format!("no trusted CA was valid at signing time {time}"),
        })
    }

    /// The code-signing profile Fulcio issues: codeSigning EKU, digitalSignature usage.
    fn check_profile(&self) -> std::result::Result<(), String> {
        let tbs = self.cert.tbs_certificate();
        let eku = tbs
            .get_extension::<ExtendedKeyUsage>()
            .map_err(|e| format!("certificate extendedKeyUsage: {e}"))?;
        if !eku.is_some_and(|(_, eku)| eku.0.contains(&CODE_SIGNING)) {
            return Err("certificate lacks the codeSigning extended key usage".into());
        }
        // webpki does not check keyUsage; Fulcio leaves assert digitalSignature.
        match tbs
            .get_extension::<KeyUsageExt>()
            .map_err(|e| format!("certificate keyUsage: {e}"))?
        {
            Some((_, usage)) if usage.digital_signature() => Ok(()),
            _ => Err("certificate lacks the digitalSignature key usage".into()),
        }
    }

    fn extension(&self, oid: ObjectIdentifier) -> Option<&[u8]> {
        self.cert
            .tbs_certificate()
            .extensions()
            .into_iter()
            .flatten()
            .find(|ext| ext.extn_id == oid)
            .map(|ext| ext.extn_value.as_bytes())
    }

    /// A DER UTF8String extension.
    fn utf8_extension(&self, oid: ObjectIdentifier) -> std::result::Result<Option<String>, String> {
        self.extension(oid)
            .map(|raw| {
                Utf8StringRef::from_der(raw)
                    .map(|s| s.as_str().to_owned())
                    .map_err(|e| format!("extension {oid}: {e}"))
            })
            .transpose()
    }

    /// A legacy extension holding raw UTF-8 bytes.
    fn raw_extension(&self, oid: ObjectIdentifier) -> std::result::Result<Option<String>, String> {
        self.extension(oid)
            .map(|raw| {
                String::from_utf8(raw.to_vec()).map_err(|_| format!("extension {oid} is not UTF-8"))
            })
            .transpose()
    }

    /// The OIDC issuer from the v2 extension, else the deprecated v1; both must agree.
    pub(crate) fn oidc_issuer(&self) -> std::result::Result<Option<String>, String> {
        let v1 = self.raw_extension(OIDC_ISSUER_V1)?;
        let v2 = self.utf8_extension(OIDC_ISSUER_V2)?;
        match (v1, v2) {
            (Some(a), Some(b)) if a != b => Err(format!(
                "issuer extensions disagree: .1.1 says {a:?}, .1.8 says {b:?}"
            )),
            (_, Some(issuer)) | (Some(issuer), None) => Ok(Some(issuer)),
            (None, None) => Ok(None),
        }
    }

    /// Every email, URI and Fulcio otherName SAN of the certificate.
    pub(crate) fn subjects(&self) -> std::result::Result<Vec<String>, String> {
        let (_, san) = self
            .cert
            .tbs_certificate()
            .get_extension::<SubjectAltName>()
            .map_err(|e| format!("certificate SAN: {e}"))?
            .ok_or("certificate has no subject alternative name")?;
        let mut subjects = Vec::new();
        for name in &san.0 {
            match name {
                GeneralName::Rfc822Name(email) => subjects.push(email.to_string()),
                GeneralName::UniformResourceIdentifier(uri) => subjects.push(uri.to_string()),
                GeneralName::OtherName(other) if other.type_id == OTHER_NAME_USERNAME => {
                    let value = other
                        .value
                        .decode_as::<x509_cert::der::asn1::Utf8StringRef<'_>>()
                        .map_err(|e| format!("otherName SAN: {e}"))?;
                    subjects.push(value.as_str().to_owned());
                }
                _ => {}
            }
        }
        if subjects.is_empty() {
            return Err("certificate has no email, URI or otherName subject".into());
        }
        Ok(subjects)
    }

    /// The signer as the policy sees it.
    pub(crate) fn signer(&self) -> std::result::Result<portcullis_core::Signer, String> {
        let subjects = self.subjects()?;
        let legacy_repo = self
            .raw_extension(LEGACY_WORKFLOW_REPOSITORY)?
            .map(|repo| format!("https://github.com/{repo}"));
        Ok(portcullis_core::Signer {
            issuer: self.oidc_issuer()?,
            subject: subjects.into_iter().next().unwrap_or_default(),
            source_repository_uri: self.utf8_extension(SOURCE_REPOSITORY_URI)?.or(legacy_repo),
            source_repository_ref: self
                .utf8_extension(SOURCE_REPOSITORY_REF)?
                .or(self.raw_extension(LEGACY_WORKFLOW_REF)?),
            source_repository_digest: self
                .utf8_extension(SOURCE_REPOSITORY_DIGEST)?
                .or(self.raw_extension(LEGACY_WORKFLOW_SHA)?),
            build_config_uri: self.utf8_extension(BUILD_CONFIG_URI)?,
            run_invocation_uri: self.utf8_extension(RUN_INVOCATION_URI)?,
        })
    }
}
