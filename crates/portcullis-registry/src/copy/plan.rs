//! The plan phase of a copy: reads everything to copy from the source (`walk`), and at the
//! same time checks the destination tag and whether the destination holds the root (a tag
//! already naming the root proves it is there: no second look). Artifacts the source has
//! are looked up at the destination by the put phase, so a no-op re-copy asks only about
//! what exists. Writes nothing; every refusal happens here.

use portcullis_core::Digest;
use portcullis_core::Reference;

use super::walk::{Artifacts, Walk};
use super::{CopyPlan, CopyReport, Ends};
use crate::manifest::PlatformSpec;
use crate::{Error, RawManifest, Result, Role};

/// What the plan phase found.
pub(super) struct Planned {
    /// Every manifest to put, in order, with its blobs.
    pub(super) walk: Walk,
    /// The cosign artifacts and referrers found.
    artifacts: Artifacts,
    /// The manifest the tag will name (the root, or a new index of the chosen platforms).
    pub(super) target: RawManifest,
    /// Whether the destination tag already names the target (no tag write needed).
    pub(super) tag_in_place: bool,
    /// What the destination held, when planned, under the root digest and (without a
    /// platform subset) the artifact tags: the digest found, `None` when missing.
    pub(super) dest_known: Vec<(Reference, Option<Digest>)>,
}

impl Planned {
    /// Whether the put and tag phases would write nothing: every manifest is known to be at
    /// the destination under its reference, and the tag (if any) already names the target.
    /// `false` when the put phase would still have to ask about something.
    pub(super) fn writes_nothing(&self, tagged: bool) -> bool {
        let present = |node: &super::walk::Node| {
            self.dest_known.iter().any(|(r, found)| {
                *r == node.reference && found.as_ref() == Some(&node.manifest.digest)
            })
        };
        (self.tag_in_place || !tagged) && self.walk.nodes.iter().all(present)
    }

    /// The report before anything moved: the totals, and what the copy covers.
    pub(super) fn report(&self, digest: &Digest) -> CopyReport {
        let (blobs_total, bytes_total) = self.walk.totals();
        CopyReport {
            digest: digest.clone(),
            subset_digest: (self.target.digest != *digest).then(|| self.target.digest.clone()),
            manifests_copied: 0,
            blobs_total,
            bytes_total,
            blobs_copied: 0,
            blobs_skipped: 0,
            blobs_mounted: 0,
            bytes_copied: 0,
            signature_copied: self.artifacts.signature,
            attestation_copied: self.artifacts.attestation,
            sbom_copied: self.artifacts.sbom,
            referrers_copied: self.artifacts.referrers,
        }
    }
}

/// The platform subset of `plan`, parsed.
fn platforms(plan: &CopyPlan) -> Result<Option<Vec<PlatformSpec>>> {
    plan.options
        .platforms
        .as_deref()
        .map(|p| {
            p.iter()
                .map(|s| PlatformSpec::parse(s))
                .collect::<Result<Vec<_>>>()
        })
        .transpose()
}

impl Ends<'_> {
    /// Reads the source while it checks the destination tag and looks the root up there.
    pub(super) async fn plan(&self, plan: &CopyPlan, digest: &Digest) -> Result<Planned> {
        let platforms = platforms(plan)?;
        // Without a platform subset the tag will name the source digest itself, so the tag is
        // checked while the source is read; with one, only once the new index is known.
        let check_now = plan.dest_tag.as_ref().filter(|_| platforms.is_none());
        let overwrite = plan.options.overwrite_tag;
        let root_ref = Reference::Digest(digest.clone());
        let (read, destination) = tokio::join!(
            async {
                self.read_source(digest, platforms.as_deref())
                    .await
                    .map_err(Error::at_end(Role::Source))
            },
            async {
                let checked = match check_now {
                    Some(tag) => Some(self.check_tag(tag, digest, overwrite).await?),
                    None => None,
                };
                let root_found = if checked == Some(true) {
                    Some(digest.clone())
                } else {
                    self.at_destination(&root_ref).await?
                };
                Ok::<_, Error>((checked, root_found))
            },
        );
        let (mut walk, artifacts, target) = read?;
        let (checked, root_found) = destination?;
        let tag_in_place = match (checked, &plan.dest_tag) {
            (Some(in_place), _) => in_place,
            (None, Some(tag)) => self.check_tag(tag, &target.digest, overwrite).await?,
            (None, None) => false,
        };
        let mut dest_known = vec![(root_ref, root_found)];
        dest_known.append(&mut walk.at_destination);
        Ok(Planned {
            walk,
            artifacts,
            target,
            tag_in_place,
            dest_known,
        })
    }

    /// Reads everything to copy; returns it with the artifacts found and the manifest the tag
    /// will name (the root, or a new index of the chosen platforms). Writes nothing.
    async fn read_source(
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
}
