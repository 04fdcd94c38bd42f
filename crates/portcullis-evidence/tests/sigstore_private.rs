//! Sigstore bundles and keyless attestations made by a private Sigstore deployment (the
//! testkit's Fulcio CA, CT log, Rekor v1 and v2 logs and TSA, written as a
//! `trusted_root.json`), attached to images in a real `docker-registry` and found the way the
//! gate finds them: bundle referrers (API or tag schema) and cosign's `.att` layout. Every way
//! one must be refused is checked for the reason it gives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use portcullis_core::{Digest, ImageRef, SignatureStatus};
use portcullis_evidence::{
    AttestationVerifier, KeylessIdentity, KeylessTrust, SignatureVerifier, TrustedKey,
};
use portcullis_registry::testing::TestRegistry;
use portcullis_testkit::keyless::LeafCert;
use portcullis_testkit::sigstore::{
    AttKind, BUNDLE_V03_MEDIA_TYPE, FulcioExtensions, PrivateSigstore, SignOptions, TlogChoice,
    TrustedRootBuilder, ValidFor, push_bundle_referrer, push_keyless_attestation,
};
use portcullis_testkit::{LeafSpec, SanSubject, push_random_image, unix_now};

const GITHUB: &str = "https://token.actions.githubusercontent.com";
const WORKFLOW: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3";
const SLSA: &str = "https://slsa.dev/provenance/v0.2";

struct Setup {
    registry: TestRegistry,
    sigstore: PrivateSigstore,
    digest: Digest,
    image: ImageRef,
}

impl Setup {
    async fn new() -> Self {
        let registry = TestRegistry::start().await.unwrap();
        let host = registry.host.as_str().to_owned();
        let digest: Digest = push_random_image(&host, "acme/app", "v1", 1, 512)
            .await
            .unwrap()
            .parse()
            .unwrap();
        let image = format!("{host}/acme/app@{digest}").parse().unwrap();
        Self {
            registry,
            sigstore: PrivateSigstore::new().unwrap(),
            digest,
            image,
        }
    }

    fn host(&self) -> &str {
        self.registry.host.as_str()
    }

    fn leaf(&self) -> LeafCert {
        let mut spec = LeafSpec::new(SanSubject::Uri(WORKFLOW.into()), GITHUB);
        spec.extensions = FulcioExtensions::github_workflow(
            "github.com/acme/app",
            "refs/tags/v1.2.3",
            "0123456789abcdef0123456789abcdef01234567",
            ".github/workflows/release.yml",
        );
        self.sigstore.issue(&spec).unwrap()
    }

    fn trust_from(
        &self,
        root: &TrustedRootBuilder,
        regex: &str,
        require_sct: bool,
    ) -> KeylessTrust {
        let json = serde_json::to_vec(&root.clone().build().unwrap()).unwrap();
        KeylessTrust::from_trusted_root(
            &json,
            &[KeylessIdentity {
                id: "release".into(),
                issuer: GITHUB.into(),
                subject: None,
                subject_regex: Some(regex.into()),
            }],
            require_sct,
        )
        .unwrap()
    }

    fn trust(&self) -> KeylessTrust {
        self.trust_from(
            &self.sigstore.trusted_root_builder(),
            "https://github.com/acme/app/.*",
            true,
        )
    }

    async fn attach(&self, bundle: &[u8]) {
        push_bundle_referrer(
            self.host(),
            "acme/app",
            self.digest.as_str(),
            bundle,
            BUNDLE_V03_MEDIA_TYPE,
            true,
        )
        .await
        .unwrap();
    }

    fn signatures(&self, trust: KeylessTrust) -> SignatureVerifier {
        let client = TestRegistry::client_for(&[&self.registry]).unwrap();
        SignatureVerifier::new(Vec::<TrustedKey>::new(), client).with_keyless(trust)
    }

    fn attestations(&self, trust: KeylessTrust) -> AttestationVerifier {
        let client = TestRegistry::client_for(&[&self.registry]).unwrap();
        AttestationVerifier::new(Arc::from(Vec::<TrustedKey>::new()), client).with_keyless(trust)
    }

