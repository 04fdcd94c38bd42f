//! The tag phase of a copy, and the tag check the plan phase shares: the target is
//! confirmed at the destination under its exact digest before anything points at it, and a
//! tag is written only when it does not already name the target, then re-resolved.

use portcullis_core::{Digest, ImageRef, Reference, Tag};

use super::{CopyPlan, Ends};
use crate::{Error, RawManifest, Result, Role};

impl Ends<'_> {
    /// Confirms the target at the destination (unless the put phase found it there by
    /// digest) and writes the plan's tag unless it already names the target (a
    /// re-promotion is a no-op).
    pub(super) async fn tag(
        &self,
        plan: &CopyPlan,
        target: &RawManifest,
        target_found: bool,
        tag_in_place: bool,
    ) -> Result<()> {
        if !target_found {
            self.client
                .confirm_manifest(self.dst.0, self.dst.1, &target.digest)
                .await
                .map_err(Error::at_end(Role::Destination))?;
        }
        if let Some(tag) = plan.dest_tag.as_ref().filter(|_| !tag_in_place) {
            self.write_tag(tag, target, plan.options.overwrite_tag)
                .await
                .map_err(Error::at_end(Role::Destination))?;
        }
        Ok(())
    }

    /// Refuses to go on when `tag` exists at the destination on a digest other than `target`
    /// (unless overwriting is allowed).
    /// Returns whether the tag already names `target`.
    pub(super) async fn check_tag(
        &self,
        tag: &Tag,
        target: &Digest,
        overwrite: bool,
    ) -> Result<bool> {
        match self.client.resolve(&self.dest_ref(tag)).await {
            Ok(current) if current == *target => Ok(true),
            Ok(_) if overwrite => Ok(false),
            Ok(current) => Err(Error::TagExists {
                tag: tag.clone(),
                current,
            }),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.at(Role::Destination)),
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
}
