//! `AttestationVerifier` against a real `docker-registry`: signed SLSA provenance in cosign's
//! layout and as OCI referrers (tag-schema fallback, as Distribution 2.8 has no referrers API),
//! forgeries, k-of-n signing, no attestations and an unreachable registry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use portcullis_core::{
    AttestationEvidence, Digest, EvidenceItems, EvidenceOrigin, ImageRef, Provenance,
};
use portcullis_evidence::{
    AttestationVerifier, SLSA_PROVENANCE_V1, SLSA_PROVENANCE_V02, TrustedKey,
};
use portcullis_registry::testing::TestRegistry;
use portcullis_testkit::{
    Forgery, Placement, TestKey, attest, forged_envelope, push_envelope, push_random_image,
};
use serde_json::{Value, json};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const V1_BUILDER: &str = "https://github.com/actions/runner/github-hosted";

/// A registry with one image in `team/app`, and a verifier trusting `trusted`.
struct Setup {
    registry: TestRegistry,
    image: ImageRef,
    digest: Digest,
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
        }
    }

    fn host(&self) -> &str {
        self.registry.host.as_str()
    }

    fn verifier(&self, trusted: &[(&str, &TestKey)]) -> AttestationVerifier {
        let keys: Vec<TrustedKey> = trusted
            .iter()
            .map(|(id, key)| TrustedKey::from_pem(id, key.public_pem.as_bytes()).expect("key"))
            .collect();
        let client = TestRegistry::client_for(&[&self.registry]).expect("client");
        AttestationVerifier::new(Arc::from(keys), client)
    }

    async fn attest(
        &self,
        predicate_type: &str,
        predicate: &Value,
        keys: &[&TestKey],
        placement: Placement,
    ) {
        attest(
            self.host(),
            "team/app",
            self.digest.as_str(),
            predicate_type,
            predicate,
            keys,
            placement,
        )
        .await
        .expect("attest");
    }

    async fn collect(
        &self,
        verifier: &AttestationVerifier,
    ) -> (AttestationEvidence, EvidenceItems) {
        verifier.collect(&self.image, &self.digest).await
    }
}

fn slsa_v1() -> Value {
    json!({
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {"workflow": {"ref": "refs/heads/main",
                "repository": "https://github.com/acme/app", "path": ".github/workflows/release.yml"}},
            "resolvedDependencies": [{"uri": "git+https://github.com/acme/app@refs/heads/main",
                                      "digest": {"gitCommit": COMMIT}}]
        },
        "runDetails": {"builder": {"id": V1_BUILDER}}
    })
}

fn slsa_v02() -> Value {
    json!({
        "builder": {"id": "https://cloudbuild.googleapis.com/GoogleHostedWorker"},
        "buildType": "https://cloudbuild.googleapis.com/CloudBuildYaml@v0.1",
        "invocation": {"configSource": {"uri": "git+https://github.com/acme/app@refs/tags/v1.0.0",
            "digest": {"sha1": COMMIT}, "entryPoint": "cloudbuild.yaml"}}
    })
}

fn signed(key_ids: &[&str], predicate_type: &str) -> EvidenceOrigin {
    EvidenceOrigin::SignedAttestation {
        key_ids: key_ids.iter().map(|s| (*s).to_owned()).collect(),
        predicate_type: predicate_type.to_owned(),
    }
}

fn only_provenance(items: &EvidenceItems) -> &Provenance {
    assert!(
        items.vulnerability_reports.is_empty() && items.sboms.is_empty() && items.vex.is_empty()
    );
    assert_eq!(items.provenance.len(), 1, "{items:?}");
    &items.provenance[0]
}

