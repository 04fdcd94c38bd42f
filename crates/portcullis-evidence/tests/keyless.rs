//! Keyless (Fulcio certificate + Rekor bundle) verification against a real `docker-registry`,
//! with a fake Fulcio CA and a fake Rekor key from the testkit: the happy path for email and
//! URI identities, every way a signature must be rejected (each checked both through
//! `SignatureVerifier` and for the reason `KeylessTrust::verify` gives), and config errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_core::{Digest, ImageRef, SignatureEvidence, SignatureStatus};
use portcullis_evidence::{KeylessConfig, KeylessIdentity, KeylessTrust, SignatureVerifier};
use portcullis_registry::testing::TestRegistry;
use portcullis_testkit::keyless::{
    KeylessSignature, LeafCert, keyless_signature, push_keyless_signature, unix_now,
};
use portcullis_testkit::{FakeFulcio, FakeRekor, LeafSpec, SanSubject, push_random_image};
use serde_json::{Map, Value};

const GOOGLE: &str = "https://accounts.google.com";
const GITHUB: &str = "https://token.actions.githubusercontent.com";
const ALICE: &str = "alice@example.com";
const WORKFLOW: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3";

fn exact_identity(id: &str, issuer: &str, subject: &str) -> KeylessIdentity {
    KeylessIdentity {
        id: id.into(),
        issuer: issuer.into(),
        subject: Some(subject.into()),
        subject_regex: None,
    }
}

fn regex_identity(id: &str, issuer: &str, regex: &str) -> KeylessIdentity {
    KeylessIdentity {
        id: id.into(),
        issuer: issuer.into(),
        subject: None,
        subject_regex: Some(regex.into()),
    }
}

/// A registry with one image in `team/app`, a fake Fulcio and a fake Rekor.
struct Setup {
    registry: TestRegistry,
    image: ImageRef,
    digest: Digest,
    fulcio: FakeFulcio,
    rekor: FakeRekor,
}

impl Setup {
    async fn new() -> Self {
        let registry = TestRegistry::start().await.expect("registry");
        let host = registry.host.as_str().to_owned();
        let digest = push_random_image(&host, "team/app", "v1", 1, 256)
            .await
            .expect("push image");
        let image: ImageRef = format!("{host}/team/app@{digest}").parse().expect("ref");
        Self {
            registry,
            image,
            digest: digest.parse().expect("digest"),
            fulcio: FakeFulcio::new("fulcio").expect("fulcio"),
            rekor: FakeRekor::new().expect("rekor"),
        }
    }

    fn host(&self) -> &str {
        self.registry.host.as_str()
    }

    fn trust(&self, identities: &[KeylessIdentity]) -> KeylessTrust {
        KeylessTrust::from_pem(
            self.fulcio.trust_root_pem().as_bytes(),
            self.rekor.public_key_pem().as_bytes(),
            identities,
        )
        .expect("trust")
    }

    fn leaf(&self, subject: SanSubject, issuer: &str) -> LeafCert {
        self.fulcio
            .issue(&LeafSpec::new(subject, issuer))
            .expect("leaf")
    }

    /// A keyless signature of the image by `leaf`, integrated now.
    fn sign(&self, leaf: &LeafCert) -> KeylessSignature {
        self.sign_at(leaf, unix_now())
    }

    fn sign_at(&self, leaf: &LeafCert, integrated_time: i64) -> KeylessSignature {
        keyless_signature(
            self.host(),
            "team/app",
            self.digest.as_str(),
            &self.fulcio,
            leaf,
            &self.rekor,
            integrated_time,
        )
        .expect("sign")
    }

    /// Pushes `sig` for the image and verifies it through the registry with `trust`.
    async fn verify(&self, sig: &KeylessSignature, trust: KeylessTrust) -> SignatureEvidence {
        push_keyless_signature(self.host(), "team/app", self.digest.as_str(), sig)
            .await
            .expect("push signature");
        let client = TestRegistry::client_for(&[&self.registry]).expect("client");
        SignatureVerifier::new(Vec::new(), client)
            .with_keyless(trust)
            .verify(&self.image, &self.digest)
            .await
    }

    /// Asserts `sig` is rejected both by `KeylessTrust::verify` (for a reason containing
    /// `reason`) and end to end through the registry (found, not verified).
    async fn assert_rejected(&self, sig: &KeylessSignature, trust: KeylessTrust, reason: &str) {
        let err = trust
            .verify(&annotations(sig), &sig.payload, &self.digest)
            .expect_err("must be rejected");
        assert!(err.contains(reason), "unexpected reason: {err}");
        let evidence = self.verify(sig, trust).await;
        assert_untrusted(&evidence);
    }
}

