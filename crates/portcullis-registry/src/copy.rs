//! The digest-preserving copy engine: copies an image (or a whole index) by digest from one
//! repository to another, raw manifest bytes and all, then its cosign `.sig`/`.att`
//! artifacts, and only then writes the destination tag — so a tag never points at an
//! incomplete image. Children go before parents, blobs before the manifest using them.
//! The root digest is always confirmed at the destination (HEAD, or a verified GET when the
//! registry announces no digest) before the tag is written, and the tag is re-resolved after.

use std::collections::HashSet;

use futures_util::{StreamExt, TryStreamExt};
use portcullis_core::{Digest, ImageRef, Reference, RegistryHost, RepoPath, Tag};

use crate::blobs::BlobOutcome;
use crate::manifest::{Descriptor, ManifestContents};
use crate::{Error, RawManifest, RegistryClient, Result};

/// Blobs in flight at once per manifest.
const BLOB_CONCURRENCY: usize = 4;

/// What to copy where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyPlan {
    /// The source image; must be a digest reference.
    pub source: ImageRef,
    /// The destination registry.
    pub dest_registry: RegistryHost,
    /// The destination repository.
    pub dest_repo: RepoPath,
    /// The tag to point at the copied image, written last.
    pub dest_tag: Option<Tag>,
}

/// What a copy did (or, reported as progress, has done so far).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    /// The digest copied (identical at source and destination).
    pub digest: Digest,
    /// Manifests put at the destination (children, the image, signature artifacts).
    pub manifests_copied: usize,
    /// Blobs uploaded.
    pub blobs_copied: usize,
    /// Blobs already present at the destination (or foreign layers left out).
    pub blobs_skipped: usize,
    /// Bytes uploaded.
    pub bytes_copied: u64,
    /// Whether a cosign signature (`sha256-<hex>.sig`) was found and copied.
    pub signature_copied: bool,
    /// Whether a cosign attestation (`sha256-<hex>.att`) was found and copied.
    pub attestation_copied: bool,
}

/// Called with the running totals after every blob and manifest.
pub type Progress<'a> = &'a (dyn Fn(&CopyReport) + Send + Sync);

/// The two ends of one copy.
struct Ends<'a> {
    client: &'a RegistryClient,
    progress: Progress<'a>,
    src: (&'a RegistryHost, &'a RepoPath),
    dst: (&'a RegistryHost, &'a RepoPath),
}

/// Copies `plan.source` (by digest) with its signature artifacts, then tags it.
pub async fn copy_image(client: &RegistryClient, plan: &CopyPlan) -> Result<CopyReport> {
    copy_image_with_progress(client, plan, &|_| {}).await
}

/// `copy_image`, reporting the running totals to `progress` as blobs and manifests land.
pub async fn copy_image_with_progress(
    client: &RegistryClient,
    plan: &CopyPlan,
    progress: Progress<'_>,
) -> Result<CopyReport> {
    let Reference::Digest(digest) = &plan.source.reference else {
        return Err(Error::InvalidRequest(format!(
            "copy source {} must be pinned by digest",
            plan.source
        )));
    };
    let ends = Ends {
        client,
        progress,
        src: (&plan.source.registry, &plan.source.repository),
        dst: (&plan.dest_registry, &plan.dest_repo),
    };
    let mut report = CopyReport {
        digest: digest.clone(),
        manifests_copied: 0,
        blobs_copied: 0,
        blobs_skipped: 0,
        bytes_copied: 0,
        signature_copied: false,
        attestation_copied: false,
    };
    let root = ends
        .copy_tree(Reference::Digest(digest.clone()), &mut report)
        .await?;
    let root = root.ok_or_else(|| Error::NotFound {
        what: format!("manifest {}", plan.source),
    })?;
    report.signature_copied = ends
        .copy_tree(Reference::Tag(digest.cosign_tag("sig")), &mut report)
        .await?
        .is_some();
    report.attestation_copied = ends
        .copy_tree(Reference::Tag(digest.cosign_tag("att")), &mut report)
        .await?
        .is_some();
    // The root must be at the destination under its exact digest before anything points
    // at it, whatever put_manifest's response did or did not announce.
    client
        .confirm_manifest(ends.dst.0, ends.dst.1, digest)
        .await?;
    if let Some(tag) = &plan.dest_tag {
        let tag_ref = Reference::Tag(tag.clone());
        client
            .put_manifest(ends.dst.0, ends.dst.1, &tag_ref, &root)
            .await?;
        let dest = ImageRef {
            registry: plan.dest_registry.clone(),
            repository: plan.dest_repo.clone(),
            reference: tag_ref,
        };
        let resolved = client.resolve(&dest).await?;
        if resolved != *digest {
            return Err(Error::DigestMismatch {
                expected: digest.clone(),
                actual: resolved,
            });
        }
    }
    tracing::info!(
        image.digest = %digest,
        copy.source = %plan.source,
        copy.dest = %format!("{}/{}", plan.dest_registry.as_str(), plan.dest_repo.as_str()),
        copy.blobs_copied = report.blobs_copied,
        copy.bytes_copied = report.bytes_copied,
        "image copied"
    );
    Ok(report)
}

impl Ends<'_> {
    /// Copies the manifest at `reference` and everything under it, putting it at the
    /// destination under the same reference. `None` when the source has no such manifest.
    async fn copy_tree(
        &self,
        reference: Reference,
        report: &mut CopyReport,
    ) -> Result<Option<RawManifest>> {
        let Some(manifest) = self
            .client
            .get_manifest(self.src.0, self.src.1, &reference)
            .await?
        else {
            return Ok(None);
        };
        match manifest.contents()? {
            ManifestContents::Index { manifests } => {
                for child in manifests {
                    self.copy_child(&child.digest, report).await?;
                }
            }
            ManifestContents::Image { config, layers } => {
                let mut blobs = vec![config];
                blobs.extend(layers);
                self.copy_blobs(blobs, report).await?;
            }
        }
        self.client
            .put_manifest(self.dst.0, self.dst.1, &reference, &manifest)
            .await?;
        report.manifests_copied += 1;
        (self.progress)(report);
        Ok(Some(manifest))
    }

    /// One child of an index; boxed because the tree is recursive.
    async fn copy_child(&self, digest: &Digest, report: &mut CopyReport) -> Result<()> {
        let found = Box::pin(self.copy_tree(Reference::Digest(digest.clone()), report)).await?;
        found.map(|_| ()).ok_or_else(|| Error::NotFound {
            what: format!(
                "child manifest {digest} in {}/{}",
                self.src.0.as_str(),
                self.src.1.as_str()
            ),
        })
    }

    /// Copies blobs, up to `BLOB_CONCURRENCY` at a time, each digest once.
    async fn copy_blobs(&self, blobs: Vec<Descriptor>, report: &mut CopyReport) -> Result<()> {
        let mut seen = HashSet::new();
        let unique: Vec<Descriptor> = blobs
            .into_iter()
            .filter(|b| seen.insert(b.digest.clone()))
            .collect();
        let mut outcomes = futures_util::stream::iter(unique)
            .map(|blob| async move { self.client.copy_blob(self.src, self.dst, &blob).await })
            .buffer_unordered(BLOB_CONCURRENCY);
        while let Some(outcome) = outcomes.try_next().await? {
            match outcome {
                BlobOutcome::Copied(n) => {
                    report.blobs_copied += 1;
                    report.bytes_copied += n;
                }
                BlobOutcome::Skipped | BlobOutcome::Foreign => report.blobs_skipped += 1,
            }
            (self.progress)(report);
        }
        Ok(())
    }
}
