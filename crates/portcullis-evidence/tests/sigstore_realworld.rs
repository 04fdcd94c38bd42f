//! Real third-party Sigstore artifacts, read byte for byte where they lie in
//! `../shared/realworld` (see its SOURCES.md), verified offline against the public-good
//! `trusted_root.json`: cosign v3's image-signature bundle, cosign and sigstore-js attestation
//! bundles v0.1 and v0.3, a key-based npm bundle, keyless `.sig` layers of 2021 and 2023, and
//! sigstore-go's own negative fixture. The image manifests behind these bundles are not
//! available, so they are checked at the verification API (`verify_bundle`,
//! `KeylessTrust::verify`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_core::Digest;
use portcullis_evidence::{KeylessIdentity, KeylessTrust, TrustedKey, verify_bundle};
use serde_json::{Map, Value};

const GITHUB_ACTIONS: &str = "https://token.actions.githubusercontent.com";
const GITHUB_OAUTH: &str = "https://github.com/login/oauth";

fn path(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/realworld")
        .join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn bundle(name: &str) -> Vec<u8> {
    read(&format!("attestations/bundles/{name}"))
}

fn identity(id: &str, issuer: &str, regex: &str) -> KeylessIdentity {
    KeylessIdentity {
        id: id.into(),
        issuer: issuer.into(),
        subject: None,
        subject_regex: Some(regex.into()),
    }
}

fn public_good(identities: &[KeylessIdentity], require_sct: bool) -> KeylessTrust {
    KeylessTrust::from_trusted_root(
        &read("trust/public-good/trusted_root.json"),
        identities,
        require_sct,
    )
    .unwrap()
}

fn anyone() -> Vec<KeylessIdentity> {
    vec![
        identity("gha", GITHUB_ACTIONS, "https://github.com/.*"),
        identity("oauth", GITHUB_OAUTH, ".*"),
    ]
}

fn digest(text: &str) -> Digest {
    text.parse().unwrap()
}

const KUBEWARDEN: &str = "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";
const KUBEWARDEN_WORKFLOW: &str = "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0";

#[test]
fn cosign_v3_image_signature_bundle_verifies_with_its_tsa_timestamp() {
    let trust = public_good(
        &[identity(
            "kubewarden-release",
            GITHUB_ACTIONS,
            "https://github.com/kubewarden/kubewarden-controller/\\.github/workflows/release\\.yml@refs/tags/v.*",
        )],
        true,
    );
    let json = bundle("sigstore-rs-kubewarden-controller-v1.34.0.sigstore.json");
    let report = verify_bundle(&json, &digest(KUBEWARDEN), None, Some(&trust), &[]).unwrap();
    assert_eq!(report.version, 3);
    assert!(
        report.image_signature,
        "cosign v3's sign predicate is an image signature"
    );
    assert_eq!(report.ids, ["kubewarden-release"]);
    let signer = report.signer.unwrap();
    assert_eq!(signer.issuer.as_deref(), Some(GITHUB_ACTIONS));
    assert_eq!(signer.subject, KUBEWARDEN_WORKFLOW);
    assert_eq!(
        signer.source_repository_uri.as_deref(),
        Some("https://github.com/kubewarden/kubewarden-controller")
    );
    assert_eq!(
        signer.source_repository_ref.as_deref(),
        Some("refs/tags/v1.34.0")
    );
    assert!(signer.source_repository_digest.is_some());
    assert!(signer.run_invocation_uri.is_some());
}

#[test]
fn the_image_signature_bundle_is_refused_for_another_image_identity_or_trust() {
    let json = bundle("sigstore-rs-kubewarden-controller-v1.34.0.sigstore.json");
    let trust = public_good(&anyone(), true);
    // Moved onto another image.
    let other = digest("sha256:0000000000000000000000000000000000000000000000000000000000000001");
    let err = verify_bundle(&json, &other, None, Some(&trust), &[]).unwrap_err();
    assert!(err.contains("subject"), "{err}");
    // A wrong identity.
    let wrong = public_good(
        &[identity(
            "other",
            GITHUB_ACTIONS,
            "https://github.com/acme/.*",
        )],
        true,
    );
    let err = verify_bundle(&json, &digest(KUBEWARDEN), None, Some(&wrong), &[]).unwrap_err();
    assert!(err.contains("no identity accepts"), "{err}");
    // No keyless trust at all.
    let err = verify_bundle(&json, &digest(KUBEWARDEN), None, None, &[]).unwrap_err();
    assert!(err.contains("keyless signing is not configured"), "{err}");
    // The private scaffolding root does not vouch for public-good certificates.
    let scaffolding = KeylessTrust::from_trusted_root(
        &bundle("sigstore-go-scaffolding-trusted-root.json"),
        &anyone(),
        false,
    )
    .unwrap();
    assert!(verify_bundle(&json, &digest(KUBEWARDEN), None, Some(&scaffolding), &[]).is_err());
}

#[test]
fn a_tampered_bundle_is_rejected() {
    let mut doc: Value = serde_json::from_slice(&bundle(
        "sigstore-rs-kubewarden-controller-v1.34.0.sigstore.json",
    ))
    .unwrap();
    // Another payload under the same signature: the statement now claims a different subject.
    let payload = doc["dsseEnvelope"]["payload"].as_str().unwrap().to_owned();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let text = String::from_utf8(b64.decode(payload).unwrap()).unwrap();
    let forged = text.replace(&KUBEWARDEN[7..], &"1".repeat(64));
    doc["dsseEnvelope"]["payload"] = Value::String(b64.encode(forged));
    let json = serde_json::to_vec(&doc).unwrap();
    let forged_digest = digest(&format!("sha256:{}", "1".repeat(64)));
    let trust = public_good(&anyone(), true);
    let err = verify_bundle(&json, &forged_digest, None, Some(&trust), &[]).unwrap_err();
    assert!(
        err.contains("does not record") || err.contains("does not verify"),
        "{err}"
    );
    // Malformed bundles are rejected with the field at fault, never a panic.
    for bad in [
        &b"{}"[..],
        br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{}}"#,
        b"not json",
    ] {
        let err = verify_bundle(bad, &digest(KUBEWARDEN), None, Some(&trust), &[]).unwrap_err();
        assert!(!err.is_empty());
    }
}

