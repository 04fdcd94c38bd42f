//! Which certificate signed a timestamp token: matching the CMS signer id and the
//! ESSCertIDv2 hash to a candidate certificate, its timeStamping EKU, and the webpki
//! algorithms a CMS signature algorithm may stand for.

use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectKeyIdentifier};

use super::cms::{SignerId, Token};
use super::{SHA256, SHA384, SHA512, attribute, digest};
use crate::keyless::asn1::{self, Tlv};

/// id-aa-signingCertificateV2 (RFC 5035), the ESSCertIDv2 list naming the TSA certificate.
const SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

pub(super) fn names_signer(cert_der: &[u8], signer: &SignerId<'_>) -> bool {
    match signer {
        SignerId::IssuerSerial { issuer, serial } => {
            issuer_and_serial(cert_der) == Some((*issuer, *serial))
        }
        SignerId::KeyId(id) => Certificate::from_der(cert_der).is_ok_and(|cert| {
            matches!(
                cert.tbs_certificate().get_extension::<SubjectKeyIdentifier>(),
                Ok(Some((_, ski))) if ski.0.as_bytes() == *id
            )
        }),
    }
}

/// The issuer Name DER and serial number content octets of a certificate, as sent.
fn issuer_and_serial(cert_der: &[u8]) -> Option<(&[u8], &[u8])> {
    let cert = Tlv::parse_exact(cert_der).ok()?.children().ok()?;
    let tbs = cert.first()?.children().ok()?;
    // An explicit `[0] version` comes first in v2/v3 certificates.
    let skip = usize::from(tbs.first()?.tag == 0xa0);
    Some((tbs.get(skip + 2)?.raw, tbs.get(skip)?.value))
}

/// When the token names its certificate by hash (ESSCertIDv2, RFC 5816), the first entry
/// must be the certificate that verified: a token cannot borrow another TSA certificate.
pub(super) fn check_signing_certificate(token: &Token<'_>, cert_der: &[u8]) -> Result<(), String> {
    if !token
        .attrs
        .iter()
        .any(|(oid, _)| *oid == SIGNING_CERTIFICATE_V2)
    {
        return Ok(());
    }
    let attr = attribute(token, SIGNING_CERTIFICATE_V2, "signingCertificateV2")?;
    let first_id = attr
        .children()
        .and_then(|certs| {
            certs
                .first()
                .copied()
                .ok_or_else(|| "no ESSCertIDv2".to_owned())
        })
        .and_then(|certs| certs.expect(asn1::SEQUENCE, "certs"))
        .and_then(Tlv::children)
        .and_then(|ids| ids.first().copied().ok_or_else(|| "empty certs".to_owned()))
        .and_then(Tlv::children)
        .map_err(|e| format!("malformed signingCertificateV2 attribute: {e}"))?;
    // hashAlgorithm DEFAULT sha256 is omitted from DER when it is sha256.
    let (alg, hash) = match first_id.as_slice() {
        [hash, ..] if hash.tag == asn1::OCTET_STRING => (SHA256, hash.value),
        [alg, hash, ..] if hash.tag == asn1::OCTET_STRING => {
            let oid = alg.children().ok().and_then(|parts| parts.first().copied());
            (
                oid.ok_or("malformed ESSCertIDv2 hashAlgorithm")?.oid()?,
                hash.value,
            )
        }
        _ => return Err("malformed signingCertificateV2 attribute".into()),
    };
    if digest(&alg, cert_der)? != hash {
        return Err("signingCertificateV2 names another certificate than the signer".into());
    }
    Ok(())
}

pub(super) fn require_timestamping_eku(cert_der: &[u8]) -> Result<(), String> {
    let cert = Certificate::from_der(cert_der).map_err(|e| format!("TSA certificate: {e}"))?;
    match cert.tbs_certificate().get_extension::<ExtendedKeyUsage>() {
        Ok(Some((_, eku))) if eku.0.contains(&TIME_STAMPING) => Ok(()),
        _ => Err("TSA certificate lacks the timeStamping extended key usage".into()),
    }
}

/// The webpki algorithms a CMS signatureAlgorithm (with the SignerInfo digest) may mean; webpki
/// then refuses any whose key type does not match the certificate's key.
pub(super) fn signature_algorithms(
    signature: &ObjectIdentifier,
    digest: &ObjectIdentifier,
) -> Result<Vec<&'static dyn rustls_pki_types::SignatureVerificationAlgorithm>, String> {
    use webpki::aws_lc_rs as alg;
    const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
    const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
    const ECDSA_SHA512: &str = "1.2.840.10045.4.3.4";
    const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
    const RSA_SHA256: &str = "1.2.840.113549.1.1.11";
    const RSA_SHA384: &str = "1.2.840.113549.1.1.12";
    const RSA_SHA512: &str = "1.2.840.113549.1.1.13";
    const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
    const ED25519: &str = "1.3.101.112";
    let ecdsa_256 = vec![
        alg::ECDSA_P256_SHA256,
        alg::ECDSA_P384_SHA256,
        alg::ECDSA_P521_SHA256,
    ];
    let ecdsa_384 = vec![
        alg::ECDSA_P256_SHA384,
        alg::ECDSA_P384_SHA384,
        alg::ECDSA_P521_SHA384,
    ];
    let ecdsa_512 = vec![
        alg::ECDSA_P256_SHA512,
        alg::ECDSA_P384_SHA512,
        alg::ECDSA_P521_SHA512,
    ];
    let by_digest = |sha256, sha384, sha512| match *digest {
        SHA256 => Ok(sha256),
        SHA384 => Ok(sha384),
        SHA512 => Ok(sha512),
        other => Err(format!("unsupported timestamp digest algorithm {other}")),
    };
    match signature.to_string().as_str() {
        ECDSA_SHA256 => Ok(ecdsa_256),
        ECDSA_SHA384 => Ok(ecdsa_384),
        ECDSA_SHA512 => Ok(ecdsa_512),
        EC_PUBLIC_KEY => by_digest(ecdsa_256, ecdsa_384, ecdsa_512),
        RSA_SHA256 => Ok(vec![alg::RSA_PKCS1_2048_8192_SHA256]),
        RSA_SHA384 => Ok(vec![alg::RSA_PKCS1_2048_8192_SHA384]),
        RSA_SHA512 => Ok(vec![alg::RSA_PKCS1_2048_8192_SHA512]),
        RSA_ENCRYPTION => by_digest(
            vec![alg::RSA_PKCS1_2048_8192_SHA256],
            vec![alg::RSA_PKCS1_2048_8192_SHA384],
            vec![alg::RSA_PKCS1_2048_8192_SHA512],
        ),
        ED25519 => Ok(vec![alg::ED25519]),
        other => Err(format!("unsupported timestamp signature algorithm {other}")),
    }
}
