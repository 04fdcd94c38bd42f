//! Shared helpers of the integration tests: building and pushing random OCI images to a
//! `TestRegistry` and writing copy plans.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers; not every binary uses all

use portcullis_core::{Digest, ImageRef, Reference, RegistryHost, RepoPath, Tag};
use portcullis_registry::testing::TestRegistry;
use portcullis_registry::{CopyPlan, OCI_MANIFEST, RawManifest, RegistryClient};
use rand::RngCore;
use serde_json::json;

pub fn repo(s: &str) -> RepoPath {
    s.parse().unwrap()
}

pub fn tag(s: &str) -> Tag {
    s.parse().unwrap()
}

/// A built and pushed image: its manifest and every blob (config first) with its bytes.
pub struct Pushed {
    /// The manifest as pushed.
    pub manifest: RawManifest,
    /// Every blob, config first.
    pub blobs: Vec<(Digest, Vec<u8>)>,
}

impl Pushed {
    pub fn bytes_total(&self) -> u64 {
        self.blobs.iter().map(|(_, b)| b.len() as u64).sum()
    }
}

/// Pushes a config plus `layers` random layers and an OCI manifest, by digest.
pub async fn push_image(
    client: &RegistryClient,
    host: &RegistryHost,
    repo: &RepoPath,
    layers: usize,
    arch: &str,
) -> Pushed {
    let config = serde_json::to_vec(
        &json!({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}),
    )
    .unwrap();
    let mut blobs = vec![config];
    for i in 0..layers {
        let mut layer = vec![0u8; 150_000 + i * 7_001];
        rand::thread_rng().fill_bytes(&mut layer);
        blobs.push(layer);
    }
    let mut pushed = Vec::new();
    for bytes in blobs {
        let digest = client
            .push_blob_bytes(host, repo, bytes.clone())
            .await
            .unwrap();
        assert_eq!(digest, Digest::sha256_of(&bytes));
        pushed.push((digest, bytes));
    }
    let desc = |(d, b): &(Digest, Vec<u8>), mt: &str| json!({"mediaType": mt, "digest": d, "size": b.len()});
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": desc(&pushed[0], "application/vnd.oci.image.config.v1+json"),
        "layers": pushed[1..].iter().map(|b| desc(b, "application/vnd.oci.image.layer.v1.tar+gzip")).collect::<Vec<_>>(),
    });
    // Pretty-printed on purpose: a re-serialising copier would change the digest.
    let manifest = RawManifest::new(OCI_MANIFEST, serde_json::to_vec_pretty(&manifest).unwrap());
    let put = client
        .put_manifest(
            host,
            repo,
            &Reference::Digest(manifest.digest.clone()),
            &manifest,
        )
        .await
        .unwrap();
    assert_eq!(put, manifest.digest);
    Pushed {
        manifest,
        blobs: pushed,
    }
}

pub fn plan(
    src: &TestRegistry,
    src_repo: &str,
    digest: &Digest,
    dst: &TestRegistry,
    dst_repo: &str,
    dest_tag: Option<&str>,
) -> CopyPlan {
    CopyPlan {
        source: ImageRef {
            registry: src.host.clone(),
            repository: repo(src_repo),
            reference: Reference::Digest(digest.clone()),
        },
        dest_registry: dst.host.clone(),
        dest_repo: repo(dst_repo),
        dest_tag: dest_tag.map(tag),
        options: Default::default(),
    }
}

/// The usual copy of the tests: `team/app@digest` to `prod/app:v1`.
pub fn to_prod_v1(src: &TestRegistry, digest: &Digest, dst: &TestRegistry) -> CopyPlan {
    plan(src, "team/app", digest, dst, "prod/app", Some("v1"))
}

/// Two fresh registries (source, destination) and a client for both.
pub async fn two_registries() -> (TestRegistry, TestRegistry, RegistryClient) {
    let (src, dst) = (
        TestRegistry::start().await.unwrap(),
        TestRegistry::start().await.unwrap(),
    );
    let client = TestRegistry::client_for(&[&src, &dst]).unwrap();
    (src, dst, client)
}