#[test]
fn cosign_attestation_bundle_v03_verifies_as_an_attestation() {
    let trust = public_good(
        &[identity("cody", GITHUB_OAUTH, "cody@soyland\\.com")],
        true,
    );
    let json = bundle("cosign-oci-attestation.sigstore.json");
    let subject = digest("sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4");
    let report = verify_bundle(&json, &subject, None, Some(&trust), &[]).unwrap();
    assert!(!report.image_signature);
    assert_eq!(
        report.predicate_type.as_deref(),
        Some("https://cosign.sigstore.dev/attestation/v1")
    );
    assert_eq!(report.ids, ["cody"]);
}

#[test]
fn sigstore_js_provenance_bundles_v01_verify() {
    let trust = public_good(&anyone(), true);
    let cases = [
        (
            "sigstore-go-sigstore.js@2.0.0-provenance.sigstore.json",
            "sha512:46d4e2f74c4877316640000a6fdf8a8b59f1e0847667973e9859f774dd31b8f1e0937813b777fb66a2ac67d50540fe34640966eee9fc2ccca387082b4c85cd3c",
            "https://slsa.dev/provenance/v1",
        ),
        (
            "sigstore-go-example-bundle-provenance.json",
            "sha512:76176ffa33808b54602c7c35de5c6e9a4deb96066dba6533f50ac234f4f1f4c6b3527515dc17c06fbe2860030f410eee69ea20079bd3a2c6f3dcf3b329b10751",
            "https://slsa.dev/provenance/v0.2",
        ),
        (
            "sigstore-go-dsse.sigstore.json",
            "sha512:bbfd372fc9beeb777fe35d05bb10c0c70a9733d366a75fed7dd18866c7391de3ee7e88ba74dd47abf3e15c845e547fcf0e5c3da80854c751554224d3a6d4e55f",
            "https://slsa.dev/provenance/v0.2",
        ),
    ];
    for (name, subject, predicate) in cases {
        let report = verify_bundle(&bundle(name), &digest(subject), None, Some(&trust), &[])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.version, 1, "{name}");
        assert_eq!(report.predicate_type.as_deref(), Some(predicate), "{name}");
    }
}

