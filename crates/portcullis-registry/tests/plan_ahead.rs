//! A copy plan read ahead (`plan_copy`) and a copy started from it (`copy_image_planned`),
//! against real registries: a re-copy's plan says it writes nothing, and the copy from it
//! sends no request at all; a first copy's plan does not, and the copy from it puts the
//! image; a plan read for another copy is not used.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::collections::HashMap;

use portcullis_core::{ImageRef, Reference};
use portcullis_registry::testing::{FaultPlan, FaultProxy};
use portcullis_registry::{CopyPlan, RegistryClient, copy_image, copy_image_planned, plan_copy};
use portcullis_testkit::{TestKey, sign_image};
use support::{push_image, repo, tag};

#[tokio::test]
async fn a_copy_from_a_plan_read_ahead_sends_only_what_the_plan_left_to_do() {
    let (src, dst, seed) = support::two_registries().await;
    let image = push_image(&seed, &src.host, &repo("team/app"), 2, "amd64").await;
    let digest = image.manifest.digest.clone();
    let key = TestKey::generate().unwrap();
    sign_image(src.host.as_str(), "team/app", digest.as_str(), &key)
        .await
        .unwrap();
    // Every request to either registry goes through a counting proxy.
    let src_proxy = FaultProxy::start(&src.host, FaultPlan::none())
        .await
        .unwrap();
    let dst_proxy = FaultProxy::start(&dst.host, FaultPlan::none())
        .await
        .unwrap();
    let client = RegistryClient::new(HashMap::from([
        (src_proxy.host.clone(), src.auth_config()),
        (dst_proxy.host.clone(), dst.auth_config()),
    ]))
    .unwrap();
    let plan = CopyPlan {
        source: ImageRef {
            registry: src_proxy.host.clone(),
            repository: repo("team/app"),
            reference: Reference::Digest(digest.clone()),
        },
        dest_registry: dst_proxy.host.clone(),
        dest_repo: repo("prod/app"),
        dest_tag: Some(tag("v1")),
        options: Default::default(),
    };
    let sent = || src_proxy.requests() + dst_proxy.requests();

    // First copy: the plan finds nothing at the destination, and the copy from it puts the
    // image and its signature without reading the source's manifests again.
    let ahead = plan_copy(&client, &plan).await.unwrap();
    assert!(!ahead.writes_nothing());
    let ahead = ahead
        .fresh_for(&plan)
        .expect("fresh, and read for this plan");
    let src_before = src_proxy.requests();
    let first = copy_image_planned(&client, &plan, Some(ahead), &|_| {})
        .await
        .unwrap();
    assert!(first.signature_copied);
    assert_eq!(first.manifests_copied, 2, "the image and its .sig");
    assert_eq!(
        src_proxy.requests() - src_before,
        first.blobs_copied,
        "only blobs are read from the source: its manifests came with the plan"
    );

    // Re-copy: the plan says there is nothing to do, and the copy from it asks nothing.
    let ahead = plan_copy(&client, &plan).await.unwrap();
    assert!(ahead.writes_nothing());
    let before = sent();
    let again = copy_image_planned(&client, &plan, Some(ahead), &|_| {})
        .await
        .unwrap();
    assert_eq!(sent() - before, 0);
    assert!(again.signature_copied);
    assert_eq!(again.manifests_copied + again.blobs_copied, 0);

    // A plan read for another copy (another tag) is neither fresh for this one nor used.
    let mut other = plan.clone();
    other.dest_tag = Some(tag("v2"));
    let theirs = plan_copy(&client, &other).await.unwrap();
    assert!(!theirs.writes_nothing(), "v2 is not there yet");
    let theirs = theirs.fresh_for(&other).unwrap();
    assert!(
        plan_copy(&client, &other)
            .await
            .unwrap()
            .fresh_for(&plan)
            .is_none()
    );
    let before = dst_proxy.requests();
    copy_image_planned(&client, &plan, Some(theirs), &|_| {})
        .await
        .unwrap();
    assert!(
        dst_proxy.requests() - before >= 2,
        "the copy read its own plan: the tag and .sig looked up"
    );
    let v2 = ImageRef {
        registry: dst_proxy.host.clone(),
        repository: repo("prod/app"),
        reference: Reference::Tag(tag("v2")),
    };
    assert!(
        client.resolve(&v2).await.is_err(),
        "nothing of v2's plan was written"
    );
    // The same plan from `copy_image` agrees: still nothing to write.
    let plain = copy_image(&client, &plan).await.unwrap();
    assert_eq!(plain.manifests_copied, 0);
}
