#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn realworld(path: &str) -> Vec<u8> {
    let full = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/realworld/").to_owned() + path;
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

#[test]
fn public_good_trusted_root_loads_with_its_windows() {
    let root = parse_trusted_root(&realworld("trust/public-good/trusted_root.json")).unwrap();
    let rekor = &root.tlogs["c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"];
    assert_eq!(rekor.base_url, "https://rekor.sigstore.dev");
    // 2021-01-12T11:53:27Z, open-ended.
    assert_eq!(rekor.valid.start, Some(1_610_452_407));
    assert_eq!(rekor.valid.end, None);
    // Rekor's log id is the SHA-256 of its key.
    assert_eq!(
        hex::encode(Sha256::digest(&rekor.spki)),
        "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"
    );
    assert_eq!(root.tlogs.len(), 2, "Rekor v1 and the 2025 Rekor v2 shard");
    assert_eq!(root.cas.len(), 2);
    // The first Fulcio root signed leaves directly and stopped at the end of 2022.
    assert!(root.cas[0].intermediates.is_empty());
    assert!(root.cas[0].valid.contains(1_634_714_717));
    assert!(!root.cas[0].valid.contains(1_674_247_893));
    // The GA root has sigstore-intermediate.
    assert_eq!(root.cas[1].intermediates.len(), 1);
    assert_eq!(root.ctlogs.len(), 2);
    assert_eq!(root.tsas.len(), 1);
    assert_eq!(root.tsas[0].chain.len(), 2);
    // The rekor.pub PEM of the same snapshot gives the same log id.
    let pem = pem_log_keys(&realworld("trust/public-good/rekor.pub")).unwrap();
    assert!(pem.contains_key("c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"));
}

#[test]
fn other_published_copies_and_a_private_root_load() {
    for path in [
        "trust/other-copies/cosign-trusted_root_pgi.json",
        "trust/other-copies/sigstore-go-public-good.json",
        "attestations/bundles/sigstore-go-scaffolding-trusted-root.json",
    ] {
        let root = parse_trusted_root(&realworld(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(!root.cas.is_empty() && !root.tlogs.is_empty(), "{path}");
    }
}

#[test]
fn wrong_documents_are_refused_with_the_reason() {
    let err = parse_trusted_root(br#"{"mediaType":"application/json"}"#)
        .err()
        .unwrap();
    assert!(err.contains("is not a sigstore trusted root"), "{err}");
    let err = parse_trusted_root(b"[]").err().unwrap();
    assert!(err.contains("not a trusted root"), "{err}");
    let err = parse_trusted_root(
        br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[{"publicKey":{"rawBytes":"AAAA"},"logId":{"keyId":"AA=="}}]}"#,
    )
    .err()
    .unwrap();
    assert!(err.contains("tlogs[0]: public key"), "{err}");
    let no_ca = br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#;
    assert_eq!(
        parse_trusted_root(no_ca).err().unwrap(),
        "no certificateAuthorities"
    );
    let huge = vec![b' '; MAX_TRUSTED_ROOT_BYTES + 1];
    assert!(
        parse_trusted_root(&huge)
            .err()
            .unwrap()
            .contains("more than")
    );
}

#[test]
fn windows_are_inclusive_and_open_ends_are_unbounded() {
    let w = Window {
        start: Some(10),
        end: Some(20),
    };
    assert!(w.contains(10) && w.contains(20) && !w.contains(9) && !w.contains(21));
    assert!(Window::default().contains(i64::MIN));
}
