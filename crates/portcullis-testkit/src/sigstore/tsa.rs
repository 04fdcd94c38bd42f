//! A fake RFC 3161 Time-Stamp Authority: a self-signed root and a leaf with the critical
//! `timeStamping` extended key usage, issuing TimeStampTokens (CMS SignedData over a TSTInfo)
//! built with the crate's small DER writer.
//!
//! A token is `ContentInfo{id-signedData, SignedData{v3, sha256, eContent id-ct-TSTInfo,
//! certificates [leaf], SignerInfo{v1, issuerAndSerialNumber, signed attributes content-type,
//! message-digest and signing-certificate-v2, ecdsa-with-SHA256}}}`; Sigstore bundles carry the
//! whole `TimeStampResp` (status granted + token), which [`FakeTsa::timestamp_response`] gives.

use std::sync::atomic::{AtomicU64, Ordering};

use rcgen::{
    CertificateParams, CertifiedIssuer, CustomExtension, DistinguishedName, DnType, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SigningKey as _,
};
use sha2::{Digest as _, Sha256};

use super::der;
use crate::keyless::{cert_error, time_at};
use crate::{Error, Result};

/// id-ct-TSTInfo, the eContentType of a timestamp token.
pub const TST_INFO_OID: &[u64] = &[1, 2, 840, 113549, 1, 9, 16, 1, 4];
/// The TSA policy written into every TSTInfo.
pub const TSA_POLICY_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 2];
const SIGNED_DATA_OID: &[u64] = &[1, 2, 840, 113549, 1, 7, 2];
const CONTENT_TYPE_ATTR: &[u64] = &[1, 2, 840, 113549, 1, 9, 3];
const MESSAGE_DIGEST_ATTR: &[u64] = &[1, 2, 840, 113549, 1, 9, 4];
const SIGNING_CERT_V2_ATTR: &[u64] = &[1, 2, 840, 113549, 1, 9, 16, 2, 47];
const EKU_OID: &[u64] = &[2, 5, 29, 37];
const TIME_STAMPING_OID: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 8];

/// A fake TSA: root, timestamping leaf and its key.
pub struct FakeTsa {
    root: CertifiedIssuer<'static, KeyPair>,
    leaf_der: Vec<u8>,
    leaf_key: KeyPair,
    serial: AtomicU64,
}

impl FakeTsa {
    /// A TSA named `name` whose certificates are valid 2000–2100.
    pub fn new(name: &str) -> Result<Self> {
        Self::with_validity(name, 946_684_800, 4_102_444_800)
    }

    /// A TSA whose root and leaf are valid from `not_before` to `not_after` (Unix seconds).
    pub fn with_validity(name: &str, not_before: i64, not_after: i64) -> Result<Self> {
        let named = |cn: String| {
            let mut dn = DistinguishedName::new();
            dn.push(DnType::OrganizationName, "portcullis-test");
            dn.push(DnType::CommonName, cn);
            dn
        };
        let mut root_params = CertificateParams::default();
        root_params.distinguished_name = named(format!("{name} TSA root"));
        root_params.not_before = time_at(not_before)?;
        root_params.not_after = time_at(not_after)?;
        root_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        root_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(cert_error)?;
        let root = CertifiedIssuer::self_signed(root_params, root_key).map_err(cert_error)?;

        let mut leaf_params = CertificateParams::default();
        leaf_params.distinguished_name = named(format!("{name} TSA"));
        leaf_params.not_before = time_at(not_before)?;
        leaf_params.not_after = time_at(not_after)?;
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf_params.use_authority_key_identifier_extension = true;
        // rcgen writes its EKU extension non-critical; RFC 3161 wants it critical.
        let mut eku =
            CustomExtension::from_oid_content(EKU_OID, der::seq(&[&der::oid(TIME_STAMPING_OID)]));
        eku.set_criticality(true);
        leaf_params.custom_extensions = vec![eku];
        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(cert_error)?;
        let leaf = leaf_params
            .signed_by(&leaf_key, &root)
            .map_err(cert_error)?;
        Ok(Self {
            root,
            leaf_der: leaf.der().to_vec(),
            leaf_key,
            serial: AtomicU64::new(1),
        })
    }

