//! Integration tests of the copy engine's options against real Distribution registries:
//! immutable destination tags, cross-repository mounts within one registry (the declined
//! mount's handling is unit-tested in `blobs.rs`), cosign and OCI 1.1 referrer artifacts travelling with the image (the signature
//! still verifying at the destination), platform subsets of an index, and blob totals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use portcullis_core::{Digest, ImageRef, Reference, RegistryHost, RepoPath};
use portcullis_registry::testing::TestRegistry;
use portcullis_registry::{
    CopyOptions, CopyReport, Error, OCI_INDEX, OCI_MANIFEST, RawManifest, RegistryClient,
    copy_image, copy_image_with_progress, referrers_tag,
};
use portcullis_testkit::{Placement, TestKey, attest, push_index, sign_image};
use serde_json::{Value, json};
use support::{plan, push_image, repo, tag, to_prod_v1};

async fn tag_digest(
    client: &RegistryClient,
    host: &RegistryHost,
    r: &str,
    t: &str,
) -> Option<Digest> {
    let image = ImageRef {
        registry: host.clone(),
        repository: repo(r),
        reference: Reference::Tag(tag(t)),
    };
    match client.resolve(&image).await {
        Ok(d) => Some(d),
        Err(Error::NotFound { .. }) => None,
        Err(e) => panic!("{e}"),
    }
}

async fn manifest_at(
    client: &RegistryClient,
    host: &RegistryHost,
    r: &RepoPath,
    reference: Reference,
) -> Option<RawManifest> {
    client.get_manifest(host, r, &reference).await.unwrap()
}

fn assert_totals_add_up(report: &CopyReport) {
    assert_eq!(
        report.blobs_copied + report.blobs_skipped + report.blobs_mounted,
        report.blobs_total,
        "{report:?}"
    );
}

#[tokio::test]
async fn an_existing_tag_on_another_digest_is_refused_and_nothing_is_written() {
    let (src, dst, client) = support::two_registries().await;
    let r = repo("team/app");
    let first = push_image(&client, &src.host, &r, 1, "amd64").await;
    let second = push_image(&client, &src.host, &r, 2, "amd64").await;
    let (d1, d2) = (&first.manifest.digest, &second.manifest.digest);
    copy_image(
        &client,
        &plan(&src, "team/app", d1, &dst, "prod/app", Some("v1")),
    )
    .await
    .unwrap();

    let err = copy_image(
        &client,
        &plan(&src, "team/app", d2, &dst, "prod/app", Some("v1")),
    )
    .await
    .unwrap_err();
    match &err {
        Error::TagExists { tag: t, current } => {
            assert_eq!(t, &tag("v1"));
            assert_eq!(current, d1);
        }
        other => panic!("expected TagExists, got {other:?}"),
    }
    assert!(err.to_string().contains("v1"), "{err}");
    let dest = repo("prod/app");
    assert!(
        manifest_at(&client, &dst.host, &dest, Reference::Digest(d2.clone()))
            .await
            .is_none()
    );
    // Layers only: the config of both images is the same blob, present since the first copy.
    for (d, _) in &second.blobs[1..] {
        assert!(
            !client.blob_exists(&dst.host, &dest, d).await.unwrap(),
            "blob {d} written"
        );
    }
    assert_eq!(
        tag_digest(&client, &dst.host, "prod/app", "v1")
            .await
            .as_ref(),
        Some(d1)
    );

    // Re-promoting the same digest under the same tag is fine.
    let again = copy_image(
        &client,
        &plan(&src, "team/app", d1, &dst, "prod/app", Some("v1")),
    )
    .await
    .unwrap();
    assert_eq!(again.blobs_copied, 0);

    // Overwrite allowed: the tag moves.
    let mut moving = plan(&src, "team/app", d2, &dst, "prod/app", Some("v1"));
    moving.options.overwrite_tag = true;
    copy_image(&client, &moving).await.unwrap();
    assert_eq!(
        tag_digest(&client, &dst.host, "prod/app", "v1")
            .await
            .as_ref(),
        Some(d2)
    );
}

#[tokio::test]
async fn a_copy_within_one_registry_mounts_every_blob() {
    let reg = TestRegistry::start().await.unwrap();
    let client = TestRegistry::client_for(&[&reg]).unwrap();
    let image = push_image(&client, &reg.host, &repo("team/app"), 3, "amd64").await;
    let digest = image.manifest.digest.clone();
    let mut p = to_prod_v1(&reg, &digest, &reg);
    p.options.blob_concurrency = 1;

    let report = copy_image(&client, &p).await.unwrap();
    assert_eq!(report.blobs_mounted, 4);
    assert_eq!(
        (
            report.blobs_copied,
            report.bytes_copied,
            report.blobs_skipped
        ),
        (0, 0, 0)
    );
    assert_eq!(
        (report.blobs_total, report.bytes_total),
        (4, image.bytes_total())
    );
    assert_totals_add_up(&report);
    assert_eq!(
        tag_digest(&client, &reg.host, "prod/app", "v1").await,
        Some(digest)
    );
    for (d, bytes) in &image.blobs {
        let got = client
            .get_blob_bytes(&reg.host, &repo("prod/app"), d, 1 << 20)
            .await
            .unwrap();
        assert_eq!(&got, bytes);
    }
}