/// The layer annotations `push_keyless_signature` writes for `sig`.
fn annotations(sig: &KeylessSignature) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert(
        "dev.cosignproject.cosign/signature".into(),
        sig.signature.clone().into(),
    );
    map.insert(
        "dev.sigstore.cosign/certificate".into(),
        sig.certificate.clone().into(),
    );
    if let Some(chain) = &sig.chain {
        map.insert("dev.sigstore.cosign/chain".into(), chain.clone().into());
    }
    map.insert(
        "dev.sigstore.cosign/bundle".into(),
        sig.bundle.to_string().into(),
    );
    map
}

fn assert_untrusted(evidence: &SignatureEvidence) {
    assert_eq!(evidence.status, SignatureStatus::Untrusted, "{evidence:?}");
    assert!(evidence.verified_key_ids.is_empty(), "{evidence:?}");
    assert_eq!(evidence.signatures_found, 1);
    assert_eq!(evidence.error, None);
}

fn assert_verified(evidence: &SignatureEvidence, ids: &[&str]) {
    assert_eq!(evidence.status, SignatureStatus::Verified, "{evidence:?}");
    assert_eq!(evidence.verified_key_ids, ids);
    assert_eq!(evidence.signatures_found, 1);
    assert_eq!(evidence.error, None);
}

#[tokio::test]
async fn keyless_signature_verifies_as_the_identity_id() {
    let s = Setup::new().await;
    let leaf = s.leaf(SanSubject::Email(ALICE.into()), GOOGLE);
    let sig = s.sign(&leaf);
    let trust = s.trust(&[
        exact_identity("alice", GOOGLE, ALICE),
        exact_identity("bob", GOOGLE, "bob@example.com"),
    ]);
    assert_verified(&s.verify(&sig, trust).await, &["alice"]);
}

#[tokio::test]
async fn trust_loaded_from_config_files_verifies() {
    let s = Setup::new().await;
    let dir = scratch_dir("load");
    let trust_root = dir.join("fulcio.pem");
    let rekor = dir.join("rekor.pub");
    std::fs::write(&trust_root, s.fulcio.trust_root_pem()).unwrap();
    std::fs::write(&rekor, s.rekor.public_key_pem()).unwrap();
    let config: KeylessConfig = serde_json::from_value(serde_json::json!({
        "trust_root": trust_root,
        "rekor_public_key": rekor,
        "identities": [{ "id": "alice", "issuer": GOOGLE, "subject": ALICE }],
    }))
    .unwrap();
    let trust = KeylessTrust::load(&config).expect("load");
    let sig = s.sign(&s.leaf(SanSubject::Email(ALICE.into()), GOOGLE));
    assert_verified(&s.verify(&sig, trust).await, &["alice"]);
}

#[tokio::test]
async fn every_matching_identity_is_reported() {
    let s = Setup::new().await;
    let sig = s.sign(&s.leaf(SanSubject::Uri(WORKFLOW.into()), GITHUB));
    let trust = s.trust(&[
        regex_identity("acme-ci", GITHUB, r"https://github\.com/acme/.+"),
        exact_identity("release", GITHUB, WORKFLOW),
        regex_identity("other-org", GITHUB, r"https://github\.com/other/.+"),
    ]);
    assert_verified(&s.verify(&sig, trust).await, &["acme-ci", "release"]);
}

#[tokio::test]
async fn subject_regex_must_match_the_whole_uri() {
    let s = Setup::new().await;
    let sig = s.sign(&s.leaf(SanSubject::Uri(WORKFLOW.into()), GITHUB));
    // A prefix match is not enough: the regex is anchored.
    let trust = s.trust(&[regex_identity("ci", GITHUB, r"https://github\.com/acme")]);
    s.assert_rejected(&sig, trust, "no identity accepts").await;
}

#[tokio::test]
async fn subject_regex_that_does_not_match_is_untrusted() {
    let s = Setup::new().await;
    let sig = s.sign(&s.leaf(SanSubject::Uri(WORKFLOW.into()), GITHUB));
    let trust = s.trust(&[regex_identity(
        "ci",
        GITHUB,
        r"https://github\.com/other/.*",
    )]);
    s.assert_rejected(&sig, trust, "no identity accepts").await;
}

#[tokio::test]
async fn wrong_issuer_is_untrusted() {
    let s = Setup::new().await;
    let sig = s.sign(&s.leaf(SanSubject::Email(ALICE.into()), "https://evil.example")); // same email
    let trust = s.trust(&[exact_identity("alice", GOOGLE, ALICE)]);
    s.assert_rejected(&sig, trust, "no identity accepts").await;
}

