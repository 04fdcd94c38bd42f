//! The digest-preserving copy engine: copies an image (or a whole index, or a platform
//! subset of one) by digest from one repository to another, raw manifest bytes and all,
//! then its cosign `.sig`/`.att`/`.sbom` artifacts and OCI referrers, and only then writes
//! the destination tag — so a tag never points at an incomplete image. Children go before
//! parents, blobs before the manifest using them; within one registry blobs are mounted.
//! Everything is read first (`walk`), so totals are known and refusals write nothing.
//! The root digest is always confirmed at the destination (HEAD, or a verified GET when the
//! registry announces no digest) before the tag is written, and the tag is re-resolved after.
//! Destination tags are immutable unless `CopyOptions::overwrite_tag` says otherwise.

mod walk;

use std::collections::HashSet;

use futures_util::{StreamExt, TryStreamExt};
use portcullis_core::{Digest, ImageRef, Reference, RegistryHost, RepoPath, Tag};

use crate::blobs::BlobOutcome;
use crate::manifest::PlatformSpec;
use crate::{Error, RawManifest, RegistryClient, Result};
use walk::{Artifacts, Node, Walk};

/// How a copy behaves beyond what and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOptions {
    /// Blobs in flight at once (0 is treated as 1).
    pub blob_concurrency: usize,
    /// When the root is an index, copy only these platforms (`os/arch[/variant]`) and tag a
    /// new index listing just them. `None` copies everything.
    pub platforms: Option<Vec<String>>,
    /// Let the copy move a destination tag that points at another digest.
    pub overwrite_tag: bool,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            blob_concurrency: 4,
            platforms: None,
            overwrite_tag: false,
        }
    }
}

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
    /// Concurrency, platform subset and tag overwrite.
    pub options: CopyOptions,
}