    /// The self-signed root, DER.
    pub fn root_der(&self) -> Vec<u8> {
        self.root.der().to_vec()
    }

    /// The timestamping leaf, DER.
    pub fn leaf_der(&self) -> Vec<u8> {
        self.leaf_der.clone()
    }

    /// The chain as a trusted root lists it: leaf, then root.
    pub fn chain_der(&self) -> Vec<Vec<u8>> {
        vec![self.leaf_der(), self.root_der()]
    }

    /// A DER TimeStampToken over sha256(`data`) with genTime `at_unix`.
    pub fn timestamp(&self, data: &[u8], at_unix: i64) -> Result<Vec<u8>> {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let tst_info = der::seq(&[
            &der::int(1),
            &der::oid(TSA_POLICY_OID),
            &der::seq(&[
                &der::sha256_algorithm(),
                &der::octets(&Sha256::digest(data)),
            ]),
            &der::int(serial),
            &der::generalized_time(at_unix)?,
        ]);
        let encapsulated = der::seq(&[
            &der::oid(TST_INFO_OID),
            &der::explicit(0, &der::octets(&tst_info)),
        ]);
        let attributes = der::set_of(&[
            &der::seq(&[
                &der::oid(CONTENT_TYPE_ATTR),
                &der::set_of(&[&der::oid(TST_INFO_OID)]),
            ]),
            &der::seq(&[
                &der::oid(MESSAGE_DIGEST_ATTR),
                &der::set_of(&[&der::octets(&Sha256::digest(&tst_info))]),
            ]),
            &der::seq(&[
                &der::oid(SIGNING_CERT_V2_ATTR),
                &der::set_of(&[&der::seq(&[&der::seq(&[&der::seq(&[&der::octets(
                    &Sha256::digest(&self.leaf_der),
                )])])])]),
            ]),
        ]);
        // The signature covers the attributes encoded as a SET; the SignerInfo carries them
        // under the implicit tag [0].
        let signature = self.leaf_key.sign(&attributes).map_err(cert_error)?;
        let mut implicit = attributes.clone();
        implicit[0] = 0xa0;
        let (issuer, serial_number) = issuer_and_serial(&self.leaf_der)?;
        let signer_info = der::seq(&[
            &der::int(1),
            &der::seq(&[issuer, serial_number]),
            &der::sha256_algorithm(),
            &implicit,
            &der::ecdsa_sha256_algorithm(),
            &der::octets(&signature),
        ]);
        let signed_data = der::seq(&[
            &der::int(3),
            &der::set_of(&[&der::sha256_algorithm()]),
            &encapsulated,
            &der::tlv(0xa0, &self.leaf_der),
            &der::set_of(&[&signer_info]),
        ]);
        Ok(der::seq(&[
            &der::oid(SIGNED_DATA_OID),
            &der::explicit(0, &signed_data),
        ]))
    }

    /// A DER TimeStampResp (status granted, then the token): what a Sigstore bundle's
    /// `rfc3161Timestamps[].signedTimestamp` holds.
    pub fn timestamp_response(&self, data: &[u8], at_unix: i64) -> Result<Vec<u8>> {
        let token = self.timestamp(data, at_unix)?;
        Ok(der::seq(&[&der::seq(&[&der::int(0)]), &token]))
    }
}

impl std::fmt::Debug for FakeTsa {
    // Never print the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTsa").finish_non_exhaustive()
    }
}

/// The issuer Name and serial INTEGER of a DER certificate, as encoded.
fn issuer_and_serial(cert_der: &[u8]) -> Result<(&[u8], &[u8])> {
    let cert = der::read_only(cert_der, 0x30)?;
    let tbs = der::children(cert.content)?
        .first()
        .copied()
        .ok_or_else(|| Error::Invalid("TSA certificate without a TBS".into()))?;
    match der::children(tbs.content)?[..] {
        [version, serial, _, issuer, ..] if version.tag == 0xa0 => Ok((issuer.raw, serial.raw)),
        _ => Err(Error::Invalid("TSA certificate is not X.509 v3".into())),
    }
}
