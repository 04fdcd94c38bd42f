//! Round trip against a real `docker-registry`: push an image and an index,
//! sign the image in cosign format, and verify the signature with sigstore's
//! own verifiers, reading everything back through an independent oci-client.

use oci_client::{
    Reference,
    manifest::{OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE},
    secrets::RegistryAuth,
};
use portcullis_registry::testing::TestRegistry;
use portcullis_testkit::{
    TestKey, layer::sha256_digest, manifest_digest, push::oci_client_for, push_index,
    push_random_image, sign::SIGNATURE_ANNOTATION, sign::SIMPLE_SIGNING_MEDIA_TYPE,
    sign::cosign_client_for, sign_image, signature_tag,
};
use serde_json::Value;
use sigstore::{
    cosign::{
        CosignCapabilities as _, SignatureLayer,
        simple_signing::SimpleSigning,
        verification_constraint::{PublicKeyVerifier, VerificationConstraintVec},
        verify_constraints,
    },
    crypto::SigningScheme,
    registry::{Auth, OciReference},
};

type TestResult<T> = Result<T, Box<dyn std::error::Error>>;

const ACCEPT: &[&str] = &[OCI_IMAGE_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE];

/// Fetches a manifest (by tag or digest) and its digest through oci-client.
async fn fetch_manifest(
    registry: &str,
    repo: &str,
    reference: &str,
) -> TestResult<(Value, String)> {
    let client = oci_client_for(registry);
    let r = portcullis_testkit::push::reference(registry, repo, reference)?;
    let (body, digest) = client
        .pull_manifest_raw(&r, &RegistryAuth::Anonymous, ACCEPT)
        .await?;
    assert_eq!(
        sha256_digest(&body),
        digest,
        "registry digest matches the stored bytes"
    );
    Ok((serde_json::from_slice(&body)?, digest))
}

/// Fetches a blob of `registry/repo` by digest.
async fn fetch_blob(registry: &str, repo: &str, digest: &str, size: i64) -> TestResult<Vec<u8>> {
    let client = oci_client_for(registry);
    client
        .store_auth_if_needed(registry, &RegistryAuth::Anonymous)
        .await;
    let r: Reference = format!("{registry}/{repo}@{digest}").parse()?;
    let descriptor = oci_client::manifest::OciDescriptor {
        digest: digest.to_owned(),
        size,
        ..Default::default()
    };
    let mut out = Vec::new();
    client.pull_blob(&r, &descriptor, &mut out).await?;
    Ok(out)
}

/// Rebuilds the signature layer from the `.sig` manifest the way sigstore does
/// for a key-signed (no certificate, no bundle) cosign signature.
async fn fetch_signature_layer(
    registry: &str,
    repo: &str,
    digest: &str,
) -> TestResult<SignatureLayer> {
    let (manifest, _) = fetch_manifest(registry, repo, &signature_tag(digest)).await?;
    let layers = manifest["layers"].as_array().ok_or("no layers")?;
    assert_eq!(layers.len(), 1);
    let layer = &layers[0];
    assert_eq!(layer["mediaType"], SIMPLE_SIGNING_MEDIA_TYPE);
    let layer_digest = layer["digest"].as_str().ok_or("no digest")?;
    let size = layer["size"].as_i64().ok_or("no size")?;
    let raw = fetch_blob(registry, repo, layer_digest, size).await?;
    let signature = layer["annotations"][SIGNATURE_ANNOTATION]
        .as_str()
        .ok_or("no signature annotation")?;
    let simple_signing: SimpleSigning = serde_json::from_slice(&raw)?;
    Ok(SignatureLayer {
        simple_signing,
        oci_digest: layer_digest.to_owned(),
        certificate_signature: None,
        bundle: None,
        signature: Some(signature.to_owned()),
        raw_data: raw,
    })
}

fn verifier(key: &TestKey) -> TestResult<VerificationConstraintVec> {
    let v = PublicKeyVerifier::new(
        key.public_pem.as_bytes(),
        &SigningScheme::ECDSA_P256_SHA256_ASN1,
    )?;
    Ok(vec![Box::new(v)])
}