#[tokio::test]
async fn signed_slsa_v1_provenance_in_cosign_layout_reaches_the_evidence() {
    let s = Setup::new().await;
    let key = TestKey::generate().unwrap();
    s.attest(SLSA_PROVENANCE_V1, &slsa_v1(), &[&key], Placement::Cosign)
        .await;

    let (evidence, items) = s.collect(&s.verifier(&[("ci", &key)])).await;
    assert_eq!(evidence.found, 1);
    assert_eq!(evidence.verified, 1);
    assert_eq!(
        evidence.predicate_types,
        vec![SLSA_PROVENANCE_V1.to_owned()]
    );
    assert!(evidence.rejected.is_empty(), "{:?}", evidence.rejected);
    assert_eq!(evidence.error, None);
    let p = only_provenance(&items);
    assert_eq!(p.origin, signed(&["ci"], SLSA_PROVENANCE_V1));
    assert_eq!(p.predicate_type, SLSA_PROVENANCE_V1);
    assert_eq!(p.builder_id, V1_BUILDER);
    assert_eq!(
        p.build_type,
        "https://actions.github.io/buildtypes/workflow/v1"
    );
    assert_eq!(
        p.source_repository.as_deref(),
        Some("https://github.com/acme/app")
    );
    assert_eq!(p.source_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(p.source_commit.as_deref(), Some(COMMIT));
    assert_eq!(p.subject_digests, vec![s.digest.clone()]);
}

#[tokio::test]
async fn signed_slsa_v02_provenance_reaches_the_evidence_next_to_v1() {
    let s = Setup::new().await;
    let key = TestKey::generate().unwrap();
    s.attest(SLSA_PROVENANCE_V1, &slsa_v1(), &[&key], Placement::Cosign)
        .await;
    s.attest(SLSA_PROVENANCE_V02, &slsa_v02(), &[&key], Placement::Cosign)
        .await;

    let (evidence, items) = s.collect(&s.verifier(&[("ci", &key)])).await;
    assert_eq!((evidence.found, evidence.verified), (2, 2));
    assert_eq!(
        evidence.predicate_types,
        vec![
            SLSA_PROVENANCE_V02.to_owned(),
            SLSA_PROVENANCE_V1.to_owned()
        ]
    );
    assert_eq!(items.provenance.len(), 2);
    let p = items
        .provenance
        .iter()
        .find(|p| p.predicate_type == SLSA_PROVENANCE_V02)
        .expect("v0.2 provenance");
    assert_eq!(p.origin, signed(&["ci"], SLSA_PROVENANCE_V02));
    assert_eq!(
        p.builder_id,
        "https://cloudbuild.googleapis.com/GoogleHostedWorker"
    );
    assert_eq!(
        p.build_type,
        "https://cloudbuild.googleapis.com/CloudBuildYaml@v0.1"
    );
    assert_eq!(
        p.source_repository.as_deref(),
        Some("https://github.com/acme/app")
    );
    assert_eq!(p.source_ref.as_deref(), Some("refs/tags/v1.0.0"));
    assert_eq!(p.source_commit.as_deref(), Some(COMMIT));
}

#[tokio::test]
async fn forged_attestations_are_rejected_with_distinct_reasons_and_yield_nothing() {
    let s = Setup::new().await;
    let key = TestKey::generate().unwrap();
    let intruder = TestKey::generate().unwrap();
    let other = push_random_image(s.host(), "team/app", "other", 1, 128)
        .await
        .unwrap();
    let forgeries = [
        Forgery::UntrustedKey(&intruder),
        Forgery::OtherSubject(&other),
        Forgery::TamperedPayload,
    ];
    for forgery in forgeries {
        let envelope = forged_envelope(
            s.digest.as_str(),
            SLSA_PROVENANCE_V1,
            &slsa_v1(),
            &key,
            forgery,
        )
        .unwrap();
        push_envelope(
            s.host(),
            "team/app",
            s.digest.as_str(),
            SLSA_PROVENANCE_V1,
            &envelope,
            Placement::Cosign,
        )
        .await
        .unwrap();
    }

    let (evidence, items) = s.collect(&s.verifier(&[("ci", &key)])).await;
    assert_eq!((evidence.found, evidence.verified), (3, 0));
    assert!(items.is_empty(), "{items:?}");
    assert!(evidence.predicate_types.is_empty());
    assert_eq!(evidence.error, None);
    let tag = s.digest.cosign_tag("att");
    let rejected: Vec<(&str, &str)> = evidence
        .rejected
        .iter()
        .map(|r| (r.location.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(rejected.len(), 3);
    assert_eq!(
        rejected[0],
        (format!("{tag} layer 0").as_str(), "no trusted signature")
    );
    assert_eq!(rejected[1].0, format!("{tag} layer 1"));
    assert_eq!(
        rejected[1].1,
        format!(
            "subject does not name the promoted digest {} (names [{other}])",
            s.digest
        )
    );
    assert_eq!(rejected[2].0, format!("{tag} layer 2"));
    assert_eq!(
        rejected[2].1,
        "signature names trusted key ci but does not verify: payload or signature altered"
    );
}

#[tokio::test]
async fn no_attestations_means_none_found_and_no_error() {
    let s = Setup::new().await;
    let key = TestKey::generate().unwrap();
    let (evidence, items) = s.collect(&s.verifier(&[("ci", &key)])).await;
    assert_eq!(evidence, AttestationEvidence::default());
    assert!(items.is_empty());
}

#[tokio::test]
async fn referrer_attestations_are_found_through_the_tag_schema_fallback() {
    let s = Setup::new().await;
    let key = TestKey::generate().unwrap();
    s.attest(SLSA_PROVENANCE_V1, &slsa_v1(), &[&key], Placement::Referrer)
        .await;
    s.attest(
        SLSA_PROVENANCE_V02,
        &slsa_v02(),
        &[&key],
        Placement::Referrer,
    )
    .await;

    // Distribution 2.8 has no referrers API: the verifier must have read the fallback tag.
    let client = TestRegistry::client_for(&[&s.registry]).unwrap();
    let referrers = client
        .referrers(
            &s.image.registry,
            &s.image.repository,
            &s.digest,
            Some(portcullis_evidence::DSSE_MEDIA_TYPE),
        )
        .await
        .unwrap();
    assert_eq!(referrers.len(), 2);

    let (evidence, items) = s.collect(&s.verifier(&[("ci", &key)])).await;
    assert_eq!(
        (evidence.found, evidence.verified),
        (2, 2),
        "{:?}",
        evidence.rejected
    );
    assert_eq!(evidence.error, None);
    assert_eq!(items.provenance.len(), 2);
    for p in &items.provenance {
        assert_eq!(p.origin, signed(&["ci"], &p.predicate_type));
        assert_eq!(p.source_commit.as_deref(), Some(COMMIT));
    }
}

#[tokio::test]
async fn envelope_signed_by_two_trusted_keys_reports_both_key_ids() {
    let s = Setup::new().await;
    let release = TestKey::generate().unwrap();
    let security = TestKey::generate().unwrap();
    let untrusted = TestKey::generate().unwrap();
    s.attest(
        SLSA_PROVENANCE_V1,
        &slsa_v1(),
        &[&security, &untrusted, &release],
        Placement::Cosign,
    )
    .await;

    let verifier = s.verifier(&[("security", &security), ("release", &release)]);
    let (evidence, items) = s.collect(&verifier).await;
    assert_eq!((evidence.found, evidence.verified), (1, 1));
    let p = only_provenance(&items);
    assert_eq!(
        p.origin,
        signed(&["release", "security"], SLSA_PROVENANCE_V1)
    );

    // Only one of the two trusted: only that id.
    let (_, items) = s.collect(&s.verifier(&[("release", &release)])).await;
    assert_eq!(
        only_provenance(&items).origin,
        signed(&["release"], SLSA_PROVENANCE_V1)
    );
}

#[tokio::test]
async fn unknown_predicate_types_are_rejected() {
    let s = Setup::new().await;
    let key = TestKey::generate().unwrap();
    s.attest(
        "https://example.com/custom/v1",
        &json!({"x": 1}),
        &[&key],
        Placement::Cosign,
    )
    .await;
    let (evidence, items) = s.collect(&s.verifier(&[("ci", &key)])).await;
    assert_eq!((evidence.found, evidence.verified), (1, 0));
    assert!(items.is_empty());
    assert_eq!(
        evidence.rejected[0].reason,
        "unknown predicate type \"https://example.com/custom/v1\""
    );
}

#[tokio::test]
async fn unreachable_registry_fails_closed() {
    let mut s = Setup::new().await;
    let key = TestKey::generate().unwrap();
    s.attest(SLSA_PROVENANCE_V1, &slsa_v1(), &[&key], Placement::Cosign)
        .await;
    let verifier = s.verifier(&[("ci", &key)]);
    s.registry.stop().await.unwrap();

    let (evidence, items) = s.collect(&verifier).await;
    let error = evidence.error.expect("error must be set");
    assert!(
        error.contains(&format!("fetching {}", s.digest.cosign_tag("att"))),
        "{error}"
    );
    assert_eq!(evidence.verified, 0);
    assert!(items.is_empty());
}

#[tokio::test]
async fn signed_cosign_vuln_scan_yields_a_signed_trivy_report() {
    let s = Setup::new().await;
    let key = TestKey::generate().unwrap();
    // Trivy's golden report, read where it lies in ../shared/fixtures.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/trivy-vuln-alpine-310.json"
    );
    let trivy: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let predicate = json!({
        "invocation": {"uri": "", "event_id": "", "builder.id": ""},
        "scanner": {"uri": "pkg:github/aquasecurity/trivy@0.50.0", "version": "0.50.0", "result": trivy},
        "metadata": {"scanStartedOn": "2024-01-01T00:00:00Z", "scanFinishedOn": "2024-01-01T00:00:10Z"}
    });
    s.attest(
        portcullis_evidence::COSIGN_VULN_V1,
        &predicate,
        &[&key],
        Placement::Referrer,
    )
    .await;

    let (evidence, items) = s.collect(&s.verifier(&[("scanner", &key)])).await;
    assert_eq!(
        (evidence.found, evidence.verified),
        (1, 1),
        "{:?}",
        evidence.rejected
    );
    assert_eq!(items.vulnerability_reports.len(), 1);
    let report = &items.vulnerability_reports[0];
    assert_eq!(
        report.origin,
        signed(&["scanner"], portcullis_evidence::COSIGN_VULN_V1)
    );
    assert_eq!(report.scanner, "trivy");
    assert!(!report.vulnerabilities.is_empty());
}
