//! Re-pointing a tag at content already in the repository (a rollback): the manifest, every
//! child manifest of an index and every blob they name is confirmed present (HEAD), then the
//! manifest's exact bytes, fetched from the same repository by digest, are put under the tag.
//! Nothing is uploaded but the tag; a missing piece is `NotFound` and nothing is written.

use futures_util::{StreamExt, TryStreamExt};
use portcullis_core::{Digest, ImageRef, Reference, RegistryHost, RepoPath, Tag};

use crate::manifest::{ManifestContents, RawManifest};
use crate::{Error, RegistryClient, Result, Role};

/// More manifests than this under one root (an index and its children) is not an image we
/// re-point.
pub const MAX_IN_PLACE_MANIFESTS: usize = 1024;
/// Blob look-ups in flight at once.
const BLOB_CHECKS: usize = 8;

/// What a presence check found: the root manifest as stored and what it covers.
#[derive(Debug, Clone)]
pub struct InPlace {
    /// The root manifest, exactly as the repository holds it.
    pub manifest: RawManifest,
    /// Manifests confirmed (the root and an index's children).
    pub manifests: usize,
    /// Distinct blobs confirmed (configs and layers; foreign layers are not looked for).
    pub blobs: usize,
    /// Their bytes, as the manifests declare them.
    pub bytes: u64,
}

impl RegistryClient {
    /// Confirms that `registry/repo` holds manifest `digest` with every child manifest and
    /// every blob under it. A missing manifest or blob is `NotFound` naming it; errors carry
    /// `Role::Destination`.
    pub async fn check_in_place(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        digest: &Digest,
    ) -> Result<InPlace> {
        self.walk_in_place(registry, repo, digest)
            .await
            .map_err(|e| e.at(Role::Destination))
    }

    /// `check_in_place`, then puts the root manifest's bytes under `tag` and confirms the
    /// tag resolves to `digest`. Uploads no blob and no other manifest.
    pub async fn retag(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        tag: &Tag,
        digest: &Digest,
    ) -> Result<InPlace> {
        let found = self.check_in_place(registry, repo, digest).await?;
        let dest = ImageRef {
            registry: registry.clone(),
            repository: repo.clone(),
            reference: Reference::Tag(tag.clone()),
        };
        let written = async {
            self.put_manifest(registry, repo, &dest.reference, &found.manifest)
                .await?;
            let resolved = self.resolve(&dest).await?;
            if resolved != *digest {
                return Err(Error::DigestMismatch {
                    expected: digest.clone(),
                    actual: resolved,
                });
            }
            Ok(())
        };
        written.await.map_err(|e| e.at(Role::Destination))?;
        Ok(found)
    }

    async fn walk_in_place(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        digest: &Digest,
    ) -> Result<InPlace> {
        let where_ = format!("{}/{}", registry.as_str(), repo.as_str());
        let missing = |what: String| Error::NotFound {
            what: format!("{what} in {where_}"),
        };
        let mut pending = vec![digest.clone()];
        let mut root = None;
        let mut manifests = 0;
        let mut blobs: Vec<(Digest, u64)> = Vec::new();
        while let Some(next) = pending.pop() {
            manifests += 1;
            if manifests > MAX_IN_PLACE_MANIFESTS {
                return Err(Error::InvalidManifest(format!(
                    "{digest} names more than {MAX_IN_PLACE_MANIFESTS} manifests"
                )));
            }
            let manifest = self
                .get_manifest(registry, repo, &Reference::Digest(next.clone()))
                .await?
                .ok_or_else(|| missing(format!("manifest {next}")))?;
            match manifest.contents()? {
                ManifestContents::Index { manifests } => {
                    pending.extend(manifests.into_iter().map(|d| d.digest));
                }
                ManifestContents::Image { config, layers } => {
                    let named = std::iter::once(config).chain(layers);
                    for d in named.filter(|d| d.urls.is_empty()) {
                        if !blobs.iter().any(|(b, _)| *b == d.digest) {
                            blobs.push((d.digest, d.size));
                        }
                    }
                }
            }
            root.get_or_insert(manifest);
        }
        let absent: Vec<Digest> = futures_util::stream::iter(blobs.iter().cloned())
            .map(|(blob, _)| async move {
                let there = self.blob_exists(registry, repo, &blob).await?;
                Ok::<_, Error>((!there).then_some(blob))
            })
            .buffer_unordered(BLOB_CHECKS)
            .try_filter_map(|b| async move { Ok(b) })
            .try_collect()
            .await?;
        if let Some(first) = absent.first() {
            return Err(missing(format!(
                "blob {first} of {digest} ({} of {} blobs missing)",
                absent.len(),
                blobs.len()
            )));
        }
        let manifest = root.ok_or_else(|| missing(format!("manifest {digest}")))?;
        Ok(InPlace {
            manifest,
            manifests,
            blobs: blobs.len(),
            bytes: blobs.iter().map(|(_, size)| size).sum(),
        })
    }
}
