//! What today's signers produce, through the whole server: an image whose only evidence is a
//! cosign v3 image-signature bundle (OCI referrer) and a keyless SLSA attestation (cosign
//! `.att`), both from a private Sigstore deployment configured as `trust.keyless.trusted_root`.
//! A policy requiring a signature and signed provenance allows it; another identity is denied;
//! the promotion copies the bundle to production, where it still verifies.

use std::path::{Path, PathBuf};

use portcullis_core::{ImageRef, SignatureStatus};
use portcullis_evidence::{KeylessConfig, KeylessIdentity, KeylessTrust, SignatureVerifier};
use portcullis_registry::testing::TestRegistry;
use portcullis_testkit::sigstore::{
    AttKind, BUNDLE_V03_MEDIA_TYPE, FulcioExtensions, PrivateSigstore, SignOptions,
    push_bundle_referrer, push_keyless_attestation,
};
use portcullis_testkit::{LeafSpec, SanSubject, unix_now};
use serde_json::{Value, json};

use crate::evidence_docs::{body, rules};
use crate::support::{TestApp, trivy};

const GITHUB: &str = "https://token.actions.githubusercontent.com";
const WORKFLOW: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3";
const BUILDER: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.1.0";

/// A policy bundle requiring one trusted signature and signed provenance from `BUILDER`,
/// with the private deployment's `trusted_root.json` beside it.
fn policy_and_root(sigstore: &PrivateSigstore) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-bundles-{}", uuid::Uuid::new_v4()));
    crate::policy::copy_bundle(&dir);
    let data_path = dir.join("data.json");
    let mut data: Value =
        serde_json::from_str(&std::fs::read_to_string(&data_path).unwrap()).unwrap();
    data["portcullis"]["config"]["provenance"] =
        json!({"required": true, "trusted_builders": [BUILDER], "source_repositories": []});
    std::fs::write(&data_path, data.to_string()).unwrap();
    sigstore
        .write_trusted_root(&dir.join("trusted_root.json"))
        .unwrap();
    dir
}

fn keyless(dir: &Path, subject_regex: &str) -> KeylessConfig {
    KeylessConfig {
        trusted_root: Some(dir.join("trusted_root.json")),
        trust_root: None,
        rekor_public_key: None,
        ctlog_public_key: None,
        require_sct: None,
        identities: vec![KeylessIdentity {
            id: "acme-release".into(),
            issuer: GITHUB.into(),
            subject: None,
            subject_regex: Some(subject_regex.into()),
        }],
    }
}

/// Pushes an unsigned image and gives it exactly a v0.3 bundle signature and a keyless SLSA
/// attestation.
async fn sign_with_bundle_and_attest(app: &TestApp, sigstore: &PrivateSigstore) -> String {
    let registry = app.staging.host.as_str().to_owned();
    let digest = app.push_image("team/app", "rc").await;
    let mut spec = LeafSpec::new(SanSubject::Uri(WORKFLOW.into()), GITHUB);
    spec.extensions = FulcioExtensions::github_workflow(
        "github.com/acme/app",
        "refs/tags/v1.2.3",
        "0123456789abcdef0123456789abcdef01234567",
        ".github/workflows/release.yml",
    );
    let leaf = sigstore.issue(&spec).unwrap();
    let bundle = sigstore
        .sign_image(&leaf, &digest, &SignOptions::default())
        .unwrap();
    push_bundle_referrer(
        &registry,
        "team/app",
        &digest,
        &bundle.to_vec().unwrap(),
        BUNDLE_V03_MEDIA_TYPE,
        true,
    )
    .await
    .unwrap();
    let predicate = json!({
        "builder": {"id": BUILDER},
        "buildType": "https://github.com/slsa-framework/slsa-github-generator/container@v1",
        "invocation": {"configSource": {
            "uri": "git+https://github.com/acme/app@refs/tags/v1.2.3",
            "digest": {"sha1": "0123456789abcdef0123456789abcdef01234567"},
            "entryPoint": ".github/workflows/release.yml"
        }},
    });
    let att = sigstore
        .keyless_attestation(
            &leaf,
            &digest,
            "https://slsa.dev/provenance/v0.2",
            &predicate,
            AttKind::DsseV001,
            unix_now(),
        )
        .unwrap();
    push_keyless_attestation(&registry, "team/app", &digest, &att)
        .await
        .unwrap();
    digest
}

/// A gate trusting `sigstore` for the identities matching `subject_regex` and no key, with the
/// policy of `policy_and_root`; returns it and the bundle directory.
async fn spawn_gate(sigstore: &PrivateSigstore, subject_regex: &'static str) -> (TestApp, PathBuf) {
    let dir = policy_and_root(sigstore);
    let config_dir = dir.clone();
    let app = TestApp::spawn_with(move |c| {
        c.policy_dir = config_dir.clone();
        // The image carries no key signature: no trusted key may be needed.
        c.trust.keys.clear();
        c.trust.keyless = Some(keyless(&config_dir, subject_regex));
    })
    .await;
    (app, dir)
}

