//! The private Sigstore deployment checked with independent code: x509-cert/der parse and
//! re-encode certificates and tokens, sigstore's verification keys check the signatures, and
//! the Merkle proof is recomputed with RFC 9162's iterative algorithm (not the recursive one
//! the testkit uses to build it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use portcullis_testkit::sigstore::{
    FulcioExtensions, InclusionProof, PrivateSigstore, SCT_LIST_OID, SignOptions, fulcio_oid,
};
use portcullis_testkit::{LeafSpec, SanSubject};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use sigstore::crypto::{CosignVerificationKey, Signature};
use x509_cert::Certificate;
use x509_cert::der::{Any, Decode as _, Encode as _, Reader as _, SliceReader, Tagged as _};
use x509_cert::ext::Extension;

const GITHUB: &str = "https://token.actions.githubusercontent.com";

fn leaf_spec() -> LeafSpec {
    let mut spec = LeafSpec::new(
        SanSubject::Uri(
            "https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1".into(),
        ),
        GITHUB,
    );
    spec.extensions = FulcioExtensions::github_workflow(
        "github.com/org/app",
        "refs/tags/v1",
        "abc123",
        ".github/workflows/release.yml",
    );
    spec
}

fn verify(spki_der: &[u8], signature: &[u8], message: &[u8]) -> bool {
    CosignVerificationKey::try_from_der(spki_der)
        .expect("key")
        .verify_signature(Signature::Raw(signature), message)
        .is_ok()
}

fn spki_of(cert_der: &[u8]) -> Vec<u8> {
    let cert = Certificate::from_der(cert_der).expect("cert");
    cert.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .expect("spki")
}

/// The items inside a constructed DER value.
fn items(value: &[u8]) -> Vec<Any> {
    let mut reader = SliceReader::new(value).expect("reader");
    let mut out = Vec::new();
    while !reader.is_finished() {
        out.push(reader.decode::<Any>().expect("item"));
    }
    out
}

fn tls_u16(bytes: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]))
}

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

