//! The put phase of a copy: asks the destination which manifests it already has (all at
//! once, except those the plan phase looked up), then for each manifest in order copies its blobs not handled yet (up to
//! `blob_concurrency` at a time) and puts it raw, reporting progress as things land.

use std::collections::HashSet;

use futures_util::{StreamExt, TryStreamExt};
use portcullis_core::{Digest, ImageRef, Reference};

use super::walk::{Node, Walk};
use super::{CopyPlan, CopyReport, Ends};
use crate::blobs::BlobOutcome;
use crate::{Error, RawManifest, Result, Role};

impl Ends<'_> {
    /// Puts every node of `walk`; returns whether `target` was already at the destination
    /// by digest (so needs no further confirmation).
    pub(super) async fn put_all(
        &self,
        walk: Walk,
        target: &RawManifest,
        dest_known: &[(Reference, Option<Digest>)],
        plan: &CopyPlan,
        report: &mut CopyReport,
    ) -> Result<bool> {
        let concurrency = plan.options.blob_concurrency.max(1);
        let present: Vec<bool> = futures_util::future::try_join_all(walk.nodes.iter().map(|n| {
            let known = dest_known.iter().find(|(r, _)| *r == n.reference);
            async move {
                match known {
                    Some((_, found)) => Ok(found.as_ref() == Some(&n.manifest.digest)),
                    None => self.already_there(&n.reference, &n.manifest.digest).await,
                }
            }
        }))
        .await?;
        let mut done = HashSet::new();
        let mut target_found = false;
        for (node, present) in walk.nodes.into_iter().zip(present) {
            let is_target = node.manifest.digest == target.digest
                && matches!(node.reference, Reference::Digest(_));
            self.put_node(node, present, concurrency, &mut done, report)
                .await?;
            target_found |= is_target && present;
        }
        Ok(target_found)
    }

    /// Whether the destination already has `node`'s manifest under its reference, with the
    /// same digest. A registry accepts a manifest only once everything it names is there, so
    /// its blobs (and an index's children) need no further look.
    async fn already_there(&self, reference: &Reference, digest: &Digest) -> Result<bool> {
        Ok(self.at_destination(reference).await?.as_ref() == Some(digest))
    }

    /// The digest the destination holds under `reference` (for a digest reference: that
    /// digest, if present); `None` when it has nothing there.
    pub(super) async fn at_destination(&self, reference: &Reference) -> Result<Option<Digest>> {
        let dest = ImageRef {
            registry: self.dst.0.clone(),
            repository: self.dst.1.clone(),
            reference: reference.clone(),
        };
        match self.client.resolve(&dest).await {
            Ok(found) => Ok(Some(found)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.at(Role::Destination)),
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
            .await
            .map_err(Error::at_end(Role::Destination))?;
        report.manifests_copied += 1;
        (self.progress)(report);
        Ok(())
    }
}