    /// Attaches `bundle` and asserts the signature verifier refuses it for `reason`.
    async fn assert_signature_refused(&self, bundle: &[u8], trust: KeylessTrust, reason: &str) {
        self.attach(bundle).await;
        let evidence = self
            .signatures(trust)
            .verify(&self.image, &self.digest)
            .await;
        assert_eq!(evidence.status, SignatureStatus::Untrusted, "{evidence:?}");
        let why = evidence.items[0].rejected.as_deref().unwrap();
        assert!(why.contains(reason), "want {reason:?}, got {why:?}");
    }
}

#[tokio::test]
async fn a_v03_image_signature_bundle_verifies_with_the_signer_facts() {
    let s = Setup::new().await;
    let bundle = s
        .sigstore
        .sign_image(&s.leaf(), s.digest.as_str(), &SignOptions::default())
        .unwrap();
    s.attach(&bundle.to_vec().unwrap()).await;
    let evidence = s.signatures(s.trust()).verify(&s.image, &s.digest).await;
    assert_eq!(evidence.status, SignatureStatus::Verified, "{evidence:?}");
    assert_eq!(evidence.verified_key_ids, ["release"]);
    assert!(evidence.items[0].location.starts_with("referrer sha256:"));
    let signer = &evidence.signers[0];
    assert_eq!(signer.issuer.as_deref(), Some(GITHUB));
    assert_eq!(signer.subject, WORKFLOW);
    assert_eq!(
        signer.source_repository_uri.as_deref(),
        Some("https://github.com/acme/app")
    );
    assert_eq!(
        signer.source_repository_ref.as_deref(),
        Some("refs/tags/v1.2.3")
    );
    // The attestation verifier leaves image signatures alone.
    let (attestations, _) = s.attestations(s.trust()).collect(&s.image, &s.digest).await;
    assert_eq!((attestations.found, attestations.verified), (0, 0));
}

#[tokio::test]
async fn rekor_v2_needs_a_timestamp_for_its_time() {
    let s = Setup::new().await;
    let leaf = s.leaf();
    let timed = s
        .sigstore
        .sign_image(&leaf, s.digest.as_str(), &SignOptions::rekor_v2())
        .unwrap();
    s.attach(&timed.to_vec().unwrap()).await;
    let evidence = s.signatures(s.trust()).verify(&s.image, &s.digest).await;
    assert_eq!(evidence.status, SignatureStatus::Verified, "{evidence:?}");

    let s = Setup::new().await;
    let untimed = SignOptions {
        timestamp_at: None,
        ..SignOptions::rekor_v2()
    };
    let bundle = s
        .sigstore
        .sign_image(&s.leaf(), s.digest.as_str(), &untimed)
        .unwrap();
    s.assert_signature_refused(
        &bundle.to_vec().unwrap(),
        s.trust(),
        "no proven signing time",
    )
    .await;
}

#[tokio::test]
async fn a_message_signature_over_the_manifest_verifies() {
    let s = Setup::new().await;
    let client = TestRegistry::client_for(&[&s.registry]).unwrap();
    let manifest = client
        .get_manifest(
            &s.registry.host,
            &"acme/app".parse().unwrap(),
            &portcullis_core::Reference::Digest(s.digest.clone()),
        )
        .await
        .unwrap()
        .unwrap();
    let bundle = s
        .sigstore
        .sign_message(&s.leaf(), &manifest.bytes, &SignOptions::default())
        .unwrap();
    s.attach(&bundle.to_vec().unwrap()).await;
    let evidence = s.signatures(s.trust()).verify(&s.image, &s.digest).await;
    assert_eq!(evidence.status, SignatureStatus::Verified, "{evidence:?}");
}