#[test]
fn a_key_based_bundle_verifies_with_the_trusted_key_only() {
    let json = bundle("sigstore-go-example-bundle-publish.json");
    let subject = digest(
        "sha512:76176ffa33808b54602c7c35de5c6e9a4deb96066dba6533f50ac234f4f1f4c6b3527515dc17c06fbe2860030f410eee69ea20079bd3a2c6f3dcf3b329b10751",
    );
    let npm = TrustedKey::from_file(
        "npm",
        &path("trust/npm/sigstore-go-example-publish_key.pub"),
    )
    .unwrap();
    let trust = public_good(&anyone(), true);
    let report = verify_bundle(&json, &subject, None, Some(&trust), &[npm]).unwrap();
    assert_eq!(report.ids, ["npm"]);
    assert!(report.signer.is_none());
    // Another key does not verify it.
    let other = TrustedKey::from_file(
        "containers-image",
        &path("keyed/containers-image/cosign.pub"),
    )
    .unwrap();
    let err = verify_bundle(&json, &subject, None, Some(&trust), &[other]).unwrap_err();
    assert!(err.contains("no trusted key"), "{err}");
}

#[test]
fn an_envelope_with_two_signatures_is_rejected_as_sigstore_go_expects() {
    let trust = public_good(&anyone(), true);
    let subject = digest(
        "sha512:bbfd372fc9beeb777fe35d05bb10c0c70a9733d366a75fed7dd18866c7391de3ee7e88ba74dd47abf3e15c845e547fcf0e5c3da80854c751554224d3a6d4e55f",
    );
    let err = verify_bundle(
        &bundle("sigstore-go-dsse-2sigs.sigstore.json"),
        &subject,
        None,
        Some(&trust),
        &[],
    )
    .unwrap_err();
    assert!(err.contains("exactly one signature"), "{err}");
}

#[test]
fn the_othername_bundle_is_not_trusted_under_public_good() {
    let trust = public_good(&anyone(), false);
    let json = bundle("sigstore-go-othername.sigstore.json");
    // Its message digest, as a sha256 digest, with no manifest bytes: refused either way.
    let subject = digest("sha256:bc103b4a84971ef6459b294a2b98568a2bfb72cded09d4acd1e16366a401f95b");
    assert!(verify_bundle(&json, &subject, None, Some(&trust), &[]).is_err());
}

/// A cosign `.sig` layer from `layers.json`: annotations and payload.
fn sig_layer(dir: &str) -> (Map<String, Value>, Vec<u8>) {
    let layers: Value =
        serde_json::from_slice(&read(&format!("keyless/{dir}/layers.json"))).unwrap();
    let layer = &layers[0];
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(layer["payload_b64"].as_str().unwrap())
        .unwrap();
    (layer["annotations"].as_object().unwrap().clone(), payload)
}

#[test]
fn keyless_sig_layers_of_2023_verify_against_the_trusted_root_with_sct() {
    let trust = public_good(
        &[KeylessIdentity {
            id: "mitr".into(),
            issuer: GITHUB_OAUTH.into(),
            subject: Some("mitr@redhat.com".into()),
            subject_regex: None,
        }],
        true,
    );
    let (annotations, payload) = sig_layer("ci-fulcio-rekor");
    let signed = digest("sha256:0489474da8ea22426ece86ace6c1c0026ab2fd3cdfbbd62b7e94650266c37d9a");
    assert_eq!(
        trust.verify(&annotations, &payload, &signed).unwrap(),
        ["mitr"]
    );
    // The chain annotation is untrusted and optional: without it the trust root suffices.
    let mut no_chain = annotations.clone();
    no_chain.remove("dev.sigstore.cosign/chain");
    assert_eq!(
        trust.verify(&no_chain, &payload, &signed).unwrap(),
        ["mitr"]
    );
    // Another digest.
    let other = digest("sha256:fa93b01658e3a5a1686dc3ae55f170d8de487006fb53a28efcd12ab0710a2e5f");
    assert!(trust.verify(&annotations, &payload, &other).is_err());
}

