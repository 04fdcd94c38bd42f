#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::keyless::testdata::{KUBEWARDEN, TRUSTED_ROOT, b64_at, json};

/// integratedTime of the kubewarden bundle's Rekor entry.
const INTEGRATED_TIME: i64 = 1_775_719_409;

fn unix(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp()
}

/// (TimeStampResp DER, the DSSE signature it covers).
fn kubewarden() -> (Vec<u8>, Vec<u8>) {
    let b = json(KUBEWARDEN);
    let token = b64_at(
        &b,
        "/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp",
    );
    (token, b64_at(&b, "/dsseEnvelope/signatures/0/sig"))
}

/// A TSA (or, for negatives, a Fulcio CA posing as one) from the public-good trusted root.
fn from_root(pointer: &str) -> Tsa {
    let root = json(TRUSTED_ROOT);
    let entry = root.pointer(pointer).unwrap();
    let count = entry["certChain"]["certificates"].as_array().unwrap().len();
    let chain = (0..count)
        .map(|i| b64_at(entry, &format!("/certChain/certificates/{i}/rawBytes")))
        .collect();
    Tsa {
        chain,
        valid_from: unix(entry["validFor"]["start"].as_str().unwrap()),
        valid_until: entry["validFor"]["end"].as_str().map(unix),
    }
}

fn public_good_tsa() -> Tsa {
    from_root("/timestampAuthorities/0")
}

#[test]
fn real_sigstore_timestamp_verifies() {
    let (token, sig) = kubewarden();
    let time = verify_rfc3161(&token, &sig, &[public_good_tsa()]).unwrap();
    assert_eq!(time, unix("2026-04-09T07:23:29Z"));
    assert!((time - INTEGRATED_TIME).abs() < 60, "{time}");
}

#[test]
fn bare_token_without_the_response_wrapper_verifies() {
    let (token, sig) = kubewarden();
    let fields = Tlv::parse_exact(&token).unwrap().children().unwrap();
    let bare = fields[1].raw;
    assert_eq!(
        verify_rfc3161(bare, &sig, &[public_good_tsa()]).unwrap(),
        1_775_719_409
    );
}

#[test]
fn other_signed_bytes_do_not_match_the_imprint() {
    let (token, mut sig) = kubewarden();
    sig[5] ^= 1;
    let err = verify_rfc3161(&token, &sig, &[public_good_tsa()]).unwrap_err();
    assert!(err.contains("message imprint"), "{err}");
}

#[test]
fn flipped_token_bytes_are_rejected() {
    let (token, sig) = kubewarden();
    let tsa = [public_good_tsa()];
    // The last byte is inside the ECDSA signature; the TSTInfo's genTime sits in the eContent.
    let mut bad_sig = token.clone();
    *bad_sig.last_mut().unwrap() ^= 1;
    let err = verify_rfc3161(&bad_sig, &sig, &tsa).unwrap_err();
    assert!(err.contains("bad timestamp signature"), "{err}");
    let at = token
        .windows(15)
        .position(|w| w == b"20260409072329Z")
        .unwrap();
    let mut bad_time = token.clone();
    bad_time[at + 3] = b'7';
    let err = verify_rfc3161(&bad_time, &sig, &tsa).unwrap_err();
    assert!(err.contains("message-digest"), "{err}");
    // Every single-byte flip is refused, whatever it hits.
    let accepted: Vec<usize> = (0..token.len())
        .filter(|i| {
            let mut flipped = token.clone();
            flipped[*i] ^= 0x40;
            verify_rfc3161(&flipped, &sig, &tsa).is_ok()
        })
        .collect();
    assert!(accepted.is_empty(), "flips accepted at {accepted:?}");
}

#[test]
fn unconfigured_or_expired_tsa_is_refused() {
    let (token, sig) = kubewarden();
    let err = verify_rfc3161(&token, &sig, &[]).unwrap_err();
    assert!(err.contains("no timestamp authority"), "{err}");
    let fulcio = from_root("/certificateAuthorities/1");
    let err = verify_rfc3161(&token, &sig, &[fulcio]).unwrap_err();
    assert!(err.contains("not by a trusted TSA"), "{err}");
    let mut retired = public_good_tsa();
    retired.valid_until = Some(unix("2026-01-01T00:00:00Z"));
    let err = verify_rfc3161(&token, &sig, &[retired]).unwrap_err();
    assert!(err.contains("outside the TSA's validity window"), "{err}");
    // The leaf alone, without the root it chains to, is no trust anchor.
    let mut leaf_only = public_good_tsa();
    leaf_only.chain.truncate(1);
    assert!(verify_rfc3161(&token, &sig, &[leaf_only]).is_err());
}

#[test]
fn generalized_time_forms() {
    assert_eq!(generalized_time(b"20260409072329Z").unwrap(), 1_775_719_409);
    assert_eq!(
        generalized_time(b"20260409072329.123Z").unwrap(),
        1_775_719_409
    );
    for bad in [
        &b"20260409072329"[..],
        b"2026040907232Z",
        b"20260409072329.Z",
        b"20261309072329Z",
    ] {
        assert!(generalized_time(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn signing_certificate_v2_must_name_the_signer() {
    let (token, _) = kubewarden();
    let parsed = cms::parse_token(&token).unwrap();
    let tsa = public_good_tsa();
    check_signing_certificate(&parsed, &tsa.chain[0]).unwrap();
    let err = check_signing_certificate(&parsed, &tsa.chain[1]).unwrap_err();
    assert!(err.contains("another certificate"), "{err}");
}
