//! The put phase of a copy: asks the destination which manifests it already has (all at
//! once), then for each manifest in order copies its blobs not handled yet (up to
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
        root_present: bool,
        plan: &CopyPlan,
        report: &mut CopyReport,
    ) -> Result<bool> {
        let concurrency = plan.options.blob_concurrency.max(1);
        let root_ref = plan.source.reference.clone();
        let present: Vec<bool> = futures_util::future::try_join_all(walk.nodes.iter().map(|n| {
            let known = (n.reference == root_ref).then_some(root_present);
            async move {
                match known {
                    Some(p) => Ok(p),
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
    pub(super) async fn already_there(
        &self,
        reference: &Reference,
        digest: &Digest,
    ) -> Result<bool> {
        let dest = ImageRef {
            registry: self.dst.0.clone(),
            repository: self.dst.1.clone(),
            reference: reference.clone(),
        };
        match self.client.resolve(&dest).await {
            Ok(found) => Ok(found == *digest),
            Err(Error::NotFound { .. }) => Ok(false),
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
