//! Rekor v1 and v2: inclusion proofs recomputed with RFC 9162's iterative algorithm,
//! checkpoints and SETs verified with the log keys.

use super::*;

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