#[tokio::test]
async fn keyless_attestations_verify_as_att_layers_and_as_bundles() {
    let s = Setup::new().await;
    let leaf = s.leaf();
    let predicate = serde_json::json!({
        "builder": {"id": "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3"},
        "buildType": "https://github.com/slsa-framework/slsa-github-generator/container@v1",
        "invocation": {"configSource": {"uri": "git+https://github.com/acme/app@refs/tags/v1.2.3", "digest": {"sha1": "0123456789abcdef0123456789abcdef01234567"}}},
    });
    for kind in [AttKind::IntotoV001, AttKind::DsseV001] {
        let att = s
            .sigstore
            .keyless_attestation(&leaf, s.digest.as_str(), SLSA, &predicate, kind, unix_now())
            .unwrap();
        push_keyless_attestation(s.host(), "acme/app", s.digest.as_str(), &att)
            .await
            .unwrap();
    }
    let bundle = s
        .sigstore
        .attest(
            &leaf,
            s.digest.as_str(),
            SLSA,
            &predicate,
            &SignOptions::default(),
        )
        .unwrap();
    s.attach(&bundle.to_vec().unwrap()).await;
    let (evidence, items) = s.attestations(s.trust()).collect(&s.image, &s.digest).await;
    assert_eq!(evidence.rejected, [], "{evidence:?}");
    assert_eq!(evidence.verified, 3, "{evidence:?}");
    assert_eq!(evidence.predicate_types, [SLSA]);
    assert_eq!(items.provenance.len(), 3);
    assert!(
        evidence
            .accepted
            .iter()
            .all(|a| a.signer.as_ref().is_some_and(|s| s.subject == WORKFLOW))
    );
    // A changed identity refuses all three.
    let other = s.trust_from(
        &s.sigstore.trusted_root_builder(),
        "https://github.com/evil/.*",
        true,
    );
    let (evidence, items) = s.attestations(other).collect(&s.image, &s.digest).await;
    assert_eq!(evidence.verified, 0);
    assert_eq!(evidence.rejected.len(), 3);
    assert!(items.provenance.is_empty());
}

