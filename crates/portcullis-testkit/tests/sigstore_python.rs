//! Cross-check with a real Sigstore client: sigstore-python verifies the private
//! deployment's bundles offline against its trusted root (chain, SCT, SET or checkpoint,
//! RFC 3161 timestamp, identity). Needs the `sigstore` CLI (`pip install sigstore`, 4.x), so
//! it is ignored by default: `SIGSTORE_PYTHON=/path/to/sigstore cargo test -p
//! portcullis-testkit --test sigstore_python -- --ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use portcullis_testkit::sigstore::{BundleVersion, PrivateSigstore, SignOptions};
use portcullis_testkit::{LeafSpec, SanSubject};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const ISSUER: &str = "https://issuer.local";

/// sigstore-python takes a ClientTrustConfig: the trusted root plus a signing config.
fn client_trust_config(trusted_root: Value) -> Value {
    let service = |url: &str| json!([{"url": url, "majorApiVersion": 1, "validFor": {"start": "2000-01-01T00:00:00Z"}, "operator": "test"}]);
    json!({
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": trusted_root,
        "signingConfig": {
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": service("https://fulcio.local"),
            "oidcUrls": service("https://oauth.local"),
            "rekorTlogUrls": service("https://rekor.local"),
            "tsaUrls": service("https://tsa.local/api/v1/timestamp"),
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaConfig": {"selector": "ANY"},
        },
    })
}

fn sigstore_verify(cli: &str, dir: &Path, bundle: &[u8], identity: &str, input: &str) -> bool {
    let path = dir.join("bundle.json");
    std::fs::write(&path, bundle).unwrap();
    let out = Command::new(cli)
        .current_dir(dir)
        .args([
            "--trust-config",
            "cfg.json",
            "verify",
            "identity",
            "--offline",
            "--bundle",
        ])
        .arg(&path)
        .args([
            "--cert-identity",
            identity,
            "--cert-oidc-issuer",
            ISSUER,
            input,
        ])
        .output()
        .unwrap();
    out.status.success()
}

#[test]
#[ignore = "needs the sigstore-python CLI in SIGSTORE_PYTHON"]
fn sigstore_python_verifies_the_private_deployments_bundles() {
    let cli = std::env::var("SIGSTORE_PYTHON").expect("SIGSTORE_PYTHON=/path/to/sigstore");
    let dir =
        std::env::temp_dir().join(format!("portcullis-sigstore-python-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sigstore = PrivateSigstore::new().unwrap();
    let cfg = client_trust_config(sigstore.trusted_root().unwrap());
    std::fs::write(dir.join("cfg.json"), serde_json::to_vec(&cfg).unwrap()).unwrap();
    std::fs::write(dir.join("artifact"), b"hello").unwrap();
    let leaf = sigstore
        .issue(&LeafSpec::new(
            SanSubject::Email("alice@example.com".into()),
            ISSUER,
        ))
        .unwrap();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(b"hello")));
    let v01 = SignOptions {
        version: BundleVersion::V0_1,
        timestamp_at: None,
        ..SignOptions::default()
    };

    let message_bundles = [
        sigstore
            .sign_message(&leaf, b"hello", &SignOptions::default())
            .unwrap(),
        sigstore
            .sign_message(&leaf, b"hello", &SignOptions::rekor_v2())
            .unwrap(),
        sigstore.sign_message(&leaf, b"hello", &v01).unwrap(),
    ];
    for bundle in &message_bundles {
        let bytes = bundle.to_vec().unwrap();
        assert!(
            sigstore_verify(&cli, &dir, &bytes, "alice@example.com", "artifact"),
            "{:?}",
            bundle.version
        );
        assert!(!sigstore_verify(
            &cli,
            &dir,
            &bytes,
            "bob@example.com",
            "artifact"
        ));
    }
    let predicate = json!({"buildType": "test"});
    let attestation = sigstore
        .attest(
            &leaf,
            &digest,
            "https://slsa.dev/provenance/v1",
            &predicate,
            &SignOptions::default(),
        )
        .unwrap();
    assert!(sigstore_verify(
        &cli,
        &dir,
        &attestation.to_vec().unwrap(),
        "alice@example.com",
        &digest
    ));

    // Without its timestamp a Rekor v2 bundle has no trusted time and must fail.
    let mut untimed = message_bundles[1].clone();
    untimed.rfc3161_timestamps.clear();
    assert!(!sigstore_verify(
        &cli,
        &dir,
        &untimed.to_vec().unwrap(),
        "alice@example.com",
        "artifact"
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
