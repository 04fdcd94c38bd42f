//! Bundle JSON shapes and the binding of every log entry body to what it logs.

use super::*;
use portcullis_testkit::TestKey;
use portcullis_testkit::attest::pae;
use portcullis_testkit::sigstore::{
    AttKind, BUNDLE_V01_MEDIA_TYPE, BUNDLE_V03_MEDIA_TYPE, BundleVersion, COSIGN_SIGN_PREDICATE,
    TlogChoice,
};

fn body_of(tle: &Value) -> Value {
    serde_json::from_slice(
        &B64.decode(tle["canonicalizedBody"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn v03_image_signature_bundle_is_cosign_v3_shaped_and_verifies() {
    let sigstore = PrivateSigstore::new().unwrap();
    let leaf = sigstore.issue(&leaf_spec()).unwrap();
    let digest = format!("sha256:{}", "c8".repeat(32));
    let options = SignOptions {
        integrated_time: 1_775_719_409,
        ..SignOptions::default()
    };
    let json = sigstore
        .sign_image(&leaf, &digest, &options)
        .unwrap()
        .to_json();
    assert_eq!(json["mediaType"], BUNDLE_V03_MEDIA_TYPE);
    let material = &json["verificationMaterial"];
    assert_eq!(
        material["certificate"]["rawBytes"],
        B64.encode(&leaf.cert_der)
    );

    let envelope = &json["dsseEnvelope"];
    let payload = B64.decode(envelope["payload"].as_str().unwrap()).unwrap();
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(statement["predicateType"], COSIGN_SIGN_PREDICATE);
    assert_eq!(statement["subject"][0]["digest"]["sha256"], "c8".repeat(32));
    let sig = B64
        .decode(envelope["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    assert!(verify(
        &spki_of(&leaf.cert_der),
        &sig,
        &pae("application/vnd.in-toto+json", &payload)
    ));

    let tle = &material["tlogEntries"][0];
    assert_eq!(
        tle["kindVersion"],
        json!({"kind": "dsse", "version": "0.0.1"})
    );
    assert_eq!(tle["integratedTime"], "1775719409");
    assert_eq!(tle["logIndex"], "0");
    assert_eq!(
        tle["logId"]["keyId"],
        B64.encode(Sha256::digest(sigstore.rekor.public_key_der()))
    );
    let body = body_of(tle);
    assert_eq!(
        body["spec"]["payloadHash"]["value"],
        hex::encode(Sha256::digest(&payload))
    );
    assert_eq!(
        body["spec"]["signatures"][0]["signature"],
        envelope["signatures"][0]["sig"]
    );
    assert_eq!(
        body["spec"]["signatures"][0]["verifier"],
        B64.encode(&leaf.cert_pem)
    );
    let set = B64
        .decode(
            tle["inclusionPromise"]["signedEntryTimestamp"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let canonical = format!(
        r#"{{"body":"{}","integratedTime":1775719409,"logID":"{}","logIndex":0}}"#,
        tle["canonicalizedBody"].as_str().unwrap(),
        hex::encode(Sha256::digest(sigstore.rekor.public_key_der()))
    );
    assert!(verify(
        &sigstore.rekor.public_key_der(),
        &set,
        canonical.as_bytes()
    ));
    let proof = &tle["inclusionProof"];
    assert_eq!(proof["treeSize"], "1");
    assert!(
        proof["checkpoint"]["envelope"]
            .as_str()
            .unwrap()
            .starts_with("rekor.local - ")
    );
    let timestamps = material["timestampVerificationData"]["rfc3161Timestamps"]
        .as_array()
        .unwrap();
    assert_eq!(timestamps.len(), 1);
    let token = B64
        .decode(timestamps[0]["signedTimestamp"].as_str().unwrap())
        .unwrap();
    assert!(
        token.windows(32).any(|w| w == &Sha256::digest(&sig)[..]),
        "TSA imprint is sha256(signature)"
    );
}

#[test]
fn message_signature_bundles_log_hashedrekord_in_both_logs() {
    let sigstore = PrivateSigstore::new().unwrap();
    let leaf = sigstore.issue(&leaf_spec()).unwrap();
    let manifest = br#"{"schemaVersion":2}"#;
    let v1 = sigstore
        .sign_message(
            &leaf,
            manifest,
            &SignOptions {
                version: BundleVersion::V0_1,
                timestamp_at: None,
                ..SignOptions::default()
            },
        )
        .unwrap()
        .to_json();
    assert_eq!(v1["mediaType"], BUNDLE_V01_MEDIA_TYPE);
    let chain = &v1["verificationMaterial"]["x509CertificateChain"]["certificates"];
    assert_eq!(chain[0]["rawBytes"], B64.encode(&leaf.cert_der));
    assert_eq!(
        chain[1]["rawBytes"],
        B64.encode(sigstore.fulcio.intermediate_der())
    );
    assert_eq!(
        v1["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"],
        json!([])
    );
    let digest = Sha256::digest(manifest);
    assert_eq!(
        v1["messageSignature"]["messageDigest"],
        json!({"algorithm": "SHA2_256", "digest": B64.encode(digest)})
    );
    let sig = B64
        .decode(v1["messageSignature"]["signature"].as_str().unwrap())
        .unwrap();
    assert!(verify(&spki_of(&leaf.cert_der), &sig, manifest));
    let body = body_of(&v1["verificationMaterial"]["tlogEntries"][0]);
    assert_eq!(body["kind"], "hashedrekord");
    assert_eq!(body["spec"]["data"]["hash"]["value"], hex::encode(digest));

    let v2 = sigstore
        .sign_message(&leaf, manifest, &SignOptions::rekor_v2())
        .unwrap()
        .to_json();
    let body = body_of(&v2["verificationMaterial"]["tlogEntries"][0]);
    assert_eq!(body["apiVersion"], "0.0.2");
    assert_eq!(
        body["spec"]["hashedRekordV002"]["data"]["digest"],
        B64.encode(digest)
    );
    assert_eq!(
        body["spec"]["hashedRekordV002"]["signature"]["content"],
        v2["messageSignature"]["signature"]
    );
}

#[test]
fn key_based_bundle_names_the_key_by_hint_and_logs_its_public_key() {
    let sigstore = PrivateSigstore::new().unwrap();
    let key = TestKey::generate().unwrap();
    let digest = format!("sha256:{}", "11".repeat(32));
    let options = SignOptions {
        version: BundleVersion::V0_2,
        timestamp_at: None,
        ..SignOptions::default()
    };
    let json = sigstore
        .sign_with_key(
            &key,
            &digest,
            "https://slsa.dev/provenance/v1",
            &json!({}),
            &options,
        )
        .unwrap()
        .to_json();
    let hint = json["verificationMaterial"]["publicKey"]["hint"]
        .as_str()
        .unwrap();
    assert_eq!(hint, portcullis_testkit::attest::fingerprint(&key).unwrap());
    let body = body_of(&json["verificationMaterial"]["tlogEntries"][0]);
    assert_eq!(
        body["spec"]["signatures"][0]["verifier"],
        B64.encode(&key.public_pem)
    );
    let no_log = SignOptions {
        log: TlogChoice::RekorV2,
        ..options
    };
    assert!(
        sigstore
            .sign_with_key(&key, &digest, "p", &json!({}), &no_log)
            .is_err()
    );
}

#[test]
fn keyless_attestation_entries_bind_the_exact_envelope_bytes() {
    let sigstore = PrivateSigstore::new().unwrap();
    let leaf = sigstore.issue(&leaf_spec()).unwrap();
    let digest = format!("sha256:{}", "22".repeat(32));
    for (kind, hash_path) in [
        (AttKind::IntotoV001, "/spec/content/hash/value"),
        (AttKind::DsseV001, "/spec/envelopeHash/value"),
    ] {
        let att = sigstore
            .keyless_attestation(
                &leaf,
                &digest,
                "https://slsa.dev/provenance/v0.2",
                &json!({"builder": {"id": "b"}}),
                kind,
                1_700_000_000,
            )
            .unwrap();
        let body: Value = serde_json::from_slice(&att.entry.body).unwrap();
        assert_eq!(
            body.pointer(hash_path).unwrap(),
            &json!(hex::encode(Sha256::digest(&att.envelope_json)))
        );
        let bundle = &att.bundle;
        assert_eq!(bundle["Payload"]["body"], B64.encode(&att.entry.body));
        assert_eq!(bundle["Payload"]["integratedTime"], 1_700_000_000);
        assert!(
            att.chain
                .as_ref()
                .unwrap()
                .matches("BEGIN CERTIFICATE")
                .count()
                == 2
        );
    }
    // intoto 0.0.2 double-encodes the signature and the certificate.
    let envelope =
        portcullis_testkit::sigstore::sign_envelope(&json!({"_type": "x"}), &leaf).unwrap();
    let body = portcullis_testkit::FakeRekor::intoto_v002_body(&envelope, &leaf.cert_pem).unwrap();
    let sig = &body["spec"]["content"]["envelope"]["signatures"][0];
    assert_eq!(
        B64.decode(sig["sig"].as_str().unwrap()).unwrap(),
        envelope["signatures"][0]["sig"]
            .as_str()
            .unwrap()
            .as_bytes()
    );
    assert_eq!(
        B64.decode(sig["publicKey"].as_str().unwrap()).unwrap(),
        leaf.cert_pem.as_bytes()
    );
}