/// Pushes a small cosign `.sbom` manifest for `digest`; returns it.
async fn push_sbom(
    client: &RegistryClient,
    host: &RegistryHost,
    r: &RepoPath,
    digest: &Digest,
) -> RawManifest {
    let sbom = client
        .push_blob_bytes(host, r, b"{\"spdxVersion\":\"SPDX-2.3\"}".to_vec())
        .await
        .unwrap();
    let config = client
        .push_blob_bytes(host, r, b"{}".to_vec())
        .await
        .unwrap();
    let m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": "text/spdx+json", "digest": sbom, "size": 26}]});
    let m = RawManifest::new(OCI_MANIFEST, serde_json::to_vec(&m).unwrap());
    client
        .put_manifest(host, r, &Reference::Tag(digest.cosign_tag("sbom")), &m)
        .await
        .unwrap();
    m
}

/// Verifies the cosign signature of `repo:sha256-<hex>.sig` with `key`, as cosign does:
/// the base64 annotation over the SimpleSigning payload blob, which names `digest`.
async fn verify_signature(
    client: &RegistryClient,
    host: &RegistryHost,
    r: &RepoPath,
    digest: &Digest,
    key: &TestKey,
) {
    let sig = manifest_at(client, host, r, Reference::Tag(digest.cosign_tag("sig")))
        .await
        .unwrap();
    let doc: Value = serde_json::from_slice(&sig.bytes).unwrap();
    let layer = &doc["layers"][0];
    let payload_digest: Digest = layer["digest"].as_str().unwrap().parse().unwrap();
    let payload = client
        .get_blob_bytes(host, r, &payload_digest, 1 << 20)
        .await
        .unwrap();
    let payload_doc: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        payload_doc["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    let signature = layer["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap();
    key.verification_key()
        .unwrap()
        .verify_signature(
            sigstore::crypto::Signature::Base64Encoded(signature.as_bytes()),
            &payload,
        )
        .unwrap();
}

#[tokio::test]
async fn signature_attestations_sbom_and_referrers_travel_and_the_signature_verifies() {
    let (src, dst, client) = support::two_registries().await;
    let (r, dest) = (repo("team/app"), repo("prod/app"));
    let image = push_image(&client, &src.host, &r, 2, "amd64").await;
    let digest = image.manifest.digest.clone();
    let key = TestKey::generate().unwrap();
    let host = src.host.as_str();
    sign_image(host, "team/app", digest.as_str(), &key)
        .await
        .unwrap();
    let predicate = json!({"builder": {"id": "ci"}});
    let slsa = "https://slsa.dev/provenance/v1";
    attest(
        host,
        "team/app",
        digest.as_str(),
        slsa,
        &predicate,
        &[&key],
        Placement::Cosign,
    )
    .await
    .unwrap();
    let referrer: Digest = attest(
        host,
        "team/app",
        digest.as_str(),
        slsa,
        &predicate,
        &[&key],
        Placement::Referrer,
    )
    .await
    .unwrap()
    .parse()
    .unwrap();
    push_sbom(&client, &src.host, &r, &digest).await;

    let seen = std::sync::Mutex::new(Vec::new());
    let record = |rep: &CopyReport| seen.lock().unwrap().push(rep.clone());
    let report = copy_image_with_progress(&client, &to_prod_v1(&src, &digest, &dst), &record)
        .await
        .unwrap();
    assert!(report.signature_copied && report.attestation_copied && report.sbom_copied);
    assert_eq!(report.referrers_copied, 1);
    assert_eq!(report.subset_digest, None);
    // Image, .sig, .att, .sbom, the referrer and the fallback index.
    assert_eq!(report.manifests_copied, 6);
    assert_totals_add_up(&report);
    let seen = seen.into_inner().unwrap();
    assert!(
        seen.iter()
            .all(|p| (p.blobs_total, p.bytes_total) == (report.blobs_total, report.bytes_total))
    );
    assert_eq!(seen.last(), Some(&report));

    for suffix in ["sig", "att", "sbom"] {
        let t = Reference::Tag(digest.cosign_tag(suffix));
        let at_src = manifest_at(&client, &src.host, &r, t.clone()).await;
        assert_eq!(
            manifest_at(&client, &dst.host, &dest, t).await,
            at_src,
            "{suffix}"
        );
    }
    let fallback = Reference::Tag(referrers_tag(&digest).unwrap());
    assert_eq!(
        manifest_at(&client, &dst.host, &dest, fallback.clone()).await,
        manifest_at(&client, &src.host, &r, fallback).await
    );
    let listed = client
        .referrers(&dst.host, &dest, &digest, None)
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|l| &l.digest).collect::<Vec<_>>(),
        [&referrer]
    );
    let copied = manifest_at(
        &client,
        &dst.host,
        &dest,
        Reference::Digest(referrer.clone()),
    )
    .await
    .unwrap();
    let doc: Value = serde_json::from_slice(&copied.bytes).unwrap();
    assert_eq!(doc["subject"]["digest"], digest.as_str());

    verify_signature(&client, &dst.host, &dest, &digest, &key).await;
    assert_eq!(
        tag_digest(&client, &dst.host, "prod/app", "v1").await,
        Some(digest)
    );
}

