//! Integration tests of the copy engine against two real Distribution registries
//! (`testing::TestRegistry`): digest-preserving copies of an image and a multi-platform
//! index, tag-last semantics, re-copy skipping, signature artifacts and the error paths.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use portcullis_core::{Digest, ImageRef, Reference};
use portcullis_registry::{Error, OCI_INDEX, OCI_MANIFEST, RawManifest, Role, copy_image};
use serde_json::json;
use support::{Pushed, plan, push_image, repo, tag, to_prod_v1};

#[tokio::test]
async fn copies_image_by_digest_tags_it_last_and_recopy_skips_every_blob() {
    let (src, dst, client) = support::two_registries().await;
    let image = push_image(&client, &src.host, &repo("team/app"), 3, "amd64").await;
    let digest = image.manifest.digest.clone();

    let report = copy_image(&client, &to_prod_v1(&src, &digest, &dst))
        .await
        .unwrap();
    assert_eq!(report.digest, digest);
    assert_eq!(report.manifests_copied, 1);
    assert_eq!(report.blobs_copied, 4);
    assert_eq!(report.blobs_skipped, 0);
    assert_eq!(report.bytes_copied, image.bytes_total());
    assert!(!report.signature_copied);
    assert!(!report.attestation_copied);

    let copied = client
        .get_manifest(
            &dst.host,
            &repo("prod/app"),
            &Reference::Digest(digest.clone()),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        copied, image.manifest,
        "raw bytes, media type and digest preserved"
    );
    let tagged = ImageRef {
        registry: dst.host.clone(),
        repository: repo("prod/app"),
        reference: Reference::Tag(tag("v1")),
    };
    assert_eq!(client.resolve(&tagged).await.unwrap(), digest);
    for (d, bytes) in &image.blobs {
        assert_eq!(
            &client
                .get_blob_bytes(&dst.host, &repo("prod/app"), d, 1 << 20)
                .await
                .unwrap(),
            bytes
        );
    }

    let again = copy_image(&client, &to_prod_v1(&src, &digest, &dst))
        .await
        .unwrap();
    assert_eq!(
        (again.blobs_copied, again.blobs_skipped, again.bytes_copied),
        (0, 4, 0)
    );
    // The manifest was already there: nothing is put again (one HEAD instead of a HEAD per
    // blob and a PUT).
    assert_eq!(again.manifests_copied, 0);
    assert_eq!(again.digest, digest);

    // Another tag for a digest already there: only the tag is written.
    let elsewhere = copy_image(
        &client,
        &plan(&src, "team/app", &digest, &dst, "prod/app", Some("v2")),
    )
    .await
    .unwrap();
    assert_eq!(elsewhere.manifests_copied, 0);
    let v2 = ImageRef {
        registry: dst.host.clone(),
        repository: repo("prod/app"),
        reference: Reference::Tag(tag("v2")),
    };
    assert_eq!(client.resolve(&v2).await.unwrap(), digest);
}

