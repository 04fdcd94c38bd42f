#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sigstore::crypto::SigningScheme;

use super::*;
use crate::keyless::testdata::{KUBEWARDEN, b64_at, json, pem_der};

const BUNDLES: [&str; 3] = [
    "attestations/bundles/cosign-oci-attestation.sigstore.json",
    KUBEWARDEN,
    "attestations/bundles/sigstore-go-sigstore.js@2.0.0-provenance.sigstore.json",
];

struct Proof {
    entry: Vec<u8>,
    index: u64,
    tree_size: u64,
    root: [u8; 32],
    path: Vec<[u8; 32]>,
    envelope: String,
}

fn proof(bundle: &str) -> Proof {
    let b = json(bundle);
    let e = &b["verificationMaterial"]["tlogEntries"][0];
    let p = &e["inclusionProof"];
    let num = |v: &serde_json::Value| v.as_str().unwrap().parse::<u64>().unwrap();
    let hash = |bytes: Vec<u8>| <[u8; 32]>::try_from(bytes).unwrap();
    let path = (0..p["hashes"].as_array().unwrap().len())
        .map(|i| hash(b64_at(p, &format!("/hashes/{i}"))))
        .collect();
    Proof {
        entry: b64_at(e, "/canonicalizedBody"),
        index: num(&p["logIndex"]),
        tree_size: num(&p["treeSize"]),
        root: hash(b64_at(p, "/rootHash")),
        path,
        envelope: p["checkpoint"]["envelope"].as_str().unwrap().to_owned(),
    }
}

fn rekor_key() -> (CosignVerificationKey, Vec<u8>) {
    let der = pem_der("trust/public-good/rekor.pub", 0);
    (CosignVerificationKey::try_from_der(&der).unwrap(), der)
}

#[test]
fn real_inclusion_proofs_and_checkpoints_verify() {
    let (key, der) = rekor_key();
    for bundle in BUNDLES {
        let p = proof(bundle);
        verify_inclusion(&p.entry, p.index, p.tree_size, &p.root, &p.path)
            .unwrap_or_else(|e| panic!("{bundle}: {e}"));
        let checkpoint =
            verify_checkpoint(&p.envelope, &key, &der).unwrap_or_else(|e| panic!("{bundle}: {e}"));
        assert_eq!(checkpoint.tree_size, p.tree_size, "{bundle}");
        assert_eq!(checkpoint.root_hash, p.root, "{bundle}");
        assert!(
            checkpoint.origin.starts_with("rekor.sigstore.dev - "),
            "{bundle}"
        );
    }
}

#[test]
fn inclusion_fails_for_wrong_index_hash_entry_or_size() {
    let p = proof(KUBEWARDEN);
    let run = |entry: &[u8], index, size, path: &[[u8; 32]]| {
        verify_inclusion(entry, index, size, &p.root, path)
    };
    let err = run(&p.entry, p.index + 1, p.tree_size, &p.path).unwrap_err();
    assert!(err.contains("does not match root hash"), "{err}");
    assert!(run(&p.entry, p.index - 1, p.tree_size, &p.path).is_err());
    let mut changed = p.path.clone();
    changed[3][0] ^= 1;
    assert!(run(&p.entry, p.index, p.tree_size, &changed).is_err());
    let mut entry = p.entry.clone();
    entry[10] ^= 1;
    assert!(run(&entry, p.index, p.tree_size, &p.path).is_err());
    let err = run(&p.entry, p.index, p.tree_size, &p.path[..p.path.len() - 1]).unwrap_err();
    assert!(err.contains("fewer than"), "{err}");
    let mut longer = p.path.clone();
    longer.push([0; 32]);
    assert!(run(&p.entry, p.index, p.tree_size, &longer).is_err());
    let err = run(&p.entry, p.tree_size, p.tree_size, &p.path).unwrap_err();
    assert!(err.contains("outside"), "{err}");
}