#[tokio::test]
async fn a_platform_subset_tags_a_new_index_and_the_whole_copy_keeps_the_digest() {
    let (src, dst, client) = support::two_registries().await;
    let platforms = [("linux", "amd64"), ("linux", "arm64")];
    let index: Digest = push_index(src.host.as_str(), "team/multi", "v1", &platforms)
        .await
        .unwrap()
        .parse()
        .unwrap();
    let original = manifest_at(
        &client,
        &src.host,
        &repo("team/multi"),
        Reference::Digest(index.clone()),
    )
    .await
    .unwrap();
    let children: Vec<Value> =
        serde_json::from_slice::<Value>(&original.bytes).unwrap()["manifests"]
            .as_array()
            .unwrap()
            .clone();

    let whole = copy_image(
        &client,
        &plan(&src, "team/multi", &index, &dst, "prod/whole", Some("v1")),
    )
    .await
    .unwrap();
    assert_eq!(whole.subset_digest, None);
    assert_eq!(whole.manifests_copied, 3);
    assert_eq!(
        tag_digest(&client, &dst.host, "prod/whole", "v1")
            .await
            .as_ref(),
        Some(&index)
    );

    let mut subset = plan(&src, "team/multi", &index, &dst, "prod/arm", Some("v1"));
    subset.options.platforms = Some(vec!["linux/arm64".to_owned()]);
    let report = copy_image(&client, &subset).await.unwrap();
    let new = report.subset_digest.clone().unwrap();
    assert_ne!(new, index);
    assert_eq!(report.digest, index);
    assert_eq!(report.manifests_copied, 2);
    assert_totals_add_up(&report);
    assert_eq!(
        tag_digest(&client, &dst.host, "prod/arm", "v1")
            .await
            .as_ref(),
        Some(&new)
    );
    let dest = repo("prod/arm");
    let put = manifest_at(&client, &dst.host, &dest, Reference::Digest(new))
        .await
        .unwrap();
    assert_eq!(put.media_type, OCI_INDEX);
    let doc: Value = serde_json::from_slice(&put.bytes).unwrap();
    assert_eq!(doc["manifests"].as_array().unwrap(), &[children[1].clone()]);
    assert!(
        manifest_at(&client, &dst.host, &dest, Reference::Digest(index.clone()))
            .await
            .is_none()
    );
    let amd: Digest = children[0]["digest"].as_str().unwrap().parse().unwrap();
    let arm: Digest = children[1]["digest"].as_str().unwrap().parse().unwrap();
    assert!(
        manifest_at(&client, &dst.host, &dest, Reference::Digest(amd))
            .await
            .is_none()
    );
    assert!(
        manifest_at(&client, &dst.host, &dest, Reference::Digest(arm))
            .await
            .is_some()
    );

    // The same subset again is an idempotent re-promotion under the immutable tag.
    copy_image(&client, &subset).await.unwrap();

    let mut none = plan(&src, "team/multi", &index, &dst, "prod/none", Some("v1"));
    none.options.platforms = Some(vec!["linux/s390x".to_owned()]);
    let err = copy_image(&client, &none).await.unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    assert_eq!(
        tag_digest(&client, &dst.host, "prod/none", "v1").await,
        None
    );

    let mut bad = none.clone();
    bad.options.platforms = Some(vec!["linux".to_owned()]);
    assert!(matches!(
        copy_image(&client, &bad).await,
        Err(Error::InvalidRequest(_))
    ));
}

#[test]
fn copy_options_default_to_four_blobs_all_platforms_and_immutable_tags() {
    let o = CopyOptions::default();
    assert_eq!(
        (o.blob_concurrency, o.platforms, o.overwrite_tag),
        (4, None, false)
    );
}