/// What a copy did (or, reported as progress, has done so far).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    /// The source digest copied (identical at source and destination).
    pub digest: Digest,
    /// For a platform subset: the digest of the new index the tag points at instead.
    pub subset_digest: Option<Digest>,
    /// Manifests put at the destination (children, the image, artifacts, referrers index).
    pub manifests_copied: usize,
    /// Unique blobs the copy covers (root tree and artifacts), known before the first blob.
    pub blobs_total: usize,
    /// Bytes of those blobs.
    pub bytes_total: u64,
    /// Blobs uploaded.
    pub blobs_copied: usize,
    /// Blobs already present at the destination (or foreign layers left out).
    pub blobs_skipped: usize,
    /// Blobs mounted from the source repository (same registry); no bytes moved.
    pub blobs_mounted: usize,
    /// Bytes uploaded.
    pub bytes_copied: u64,
    /// Whether a cosign signature (`sha256-<hex>.sig`) was found and copied.
    pub signature_copied: bool,
    /// Whether a cosign attestation (`sha256-<hex>.att`) was found and copied.
    pub attestation_copied: bool,
    /// Whether a cosign SBOM (`sha256-<hex>.sbom`) was found and copied.
    pub sbom_copied: bool,
    /// OCI 1.1 referrers of the digest copied (their fallback index tag is written too).
    pub referrers_copied: usize,
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
    let platforms = plan
        .options
        .platforms
        .as_deref()
        .map(|p| {
            p.iter()
                .map(|s| PlatformSpec::parse(s))
                .collect::<Result<Vec<_>>>()
        })
        .transpose()?;
    let ends = Ends {
        client,
        progress,
        src: (&plan.source.registry, &plan.source.repository),
        dst: (&plan.dest_registry, &plan.dest_repo),
    };
    // Without a platform subset the tag will name the source digest itself, so the tag is
    // checked while the source is read; with one, only once the new index is known.
    let check_now = plan.dest_tag.as_ref().filter(|_| platforms.is_none());
    let root_ref = Reference::Digest(digest.clone());
    let (planned, checked, root_present) = tokio::join!(
        ends.plan_copy(digest, platforms.as_deref()),
        async {
            match check_now {
                Some(tag) => ends
                    .check_tag(tag, digest, plan.options.overwrite_tag)
                    .await
                    .map(Some),
                None => Ok(None),
            }
        },
        ends.already_there(&root_ref, digest),
    );
    let (walk, artifacts, target) = planned?;
    let tag_in_place = match (checked?, &plan.dest_tag) {
        (Some(in_place), _) => in_place,
        (None, Some(tag)) => {
            ends.check_tag(tag, &target.digest, plan.options.overwrite_tag)
                .await?
        }
        (None, None) => false,
    };
    let (blobs_total, bytes_total) = walk.totals();
    let mut report = CopyReport {
        digest: digest.clone(),
        subset_digest: (target.digest != *digest).then(|| target.digest.clone()),
        manifests_copied: 0,
        blobs_total,
        bytes_total,
        blobs_copied: 0,
        blobs_skipped: 0,
        blobs_mounted: 0,
        bytes_copied: 0,
        signature_copied: artifacts.signature,
        attestation_copied: artifacts.attestation,
        sbom_copied: artifacts.sbom,
        referrers_copied: artifacts.referrers,
    };
    let concurrency = plan.options.blob_concurrency.max(1);
    let mut done = HashSet::new();
    let mut target_found = false;
    // Which manifests the destination already has: all asked at once.
    let root_present = root_present?;
    let ends_ref = &ends;
    let present: Vec<bool> = futures_util::future::try_join_all(walk.nodes.iter().map(|n| {
        let known = (n.reference == root_ref).then_some(root_present);
        async move {
            match known {
                Some(p) => Ok(p),
                None => {
                    ends_ref
                        .already_there(&n.reference, &n.manifest.digest)
                        .await
                }
            }
        }
    }))
    .await?;
    for (node, present) in walk.nodes.into_iter().zip(present) {
        let is_target =
            node.manifest.digest == target.digest && matches!(node.reference, Reference::Digest(_));
        ends.put_node(node, present, concurrency, &mut done, &mut report)
            .await?;
        target_found |= is_target && present;
    }
    // The target must be at the destination under its exact digest before anything points
    // at it, whatever put_manifest's response did or did not announce. (A target found there
    // by digest before the copy was confirmed by that look-up.)
    if !target_found {
        client
            .confirm_manifest(ends.dst.0, ends.dst.1, &target.digest)
            .await?;
    }
    // A tag that already named the target needs no write (a re-promotion is a no-op).
    if let Some(tag) = plan.dest_tag.as_ref().filter(|_| !tag_in_place) {
        ends.write_tag(tag, &target, plan.options.overwrite_tag)
            .await?;
    }
    tracing::info!(
        image.digest = %digest,
        copy.source = %plan.source,
        copy.dest = %format!("{}/{}", plan.dest_registry.as_str(), plan.dest_repo.as_str()),
        copy.blobs_copied = report.blobs_copied,
        copy.blobs_mounted = report.blobs_mounted,
        copy.bytes_copied = report.bytes_copied,
        "image copied"
    );
    Ok(report)
}