/// RFC 9162 §2.1.3.2: the root from a leaf hash and its audit path.
fn root_from_path(index: u64, size: u64, leaf: [u8; 32], path: &[[u8; 32]]) -> Option<[u8; 32]> {
    let node = |l: &[u8], r: &[u8]| -> [u8; 32] {
        Sha256::new()
            .chain_update([1])
            .chain_update(l)
            .chain_update(r)
            .finalize()
            .into()
    };
    let (mut f_n, mut s_n, mut r) = (index, size - 1, leaf);
    for p in path {
        if s_n == 0 {
            return None;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    (s_n == 0).then_some(r)
}

/// Splits a signed note into its signed body and (key name, key hint, signature).
fn parse_note(note: &str) -> (String, String, Vec<u8>, Vec<u8>) {
    let (body, sigs) = note.split_once("\n\n").unwrap();
    let line = sigs
        .strip_suffix('\n')
        .unwrap()
        .strip_prefix("\u{2014} ")
        .unwrap();
    let (name, blob) = line.split_once(' ').unwrap();
    let blob = B64.decode(blob).unwrap();
    (
        format!("{body}\n"),
        name.to_owned(),
        blob[..4].to_vec(),
        blob[4..].to_vec(),
    )
}

fn check_proof(proof: &InclusionProof, body: &[u8], spki: &[u8], origin: &str, hint: &[u8]) {
    let leaf: [u8; 32] = Sha256::new()
        .chain_update([0])
        .chain_update(body)
        .finalize()
        .into();
    let root =
        root_from_path(proof.log_index, proof.tree_size, leaf, &proof.hashes).expect("path length");
    assert_eq!(root, proof.root_hash);
    let (signed, name, key_hint, signature) = parse_note(&proof.checkpoint);
    assert_eq!(
        signed,
        format!("{origin}\n{}\n{}\n", proof.tree_size, B64.encode(root))
    );
    assert_eq!(key_hint, hint);
    assert!(origin.starts_with(&name));
    assert!(verify(spki, &signature, signed.as_bytes()));
    assert!(!verify(
        spki,
        &signature,
        signed
            .replace(&proof.tree_size.to_string(), "999")
            .as_bytes()
    ));
}

#[test]
fn rekor_v1_proofs_recompute_the_root_and_checkpoints_and_sets_verify() {
    // A shard: global indexes 1000.., tree indexes 0..
    let rekor = &portcullis_testkit::FakeRekor::with_shard_offset(1000).unwrap();
    let entries: Vec<_> = (0..7).map(|i| rekor.log(&json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {"n": i, "a": 1}}), 1_700_000_000 + i).unwrap()).collect();
    let spki = rekor.public_key_der();
    let id = Sha256::digest(&spki);
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(entry.log_id, *id);
        assert_eq!(entry.log_index, 1000 + i as u64);
        assert_eq!(entry.proof.as_ref().unwrap().log_index, i as u64);
        assert!(
            std::str::from_utf8(&entry.body)
                .unwrap()
                .starts_with(r#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"a":1,"n":"#)
        );
        check_proof(
            entry.proof.as_ref().unwrap(),
            &entry.body,
            &spki,
            &rekor.origin(),
            &id[..4],
        );
        // A fresh proof against the grown tree verifies too.
        let fresh = rekor.inclusion_proof(entry.log_index).unwrap();
        assert_eq!(fresh.tree_size, 7);
        check_proof(&fresh, &entry.body, &spki, &rekor.origin(), &id[..4]);
        let set_payload = format!(
            r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
            B64.encode(&entry.body),
            entry.integrated_time,
            hex::encode(id),
            entry.log_index
        );
        assert!(verify(
            &spki,
            entry.set.as_ref().unwrap(),
            set_payload.as_bytes()
        ));
    }
    assert!(rekor.inclusion_proof(1007).is_err());
    assert!(
        rekor.inclusion_proof(6).is_err(),
        "tree indexes are not log indexes"
    );
}

#[test]
fn rekor_v2_entries_have_proofs_and_ed25519_checkpoints_but_no_set() {
    let sigstore = PrivateSigstore::new().unwrap();
    let leaf = sigstore.issue(&leaf_spec()).unwrap();
    let digest = format!("sha256:{}", "ab".repeat(32));
    let bundle = sigstore
        .sign_image(&leaf, &digest, &SignOptions::rekor_v2())
        .unwrap();
    let v2 = &sigstore.rekor_v2;
    let raw = &v2.public_key_der()[12..];
    let key_id: [u8; 32] = Sha256::new()
        .chain_update(v2.origin())
        .chain_update([0x0a, 1])
        .chain_update(raw)
        .finalize()
        .into();
    let entry = &bundle.tlog_entries[0];
    assert_eq!(entry.log_id, key_id);
    assert!(entry.set.is_none());
    check_proof(
        entry.proof.as_ref().unwrap(),
        &entry.body,
        &v2.public_key_der(),
        v2.origin(),
        &key_id[..4],
    );
    let json = bundle.to_json();
    let tle = &json["verificationMaterial"]["tlogEntries"][0];
    assert_eq!(
        tle["kindVersion"],
        json!({"kind": "dsse", "version": "0.0.2"})
    );
    assert_eq!(tle["integratedTime"], "0");
    assert!(tle.get("inclusionPromise").is_none());
    let body: Value = serde_json::from_slice(
        &B64.decode(tle["canonicalizedBody"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let payload = B64
        .decode(json["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        body["spec"]["dsseV002"]["payloadHash"]["digest"],
        B64.encode(Sha256::digest(&payload))
    );
    assert_eq!(
        body["spec"]["dsseV002"]["signatures"][0]["verifier"]["x509Certificate"]["rawBytes"],
        B64.encode(&leaf.cert_der)
    );
}

#[path = "sigstore/bundles.rs"]
mod bundles;
#[path = "sigstore/tsa.rs"]
mod tsa;