/// A dry run of `source` with an empty Trivy report.
async fn dry_run(app: &TestApp, source: &str) -> (reqwest::StatusCode, Value) {
    app.post(
        "/v1/promotions",
        &app.tokens.ci,
        &body(source, vec![("trivy-json", trivy(&[]))], true),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_signature_and_keyless_provenance_pass_the_gate_and_travel_to_production() {
    let sigstore = PrivateSigstore::new().unwrap();
    let (app, dir) = spawn_gate(&sigstore, "https://github.com/acme/app/.*").await;
    let digest = sign_with_bundle_and_attest(&app, &sigstore).await;
    let source = app.source("team/app", &digest);

    let (status, p) = dry_run(&app, &source).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{p}");
    assert_eq!(rules(&p), Vec::<String>::new(), "{p}");
    assert_eq!(p["decision"]["allow"], true, "{p}");
    let input = &p["evidence"];
    assert_eq!(
        input["signatures"]["verified_key_ids"],
        json!(["acme-release"]),
        "{p}"
    );
    let signer = &input["signatures"]["signers"][0];
    assert_eq!(signer["subject"], WORKFLOW);
    assert_eq!(
        signer["source_repository_uri"],
        "https://github.com/acme/app"
    );
    assert_eq!(signer["source_repository_ref"], "refs/tags/v1.2.3");
    assert_eq!(
        input["attestations"]["signers"][0]["predicate_type"],
        "https://slsa.dev/provenance/v0.2"
    );

    // The real promotion copies the bundle referrer with the image.
    let (_, p) = app.request(&source, trivy(&[])).await;
    let id = p["id"].as_str().unwrap().to_owned();
    app.approve_twice(&id).await;
    assert_eq!(app.wait_settled(&id).await["state"], "promoted");
    let prod_image: ImageRef = format!("{}/team/app@{digest}", app.prod.host.as_str())
        .parse()
        .unwrap();
    let trust = KeylessTrust::load(&keyless(&dir, "https://github.com/acme/app/.*")).unwrap();
    let client = TestRegistry::client_for(&[&app.prod]).unwrap();
    let at_prod = SignatureVerifier::new(Vec::new(), client)
        .with_keyless(trust)
        .verify(&prod_image, &digest.parse().unwrap())
        .await;
    assert_eq!(at_prod.status, SignatureStatus::Verified, "{at_prod:?}");
    assert!(
        at_prod.items[0].location.starts_with("referrer "),
        "{at_prod:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_identity_is_denied_for_both_signature_and_provenance() {
    let sigstore = PrivateSigstore::new().unwrap();
    let (app, _dir) = spawn_gate(&sigstore, "https://github.com/other/app/.*").await;
    let digest = sign_with_bundle_and_attest(&app, &sigstore).await;
    let source = app.source("team/app", &digest);
    let (_, p) = dry_run(&app, &source).await;
    assert_eq!(p["decision"]["allow"], false, "{p}");
    let violated = rules(&p);
    assert!(
        violated.contains(&"signature.trusted_key".to_owned()),
        "{p}"
    );
    assert!(violated.contains(&"provenance.required".to_owned()), "{p}");
    let reason = p["evidence"]["attestations"]["rejected"][0]["reason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("no identity accepts"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_re_reads_the_trusted_root_and_a_bad_one_keeps_the_old_trust() {
    let signer = PrivateSigstore::new().unwrap();
    let stranger = PrivateSigstore::new().unwrap();
    // The gate starts out trusting another deployment.
    let (app, dir) = spawn_gate(&stranger, "https://github.com/acme/app/.*").await;
    let digest = sign_with_bundle_and_attest(&app, &signer).await;
    let source = app.source("team/app", &digest);
    let (_, p) = dry_run(&app, &source).await;
    assert_eq!(p["decision"]["allow"], false, "{p}");

    // The operator installs the right trust root and reloads: verdicts change at once, the
    // cached negative result is not served again.
    signer
        .write_trusted_root(&dir.join("trusted_root.json"))
        .unwrap();
    app.state.gate.reload_keyless().unwrap();
    let (_, p) = dry_run(&app, &source).await;
    assert_eq!(p["decision"]["allow"], true, "{p}");

    // A broken file is refused and the trust in use stays.
    std::fs::write(dir.join("trusted_root.json"), "{ not json").unwrap();
    let err = app.state.gate.reload_keyless().unwrap_err().to_string();
    assert!(err.contains("trusted_root"), "{err}");
    let (_, p) = dry_run(&app, &source).await;
    assert_eq!(p["decision"]["allow"], true, "{p}");
}