#[tokio::test]
async fn wrong_subject_is_untrusted() {
    let s = Setup::new().await;
    let sig = s.sign(&s.leaf(SanSubject::Email("mallory@example.com".into()), GOOGLE));
    let trust = s.trust(&[exact_identity("alice", GOOGLE, ALICE)]);
    s.assert_rejected(&sig, trust, "no identity accepts").await;
}

#[tokio::test]
async fn certificate_without_issuer_extension_is_untrusted() {
    let s = Setup::new().await;
    let mut spec = LeafSpec::new(SanSubject::Email(ALICE.into()), GOOGLE);
    spec.oidc_issuer = None;
    let sig = s.sign(&s.fulcio.issue(&spec).unwrap());
    let trust = s.trust(&[exact_identity("alice", GOOGLE, ALICE)]);
    s.assert_rejected(&sig, trust, "no identity accepts issuer \"(none)\"")
        .await;
}

#[tokio::test]
async fn certificate_without_code_signing_eku_is_untrusted() {
    let s = Setup::new().await;
    let mut spec = LeafSpec::new(SanSubject::Email(ALICE.into()), GOOGLE);
    spec.extended_key_usages.clear();
    let sig = s.sign(&s.fulcio.issue(&spec).unwrap());
    let trust = s.trust(&[exact_identity("alice", GOOGLE, ALICE)]);
    s.assert_rejected(&sig, trust, "lacks the codeSigning")
        .await;
}

#[tokio::test]
async fn certificate_from_another_ca_is_untrusted() {
    let s = Setup::new().await;
    let rogue = FakeFulcio::new("rogue").unwrap();
    let leaf = rogue
        .issue(&LeafSpec::new(SanSubject::Email(ALICE.into()), GOOGLE))
        .unwrap();
    // The rogue chain rides along in the annotation; it must not be trusted.
    let sig = keyless_signature(
        s.host(),
        "team/app",
        s.digest.as_str(),
        &rogue,
        &leaf,
        &s.rekor,
        unix_now(),
    )
    .unwrap();
    let trust = s.trust(&[exact_identity("alice", GOOGLE, ALICE)]);
    s.assert_rejected(&sig, trust, "does not chain").await;
}

#[tokio::test]
async fn intermediate_may_come_from_the_chain_annotation() {
    let s = Setup::new().await;
    let sig = s.sign(&s.leaf(SanSubject::Email(ALICE.into()), GOOGLE));
    let root_only = || {
        KeylessTrust::from_pem(
            s.fulcio.root_pem().as_bytes(),
            s.rekor.public_key_pem().as_bytes(),
            &[exact_identity("alice", GOOGLE, ALICE)],
        )
        .unwrap()
    };
    assert_verified(&s.verify(&sig, root_only()).await, &["alice"]);

    let mut without_chain = sig.clone();
    without_chain.chain = None;
    s.assert_rejected(&without_chain, root_only(), "does not chain")
        .await;
}

#[tokio::test]
async fn bundle_signed_by_another_rekor_key_is_untrusted() {
    let s = Setup::new().await;
    let leaf = s.leaf(SanSubject::Email(ALICE.into()), GOOGLE);
    let rogue = FakeRekor::new().unwrap();
    let sig = keyless_signature(
        s.host(),
        "team/app",
        s.digest.as_str(),
        &s.fulcio,
        &leaf,
        &rogue,
        unix_now(),
    )
    .unwrap();
    let trust = s.trust(&[exact_identity("alice", GOOGLE, ALICE)]);
    s.assert_rejected(&sig, trust, "from unknown log").await;

    // Claiming the trusted log's id does not help: the SET is still the rogue key's.
    let mut claimed = sig.clone();
    claimed.bundle["Payload"]["logID"] = s.rekor.log_id().into();
    let set = rogue.sign_set(&claimed.bundle["Payload"]).unwrap();
    claimed.bundle["SignedEntryTimestamp"] = set.into();
    let trust = s.trust(&[exact_identity("alice", GOOGLE, ALICE)]);
    s.assert_rejected(&claimed, trust, "SignedEntryTimestamp does not verify")
        .await;
}

#[tokio::test]
async fn certificate_expired_before_integrated_time_is_untrusted() {
    let s = Setup::new().await;
    let now = unix_now();
    let mut spec = LeafSpec::new(SanSubject::Email(ALICE.into()), GOOGLE);
    spec.not_before = now - 7200;
    spec.not_after = now - 6600;
    let sig = s.sign_at(&s.fulcio.issue(&spec).unwrap(), now);
    let trust = s.trust(&[exact_identity("alice", GOOGLE, ALICE)]);
    s.assert_rejected(&sig, trust, "does not chain").await;
}