impl Ends<'_> {
    /// Reads everything to copy; returns it with the artifacts found and the manifest the tag
    /// will name (the root, or a new index of the chosen platforms). Writes nothing.
    async fn plan_copy(
        &self,
        digest: &Digest,
        platforms: Option<&[PlatformSpec]>,
    ) -> Result<(Walk, Artifacts, RawManifest)> {
        let root_ref = Reference::Digest(digest.clone());
        // Without a platform subset the artifacts of `digest` are read alongside the root (they
        // depend only on the digest): one round of requests instead of two.
        let artifacts_early = async {
            if platforms.is_some() {
                return Ok(None);
            }
            let mut own = Walk::default();
            let found = self.walk_artifacts(digest, &mut own).await?;
            Ok::<_, Error>(Some((found, own)))
        };
        let (root, early) = tokio::join!(
            self.client.get_manifest(self.src.0, self.src.1, &root_ref),
            artifacts_early
        );
        let root = root?.ok_or_else(|| Error::NotFound {
            what: format!(
                "manifest {digest} in {}/{}",
                self.src.0.as_str(),
                self.src.1.as_str()
            ),
        })?;
        let mut walk = Walk::default();
        match platforms.filter(|_| root.is_index()) {
            Some(specs) => {
                // The original index would name manifests left behind: put a new one instead.
                // Artifacts of the original digest would describe an image not copied.
                let (subset, kept) = root.subset_index(specs)?;
                for child in &kept {
                    self.walk_child(&child.digest, &mut walk).await?;
                }
                let reference = Reference::Digest(subset.digest.clone());
                self.walk_fetched(reference, subset.clone(), &mut walk)
                    .await?;
                Ok((walk, Artifacts::default(), subset))
            }
            None => {
                self.walk_fetched(root_ref, root.clone(), &mut walk).await?;
                let artifacts = match early? {
                    Some((found, own)) => {
                        walk.append(own);
                        found
                    }
                    None => self.walk_artifacts(digest, &mut walk).await?,
                };
                Ok((walk, artifacts, root))
            }
        }
    }

    /// Refuses to go on when `tag` exists at the destination on a digest other than `target`
    /// (unless overwriting is allowed).
    /// Returns whether the tag already names `target`.
    async fn check_tag(&self, tag: &Tag, target: &Digest, overwrite: bool) -> Result<bool> {
        match self.client.resolve(&self.dest_ref(tag)).await {
            Ok(current) if current == *target => Ok(true),
            Ok(_) if overwrite => Ok(false),
            Ok(current) => Err(Error::TagExists {
                tag: tag.clone(),
                current,
            }),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes `tag` (checked again: another copy may have taken it meanwhile) and confirms
    /// it resolves to `target`.
    async fn write_tag(&self, tag: &Tag, target: &RawManifest, overwrite: bool) -> Result<()> {
        if self.check_tag(tag, &target.digest, overwrite).await? {
            return Ok(());
        }
        let dest = self.dest_ref(tag);
        self.client
            .put_manifest(self.dst.0, self.dst.1, &dest.reference, target)
            .await?;
        let resolved = self.client.resolve(&dest).await?;
        if resolved != target.digest {
            return Err(Error::DigestMismatch {
                expected: target.digest.clone(),
                actual: resolved,
            });
        }
        Ok(())
    }

    fn dest_ref(&self, tag: &Tag) -> ImageRef {
        ImageRef {
            registry: self.dst.0.clone(),
            repository: self.dst.1.clone(),
            reference: Reference::Tag(tag.clone()),
        }
    }

    /// Whether the destination already has `node`'s manifest under its reference, with the
    /// same digest. A registry accepts a manifest only once everything it names is there, so
    /// its blobs (and an index's children) need no further look.
    async fn already_there(&self, reference: &Reference, digest: &Digest) -> Result<bool> {
        let dest = ImageRef {
            registry: self.dst.0.clone(),
            repository: self.dst.1.clone(),
            reference: reference.clone(),
        };
        match self.client.resolve(&dest).await {
            Ok(found) => Ok(found == *digest),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Copies a node's blobs not handled yet (`done`), up to `concurrency` at a time, then
    /// puts its manifest raw; a node already `present` at the destination is left alone.
    async fn put_node(
        &self,
        node: Node,
        present: bool,
        concurrency: usize,
        done: &mut HashSet<Digest>,
        report: &mut CopyReport,
    ) -> Result<()> {
        let fresh: Vec<_> = node
            .blobs
            .into_iter()
            .filter(|b| done.insert(b.digest.clone()))
            .collect();
        if present {
            report.blobs_skipped += fresh.len();
            (self.progress)(report);
            return Ok(());
        }
        let mut outcomes = futures_util::stream::iter(fresh)
            .map(|blob| async move { self.client.copy_blob(self.src, self.dst, &blob).await })
            .buffer_unordered(concurrency);
        while let Some(outcome) = outcomes.try_next().await? {
            match outcome {
                BlobOutcome::Copied(n) => {
                    report.blobs_copied += 1;
                    report.bytes_copied += n;
                }
                BlobOutcome::Mounted => report.blobs_mounted += 1,
                BlobOutcome::Skipped | BlobOutcome::Foreign => report.blobs_skipped += 1,
            }
            (self.progress)(report);
        }
        self.client
            .put_manifest(self.dst.0, self.dst.1, &node.reference, &node.manifest)
            .await?;
        report.manifests_copied += 1;
        (self.progress)(report);
        Ok(())
    }
}
