//! The `.att` append made ahead (`prepare_cosign_layer`, while an image is still being
//! copied): written with three requests when the tag still holds what it was made over, and
//! made again, keeping what another writer appended meanwhile, when it does not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::collections::{BTreeMap, HashMap};

use portcullis_core::{Digest, Reference};
use portcullis_registry::testing::{FaultPlan, FaultProxy, TestRegistry};
use portcullis_registry::{Attachment, KEEP_OF_A_KIND, RegistryClient, Subject};
use serde_json::Value;
use support::{push_image, repo};

fn envelope(text: &str) -> Attachment {
    Attachment {
        media_type: "application/vnd.dsse.envelope.v1+json".to_owned(),
        bytes: format!(r#"{{"payload":"{text}"}}"#).into_bytes(),
        annotations: BTreeMap::from([(
            "predicateType".to_owned(),
            "https://example.test/v1".to_owned(),
        )]),
    }
}

/// The layer digests of the image's `.att` tag, in order.
async fn att_layers(client: &RegistryClient, reg: &TestRegistry, subject: &Digest) -> Vec<Digest> {
    let tag = Reference::Tag(subject.cosign_tag("att"));
    let att = client
        .get_manifest(&reg.host, &repo("prod/app"), &tag)
        .await
        .unwrap()
        .expect(".att tag");
    let doc: Value = serde_json::from_slice(&att.bytes).unwrap();
    doc["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn a_prepared_append_over_an_unchanged_tag_is_checked_put_and_read_back() {
    let reg = TestRegistry::start().await.unwrap();
    let seed = TestRegistry::client_for(&[&reg]).unwrap();
    let image = push_image(&seed, &reg.host, &repo("prod/app"), 1, "amd64").await;
    let proxy = FaultProxy::start(&reg.host, FaultPlan::none())
        .await
        .unwrap();
    let client =
        RegistryClient::new(HashMap::from([(proxy.host.clone(), reg.auth_config())])).unwrap();
    let (prod, digest) = (repo("prod/app"), &image.manifest.digest);
    let first = envelope("first");
    client
        .stage_attachments(&proxy.host, &prod, &[&first])
        .await
        .unwrap();
    let prepared = client
        .prepare_cosign_layer(&proxy.host, &prod, digest, &first)
        .await
        .unwrap();
    let subject = Subject {
        registry: &proxy.host,
        repo: &prod,
        manifest: &image.manifest,
    };
    let before = proxy.requests();
    let att = client
        .attach_cosign_layer(subject, &first, Some(&prepared))
        .await
        .unwrap();
    // The tag checked, the manifest put, read back: the config went with the preparation.
    assert_eq!(proxy.requests() - before, 3);
    assert_eq!(
        att_layers(&seed, &reg, digest).await,
        [Digest::sha256_of(&first.bytes)]
    );
    // Attaching the same envelope again writes nothing and names the same manifest.
    let again = client
        .attach_cosign_layer(subject, &first, Some(&prepared))
        .await
        .unwrap();
    assert_eq!(again, att);
}

#[tokio::test]
async fn a_prepared_append_overtaken_by_another_writer_keeps_both_layers() {
    let reg = TestRegistry::start().await.unwrap();
    let client = TestRegistry::client_for(&[&reg]).unwrap();
    let image = push_image(&client, &reg.host, &repo("prod/app"), 1, "amd64").await;
    let (prod, digest) = (repo("prod/app"), &image.manifest.digest);
    let (ours, theirs) = (envelope("ours"), envelope("theirs"));
    client
        .stage_attachments(&reg.host, &prod, &[&ours, &theirs])
        .await
        .unwrap();
    let subject = Subject {
        registry: &reg.host,
        repo: &prod,
        manifest: &image.manifest,
    };
    // Made over no `.att` tag at all; another writer then appends its own layer.
    let prepared = client
        .prepare_cosign_layer(&reg.host, &prod, digest, &ours)
        .await
        .unwrap();
    client
        .attach_cosign_layer(subject, &theirs, None)
        .await
        .unwrap();
    client
        .attach_cosign_layer(subject, &ours, Some(&prepared))
        .await
        .unwrap();
    assert_eq!(
        att_layers(&client, &reg, digest).await,
        [
            Digest::sha256_of(&theirs.bytes),
            Digest::sha256_of(&ours.bytes)
        ],
        "the other writer's layer is kept, ours appended after it"
    );
}

#[tokio::test]
async fn an_image_attested_again_and_again_keeps_the_newest_of_each_kind() {
    let reg = TestRegistry::start().await.unwrap();
    let client = TestRegistry::client_for(&[&reg]).unwrap();
    let image = push_image(&client, &reg.host, &repo("prod/app"), 1, "amd64").await;
    let (prod, digest) = (repo("prod/app"), &image.manifest.digest);
    let subject = Subject {
        registry: &reg.host,
        repo: &prod,
        manifest: &image.manifest,
    };
    // The build's own provenance first, then one more of ours than are kept.
    let mut provenance = envelope("provenance");
    provenance.annotations = BTreeMap::from([(
        "predicateType".to_owned(),
        "https://slsa.dev/provenance/v1".to_owned(),
    )]);
    let ours: Vec<Attachment> = (0..=KEEP_OF_A_KIND)
        .map(|n| envelope(&format!("promotion {n}")))
        .collect();
    let bundle = |n: usize| Attachment {
        media_type: "application/vnd.dev.sigstore.bundle.v0.3+json".to_owned(),
        bytes: format!(r#"{{"bundle":{n}}}"#).into_bytes(),
        annotations: BTreeMap::from([(
            "dev.sigstore.bundle.predicateType".to_owned(),
            "https://example.test/v1".to_owned(),
        )]),
    };
    let bundles: Vec<Attachment> = (0..=KEEP_OF_A_KIND).map(bundle).collect();
    let all: Vec<&Attachment> = std::iter::once(&provenance)
        .chain(&ours)
        .chain(&bundles)
        .collect();
    client
        .stage_attachments(&reg.host, &prod, &all)
        .await
        .unwrap();
    client
        .attach_cosign_layer(subject, &provenance, None)
        .await
        .unwrap();
    let mut referrers = Vec::new();
    for (layer, bundle) in ours.iter().zip(&bundles) {
        client
            .attach_cosign_layer(subject, layer, None)
            .await
            .unwrap();
        referrers.push(client.attach_referrer(subject, bundle).await.unwrap());
    }

    let expected: Vec<Digest> = std::iter::once(&provenance)
        .chain(&ours[1..])
        .map(|a| Digest::sha256_of(&a.bytes))
        .collect();
    assert_eq!(
        att_layers(&client, &reg, digest).await,
        expected,
        "the provenance stays; the oldest promotion layer went"
    );
    let listed: Vec<Digest> = client
        .referrers(&reg.host, &prod, digest, None)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.digest)
        .collect();
    assert_eq!(
        listed,
        referrers[1..],
        "the oldest bundle referrer is unlisted"
    );
    // Unlisted, not deleted: its manifest is still there by digest.
    assert!(
        client
            .get_manifest(&reg.host, &prod, &Reference::Digest(referrers[0].clone()))
            .await
            .unwrap()
            .is_some()
    );
}