#[tokio::test]
async fn integrated_time_before_certificate_validity_is_untrusted() {
    let s = Setup::new().await;
    let leaf = s.leaf(SanSubject::Email(ALICE.into()), GOOGLE);
    let sig = s.sign_at(&leaf, unix_now() - 3600);
    let trust = s.trust(&[exact_identity("alice", GOOGLE, ALICE)]);
    s.assert_rejected(&sig, trust, "does not chain").await;
}

#[tokio::test]
async fn expired_certificate_verifies_when_integrated_while_valid() {
    // Fulcio leaves live ten minutes; a signature logged in that window stays valid.
    let s = Setup::new().await;
    let now = unix_now();
    let mut spec = LeafSpec::new(SanSubject::Email(ALICE.into()), GOOGLE);
    spec.not_before = now - 86_400;
    spec.not_after = now - 86_400 + 600;
    let sig = s.sign_at(&s.fulcio.issue(&spec).unwrap(), now - 86_400 + 30);
    let trust = s.trust(&[exact_identity("alice", GOOGLE, ALICE)]);
    assert_verified(&s.verify(&sig, trust).await, &["alice"]);
}

#[tokio::test]
async fn signature_over_another_digest_is_untrusted() {
    let s = Setup::new().await;
    let other = push_random_image(s.host(), "team/app", "v2", 1, 256)
        .await
        .unwrap();
    let leaf = s.leaf(SanSubject::Email(ALICE.into()), GOOGLE);
    let sig = keyless_signature(
        s.host(),
        "team/app",
        &other,
        &s.fulcio,
        &leaf,
        &s.rekor,
        unix_now(),
    )
    .unwrap();
    let trust = s.trust(&[exact_identity("alice", GOOGLE, ALICE)]);
    s.assert_rejected(&sig, trust, "does not sign").await;
}

#[tokio::test]
async fn tampered_bundle_is_untrusted() {
    let s = Setup::new().await;
    let leaf = s.leaf(SanSubject::Email(ALICE.into()), GOOGLE);
    let sig = s.sign(&leaf);

    let mut moved = sig.clone();
    moved.bundle["Payload"]["integratedTime"] = (unix_now() - 30).into();
    let trust = s.trust(&[exact_identity("alice", GOOGLE, ALICE)]);
    s.assert_rejected(&moved, trust, "SignedEntryTimestamp does not verify")
        .await;

    let mut garbled = sig.clone();
    garbled.bundle = Value::String("not a bundle".into());
    let trust = s.trust(&[exact_identity("alice", GOOGLE, ALICE)]);
    s.assert_rejected(&garbled, trust, "Rekor bundle annotation")
        .await;
}

#[tokio::test]
async fn bundle_logging_another_signature_is_untrusted() {
    // A genuine SET over an entry for a different signature by the same certificate.
    let s = Setup::new().await;
    let leaf = s.leaf(SanSubject::Email(ALICE.into()), GOOGLE);
    let sig = s.sign(&leaf);
    let other = s.sign(&leaf); // ECDSA: a fresh, different signature
    assert_ne!(sig.signature, other.signature);
    let mut swapped = sig.clone();
    swapped.bundle = other.bundle.clone();
    let trust = s.trust(&[exact_identity("alice", GOOGLE, ALICE)]);
    s.assert_rejected(&swapped, trust, "records a different signature")
        .await;

    // An entry for another payload, re-signed by the trusted log.
    let body = FakeRekor::hashedrekord_body(b"other payload", &sig.signature, &sig.certificate);
    let mut other_payload = sig.clone();
    other_payload.bundle = s.rekor.bundle(&body, unix_now(), 7).unwrap();
    let trust = s.trust(&[exact_identity("alice", GOOGLE, ALICE)]);
    s.assert_rejected(&other_payload, trust, "does not record this message")
        .await;

    // An entry naming another certificate.
    let stranger = s.leaf(SanSubject::Email(ALICE.into()), GOOGLE);
    let body = FakeRekor::hashedrekord_body(&sig.payload, &sig.signature, &stranger.cert_pem);
    let mut other_cert = sig.clone();
    other_cert.bundle = s.rekor.bundle(&body, unix_now(), 8).unwrap();
    let trust = s.trust(&[exact_identity("alice", GOOGLE, ALICE)]);
    s.assert_rejected(&other_cert, trust, "different certificate")
        .await;
}