#[tokio::test]
async fn a_tampered_envelope_is_refused() {
    let s = Setup::new().await;
    let bundle = s
        .sigstore
        .sign_image(&s.leaf(), s.digest.as_str(), &SignOptions::default())
        .unwrap();
    let mut json = bundle.to_json();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64
        .decode(json["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let tampered = String::from_utf8(payload)
        .unwrap()
        .replace("\"_type\"", "\"_type\" ");
    json["dsseEnvelope"]["payload"] = b64.encode(tampered).into();
    s.assert_signature_refused(&serde_json::to_vec(&json).unwrap(), s.trust(), "payload")
        .await;
}

#[tokio::test]
async fn a_signature_of_another_image_or_moved_onto_this_one_is_refused() {
    let s = Setup::new().await;
    let other = format!("sha256:{}", "ab".repeat(32));
    let bundle = s
        .sigstore
        .sign_image(&s.leaf(), &other, &SignOptions::default())
        .unwrap();
    s.assert_signature_refused(&bundle.to_vec().unwrap(), s.trust(), "subject")
        .await;
}

#[tokio::test]
async fn a_certificate_outside_its_window_at_the_integrated_time_is_refused() {
    let s = Setup::new().await;
    let late = SignOptions {
        integrated_time: unix_now() + 3600,
        timestamp_at: None,
        ..SignOptions::default()
    };
    let bundle = s
        .sigstore
        .sign_image(&s.leaf(), s.digest.as_str(), &late)
        .unwrap();
    s.assert_signature_refused(&bundle.to_vec().unwrap(), s.trust(), "does not chain")
        .await;
}

#[tokio::test]
async fn a_set_from_an_unknown_log_is_refused() {
    let s = Setup::new().await;
    let bundle = s
        .sigstore
        .sign_image(&s.leaf(), s.digest.as_str(), &SignOptions::default())
        .unwrap();
    let always = ValidFor::from(0);
    let without_rekor = TrustedRootBuilder::new()
        .rekor_v2(&s.sigstore.rekor_v2, always)
        .fulcio(&s.sigstore.fulcio, always)
        .ct(&s.sigstore.ct, always)
        .tsa(&s.sigstore.tsa, always);
    let trust = s.trust_from(&without_rekor, ".*", true);
    s.assert_signature_refused(&bundle.to_vec().unwrap(), trust, "unknown log")
        .await;
}

#[tokio::test]
async fn a_ca_outside_its_window_and_a_wrong_identity_are_refused() {
    let s = Setup::new().await;
    let bundle = s
        .sigstore
        .sign_image(&s.leaf(), s.digest.as_str(), &SignOptions::default())
        .unwrap()
        .to_vec()
        .unwrap();
    let always = ValidFor::from(0);
    let retired_ca = TrustedRootBuilder::new()
        .rekor(&s.sigstore.rekor, always)
        .rekor_v2(&s.sigstore.rekor_v2, always)
        .fulcio(&s.sigstore.fulcio, ValidFor::between(0, 1_000_000_000))
        .ct(&s.sigstore.ct, always)
        .tsa(&s.sigstore.tsa, always);
    let trust = s.trust_from(&retired_ca, ".*", true);
    s.assert_signature_refused(&bundle, trust, "no trusted CA was valid")
        .await;
    let wrong = s.trust_from(
        &s.sigstore.trusted_root_builder(),
        "https://github.com/evil/.*",
        true,
    );
    let evidence = s.signatures(wrong).verify(&s.image, &s.digest).await;
    assert_eq!(evidence.status, SignatureStatus::Untrusted);
    assert!(
        evidence.items[0]
            .rejected
            .as_deref()
            .unwrap()
            .contains("no identity accepts")
    );
}

#[tokio::test]
async fn a_missing_sct_is_refused_only_while_one_is_required() {
    let s = Setup::new().await;
    let spec = LeafSpec::new(SanSubject::Uri(WORKFLOW.into()), GITHUB);
    let no_sct = s.sigstore.fulcio.issue(&spec).unwrap();
    let bundle = s
        .sigstore
        .sign_image(&no_sct, s.digest.as_str(), &SignOptions::default())
        .unwrap()
        .to_vec()
        .unwrap();
    s.assert_signature_refused(&bundle, s.trust(), "no embedded SCT")
        .await;
    let lenient = s.trust_from(&s.sigstore.trusted_root_builder(), ".*", false);
    let evidence = s.signatures(lenient).verify(&s.image, &s.digest).await;
    assert_eq!(evidence.status, SignatureStatus::Verified, "{evidence:?}");
}

#[tokio::test]
async fn a_malformed_bundle_is_a_rejected_item_not_an_error() {
    let s = Setup::new().await;
    s.assert_signature_refused(b"{\"mediaType\": 7}", s.trust(), "not a Sigstore bundle")
        .await;
    let (attestations, _) = s.attestations(s.trust()).collect(&s.image, &s.digest).await;
    assert_eq!(attestations.error, None);
    assert_eq!(attestations.rejected.len(), 1);
}

#[tokio::test]
async fn a_keyless_bundle_without_a_log_entry_is_refused() {
    // A bundle with no log entry at all is refused: keyless signing needs the log.
    let s = Setup::new().await;
    let unlogged = SignOptions {
        log: TlogChoice::None,
        ..SignOptions::default()
    };
    let bundle = s
        .sigstore
        .sign_image(&s.leaf(), s.digest.as_str(), &unlogged)
        .unwrap();
    s.assert_signature_refused(
        &bundle.to_vec().unwrap(),
        s.trust(),
        "no transparency-log entry",
    )
    .await;
}

#[tokio::test]
async fn issuer_extensions_that_disagree_are_refused_and_an_othername_subject_accepted() {
    let s = Setup::new().await;
    let mut spec = LeafSpec::new(SanSubject::Uri(WORKFLOW.into()), GITHUB);
    spec.extensions.issuer_v1 = Some("https://accounts.google.com".into());
    spec.extensions.issuer_v2 = Some(GITHUB.into());
    let split = s.sigstore.issue(&spec).unwrap();
    let bundle = s
        .sigstore
        .sign_image(&split, s.digest.as_str(), &SignOptions::default())
        .unwrap();
    s.assert_signature_refused(
        &bundle.to_vec().unwrap(),
        s.trust(),
        "issuer extensions disagree",
    )
    .await;

    let s = Setup::new().await;
    let user = LeafSpec::new(SanSubject::OtherName("ci!oidc.local".into()), GITHUB);
    let leaf = s.sigstore.issue(&user).unwrap();
    let bundle = s
        .sigstore
        .sign_image(&leaf, s.digest.as_str(), &SignOptions::default())
        .unwrap();
    s.attach(&bundle.to_vec().unwrap()).await;
    let trust = s.trust_from(&s.sigstore.trusted_root_builder(), "ci!oidc\\.local", true);
    let evidence = s.signatures(trust).verify(&s.image, &s.digest).await;
    assert_eq!(evidence.status, SignatureStatus::Verified, "{evidence:?}");
    assert_eq!(evidence.signers[0].subject, "ci!oidc.local");
}
