//! RFC 3161 tokens and the trusted root, read back with the der crate and serde_json.

use super::*;
use portcullis_testkit::sigstore::{TRUSTED_ROOT_MEDIA_TYPE, TST_INFO_OID, ValidFor};

fn oid_of(any: &Any) -> String {
    let oid: x509_cert::der::asn1::ObjectIdentifier =
        x509_cert::der::asn1::ObjectIdentifier::from_der(&any.to_der().unwrap()).unwrap();
    oid.to_string()
}

fn dotted(arcs: &[u64]) -> String {
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[test]
fn timestamp_token_imprints_sha256_of_the_data_and_its_signature_verifies() {
    let sigstore = PrivateSigstore::new().unwrap();
    let data = b"the signature bytes";
    let at = 1_775_719_409; // 2026-04-09T07:23:29Z
    let response = sigstore.tsa.timestamp_response(data, at).unwrap();
    let resp = items(Any::from_der(&response).unwrap().value());
    assert_eq!(resp[0].value(), &[2, 1, 0], "status granted");
    let content_info = items(resp[1].value());
    assert_eq!(oid_of(&content_info[0]), "1.2.840.113549.1.7.2");
    let signed_data = items(items(content_info[1].value())[0].value());
    let [version, _digests, encap, certs, signer_infos] = &signed_data[..] else {
        panic!("SignedData shape")
    };
    assert_eq!(version.value(), &[3]);
    let encap = items(encap.value());
    assert_eq!(oid_of(&encap[0]), dotted(TST_INFO_OID));
    let tst_info_der = items(encap[1].value())[0].value().to_vec();
    let tst_info = items(Any::from_der(&tst_info_der).unwrap().value());
    assert_eq!(tst_info[0].value(), &[1], "TSTInfo v1");
    let imprint = items(tst_info[2].value());
    assert_eq!(
        oid_of(&items(imprint[0].value())[0]),
        "2.16.840.1.101.3.4.2.1"
    );
    assert_eq!(imprint[1].value(), &Sha256::digest(data)[..]);
    assert_eq!(tst_info[4].value(), b"20260409072329Z");

    // The leaf is in the token, chains to the root and is a critical-EKU timestamping cert.
    let leaf_der = items(certs.value())[0].to_der().unwrap();
    assert_eq!(leaf_der, sigstore.tsa.leaf_der());
    let leaf = Certificate::from_der(&leaf_der).unwrap();
    let eku = leaf
        .tbs_certificate()
        .extensions()
        .unwrap()
        .iter()
        .find(|e| e.extn_id.to_string() == "2.5.29.37")
        .unwrap();
    assert!(eku.critical);
    assert!(
        eku.extn_value
            .as_bytes()
            .ends_with(&[0x06, 0x08, 0x2b, 6, 1, 5, 5, 7, 3, 8])
    );
    let leaf_tbs = leaf.tbs_certificate().to_der().unwrap();
    assert!(verify(
        &spki_of(&sigstore.tsa.root_der()),
        leaf.signature().raw_bytes(),
        &leaf_tbs
    ));

    // The signer signed the attributes (as a SET); they carry sha256(TSTInfo).
    let signer = items(items(signer_infos.value())[0].value());
    let attrs = &signer[3];
    let mut as_set = attrs.to_der().unwrap();
    as_set[0] = 0x31;
    assert!(verify(&spki_of(&leaf_der), signer[5].value(), &as_set));
    let digest_attr = items(attrs.value())
        .into_iter()
        .find(|a| oid_of(&items(a.value())[0]) == "1.2.840.113549.1.9.4")
        .unwrap();
    assert_eq!(
        items(items(digest_attr.value())[1].value())[0].value(),
        &Sha256::digest(&tst_info_der)[..]
    );
    // Negative control: other data has another imprint.
    let other = sigstore.tsa.timestamp(b"other", at).unwrap();
    assert!(!other.windows(32).any(|w| w == &Sha256::digest(data)[..]));
}

#[test]
fn trusted_root_lists_every_service_with_its_keys_and_windows() {
    let sigstore = PrivateSigstore::new().unwrap();
    let path = std::env::temp_dir().join(format!("trusted_root-{}.json", std::process::id()));
    sigstore
        .trusted_root_builder()
        .ct(
            &sigstore.ct,
            ValidFor::between(1_600_000_000, 1_700_000_000),
        )
        .write(&path)
        .unwrap();
    let root: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(root["mediaType"], TRUSTED_ROOT_MEDIA_TYPE);
    let b64 = |d: &[u8]| Value::String(B64.encode(d));

    let tlogs = root["tlogs"].as_array().unwrap();
    assert_eq!(tlogs.len(), 2);
    assert_eq!(
        tlogs[0]["publicKey"]["rawBytes"],
        b64(&sigstore.rekor.public_key_der())
    );
    assert_eq!(
        tlogs[0]["publicKey"]["keyDetails"],
        "PKIX_ECDSA_P256_SHA_256"
    );
    assert_eq!(
        tlogs[0]["logId"]["keyId"],
        b64(&Sha256::digest(sigstore.rekor.public_key_der()))
    );
    assert_eq!(
        tlogs[0]["publicKey"]["validFor"],
        json!({"start": "2000-01-01T00:00:00Z"})
    );
    assert_eq!(tlogs[1]["publicKey"]["keyDetails"], "PKIX_ED25519");
    assert_eq!(tlogs[1]["logId"]["keyId"], b64(&sigstore.rekor_v2.log_id()));

    let ca = &root["certificateAuthorities"][0];
    assert_eq!(
        ca["certChain"]["certificates"][0]["rawBytes"],
        b64(&sigstore.fulcio.intermediate_der())
    );
    assert_eq!(
        ca["certChain"]["certificates"][1]["rawBytes"],
        b64(&sigstore.fulcio.root_der())
    );
    assert!(ca["validFor"]["start"].is_string());

    let ctlogs = root["ctlogs"].as_array().unwrap();
    assert_eq!(ctlogs.len(), 2, "default entry plus the windowed one");
    assert_eq!(
        ctlogs[1]["logId"]["keyId"],
        b64(&Sha256::digest(sigstore.ct.public_key_der()))
    );
    assert_eq!(
        ctlogs[1]["publicKey"]["validFor"],
        json!({"start": "2020-09-13T12:26:40Z", "end": "2023-11-14T22:13:20Z"})
    );

    let tsa = &root["timestampAuthorities"][0];
    assert_eq!(
        tsa["certChain"]["certificates"][0]["rawBytes"],
        b64(&sigstore.tsa.leaf_der())
    );
    assert_eq!(
        tsa["certChain"]["certificates"][1]["rawBytes"],
        b64(&sigstore.tsa.root_der())
    );
}