#[tokio::test]
async fn signature_not_made_by_the_certificate_key_is_untrusted() {
    let s = Setup::new().await;
    let leaf = s.leaf(SanSubject::Email(ALICE.into()), GOOGLE);
    let stranger = s.leaf(SanSubject::Email(ALICE.into()), GOOGLE);
    // Consistent bundle, but the signature comes from another key than the certificate's.
    let mut sig = s.sign(&stranger);
    sig.certificate = leaf.cert_pem.clone();
    let body = FakeRekor::hashedrekord_body(&sig.payload, &sig.signature, &sig.certificate);
    sig.bundle = s.rekor.bundle(&body, unix_now(), 9).unwrap();
    let trust = s.trust(&[exact_identity("alice", GOOGLE, ALICE)]);
    s.assert_rejected(&sig, trust, "does not verify with the certificate key")
        .await;
}

#[tokio::test]
async fn keyless_layer_is_untrusted_without_keyless_trust() {
    let s = Setup::new().await;
    let sig = s.sign(&s.leaf(SanSubject::Email(ALICE.into()), GOOGLE));
    push_keyless_signature(s.host(), "team/app", s.digest.as_str(), &sig)
        .await
        .unwrap();
    let client = TestRegistry::client_for(&[&s.registry]).unwrap();
    let evidence = SignatureVerifier::new(Vec::new(), client)
        .verify(&s.image, &s.digest)
        .await;
    assert_untrusted(&evidence);
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "portcullis-keyless-{name}-{}-{}",
        std::process::id(),
        unix_now()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(trust_root: &std::path::Path, rekor: &std::path::Path, ids: Value) -> KeylessConfig {
    serde_json::from_value(serde_json::json!({
        "trust_root": trust_root, "rekor_public_key": rekor, "identities": ids,
    }))
    .unwrap()
}

fn load_error(cfg: &KeylessConfig) -> String {
    KeylessTrust::load(cfg).expect_err("must fail").to_string()
}

#[test]
fn config_errors_are_clear() {
    let fulcio = FakeFulcio::new("cfg").unwrap();
    let rekor = FakeRekor::new().unwrap();
    let dir = scratch_dir("config");
    let root = dir.join("fulcio.pem");
    let key = dir.join("rekor.pub");
    std::fs::write(&root, fulcio.trust_root_pem()).unwrap();
    std::fs::write(&key, rekor.public_key_pem()).unwrap();
    let alice = serde_json::json!([{ "id": "alice", "issuer": GOOGLE, "subject": ALICE }]);

    let missing = dir.join("nope.pem");
    let err = load_error(&config(&missing, &key, alice.clone()));
    assert!(
        err.contains("trust_root: cannot read") && err.contains("nope.pem"),
        "{err}"
    );
    let err = load_error(&config(&root, &missing, alice.clone()));
    assert!(err.contains("rekor_public_key: cannot read"), "{err}");

    let both = serde_json::json!([{
        "id": "alice", "issuer": GOOGLE, "subject": ALICE, "subject_regex": ".*",
    }]);
    let err = load_error(&config(&root, &key, both));
    assert_eq!(
        err,
        "keyless trust configuration: identity \"alice\": set exactly one of subject and subject_regex, not both"
    );
    let neither = serde_json::json!([{ "id": "alice", "issuer": GOOGLE }]);
    let err = load_error(&config(&root, &key, neither));
    assert!(
        err.contains("set exactly one of subject and subject_regex"),
        "{err}"
    );
    let bad_regex = serde_json::json!([{ "id": "ci", "issuer": GITHUB, "subject_regex": "(" }]);
    let err = load_error(&config(&root, &key, bad_regex));
    assert!(
        err.contains("identity \"ci\": subject_regex does not compile"),
        "{err}"
    );
    let err = load_error(&config(&root, &key, serde_json::json!([])));
    assert!(err.contains("no identities configured"), "{err}");

    // Keys and certificates in the wrong files.
    let err = load_error(&config(&key, &key, alice.clone()));
    assert!(
        err.contains("trust_root: unexpected PEM block \"PUBLIC KEY\""),
        "{err}"
    );
    let err = load_error(&config(&root, &root, alice.clone()));
    assert!(
        err.contains("rekor_public_key: unexpected PEM block \"CERTIFICATE\""),
        "{err}"
    );

    // Unknown fields are typos, not silently ignored.
    let typo = serde_json::from_value::<KeylessConfig>(serde_json::json!({
        "trust_root": root, "rekor_public_key": key,
        "identities": [{ "id": "a", "issuer": GOOGLE, "subjet": ALICE }],
    }));
    assert!(
        typo.unwrap_err()
            .to_string()
            .contains("unknown field `subjet`")
    );
}
