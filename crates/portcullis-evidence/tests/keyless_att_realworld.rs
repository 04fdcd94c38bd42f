//! Real keyless cosign attestations in the legacy `.att` layout: slsa-github-generator's
//! container workflow (v1.4.0 logged as `intoto` 0.0.1, v1.10.0 and v2.1.0 as `dsse` 0.0.1),
//! signed from GitHub Actions through the public-good Fulcio and Rekor. Each OCI layout in
//! `../shared/realworld` is pushed byte for byte into a real `docker-registry`, the `.att`
//! manifest is tagged as cosign tags it, and `AttestationVerifier` must accept it against the
//! public-good `trusted_root.json`, SCT and all, and refuse it for any other identity.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use portcullis_core::{Digest, ImageRef, Reference, RepoPath};
use portcullis_evidence::{AttestationVerifier, KeylessIdentity, KeylessTrust, TrustedKey};
use portcullis_registry::testing::{TestRegistry, push_oci_layout};

const GITHUB_ACTIONS: &str = "https://token.actions.githubusercontent.com";
const GENERATOR: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/";

fn realworld(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/realworld")
        .join(rel)
}

fn trust(subject_regex: &str) -> KeylessTrust {
    KeylessTrust::from_trusted_root(
        &std::fs::read(realworld("trust/public-good/trusted_root.json")).unwrap(),
        &[KeylessIdentity {
            id: "slsa-generator".into(),
            issuer: GITHUB_ACTIONS.into(),
            subject: None,
            subject_regex: Some(subject_regex.into()),
        }],
        true,
    )
    .unwrap()
}

/// Pushes the layout and tags its `.att` manifest; returns the image and its digest.
async fn serve(registry: &TestRegistry, version: &str) -> (ImageRef, Digest) {
    let client = TestRegistry::client_for(&[registry]).unwrap();
    let repo: RepoPath = "slsa/example-package".parse().unwrap();
    let layout = realworld(&format!("attestations/slsa-container-{version}/oci-layout"));
    let entries = push_oci_layout(registry, &repo, &layout).await.unwrap();
    let image = entries
        .iter()
        .find(|e| {
            e.annotations
                .get("kind")
                .is_some_and(|k| k.ends_with("/image") || k.ends_with("/imageIndex"))
        })
        .unwrap()
        .digest
        .clone();
    let atts = entries
        .iter()
        .find(|e| {
            e.annotations
                .get("kind")
                .is_some_and(|k| k.ends_with("/atts"))
        })
        .unwrap();
    let raw = client
        .get_manifest(
            &registry.host,
            &repo,
            &Reference::Digest(atts.digest.clone()),
        )
        .await
        .unwrap()
        .unwrap();
    let tag = Reference::Tag(image.cosign_tag("att"));
    client
        .put_manifest(&registry.host, &repo, &tag, &raw)
        .await
        .unwrap();
    let reference: ImageRef = format!("{}/slsa/example-package@{image}", registry.host.as_str())
        .parse()
        .unwrap();
    (reference, image)
}

#[tokio::test]
async fn slsa_generator_keyless_attestations_verify_for_every_rekor_kind() {
    let registry = TestRegistry::start().await.unwrap();
    let client = TestRegistry::client_for(&[&registry]).unwrap();
    for version in ["v1.4.0", "v1.10.0", "v2.1.0"] {
        let (image, digest) = serve(&registry, version).await;
        let keys: Arc<[TrustedKey]> = Arc::from(Vec::new());
        let verifier = AttestationVerifier::new(keys.clone(), client.clone())
            .with_keyless(trust(&format!("{}v.*", regex_escape(GENERATOR))));
        let (evidence, items) = verifier.collect(&image, &digest).await;
        assert_eq!(evidence.error, None, "{version}");
        assert_eq!(evidence.rejected, [], "{version}");
        assert_eq!(evidence.verified, 1, "{version}");
        assert_eq!(
            evidence.predicate_types,
            ["https://slsa.dev/provenance/v0.2"],
            "{version}"
        );
        let accepted = &evidence.accepted[0];
        assert_eq!(accepted.key_ids, ["slsa-generator"]);
        let signer = accepted.signer.as_ref().unwrap();
        assert_eq!(signer.issuer.as_deref(), Some(GITHUB_ACTIONS));
        assert_eq!(signer.subject, format!("{GENERATOR}{version}"));
        assert_eq!(
            items.provenance.len(),
            1,
            "{version}: the SLSA predicate is parsed"
        );

        // Another identity: rejected with the reason, no items.
        let wrong = AttestationVerifier::new(keys.clone(), client.clone())
            .with_keyless(trust("https://github.com/acme/.*"));
        let (evidence, items) = wrong.collect(&image, &digest).await;
        assert_eq!(evidence.verified, 0, "{version}");
        assert!(
            evidence.rejected[0].reason.contains("no identity accepts"),
            "{version}: {:?}",
            evidence.rejected
        );
        assert!(items.provenance.is_empty());

        // Without keyless trust the keyless layer is never taken for a key-signed one.
        let keyed = AttestationVerifier::new(keys, client.clone());
        let (evidence, _) = keyed.collect(&image, &digest).await;
        assert_eq!(evidence.verified, 0);
        assert!(
            evidence.rejected[0].reason.contains("keyless"),
            "{:?}",
            evidence.rejected
        );
    }
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if ".+*?()|[]{}^$\\".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}
