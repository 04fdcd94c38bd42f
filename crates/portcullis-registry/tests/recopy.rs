//! A re-copy of an unchanged signed image: the destination is asked about the tag (which,
//! naming the root, proves the root is there) and about the one artifact the source has, and
//! nothing is written; a signature added at the source since the last copy is still noticed
//! and copied.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::collections::HashMap;

use portcullis_core::{ImageRef, Reference};
use portcullis_registry::testing::{FaultPlan, FaultProxy};
use portcullis_registry::{CopyPlan, RegistryClient, copy_image};
use portcullis_testkit::{TestKey, sign_image};
use support::{push_image, repo, tag};

#[tokio::test]
async fn a_recopy_of_a_signed_image_asks_two_questions_and_writes_nothing() {
    let (src, dst, seed) = support::two_registries().await;
    let image = push_image(&seed, &src.host, &repo("team/app"), 2, "amd64").await;
    let digest = image.manifest.digest.clone();
    // Counts every request the copy sends to the destination.
    let proxy = FaultProxy::start(&dst.host, FaultPlan::none())
        .await
        .unwrap();
    let client = RegistryClient::new(HashMap::from([
        (src.host.clone(), src.auth_config()),
        (proxy.host.clone(), dst.auth_config()),
    ]))
    .unwrap();
    let plan = CopyPlan {
        source: ImageRef {
            registry: src.host.clone(),
            repository: repo("team/app"),
            reference: Reference::Digest(digest.clone()),
        },
        dest_registry: proxy.host.clone(),
        dest_repo: repo("prod/app"),
        dest_tag: Some(tag("v1")),
        options: Default::default(),
    };
    let first = copy_image(&client, &plan).await.unwrap();
    assert!(!first.signature_copied);
    assert_eq!(first.manifests_copied, 1);

    // Signed after the first copy: the re-copy must bring the signature over.
    let key = TestKey::generate().unwrap();
    sign_image(src.host.as_str(), "team/app", digest.as_str(), &key)
        .await
        .unwrap();
    let signed = copy_image(&client, &plan).await.unwrap();
    assert!(signed.signature_copied);
    assert_eq!(signed.manifests_copied, 1, "only the .sig manifest is new");
    assert_eq!(signed.blobs_copied, 2, "the signature's config and layer");

    let before = proxy.requests();
    let again = copy_image(&client, &plan).await.unwrap();
    assert!(again.signature_copied);
    assert_eq!(again.manifests_copied, 0);
    assert_eq!(again.blobs_copied + again.blobs_mounted, 0);
    assert_eq!(again.bytes_copied, 0);
    assert_eq!(again.blobs_skipped, again.blobs_total);
    // The tag (naming the root) and `.sig`, the only artifact the source has: no root look-up,
    // no look-up of absent artifacts, no blob check, no manifest put.
    assert_eq!(proxy.requests() - before, 2);
    let at_dest = client
        .resolve(&ImageRef {
            registry: proxy.host.clone(),
            repository: repo("prod/app"),
            reference: Reference::Tag(tag("v1")),
        })
        .await
        .unwrap();
    assert_eq!(at_dest, digest);
}

/// A registry that answered the referrers API with 404 is read through the tag schema alone
/// afterwards: one request per listing instead of two.
#[tokio::test]
async fn a_registry_without_the_referrers_api_is_not_asked_again() {
    let (src, _dst, seed) = support::two_registries().await;
    let image = push_image(&seed, &src.host, &repo("team/app"), 1, "amd64").await;
    let proxy = FaultProxy::start(&src.host, FaultPlan::none())
        .await
        .unwrap();
    let client =
        RegistryClient::new(HashMap::from([(proxy.host.clone(), src.auth_config())])).unwrap();
    let digest = &image.manifest.digest;
    let first = client
        .referrers(&proxy.host, &repo("team/app"), digest, None)
        .await
        .unwrap();
    assert!(first.is_empty());
    assert_eq!(
        proxy.requests(),
        2,
        "the API (404) and the tag schema, side by side"
    );
    let again = client
        .referrers(&proxy.host, &repo("team/app"), digest, None)
        .await
        .unwrap();
    assert!(again.is_empty());
    assert_eq!(proxy.requests(), 3, "the tag schema alone");
}
