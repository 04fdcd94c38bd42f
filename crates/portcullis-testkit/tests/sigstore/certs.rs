//! Fulcio leaves: the embedded SCT and the Fulcio extensions, parsed with x509-cert.

use super::*;

#[test]
fn embedded_sct_signs_exactly_the_certificate_without_its_sct_extension() {
    let sigstore = PrivateSigstore::new().unwrap();
    let spec = leaf_spec();
    let leaf = sigstore.issue(&spec).unwrap();
    let cert = Certificate::from_der(&leaf.cert_der).unwrap();
    let tbs_der = cert.tbs_certificate().to_der().unwrap();
    // The certificate itself is signed by the intermediate.
    assert!(verify(
        &sigstore.fulcio.intermediate_public_key_der(),
        cert.signature().raw_bytes(),
        &tbs_der
    ));

    // Rebuild the precertificate TBS with the der crate: the same fields, extensions minus SCT.
    let mut fields = items(Any::from_der(&tbs_der).unwrap().value());
    let last = fields.pop().unwrap();
    let extensions: Vec<Extension> = Vec::from_der(last.value()).unwrap();
    let sct_oid = SCT_LIST_OID
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".");
    let (sct_ext, kept): (Vec<_>, Vec<_>) = extensions
        .into_iter()
        .partition(|e| e.extn_id.to_string() == sct_oid);
    assert_eq!(sct_ext.len(), 1);
    assert!(!sct_ext[0].critical);
    fields.push(Any::new(last.tag(), kept.to_der().unwrap()).unwrap());
    let precert_tbs = Any::new(Any::from_der(&tbs_der).unwrap().tag(), {
        let mut body = Vec::new();
        for f in &fields {
            body.extend(f.to_der().unwrap());
        }
        body
    })
    .unwrap()
    .to_der()
    .unwrap();

    // The extension value is an OCTET STRING holding the TLS SCT list.
    let list =
        x509_cert::der::asn1::OctetString::from_der(sct_ext[0].extn_value.as_bytes()).unwrap();
    let list = list.as_bytes();
    assert_eq!(tls_u16(list, 0), list.len() - 2);
    let sct = &list[4..4 + tls_u16(list, 2)];
    assert_eq!(sct[0], 0, "v1");
    assert_eq!(
        &sct[1..33],
        &Sha256::digest(sigstore.ct.public_key_der())[..],
        "log id"
    );
    let timestamp = &sct[33..41];
    assert_eq!(
        u64::from_be_bytes(timestamp.try_into().unwrap()),
        spec.not_before as u64 * 1000
    );
    assert_eq!(&sct[41..45], &[0, 0, 4, 3], "no extensions, sha256/ecdsa");
    let signature = &sct[47..47 + tls_u16(sct, 45)];

    let mut signed = vec![0u8, 0];
    signed.extend_from_slice(timestamp);
    signed.extend_from_slice(&[0, 1]);
    signed.extend_from_slice(&Sha256::digest(spki_of(
        &sigstore.fulcio.intermediate_der(),
    )));
    signed.extend_from_slice(&(precert_tbs.len() as u32).to_be_bytes()[1..]);
    signed.extend_from_slice(&precert_tbs);
    signed.extend_from_slice(&[0, 0]);
    assert!(verify(&sigstore.ct.public_key_der(), signature, &signed));
    // Negative control: the final TBS (with the SCT) is not what the log signed.
    signed.truncate(signed.len() - 2 - precert_tbs.len() - 3);
    signed.extend_from_slice(&(tbs_der.len() as u32).to_be_bytes()[1..]);
    signed.extend_from_slice(&tbs_der);
    signed.extend_from_slice(&[0, 0]);
    assert!(!verify(&sigstore.ct.public_key_der(), signature, &signed));
}

#[test]
fn leaf_carries_the_requested_fulcio_extensions_and_other_name_san() {
    let sigstore = PrivateSigstore::new().unwrap();
    let mut spec = leaf_spec();
    spec.subject = SanSubject::OtherName("foo!oidc.local".into());
    spec.extensions.issuer_v2 = Some("https://other".into());
    let leaf = sigstore.issue(&spec).unwrap();
    let cert = Certificate::from_der(&leaf.cert_der).unwrap();
    let value = |n: u64| {
        let oid = fulcio_oid(n)
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(".");
        cert.tbs_certificate()
            .extensions()
            .unwrap()
            .iter()
            .find(|e| e.extn_id.to_string() == oid)
            .map(|e| e.extn_value.as_bytes().to_vec())
    };
    let utf8 = |s: &str| {
        x509_cert::der::asn1::Utf8StringRef::new(s)
            .unwrap()
            .to_der()
            .unwrap()
    };
    assert_eq!(value(1).unwrap(), GITHUB.as_bytes());
    assert_eq!(value(8).unwrap(), utf8("https://other"));
    assert_eq!(value(12).unwrap(), utf8("https://github.com/org/app"));
    assert_eq!(value(13).unwrap(), utf8("abc123"));
    assert_eq!(value(14).unwrap(), utf8("refs/tags/v1"));
    assert_eq!(
        value(18).unwrap(),
        utf8("https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1")
    );
    assert!(value(21).is_some());
    let san = cert
        .tbs_certificate()
        .extensions()
        .unwrap()
        .iter()
        .find(|e| e.extn_id.to_string() == "2.5.29.17")
        .unwrap();
    let name = B64.encode(san.extn_value.as_bytes());
    assert!(
        san.extn_value
            .as_bytes()
            .windows(14)
            .any(|w| w == b"foo!oidc.local"),
        "{name}"
    );
    let oid = x509_cert::der::asn1::ObjectIdentifier::new("1.3.6.1.4.1.57264.1.7")
        .unwrap()
        .to_der()
        .unwrap();
    assert!(
        san.extn_value
            .as_bytes()
            .windows(oid.len())
            .any(|w| w == oid.as_slice())
    );
}
