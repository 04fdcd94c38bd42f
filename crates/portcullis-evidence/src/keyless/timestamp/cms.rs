//! Parsing of an RFC 3161 TimeStampToken: the CMS SignedData (RFC 5652) around a TSTInfo,
//! kept as borrowed slices so the digest and signature checks run over the exact bytes sent.
//! Sigstore bundles carry the whole TimeStampResp; a bare token is accepted too.

use x509_cert::der::oid::ObjectIdentifier;

use super::super::asn1::{self, Tlv};

/// id-signedData (RFC 5652).
const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// id-ct-TSTInfo (RFC 3161).
pub(super) const TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// `[0]` constructed: SignedData.certificates, SignerInfo.signedAttrs, ContentInfo.content.
const CONTEXT_0: u8 = 0xa0;
/// `[0]` primitive: SignerIdentifier.subjectKeyIdentifier.
const SKI_TAG: u8 = 0x80;
/// `[1]` constructed: SignedData.crls.
const CONTEXT_1: u8 = 0xa1;

/// How the SignerInfo names its certificate.
pub(super) enum SignerId<'a> {
    /// DER of the issuer Name and the serial number's INTEGER content octets.
    IssuerSerial { issuer: &'a [u8], serial: &'a [u8] },
    /// The subjectKeyIdentifier of the signing certificate.
    KeyId(&'a [u8]),
}

/// The parts of a TimeStampToken that verification needs.
pub(super) struct Token<'a> {
    /// The eContent OCTET STRING's content: the DER TSTInfo.
    pub(super) tst_info: &'a [u8],
    /// Certificates embedded in the SignedData (DER).
    pub(super) certificates: Vec<&'a [u8]>,
    pub(super) signer: SignerId<'a>,
    /// SignerInfo.digestAlgorithm.
    pub(super) digest_alg: ObjectIdentifier,
    /// The signed attributes re-tagged as the `SET OF` that was signed (RFC 5652 5.4).
    pub(super) signed_attrs: Vec<u8>,
    /// (attribute type, its values) of each signed attribute.
    pub(super) attrs: Vec<(ObjectIdentifier, Vec<Tlv<'a>>)>,
    /// SignerInfo.signatureAlgorithm.
    pub(super) signature_alg: ObjectIdentifier,
    pub(super) signature: &'a [u8],
}

/// The fields of TSTInfo that are checked.
pub(super) struct TstInfo<'a> {
    pub(super) imprint_alg: ObjectIdentifier,
    pub(super) imprint: &'a [u8],
    /// GeneralizedTime content octets, e.g. `20260409072329Z`.
    pub(super) gen_time: &'a [u8],
}

fn malformed(e: String) -> String {
    format!("malformed timestamp: {e}")
}

fn field<'a>(fields: &[Tlv<'a>], index: usize, what: &str) -> Result<Tlv<'a>, String> {
    fields
        .get(index)
        .copied()
        .ok_or_else(|| malformed(format!("missing {what}")))
}

/// Parses a DER TimeStampResp (status granted) or a bare TimeStampToken (ContentInfo).
pub(super) fn parse_token(der: &[u8]) -> Result<Token<'_>, String> {
    let outer = Tlv::parse_exact(der).and_then(|t| t.expect(asn1::SEQUENCE, "token"));
    let fields = outer.and_then(Tlv::children).map_err(malformed)?;
    let first = field(&fields, 0, "content")?;
    let content_info = if first.tag == asn1::SEQUENCE {
        // TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken OPTIONAL }
        let status = first.children().map_err(malformed)?;
        let status = field(&status, 0, "PKI status")?;
        if status.tag != asn1::INTEGER || !matches!(status.value, [0] | [1]) {
            return Err("timestamp response status is not granted".into());
        }
        field(&fields, 1, "timeStampToken")?
            .expect(asn1::SEQUENCE, "timeStampToken")
            .and_then(Tlv::children)
            .map_err(malformed)?
    } else {
        fields
    };
    if field(&content_info, 0, "contentType")?
        .oid()
        .map_err(malformed)?
        != SIGNED_DATA
    {
        return Err("timestamp token is not CMS SignedData".into());
    }
    let explicit = field(&content_info, 1, "content")?
        .expect(CONTEXT_0, "content")
        .and_then(Tlv::children)
        .map_err(malformed)?;
    let signed_data = match explicit.as_slice() {
        [sd] => sd
            .expect(asn1::SEQUENCE, "SignedData")
            .and_then(Tlv::children),
        _ => Err("content is not one SignedData".into()),
    }
    .map_err(malformed)?;
    signed_data_parts(&signed_data)
}

