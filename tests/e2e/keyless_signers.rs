//! Keyless (Fulcio + Rekor) and key signers through the whole server: both count toward
//! a two-of-N signature requirement.

use serde_json::{Value, json};

use crate::evidence_docs::{body, rules};
use crate::support::{TestApp, trivy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_and_key_signers_count_toward_two_of_n() {
    use portcullis_evidence::{KeylessConfig, KeylessIdentity};
    use portcullis_testkit::{
        FakeFulcio, FakeRekor, LeafSpec, SanSubject, append_keyless_signature, keyless_signature,
        unix_now,
    };

    const GITHUB: &str = "https://token.actions.githubusercontent.com";
    let fulcio = FakeFulcio::new("fulcio").unwrap();
    let rekor = FakeRekor::new().unwrap();
    let bundle = std::env::temp_dir().join(format!("portcullis-k-of-n-{}", uuid::Uuid::new_v4()));
    crate::policy::copy_bundle(&bundle);
    let data_path = bundle.join("data.json");
    let mut data: Value =
        serde_json::from_str(&std::fs::read_to_string(&data_path).unwrap()).unwrap();
    data["portcullis"]["config"]["min_signatures"] = json!(2);
    std::fs::write(&data_path, data.to_string()).unwrap();
    std::fs::write(bundle.join("fulcio.pem"), fulcio.trust_root_pem()).unwrap();
    std::fs::write(bundle.join("rekor.pub"), rekor.public_key_pem()).unwrap();
    let config_dir = bundle.clone();
    let app = TestApp::spawn_with(move |c| {
        c.policy_dir = config_dir.clone();
        // Re-verify on every request so each new signature is seen at once.
        c.trust.cache.ttl_seconds = 0;
        c.trust.cache.negative_ttl_seconds = 0;
        c.trust.keyless = Some(KeylessConfig {
            trusted_root: None,
            trust_root: Some(config_dir.join("fulcio.pem")),
            rekor_public_key: Some(config_dir.join("rekor.pub")),
            ctlog_public_key: None,
            require_sct: None,
            identities: vec![KeylessIdentity {
                id: "release-workflow".into(),
                issuer: GITHUB.into(),
                subject: None,
                subject_regex: Some(
                    r"https://github\.com/org/app/\.github/workflows/release\.yml@refs/tags/v.*"
                        .into(),
                ),
            }],
        });
    })
    .await;
    let registry = app.staging.host.as_str().to_owned();
    let digest = app.push_signed("team/app", "two").await;
    let source = app.source("team/app", &digest);
    let dry_run = || body(&source, vec![("trivy-json", trivy(&[]))], true);
    // Adds a keyless signature by the workflow with this URI identity.
    let sign_as = |identity: &'static str| {
        let (registry, digest, fulcio, rekor) = (&registry, &digest, &fulcio, &rekor);
        async move {
            let leaf = fulcio
                .issue(&LeafSpec::new(SanSubject::Uri(identity.into()), GITHUB))
                .unwrap();
            let sig = keyless_signature(
                registry,
                "team/app",
                digest,
                fulcio,
                &leaf,
                rekor,
                unix_now(),
            )
            .unwrap();
            append_keyless_signature(registry, "team/app", digest, &sig)
                .await
                .unwrap();
        }
    };

    // One trusted key of the two required.
    let (_, p) = app.post("/v1/promotions", &app.tokens.ci, &dry_run()).await;
    assert_eq!(rules(&p), ["signature.trusted_key"], "{p}");

    // A keyless signature from another workflow does not count.
    sign_as("https://github.com/fork/app/.github/workflows/release.yml@refs/tags/v1").await;
    let (_, p) = app.post("/v1/promotions", &app.tokens.ci, &dry_run()).await;
    assert_eq!(rules(&p), ["signature.trusted_key"], "{p}");
    assert_eq!(
        p["evidence"]["signatures"]["verified_key_ids"],
        json!(["release-key"])
    );

    // The release workflow's keyless signature is the second signer.
    sign_as("https://github.com/org/app/.github/workflows/release.yml@refs/tags/v1.2.0").await;
    let (_, p) = app.post("/v1/promotions", &app.tokens.ci, &dry_run()).await;
    assert_eq!(p["decision"]["allow"], true, "{p}");
    assert_eq!(
        p["evidence"]["signatures"]["verified_key_ids"],
        json!(["release-key", "release-workflow"])
    );
    assert_eq!(p["evidence"]["signatures"]["signatures_found"], 3);
    std::fs::remove_dir_all(&bundle).unwrap();
}