#[tokio::test]
async fn copying_a_missing_digest_or_a_tag_source_fails_cleanly() {
    let (src, dst, client) = support::two_registries().await;
    let missing = Digest::sha256_of(b"no such manifest");
    let err = copy_image(&client, &to_prod_v1(&src, &missing, &dst))
        .await
        .unwrap_err();
    assert!(matches!(err.inner(), Error::NotFound { .. }), "{err:?}");
    assert_eq!(err.role(), Some(Role::Source), "{err}");
    assert!(
        err.to_string().starts_with("source: not found: manifest"),
        "{err}"
    );
    let tagged = ImageRef {
        registry: dst.host.clone(),
        repository: repo("prod/app"),
        reference: Reference::Tag(tag("v1")),
    };
    assert!(
        matches!(client.resolve(&tagged).await, Err(Error::NotFound { .. })),
        "no tag was written"
    );

    let mut by_tag = plan(&src, "team/app", &missing, &dst, "prod/app", None);
    by_tag.source.reference = Reference::Tag(tag("latest"));
    assert!(matches!(
        copy_image(&client, &by_tag).await,
        Err(Error::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn copies_a_two_platform_index_whole_with_the_same_digest() {
    let (src, dst, client) = support::two_registries().await;
    let r = repo("team/multi");
    let amd = push_image(&client, &src.host, &r, 2, "amd64").await;
    let arm = push_image(&client, &src.host, &r, 2, "arm64").await;
    let child = |p: &Pushed, arch: &str| {
        json!({"mediaType": OCI_MANIFEST, "digest": p.manifest.digest, "size": p.manifest.bytes.len(),
               "platform": {"architecture": arch, "os": "linux"}})
    };
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child(&amd, "amd64"), child(&arm, "arm64")]});
    let index = RawManifest::new(OCI_INDEX, serde_json::to_vec(&index).unwrap());
    client
        .put_manifest(
            &src.host,
            &r,
            &Reference::Digest(index.digest.clone()),
            &index,
        )
        .await
        .unwrap();

    let report = copy_image(
        &client,
        &plan(
            &src,
            "team/multi",
            &index.digest,
            &dst,
            "prod/multi",
            Some("1.0"),
        ),
    )
    .await
    .unwrap();
    assert_eq!(report.digest, index.digest);
    assert_eq!(report.manifests_copied, 3);
    assert_eq!(report.blobs_copied, 6);
    assert_eq!(report.bytes_copied, amd.bytes_total() + arm.bytes_total());

    let dr = repo("prod/multi");
    let copied = client
        .get_manifest(&dst.host, &dr, &Reference::Digest(index.digest.clone()))
        .await
        .unwrap();
    assert_eq!(copied, Some(index.clone()));
    for p in [&amd, &arm] {
        let child = client
            .get_manifest(
                &dst.host,
                &dr,
                &Reference::Digest(p.manifest.digest.clone()),
            )
            .await
            .unwrap();
        assert_eq!(child, Some(p.manifest.clone()));
    }
    let tagged = ImageRef {
        registry: dst.host.clone(),
        repository: dr,
        reference: Reference::Tag(tag("1.0")),
    };
    assert_eq!(client.resolve(&tagged).await.unwrap(), index.digest);
}

#[tokio::test]
async fn copies_the_cosign_signature_artifact_with_the_image() {
    let (src, dst, client) = support::two_registries().await;
    let r = repo("team/app");
    let image = push_image(&client, &src.host, &r, 1, "amd64").await;
    let sig_tag = Reference::Tag(image.manifest.digest.cosign_tag("sig"));
    let payload = client
        .push_blob_bytes(&src.host, &r, b"{\"critical\":{}}".to_vec())
        .await
        .unwrap();
    let config = client
        .push_blob_bytes(&src.host, &r, b"{}".to_vec())
        .await
        .unwrap();
    let sig = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": payload, "size": 15,
                    "annotations": {"dev.cosignproject.cosign/signature": "MEUC"}}]});
    let sig = RawManifest::new(OCI_MANIFEST, serde_json::to_vec(&sig).unwrap());
    client
        .put_manifest(&src.host, &r, &sig_tag, &sig)
        .await
        .unwrap();

    let report = copy_image(&client, &to_prod_v1(&src, &image.manifest.digest, &dst))
        .await
        .unwrap();
    assert!(report.signature_copied);
    assert!(!report.attestation_copied);
    assert_eq!(report.manifests_copied, 2);
    assert_eq!(report.blobs_copied, 4);
    let copied = client
        .get_manifest(&dst.host, &repo("prod/app"), &sig_tag)
        .await
        .unwrap();
    assert_eq!(copied, Some(sig));
}

#[tokio::test]
async fn copy_without_a_tag_confirms_the_digest_at_the_destination() {
    let (src, dst, client) = support::two_registries().await;
    let pushed = push_image(&client, &src.host, &repo("team/untagged"), 1, "amd64").await;
    let digest = pushed.manifest.digest.clone();

    let report = copy_image(
        &client,
        &plan(&src, "team/untagged", &digest, &dst, "prod/untagged", None),
    )
    .await
    .unwrap();
    assert_eq!(report.digest, digest);
    assert_eq!(report.manifests_copied, 1);
    assert_eq!(report.blobs_copied, 2);
    let at_dest = ImageRef {
        registry: dst.host.clone(),
        repository: repo("prod/untagged"),
        reference: Reference::Digest(digest.clone()),
    };
    assert_eq!(client.resolve(&at_dest).await.unwrap(), digest);
}

#[tokio::test]
async fn progress_is_reported_after_every_blob_and_manifest() {
    let (src, dst, client) = support::two_registries().await;
    let image = push_image(&client, &src.host, &repo("team/progress"), 3, "amd64").await;
    let seen = std::sync::Mutex::new(Vec::new());
    let record = |r: &portcullis_registry::CopyReport| seen.lock().unwrap().push(r.clone());
    let report = portcullis_registry::copy_image_with_progress(
        &client,
        &plan(
            &src,
            "team/progress",
            &image.manifest.digest,
            &dst,
            "prod/progress",
            Some("v1"),
        ),
        &record,
    )
    .await
    .unwrap();
    let seen = seen.into_inner().unwrap();
    // Config + 3 layers, then the manifest.
    assert_eq!(seen.len(), 5);
    let blobs: Vec<usize> = seen.iter().map(|r| r.blobs_copied).collect();
    assert_eq!(blobs, [1, 2, 3, 4, 4]);
    assert!(
        seen.windows(2)
            .all(|w| w[0].bytes_copied <= w[1].bytes_copied)
    );
    assert_eq!(seen.last(), Some(&report));
}