#[test]
fn the_2021_rekord_signature_needs_the_sct_rule_off_and_the_first_root() {
    let identities = [KeylessIdentity {
        id: "flavio".into(),
        issuer: "https://accounts.google.com".into(),
        subject: Some("flavio@castelli.me".into()),
        subject_regex: None,
    }];
    let (annotations, payload) = sig_layer("sigstore-rs-2021");
    let signed = digest("sha256:5f481572d088dc4023afb35fced9530ced3d9b03bf7299c6f492163cb9f0452e");
    // The certificate has no issuer extension, so no issuer-bound identity can accept it...
    let err = public_good(&identities, false)
        .verify(&annotations, &payload, &signed)
        .unwrap_err();
    assert!(err.contains("no identity accepts"), "{err}");
    // ...and with SCTs required it is refused for the missing SCT first.
    let err = public_good(&identities, true)
        .verify(&annotations, &payload, &signed)
        .unwrap_err();
    assert!(err.contains("SCT"), "{err}");
}

#[test]
fn the_two_trust_forms_are_exclusive_and_each_mistake_is_named() {
    use portcullis_evidence::KeylessConfig;
    let base = || KeylessConfig {
        trusted_root: None,
        trust_root: None,
        rekor_public_key: None,
        ctlog_public_key: None,
        require_sct: None,
        identities: anyone(),
    };
    let error = |cfg: KeylessConfig| KeylessTrust::load(&cfg).unwrap_err().to_string();
    let both = KeylessConfig {
        trusted_root: Some(path("trust/public-good/trusted_root.json")),
        trust_root: Some(path("trust/public-good/fulcio_v1.crt.pem")),
        rekor_public_key: Some(path("trust/public-good/rekor.pub")),
        ..base()
    };
    assert!(error(both).contains("not both"));
    let neither = base();
    assert!(error(neither).contains("set trusted_root"));
    let sct_without_ct = KeylessConfig {
        trust_root: Some(path("trust/public-good/fulcio_v1.crt.pem")),
        rekor_public_key: Some(path("trust/public-good/rekor.pub")),
        require_sct: Some(true),
        ..base()
    };
    assert!(error(sct_without_ct).contains("no CT log key"));
    let ct_with_root = KeylessConfig {
        trusted_root: Some(path("trust/public-good/trusted_root.json")),
        ctlog_public_key: Some(path("trust/public-good/ctfe_2022.pub")),
        ..base()
    };
    assert!(error(ct_with_root).contains("ctlog_public_key belongs"));
    let not_a_root = KeylessConfig {
        trusted_root: Some(path("trust/public-good/rekor.pub")),
        ..base()
    };
    assert!(error(not_a_root).contains("trusted_root"));
    // The loose PEM form with its CT key checks SCTs like the trusted root does.
    let loose = KeylessConfig {
        trust_root: Some(path("trust/public-good/fulcio_intermediate_v1.crt.pem")),
        rekor_public_key: Some(path("trust/public-good/rekor.pub")),
        ctlog_public_key: Some(path("trust/public-good/ctfe_2022.pub")),
        identities: vec![KeylessIdentity {
            id: "mitr".into(),
            issuer: GITHUB_OAUTH.into(),
            subject: Some("mitr@redhat.com".into()),
            subject_regex: None,
        }],
        ..base()
    };
    // fulcio_intermediate_v1 is no root: the loose form needs the GA root too.
    assert!(KeylessTrust::load(&loose).is_err());
    let mut pem = std::fs::read(path("trust/public-good/fulcio_v1.crt.pem")).unwrap();
    pem.extend(std::fs::read(path("trust/public-good/fulcio_intermediate_v1.crt.pem")).unwrap());
    let dir = std::env::temp_dir().join(format!("portcullis-loose-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("fulcio.pem"), pem).unwrap();
    let loose = KeylessConfig {
        trust_root: Some(dir.join("fulcio.pem")),
        ..loose
    };
    let trust = KeylessTrust::load(&loose).unwrap();
    let (annotations, payload) = sig_layer("ci-fulcio-rekor");
    let signed = digest("sha256:0489474da8ea22426ece86ace6c1c0026ab2fd3cdfbbd62b7e94650266c37d9a");
    assert_eq!(
        trust.verify(&annotations, &payload, &signed).unwrap(),
        ["mitr"]
    );
    std::fs::remove_dir_all(dir).unwrap();
}
