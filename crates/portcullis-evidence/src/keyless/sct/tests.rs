#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use x509_cert::der::Encode;

use super::*;
use crate::keyless::testdata::{KUBEWARDEN, TRUSTED_ROOT, b64_at, json, pem_der};

fn unix(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp()
}

/// The CT logs of the public-good trusted root, as the trusted-root loader will build them.
fn public_good_logs() -> Vec<CtLog> {
    let root = json(TRUSTED_ROOT);
    let logs = root["ctlogs"].as_array().unwrap();
    logs.iter()
        .map(|log| {
            let der = b64_at(log, "/publicKey/rawBytes");
            let id: [u8; 32] = Sha256::digest(&der).into();
            assert_eq!(
                id.to_vec(),
                b64_at(log, "/logId/keyId"),
                "logId is sha256(SPKI)"
            );
            let window = &log["publicKey"]["validFor"];
            CtLog {
                log_id: id,
                key: CosignVerificationKey::try_from_der(&der).unwrap(),
                valid_from: unix(window["start"].as_str().unwrap()),
                valid_until: window["end"].as_str().map(unix),
            }
        })
        .collect()
}

fn spki_of(cert_der: &[u8]) -> Vec<u8> {
    let cert = Certificate::from_der(cert_der).unwrap();
    cert.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap()
}

/// ci-fulcio-rekor: leaf and the sigstore-intermediate that issued it.
fn ci_leaf_and_issuer_spki() -> (Vec<u8>, Vec<u8>) {
    let leaf = pem_der("keyless/ci-fulcio-rekor/cert.pem", 0);
    let intermediate = pem_der("keyless/ci-fulcio-rekor/chain.pem", 0);
    (leaf, spki_of(&intermediate))
}

fn ctfe_2022() -> (Vec<u8>, CosignVerificationKey) {
    let der = pem_der("trust/public-good/ctfe_2022.pub", 0);
    let key = CosignVerificationKey::try_from_der(&der).unwrap();
    (der, key)
}

#[test]
fn real_fulcio_leaf_sct_verifies_with_ctfe_2022() {
    let (leaf, issuer) = ci_leaf_and_issuer_spki();
    assert!(has_embedded_sct(&leaf).unwrap());
    let (der, key) = ctfe_2022();
    let logs = [CtLog {
        log_id: Sha256::digest(&der).into(),
        key,
        valid_from: unix("2022-10-20T00:00:00Z"),
        valid_until: None,
    }];
    verify_embedded_scts(&leaf, &issuer, &logs).unwrap();
    verify_embedded_scts(&leaf, &issuer, &public_good_logs()).unwrap();
}

#[test]
fn v03_bundle_leaf_sct_verifies_with_the_trusted_root() {
    let bundle = json(KUBEWARDEN);
    let leaf = b64_at(&bundle, "/verificationMaterial/certificate/rawBytes");
    let root = json(TRUSTED_ROOT);
    let intermediate = b64_at(
        &root,
        "/certificateAuthorities/1/certChain/certificates/0/rawBytes",
    );
    verify_embedded_scts(&leaf, &spki_of(&intermediate), &public_good_logs()).unwrap();
}

#[test]
fn wrong_log_key_is_a_bad_signature() {
    let (leaf, issuer) = ci_leaf_and_issuer_spki();
    let (der, _) = ctfe_2022();
    let other = pem_der("trust/public-good/ctfe.pub", 0);
    let logs = [CtLog {
        log_id: Sha256::digest(&der).into(),
        key: CosignVerificationKey::try_from_der(&other).unwrap(),
        valid_from: 0,
        valid_until: None,
    }];
    let err = verify_embedded_scts(&leaf, &issuer, &logs).unwrap_err();
    assert!(err.contains("bad signature"), "{err}");
}

#[test]
fn unknown_log_is_named_by_hex_id() {
    let (leaf, issuer) = ci_leaf_and_issuer_spki();
    let logs: Vec<CtLog> = public_good_logs().into_iter().take(1).collect(); // ctfe/test only
    let err = verify_embedded_scts(&leaf, &issuer, &logs).unwrap_err();
    let id_2022 = hex::encode(
        BASE64
            .decode("3T0wasbHETJjGR4cmWc3AqJKXrjePK3/h4pygC8p7o4=")
            .unwrap(),
    );
    assert!(err.contains(&format!("unknown CT log {id_2022}")), "{err}");
}

#[test]
fn sct_outside_the_log_window_is_refused() {
    let (leaf, issuer) = ci_leaf_and_issuer_spki();
    let mut logs = public_good_logs();
    // The SCT is from 2023-01-20; end the 2022 log's window a day before.
    logs[1].valid_until = Some(unix("2023-01-19T00:00:00Z"));
    let err = verify_embedded_scts(&leaf, &issuer, &logs).unwrap_err();
    assert!(err.contains("outside the log's validity window"), "{err}");
    let mut logs = public_good_logs();
    logs[1].valid_from = unix("2023-02-01T00:00:00Z");
    assert!(verify_embedded_scts(&leaf, &issuer, &logs).is_err());
}

#[test]
fn flipped_tbs_byte_or_other_issuer_fails() {
    let (leaf, issuer) = ci_leaf_and_issuer_spki();
    let mut tampered = leaf.clone();
    tampered[20] ^= 0x01; // inside the serial number
    assert!(
        Certificate::from_der(&tampered).is_ok(),
        "still a certificate"
    );
    let err = verify_embedded_scts(&tampered, &issuer, &public_good_logs()).unwrap_err();
    assert!(err.contains("bad signature"), "{err}");
    let root_spki = spki_of(&pem_der("keyless/ci-fulcio-rekor/chain.pem", 1));
    let err = verify_embedded_scts(&leaf, &root_spki, &public_good_logs()).unwrap_err();
    assert!(err.contains("bad signature"), "{err}");
}

#[test]
fn pre_2022_cert_has_no_sct() {
    let leaf = pem_der("keyless/sigstore-rs-2021/cert.pem", 0);
    assert!(!has_embedded_sct(&leaf).unwrap());
    let err = verify_embedded_scts(&leaf, &[], &public_good_logs()).unwrap_err();
    assert!(err.contains("no embedded SCT"), "{err}");
}

#[test]
fn malformed_input_is_rejected() {
    assert!(has_embedded_sct(b"not a certificate").is_err());
    assert!(parse_sct_list(&[0, 5, 0, 3, 0]).is_err(), "truncated");
    assert!(parse_sct_list(&[0, 0]).is_err(), "empty list");
    assert!(parse_sct_list(&[0, 0, 9]).is_err(), "trailing bytes");
}

#[test]
fn every_flipped_tbs_byte_is_refused() {
    let (leaf, issuer) = ci_leaf_and_issuer_spki();
    let logs = public_good_logs();
    let tbs = Tlv::parse_exact(&leaf).unwrap().children().unwrap()[0]
        .raw
        .len();
    // The TBS starts after the certificate's 4-byte header; the SCT list is inside it.
    let accepted: Vec<usize> = (4..4 + tbs)
        .filter(|i| {
            let mut flipped = leaf.clone();
            flipped[*i] ^= 0x01;
            verify_embedded_scts(&flipped, &issuer, &logs).is_ok()
        })
        .collect();
    assert!(accepted.is_empty(), "flips accepted at {accepted:?}");
}