fn signed_data_parts<'a>(fields: &[Tlv<'a>]) -> Result<Token<'a>, String> {
    // version, digestAlgorithms, encapContentInfo, [0] certificates, [1] crls, signerInfos
    let encap = field(fields, 2, "encapContentInfo")?
        .expect(asn1::SEQUENCE, "encapContentInfo")
        .and_then(Tlv::children)
        .map_err(malformed)?;
    if field(&encap, 0, "eContentType")?.oid().map_err(malformed)? != TST_INFO {
        return Err("timestamp token does not hold a TSTInfo".into());
    }
    let econtent = field(&encap, 1, "eContent")?
        .expect(CONTEXT_0, "eContent")
        .and_then(Tlv::children)
        .map_err(malformed)?;
    let tst_info = match econtent.as_slice() {
        [octets] => {
            octets
                .expect(asn1::OCTET_STRING, "eContent")
                .map_err(malformed)?
                .value
        }
        _ => return Err(malformed("eContent is not one OCTET STRING".into())),
    };
    let mut certificates = Vec::new();
    let optional = fields
        .get(3..fields.len().saturating_sub(1))
        .unwrap_or_default();
    let tags: Vec<u8> = optional.iter().map(|f| f.tag).collect();
    if ![&[][..], &[CONTEXT_0], &[CONTEXT_1], &[CONTEXT_0, CONTEXT_1]].contains(&tags.as_slice()) {
        return Err(malformed("unexpected fields before signerInfos".into()));
    }
    for optional in optional {
        if optional.tag == CONTEXT_0 {
            let certs = optional.children().map_err(malformed)?;
            // Other CertificateChoices (attribute certificates...) carry other tags.
            certificates.extend(
                certs
                    .iter()
                    .filter(|c| c.tag == asn1::SEQUENCE)
                    .map(|c| c.raw),
            );
        }
    }
    let signer_infos = fields
        .last()
        .filter(|_| fields.len() >= 4)
        .ok_or_else(|| malformed("missing signerInfos".into()))?
        .expect(asn1::SET, "signerInfos")
        .and_then(Tlv::children)
        .map_err(malformed)?;
    let signer_info = match signer_infos.as_slice() {
        [one] => one
            .expect(asn1::SEQUENCE, "SignerInfo")
            .and_then(Tlv::children)
            .map_err(malformed)?,
        _ => return Err("timestamp token must have exactly one signer".into()),
    };
    let token = signer_parts(&signer_info, tst_info, certificates)?;
    // Unsigned, but fail closed: the version is an INTEGER and the digest algorithm of the
    // signer is among the declared ones.
    // RFC 5652 5.1: version 3 whenever the content type is not id-data.
    if !is_integer(field(fields, 0, "version")?, 3) {
        return Err(malformed("SignedData version is not 3".into()));
    }
    let declared = field(fields, 1, "digestAlgorithms")?
        .expect(asn1::SET, "digestAlgorithms")
        .and_then(Tlv::children)
        .map_err(malformed)?;
    let declared = declared
        .into_iter()
        .map(algorithm)
        .collect::<Result<Vec<_>, _>>()?;
    if !declared.contains(&token.digest_alg) {
        return Err(malformed(
            "signer digest algorithm is not among digestAlgorithms".into(),
        ));
    }
    Ok(token)
}