#[test]
fn single_leaf_tree_and_small_trees() {
    // Tree of three leaves a, b, c: root = H(H(a,b), c).
    let (a, b, c) = (leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c"));
    let root = node_hash(&node_hash(&a, &b), &c);
    verify_inclusion(b"a", 0, 3, &root, &[b, c]).unwrap();
    verify_inclusion(b"b", 1, 3, &root, &[a, c]).unwrap();
    verify_inclusion(b"c", 2, 3, &root, &[node_hash(&a, &b)]).unwrap();
    assert!(verify_inclusion(b"c", 2, 3, &root, &[a, b]).is_err());
    verify_inclusion(b"a", 0, 1, &a, &[]).unwrap();
    assert!(verify_inclusion(b"b", 0, 1, &a, &[]).is_err());
}

#[test]
fn tampered_checkpoint_lines_are_rejected() {
    let (key, der) = rekor_key();
    let p = proof(KUBEWARDEN);
    let size = p.tree_size.to_string();
    let tampered = [
        p.envelope.replace(&size, &(p.tree_size + 1).to_string()),
        p.envelope
            .replacen("rekor.sigstore.dev - ", "rekor.sigstore.dev -  ", 1),
        p.envelope.replacen("5TL0", "5TL1", 1),
        p.envelope.replacen("\n\n", "\nextra\n\n", 1),
    ];
    for envelope in tampered {
        let err = verify_checkpoint(&envelope, &key, &der).unwrap_err();
        assert!(err.contains("bad signature"), "{err}");
    }
    let no_sig = p.envelope.split("\u{2014}").next().unwrap().to_owned();
    assert!(verify_checkpoint(&no_sig, &key, &der).is_err());
    let no_blank = p.envelope.replacen("\n\n", "\n", 1);
    assert!(verify_checkpoint(&no_blank, &key, &der).is_err());
}

#[test]
fn another_key_finds_no_signature() {
    let p = proof(KUBEWARDEN);
    let der = pem_der("trust/public-good/ctfe_2022.pub", 0);
    let key = CosignVerificationKey::try_from_der(&der).unwrap();
    let err = verify_checkpoint(&p.envelope, &key, &der).unwrap_err();
    assert!(
        err.contains("no signature by the configured log key"),
        "{err}"
    );
    let (rekor, _) = rekor_key();
    let err = verify_checkpoint(&p.envelope, &rekor, &der).unwrap_err();
    assert!(err.contains("differ"), "{err}");
}

#[test]
fn ed25519_note_key_uses_the_named_key_hint() {
    let signer = SigningScheme::ED25519.create_signer().unwrap();
    let der = signer
        .to_sigstore_keypair()
        .unwrap()
        .public_key_to_der()
        .unwrap();
    let key = signer.to_verification_key().unwrap();
    let text = "example.com/log\n7\nnd/V1IEweXlu0reIQGaGK1d51xW4Rj8fUyTrmcUkrMY=\n";
    let signature = signer.sign(text.as_bytes()).unwrap();
    let sign_line = |name: &str, hint: [u8; 4]| {
        let blob = [hint.as_slice(), &signature].concat();
        format!("\u{2014} {name} {}\n", BASE64.encode(blob))
    };
    let hint = key_hint(&key, &der, "example.com/log").unwrap();
    let other = sign_line("other.example", [1, 2, 3, 4]);
    let envelope = format!("{text}\n{other}{}", sign_line("example.com/log", hint));
    let checkpoint = verify_checkpoint(&envelope, &key, &der).unwrap();
    assert_eq!(
        (checkpoint.origin.as_str(), checkpoint.tree_size),
        ("example.com/log", 7)
    );
    // A second line by the same key that does not verify rejects the whole note.
    let forged = BASE64.encode([&hint[..], &[7; 64]].concat());
    let forged = format!("{envelope}\u{2014} example.com/log {forged}\n");
    let err = verify_checkpoint(&forged, &key, &der).unwrap_err();
    assert!(err.contains("bad signature"), "{err}");
    // The hint binds the name: the same signature under another name is not found.
    let renamed = format!("{text}\n{}", sign_line("example.org/log", hint));
    assert!(verify_checkpoint(&renamed, &key, &der).is_err());
    let bad = format!(
        "{}\n{}",
        text.replace('7', "8"),
        sign_line("example.com/log", hint)
    );
    let err = verify_checkpoint(&bad, &key, &der).unwrap_err();
    assert!(err.contains("bad signature"), "{err}");
}
