//! The digest-preserving copy engine: copies an image (or a whole index, or a platform
//! subset of one) by digest from one repository to another, raw manifest bytes and all,
//! then its cosign `.sig`/`.att`/`.sbom` artifacts and OCI referrers, and only then writes
//! the destination tag — so a tag never points at an incomplete image. Children go before
//! parents, blobs before the manifest using them; within one registry blobs are mounted.
//! Everything is read first (`walk`), so totals are known and refusals write nothing.
//! The root digest is always confirmed at the destination (HEAD, or a verified GET when the
//! registry announces no digest) before the tag is written, and the tag is re-resolved after.
//! Destination tags are immutable unless `CopyOptions::overwrite_tag` says otherwise.
//! The plan phase may also run ahead of the copy (`plan_copy`, then `copy_image_planned`):
//! the gate reads it while the approval that releases the copy is still being recorded.

mod plan;
mod put;
mod tag;
mod walk;

use std::time::{Duration, Instant};

use portcullis_core::{Digest, ImageRef, Reference, RegistryHost, RepoPath, Tag};

use crate::{Error, RegistryClient, Result};

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

/// How old a plan read ahead (`plan_copy`) may be when its copy starts (`fresh_for`); an
/// older one is read again. Within it, the destination may change under the plan as it may
/// between any copy's plan and put phases (a large copy's plan is seconds old when its tag
/// is written).
pub const PLAN_FRESH_FOR: Duration = Duration::from_secs(2);

/// A copy's plan phase, done before the copy (`plan_copy`): everything read at the source,
/// what the destination held, and whether the tag already names the image. Writes nothing.
pub struct PlannedCopy {
    plan: CopyPlan,
    planned: plan::Planned,
    read_at: Instant,
}

impl PlannedCopy {
    /// The copy this plan is for.
    pub fn plan(&self) -> &CopyPlan {
        &self.plan
    }

    /// How long ago its reads began.
    pub fn age(&self) -> Duration {
        self.read_at.elapsed()
    }

    /// This plan, if it was read for exactly `plan` at most `PLAN_FRESH_FOR` ago: the one
    /// test a plan read ahead must pass before a copy starts from it.
    pub fn fresh_for(self, plan: &CopyPlan) -> Option<Self> {
        (self.plan == *plan && self.age() <= PLAN_FRESH_FOR).then_some(self)
    }

    /// Whether copying from this plan sends no request at all: every manifest is at the
    /// destination and the tag already names the image (a re-promotion).
    pub fn writes_nothing(&self) -> bool {
        self.planned.writes_nothing(self.plan.dest_tag.is_some())
    }
}

impl std::fmt::Debug for PlannedCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlannedCopy")
            .field("plan", &self.plan)
            .field("age", &self.age())
            .finish_non_exhaustive()
    }
}

/// Reads what copying `plan` needs (the plan phase of `copy_image`), so that a copy about to
/// be released can start from it (`copy_image_planned`). Writes nothing; refusals (a missing
/// source, a tag on another digest) are the copy's own.
pub async fn plan_copy(client: &RegistryClient, plan: &CopyPlan) -> Result<PlannedCopy> {
    let digest = pinned(plan)?;
    let read_at = Instant::now();
    let ends = Ends {
        client,
        progress: &|_| {},
        src: (&plan.source.registry, &plan.source.repository),
        dst: (&plan.dest_registry, &plan.dest_repo),
    };
    let planned = ends.plan(plan, digest).await?;
    Ok(PlannedCopy {
        plan: plan.clone(),
        planned,
        read_at,
    })
}

/// The source digest of `plan`, which must be pinned.
fn pinned(plan: &CopyPlan) -> Result<&Digest> {
    match &plan.source.reference {
        Reference::Digest(digest) => Ok(digest),
        Reference::Tag(_) => Err(Error::InvalidRequest(format!(
            "copy source {} must be pinned by digest",
            plan.source
        ))),
    }
}

/// Copies `plan.source` (by digest) with its signature artifacts, then tags it.
pub async fn copy_image(client: &RegistryClient, plan: &CopyPlan) -> Result<CopyReport> {
    copy_image_with_progress(client, plan, &|_| {}).await
}

/// `copy_image`, reporting the running totals to `progress` as blobs and manifests land.
/// Runs the phases in order: plan (read everything, check the tag), put (blobs, then each
/// manifest, children before parents), tag. Registry failures name their end (`Role`).
pub async fn copy_image_with_progress(
    client: &RegistryClient,
    plan: &CopyPlan,
    progress: Progress<'_>,
) -> Result<CopyReport> {
    copy_image_planned(client, plan, None, progress).await
}

/// `copy_image_with_progress`, starting from `ahead` (its plan phase, read before) when it
/// was read for this very `plan`; otherwise the plan is read now. How old a plan may be is
/// the caller's to judge before (`PlannedCopy::fresh_for`), so that a caller that decided
/// on a plan's word (`writes_nothing`) copies from that very plan.
pub async fn copy_image_planned(
    client: &RegistryClient,
    plan: &CopyPlan,
    ahead: Option<PlannedCopy>,
    progress: Progress<'_>,
) -> Result<CopyReport> {
    let digest = pinned(plan)?;
    let ends = Ends {
        client,
        progress,
        src: (&plan.source.registry, &plan.source.repository),
        dst: (&plan.dest_registry, &plan.dest_repo),
    };
    let started = Instant::now();
    let ahead = ahead.filter(|a| a.plan == *plan);
    let read_ahead = ahead.is_some();
    let planned = match ahead {
        Some(a) => a.planned,
        None => ends.plan(plan, digest).await?,
    };
    let planned_in = started.elapsed();
    let mut report = planned.report(digest);
    let target_found = ends
        .put_all(
            planned.walk,
            &planned.target,
            &planned.dest_known,
            plan,
            &mut report,
        )
        .await?;
    let put_in = started.elapsed() - planned_in;
    ends.tag(plan, &planned.target, target_found, planned.tag_in_place)
        .await?;
    tracing::info!(
        image.digest = %digest,
        copy.source = %plan.source,
        copy.dest = %format!("{}/{}", plan.dest_registry.as_str(), plan.dest_repo.as_str()),
        copy.blobs_copied = report.blobs_copied,
        copy.blobs_mounted = report.blobs_mounted,
        copy.bytes_copied = report.bytes_copied,
        copy.read_ahead = read_ahead,
        copy.plan_ms = ms(planned_in),
        copy.put_ms = ms(put_in),
        copy.total_ms = ms(started.elapsed()),
        "image copied"
    );
    Ok(report)
}

/// Milliseconds, for log fields.
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