#[tokio::test]
async fn pushed_image_is_a_well_formed_oci_image() {
    let registry = TestRegistry::start().await.expect("registry starts");
    let addr = registry.host.as_str();

    let digest = push_random_image(addr, "demo/app", "v1", 3, 1000)
        .await
        .expect("push");
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    assert_eq!(
        manifest_digest(addr, "demo/app", "v1").await.expect("head"),
        Some(digest.clone())
    );
    assert_eq!(
        manifest_digest(addr, "demo/app", &digest)
            .await
            .expect("head"),
        Some(digest.clone())
    );

    let (manifest, fetched) = fetch_manifest(addr, "demo/app", "v1")
        .await
        .expect("manifest");
    assert_eq!(fetched, digest);
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], OCI_IMAGE_MEDIA_TYPE);
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 3);
    for layer in layers {
        assert_eq!(layer["mediaType"], "application/vnd.oci.image.layer.v1.tar");
        assert_eq!(layer["size"], 512 + 1024 + 1024);
    }

    let config_desc = &manifest["config"];
    assert_eq!(
        config_desc["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let config = fetch_blob(
        addr,
        "demo/app",
        config_desc["digest"].as_str().expect("digest"),
        config_desc["size"].as_i64().expect("size"),
    )
    .await
    .expect("config blob");
    let config: Value = serde_json::from_slice(&config).expect("config json");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["rootfs"]["type"], "layers");
    let diff_ids: Vec<&Value> = layers.iter().map(|l| &l["digest"]).collect();
    let config_diff_ids: Vec<&Value> = config["rootfs"]["diff_ids"]
        .as_array()
        .expect("diff_ids")
        .iter()
        .collect();
    assert_eq!(config_diff_ids, diff_ids);

    // A second push of the same shape gives a different image: layers are random.
    let other = push_random_image(addr, "demo/app", "v2", 3, 1000)
        .await
        .expect("push");
    assert_ne!(other, digest);
}

#[tokio::test]
async fn missing_manifests_are_none_not_errors() {
    let registry = TestRegistry::start().await.expect("registry starts");
    let addr = registry.host.as_str();
    push_random_image(addr, "demo/app", "v1", 1, 10)
        .await
        .expect("push");

    assert_eq!(
        manifest_digest(addr, "demo/app", "nope")
            .await
            .expect("head"),
        None
    );
    assert_eq!(
        manifest_digest(addr, "never/pushed", "v1")
            .await
            .expect("head"),
        None
    );
    let absent = format!("sha256:{}", "0".repeat(64));
    assert_eq!(
        manifest_digest(addr, "demo/app", &absent)
            .await
            .expect("head"),
        None
    );
}

#[tokio::test]
async fn pushed_index_references_one_image_per_platform() {
    let registry = TestRegistry::start().await.expect("registry starts");
    let addr = registry.host.as_str();

    let platforms = [("linux", "amd64"), ("linux", "arm64")];
    let digest = push_index(addr, "demo/multi", "v1", &platforms)
        .await
        .expect("push index");
    assert_eq!(
        manifest_digest(addr, "demo/multi", "v1")
            .await
            .expect("head"),
        Some(digest.clone())
    );

    let (index, _) = fetch_manifest(addr, "demo/multi", "v1")
        .await
        .expect("index");
    assert_eq!(index["mediaType"], OCI_IMAGE_INDEX_MEDIA_TYPE);
    let entries = index["manifests"].as_array().expect("manifests");
    assert_eq!(entries.len(), 2);
    for (entry, (os, arch)) in entries.iter().zip(platforms) {
        assert_eq!(entry["platform"]["os"], os);
        assert_eq!(entry["platform"]["architecture"], arch);
        let child = entry["digest"].as_str().expect("digest");
        let (manifest, fetched) = fetch_manifest(addr, "demo/multi", child)
            .await
            .expect("child");
        assert_eq!(fetched, child);
        assert_eq!(manifest["layers"].as_array().expect("layers").len(), 2);
        let config_desc = &manifest["config"];
        let config = fetch_blob(
            addr,
            "demo/multi",
            config_desc["digest"].as_str().expect("digest"),
            config_desc["size"].as_i64().expect("size"),
        )
        .await
        .expect("config");
        let config: Value = serde_json::from_slice(&config).expect("json");
        assert_eq!(config["os"], os);
        assert_eq!(config["architecture"], arch);
    }
}

