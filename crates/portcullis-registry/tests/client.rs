//! Integration tests of the registry client operations against a real Distribution
//! registry: small blob reads, manifest checks, and basic auth via htpasswd.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use portcullis_core::{Digest, Reference};
use portcullis_registry::testing::TestRegistry;
use portcullis_registry::{
    Error, OCI_MANIFEST, RawManifest, RegistryAuthConfig, RegistryClient, copy_image,
};
use support::{push_image, repo, tag, to_prod_v1};

#[tokio::test]
async fn small_blob_reads_and_manifest_puts_check_sizes_and_digests() {
    let reg = TestRegistry::start().await.unwrap();
    let client = TestRegistry::client_for(&[&reg]).unwrap();
    let r = repo("team/app");
    let d = client
        .push_blob_bytes(&reg.host, &r, vec![7u8; 100])
        .await
        .unwrap();
    assert_eq!(
        client
            .push_blob_bytes(&reg.host, &r, vec![7u8; 100])
            .await
            .unwrap(),
        d,
        "idempotent"
    );
    assert!(client.blob_exists(&reg.host, &r, &d).await.unwrap());
    assert!(
        !client
            .blob_exists(&reg.host, &r, &Digest::sha256_of(b"x"))
            .await
            .unwrap()
    );
    assert!(matches!(
        client.get_blob_bytes(&reg.host, &r, &d, 99).await,
        Err(Error::TooLarge { limit: 99, .. })
    ));
    let missing = client
        .get_blob_bytes(&reg.host, &r, &Digest::sha256_of(b"x"), 99)
        .await;
    assert!(
        matches!(missing, Err(Error::NotFound { .. })),
        "{missing:?}"
    );
    let m = RawManifest::new(OCI_MANIFEST, b"{}".to_vec());
    let wrong = Reference::Digest(Digest::sha256_of(b"other"));
    assert!(matches!(
        client.put_manifest(&reg.host, &r, &wrong, &m).await,
        Err(Error::DigestMismatch { .. })
    ));
    assert_eq!(
        client
            .get_manifest(&reg.host, &r, &Reference::Tag(tag("nope")))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn basic_auth_registry_refuses_anonymous_pushes_and_accepts_credentials() {
    let src = TestRegistry::start().await.unwrap();
    let dst = TestRegistry::start_with_htpasswd("ci", "s3cret-pass")
        .await
        .unwrap();
    let anonymous = RegistryClient::new(
        [(
            dst.host.clone(),
            RegistryAuthConfig {
                insecure: true,
                username: None,
                password: None,
                ..Default::default()
            },
        )]
        .into(),
    )
    .unwrap();
    let err = anonymous
        .push_blob_bytes(&dst.host, &repo("prod/app"), b"x".to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("s3cret-pass"));

    let client = TestRegistry::client_for(&[&src, &dst]).unwrap();
    let image = push_image(&client, &src.host, &repo("team/app"), 1, "amd64").await;
    let report = copy_image(&client, &to_prod_v1(&src, &image.manifest.digest, &dst))
        .await
        .unwrap();
    assert_eq!(report.blobs_copied, 2);
}
