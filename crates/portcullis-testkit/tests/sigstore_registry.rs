//! Pushing bundles and keyless attestations to a real `docker-registry`, read back with
//! portcullis-registry's referrers lister and oci-client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use oci_client::manifest::{OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use portcullis_core::{Digest, RepoPath};
use portcullis_registry::testing::TestRegistry;
use portcullis_testkit::sigstore::{AttKind, BUNDLE_V03_MEDIA_TYPE, PrivateSigstore, SignOptions};
use portcullis_testkit::{LeafSpec, SanSubject, push::oci_client_for, push_random_image};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

async fn manifest(registry: &str, repo: &str, reference: &str) -> Value {
    let client = oci_client_for(registry);
    let r = portcullis_testkit::push::reference(registry, repo, reference).unwrap();
    let (body, _) = client
        .pull_manifest_raw(
            &r,
            &RegistryAuth::Anonymous,
            &[OCI_IMAGE_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE],
        )
        .await
        .unwrap();
    serde_json::from_slice(&body).unwrap()
}

async fn blob(registry: &str, repo: &str, digest: &str) -> Vec<u8> {
    let client = oci_client_for(registry);
    client
        .store_auth_if_needed(registry, &RegistryAuth::Anonymous)
        .await;
    let r: oci_client::Reference = format!("{registry}/{repo}@{digest}").parse().unwrap();
    let mut out = Vec::new();
    client.pull_blob(&r, digest, &mut out).await.unwrap();
    out
}

fn leaf(sigstore: &PrivateSigstore) -> portcullis_testkit::keyless::LeafCert {
    sigstore
        .issue(&LeafSpec::new(
            SanSubject::Email("alice@example.com".into()),
            "https://accounts.google.com",
        ))
        .unwrap()
}

#[tokio::test]
async fn pushed_bundle_is_listed_as_a_referrer_of_the_image() {
    let registry = TestRegistry::start().await.expect("registry starts");
    let addr = registry.host.as_str();
    let digest = push_random_image(addr, "demo/app", "v1", 1, 100)
        .await
        .unwrap();
    let sigstore = PrivateSigstore::new().unwrap();
    let bundle = sigstore
        .sign_image(&leaf(&sigstore), &digest, &SignOptions::default())
        .unwrap()
        .to_vec()
        .unwrap();
    let pushed = portcullis_testkit::push_bundle_referrer(
        addr,
        "demo/app",
        &digest,
        &bundle,
        BUNDLE_V03_MEDIA_TYPE,
        true,
    )
    .await
    .unwrap();

    let client = TestRegistry::client_for(&[&registry]).unwrap();
    let repo: RepoPath = "demo/app".parse().unwrap();
    let subject: Digest = digest.parse().unwrap();
    let listed = client
        .referrers(&registry.host, &repo, &subject, Some(BUNDLE_V03_MEDIA_TYPE))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].digest.as_str(), pushed);
    assert_eq!(
        listed[0].artifact_type.as_deref(),
        Some(BUNDLE_V03_MEDIA_TYPE)
    );
    assert!(
        client
            .referrers(&registry.host, &repo, &subject, Some("other/type"))
            .await
            .unwrap()
            .is_empty()
    );

    let referrer = manifest(addr, "demo/app", &pushed).await;
    assert_eq!(referrer["artifactType"], BUNDLE_V03_MEDIA_TYPE);
    assert_eq!(
        referrer["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert_eq!(referrer["subject"]["digest"], digest);
    assert_eq!(
        referrer["annotations"]["dev.sigstore.bundle.predicateType"],
        "https://sigstore.dev/cosign/sign/v1"
    );
    let layer = &referrer["layers"][0];
    assert_eq!(layer["mediaType"], BUNDLE_V03_MEDIA_TYPE);
    assert_eq!(
        blob(addr, "demo/app", layer["digest"].as_str().unwrap()).await,
        bundle
    );
    assert_eq!(
        blob(
            addr,
            "demo/app",
            referrer["config"]["digest"].as_str().unwrap()
        )
        .await,
        b"{}"
    );
}

#[tokio::test]
async fn keyless_attestation_lands_in_the_att_manifest_bound_to_its_layer() {
    let registry = TestRegistry::start().await.expect("registry starts");
    let addr = registry.host.as_str();
    let digest = push_random_image(addr, "demo/app", "v1", 1, 100)
        .await
        .unwrap();
    let sigstore = PrivateSigstore::new().unwrap();
    let leaf = leaf(&sigstore);
    for kind in [AttKind::IntotoV001, AttKind::DsseV001] {
        let att = sigstore
            .keyless_attestation(
                &leaf,
                &digest,
                "https://slsa.dev/provenance/v0.2",
                &json!({}),
                kind,
                1_700_000_000,
            )
            .unwrap();
        portcullis_testkit::push_keyless_attestation(addr, "demo/app", &digest, &att)
            .await
            .unwrap();
    }
    let att = manifest(
        addr,
        "demo/app",
        &format!("{}.att", digest.replace(':', "-")),
    )
    .await;
    let layers = att["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    for (layer, hash_path) in layers
        .iter()
        .zip(["/spec/content/hash/value", "/spec/envelopeHash/value"])
    {
        assert_eq!(layer["mediaType"], "application/vnd.dsse.envelope.v1+json");
        let notes = &layer["annotations"];
        assert_eq!(notes["dev.cosignproject.cosign/signature"], "");
        assert_eq!(notes["dev.sigstore.cosign/certificate"], leaf.cert_pem);
        assert!(
            notes["dev.sigstore.cosign/chain"]
                .as_str()
                .unwrap()
                .contains("BEGIN CERTIFICATE")
        );
        let bundle: Value =
            serde_json::from_str(notes["dev.sigstore.cosign/bundle"].as_str().unwrap()).unwrap();
        let body: Value = serde_json::from_slice(
            &B64.decode(bundle["Payload"]["body"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        let layer_bytes = blob(addr, "demo/app", layer["digest"].as_str().unwrap()).await;
        assert_eq!(
            body.pointer(hash_path).unwrap(),
            &json!(hex::encode(Sha256::digest(&layer_bytes)))
        );
    }
}