#[tokio::test]
async fn signature_verifies_with_signing_key_only() {
    let registry = TestRegistry::start().await.expect("registry starts");
    let addr = registry.host.as_str();
    let key = TestKey::generate_with_password("pw").expect("key");
    let stranger = TestKey::generate().expect("other key");

    let digest = push_random_image(addr, "demo/signed", "v1", 2, 100)
        .await
        .expect("push");
    assert_eq!(
        manifest_digest(addr, "demo/signed", &signature_tag(&digest))
            .await
            .expect("head"),
        None,
        "unsigned at first"
    );
    sign_image(addr, "demo/signed", &digest, &key)
        .await
        .expect("sign");

    let layer = fetch_signature_layer(addr, "demo/signed", &digest)
        .await
        .expect("sig layer");
    let payload: Value = serde_json::from_slice(&layer.raw_data).expect("payload");
    assert_eq!(
        payload["critical"]["type"],
        "cosign container image signature"
    );
    assert_eq!(
        payload["critical"]["image"]["docker-manifest-digest"],
        digest
    );
    assert_eq!(
        payload["critical"]["identity"]["docker-reference"],
        format!("{addr}/demo/signed")
    );
    assert_eq!(payload["optional"], Value::Null);

    let layers = [layer];
    verify_constraints(&layers, verifier(&key).expect("verifier").iter())
        .expect("own key verifies");
    assert!(
        verify_constraints(&layers, verifier(&stranger).expect("verifier").iter()).is_err(),
        "another key must not verify"
    );
}

#[tokio::test]
async fn sigstore_client_finds_and_trusts_the_signature() {
    let registry = TestRegistry::start().await.expect("registry starts");
    let addr = registry.host.as_str();
    let key = TestKey::generate().expect("key");
    let stranger = TestKey::generate().expect("other key");

    let digest = push_random_image(addr, "demo/app", "v1", 1, 100)
        .await
        .expect("push");
    sign_image(addr, "demo/app", &digest, &key)
        .await
        .expect("sign");

    let mut client = cosign_client_for(addr).expect("client");
    let image: OciReference = format!("{addr}/demo/app:v1").parse().expect("ref");
    let layers = client
        .trusted_signature_layers(&Auth::Anonymous, &image)
        .await
        .expect("signature layers");
    assert_eq!(layers.len(), 1);
    assert_eq!(
        layers[0]
            .simple_signing
            .critical
            .image
            .docker_manifest_digest,
        digest
    );
    verify_constraints(&layers, verifier(&key).expect("verifier").iter()).expect("verifies");
    assert!(verify_constraints(&layers, verifier(&stranger).expect("verifier").iter()).is_err());

    // Signing a different image does not make this one's signature valid for it.
    let other = push_random_image(addr, "demo/app", "v2", 1, 100)
        .await
        .expect("push");
    let other_ref: OciReference = format!("{addr}/demo/app:v2").parse().expect("ref");
    let other_layers = client
        .trusted_signature_layers(&Auth::Anonymous, &other_ref)
        .await
        .expect("lookup succeeds");
    assert!(
        other_layers.is_empty(),
        "unsigned image {other} has no signature layers"
    );
}

#[tokio::test]
async fn loaded_key_signs_like_the_generated_one() {
    let registry = TestRegistry::start().await.expect("registry starts");
    let addr = registry.host.as_str();
    let key = TestKey::generate_with_password("hunter2").expect("key");
    let loaded = TestKey::load(&key.private_pem, "hunter2").expect("load");

    let digest = push_random_image(addr, "demo/app", "v1", 1, 100)
        .await
        .expect("push");
    sign_image(addr, "demo/app", &digest, &loaded)
        .await
        .expect("sign");
    let layer = fetch_signature_layer(addr, "demo/app", &digest)
        .await
        .expect("sig layer");
    verify_constraints(&[layer], verifier(&key).expect("verifier").iter()).expect("verifies");
}

#[tokio::test]
async fn pushing_to_a_dead_registry_fails() {
    let addr = format!("127.0.0.1:{}", portcullis_testkit::free_port());
    assert!(
        push_random_image(&addr, "demo/app", "v1", 1, 10)
            .await
            .is_err()
    );
    assert!(
        push_index(&addr, "demo/app", "v1", &[("linux", "amd64")])
            .await
            .is_err()
    );
    assert!(manifest_digest(&addr, "demo/app", "v1").await.is_err());
}

#[tokio::test]
async fn invalid_arguments_are_rejected() {
    let registry = TestRegistry::start().await.expect("registry starts");
    let addr = registry.host.as_str();
    assert!(
        push_random_image(addr, "demo/app", "v1", 0, 10)
            .await
            .is_err()
    );
    assert!(push_index(addr, "demo/app", "v1", &[]).await.is_err());
    assert!(
        push_random_image(addr, "Bad Repo", "v1", 1, 10)
            .await
            .is_err()
    );
}