fn signer_parts<'a>(
    fields: &[Tlv<'a>],
    tst_info: &'a [u8],
    certificates: Vec<&'a [u8]>,
) -> Result<Token<'a>, String> {
    // version, sid, digestAlgorithm, [0] signedAttrs, signatureAlgorithm, signature, [1] ...
    let version = field(fields, 0, "version")?;
    let sid = field(fields, 1, "sid")?;
    let signer = match sid.tag {
        asn1::SEQUENCE => match sid.children().map_err(malformed)?.as_slice() {
            [issuer, serial] if serial.tag == asn1::INTEGER => SignerId::IssuerSerial {
                issuer: issuer.raw,
                serial: serial.value,
            },
            _ => return Err(malformed("bad issuerAndSerialNumber".into())),
        },
        SKI_TAG => SignerId::KeyId(sid.value),
        _ => return Err(malformed("unknown SignerIdentifier".into())),
    };
    // RFC 5652 5.3: version 1 with issuerAndSerialNumber, 3 with subjectKeyIdentifier.
    let want = if sid.tag == SKI_TAG { 3 } else { 1 };
    if !is_integer(version, want) {
        return Err(malformed(format!("SignerInfo version is not {want}")));
    }
    let digest_alg = algorithm(field(fields, 2, "digestAlgorithm")?)?;
    let attrs_field = field(fields, 3, "signedAttrs")?;
    if attrs_field.tag != CONTEXT_0 {
        return Err("timestamp token has no signed attributes".into());
    }
    let mut attrs = Vec::new();
    for attr in attrs_field.children().map_err(malformed)? {
        match attr.children().map_err(malformed)?.as_slice() {
            [kind, values] => attrs.push((
                kind.oid().map_err(malformed)?,
                values
                    .expect(asn1::SET, "attribute values")
                    .and_then(Tlv::children)
                    .map_err(malformed)?,
            )),
            _ => return Err(malformed("bad signed attribute".into())),
        }
    }
    let signature = field(fields, 5, "signature")?
        .expect(asn1::OCTET_STRING, "signature")
        .map_err(malformed)?;
    Ok(Token {
        tst_info,
        certificates,
        signer,
        digest_alg,
        signed_attrs: asn1::encode(asn1::SET, attrs_field.value),
        attrs,
        signature_alg: algorithm(field(fields, 4, "signatureAlgorithm")?)?,
        signature: signature.value,
    })
}

fn is_integer(tlv: Tlv<'_>, value: u8) -> bool {
    tlv.tag == asn1::INTEGER && tlv.value == [value]
}

/// The OID of an AlgorithmIdentifier.
fn algorithm(tlv: Tlv<'_>) -> Result<ObjectIdentifier, String> {
    let parts = tlv
        .expect(asn1::SEQUENCE, "AlgorithmIdentifier")
        .and_then(Tlv::children);
    field(&parts.map_err(malformed)?, 0, "algorithm")?
        .oid()
        .map_err(malformed)
}

/// TSTInfo ::= SEQUENCE { version, policy, messageImprint, serialNumber, genTime, ... }
pub(super) fn parse_tst_info(der: &[u8]) -> Result<TstInfo<'_>, String> {
    let tst = Tlv::parse_exact(der).and_then(|t| t.expect(asn1::SEQUENCE, "TSTInfo"));
    let fields = tst.and_then(Tlv::children).map_err(malformed)?;
    let version = field(&fields, 0, "version")?;
    if !is_integer(version, 1) {
        return Err("TSTInfo version is not v1".into());
    }
    let imprint = field(&fields, 2, "messageImprint")?
        .children()
        .map_err(malformed)?;
    let hashed = field(&imprint, 1, "hashedMessage")?
        .expect(asn1::OCTET_STRING, "hashedMessage")
        .map_err(malformed)?;
    let gen_time = field(&fields, 4, "genTime")?
        .expect(asn1::GENERALIZED_TIME, "genTime")
        .map_err(malformed)?;
    Ok(TstInfo {
        imprint_alg: algorithm(field(&imprint, 0, "hashAlgorithm")?)?,
        imprint: hashed.value,
        gen_time: gen_time.value,
    })
}
