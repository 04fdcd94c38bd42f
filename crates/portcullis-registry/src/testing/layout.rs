//! Pushing an OCI image layout (as `cosign save` or `skopeo copy oci:` writes one) into a
//! registry byte for byte: every manifest keeps its exact bytes and digest, so third-party
//! signatures and attestations still verify against what the registry serves.

use std::path::Path;

use portcullis_core::{Digest, Reference, RegistryHost, RepoPath};
use serde::Deserialize;

use crate::{Error, RawManifest, RegistryClient, Result};

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Entry>,
}

/// One top-level entry of the layout's `index.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    /// Its media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its annotations (cosign writes `kind` here).
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Doc {
    #[serde(default)]
    manifests: Vec<Entry>,
    #[serde(default)]
    config: Option<Blob>,
    #[serde(default)]
    layers: Vec<Blob>,
}

#[derive(Deserialize)]
struct Blob {
    digest: Digest,
}

fn read_blob(layout: &Path, digest: &Digest) -> Result<Vec<u8>> {
    let path = layout
        .join("blobs")
        .join(digest.algorithm())
        .join(digest.hex());
    std::fs::read(&path)
        .map_err(|e| Error::InvalidRequest(format!("layout blob {}: {e}", path.display())))
}

/// Pushes every manifest of the layout at `layout` (children first, with their blobs) into
/// `repo` of `registry`, by digest; returns the layout's top-level entries. A manifest whose
/// blobs the layout lacks (third-party images ship without their layers) is written straight
/// into the registry's storage instead, so the registry still serves it byte for byte.
pub async fn push_oci_layout(
    registry: &super::TestRegistry,
    repo: &RepoPath,
    layout: &Path,
) -> Result<Vec<Entry>> {
    let client = super::TestRegistry::client_for(&[registry])?;
    let host = &registry.host;
    let index: Index = serde_json::from_slice(
        &std::fs::read(layout.join("index.json"))
            .map_err(|e| Error::InvalidRequest(format!("{}: {e}", layout.display())))?,
    )
    .map_err(|e| Error::InvalidManifest(format!("index.json: {e}")))?;
    for entry in &index.manifests {
        push_manifest(registry, &client, host, repo, layout, entry).await?;
    }
    Ok(index.manifests)
}

fn push_manifest<'a>(
    registry: &'a super::TestRegistry,
    client: &'a RegistryClient,
    host: &'a RegistryHost,
    repo: &'a RepoPath,
    layout: &'a Path,
    entry: &'a Entry,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>> {
    Box::pin(async move {
        let bytes = read_blob(layout, &entry.digest)?;
        let doc: Doc = serde_json::from_slice(&bytes)
            .map_err(|e| Error::InvalidManifest(format!("{}: {e}", entry.digest)))?;
        for child in &doc.manifests {
            push_manifest(registry, client, host, repo, layout, child).await?;
        }
        let mut complete = true;
        for blob in doc.config.iter().chain(&doc.layers) {
            match read_blob(layout, &blob.digest) {
                Ok(data) => {
                    client.push_blob_bytes(host, repo, data).await?;
                }
                Err(_) => complete = false,
            }
        }
        if !complete {
            registry
                .seed_manifest(repo.as_str(), &bytes)
                .map_err(|e| Error::InvalidRequest(format!("seeding {}: {e}", entry.digest)))?;
            return Ok(());
        }
        let manifest = RawManifest::new(&entry.media_type, bytes);
        client
            .put_manifest(
                host,
                repo,
                &Reference::Digest(entry.digest.clone()),
                &manifest,
            )
            .await?;
        Ok(())
    })
}
