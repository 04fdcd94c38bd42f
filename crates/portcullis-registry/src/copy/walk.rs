//! The read-only first half of a copy: fetches every manifest the copy will put — the root
//! tree, the cosign `.sig`/`.att`/`.sbom` trees and the OCI referrers with their fallback
//! index — in put order (children before parents), so the blob totals are known and every
//! refusal (missing child, empty platform subset) happens before anything is written.

use std::collections::{HashMap, HashSet};

use portcullis_core::{Digest, Reference};
use serde_json::json;

use super::Ends;
use crate::manifest::{Descriptor, ManifestContents, OCI_INDEX};
use crate::referrers::{Referrer, parse_referrers, referrers_tag};
use crate::{Error, RawManifest, Result};

/// One manifest to put at the destination under `reference`, after its `blobs`.
pub(super) struct Node {
    pub(super) reference: Reference,
    pub(super) manifest: RawManifest,
    pub(super) blobs: Vec<Descriptor>,
}

/// Everything a copy will put, in order.
#[derive(Default)]
pub(super) struct Walk {
    pub(super) nodes: Vec<Node>,
    seen: HashSet<Digest>,
    /// What the destination holds under an artifact's reference, asked right after the
    /// source's (so that a copy with nothing to put needs no second round of requests).
    pub(super) at_destination: Vec<(Reference, Option<Digest>)>,
}

impl Walk {
    /// Adds the nodes of `other` (walked on its own) after these, leaving out manifests
    /// already here under the same reference.
    pub(super) fn append(&mut self, other: Walk) {
        for node in other.nodes {
            let duplicate = self.nodes.iter().any(|n| {
                n.reference == node.reference && n.manifest.digest == node.manifest.digest
            });
            if !duplicate {
                self.nodes.push(node);
            }
        }
        self.seen.extend(other.seen);
        self.at_destination.extend(other.at_destination);
    }

    /// Unique blobs and their bytes over every node.
    pub(super) fn totals(&self) -> (usize, u64) {
        let unique: HashMap<&Digest, u64> = self
            .nodes
            .iter()
            .flat_map(|n| n.blobs.iter().map(|b| (&b.digest, b.size)))
            .collect();
        (unique.len(), unique.values().sum())
    }
}

/// Which artifacts of the root digest the source has.
#[derive(Debug, Default)]
pub(super) struct Artifacts {
    pub(super) signature: bool,
    pub(super) attestation: bool,
    pub(super) sbom: bool,
    pub(super) referrers: usize,
}

impl Ends<'_> {
    /// Adds the manifest at `reference` and its tree; `false` when the source lacks it.
    pub(super) async fn walk(&self, reference: Reference, walk: &mut Walk) -> Result<bool> {
        if let Reference::Digest(d) = &reference
            && walk.seen.contains(d)
        {
            return Ok(true);
        }
        let Some(manifest) = self
            .client
            .get_manifest(self.src.0, self.src.1, &reference)
            .await?
        else {
            return Ok(false);
        };
        self.walk_fetched(reference, manifest, walk).await?;
        Ok(true)
    }

    /// Adds an already fetched manifest, after its children.
    pub(super) async fn walk_fetched(
        &self,
        reference: Reference,
        manifest: RawManifest,
        walk: &mut Walk,
    ) -> Result<()> {
        walk.seen.insert(manifest.digest.clone());
        let blobs = match manifest.contents()? {
            ManifestContents::Index { manifests } => {
                for child in manifests {
                    self.walk_child(&child.digest, walk).await?;
                }
                Vec::new()
            }
            ManifestContents::Image { config, layers } => {
                let mut blobs = vec![config];
                blobs.extend(layers);
                blobs
            }
        };
        walk.nodes.push(Node {
            reference,
            manifest,
            blobs,
        });
        Ok(())
    }

    /// A manifest that must exist (an index child, a listed referrer); boxed because the
    /// tree is recursive.
    pub(super) async fn walk_child(&self, digest: &Digest, walk: &mut Walk) -> Result<()> {
        let found = Box::pin(self.walk(Reference::Digest(digest.clone()), walk)).await?;
        if found {
            return Ok(());
        }
        Err(Error::NotFound {
            what: format!(
                "manifest {digest} in {}/{}",
                self.src.0.as_str(),
                self.src.1.as_str()
            ),
        })
    }

    /// The cosign tags and OCI referrers of `digest`, then the referrers fallback index.
    pub(super) async fn walk_artifacts(
        &self,
        digest: &Digest,
        walk: &mut Walk,
    ) -> Result<Artifacts> {
        let cosign = |suffix| Reference::Tag(digest.cosign_tag(suffix));
        // Each tag found at the source is looked up at the destination as soon as it is read.
        let fetch = |reference: Reference| async move {
            let Some(manifest) = self
                .client
                .get_manifest(self.src.0, self.src.1, &reference)
                .await?
            else {
                return Ok(None);
            };
            let there = self.at_destination(&reference).await?;
            Ok::<_, Error>(Some((reference, manifest, there)))
        };
        // The four look-ups are independent: one round trip instead of four.
        let (sig, att, sbom, referrers) = tokio::try_join!(
            fetch(cosign("sig")),
            fetch(cosign("att")),
            fetch(cosign("sbom")),
            self.client.referrers(self.src.0, self.src.1, digest, None),
        )?;
        let mut found = Artifacts {
            signature: sig.is_some(),
            attestation: att.is_some(),
            sbom: sbom.is_some(),
            referrers: 0,
        };
        for (reference, manifest, there) in [sig, att, sbom].into_iter().flatten() {
            walk.at_destination.push((reference.clone(), there));
            self.walk_fetched(reference, manifest, walk).await?;
        }
        if referrers.is_empty() {
            return Ok(found);
        }
        for referrer in &referrers {
            self.walk_child(&referrer.digest, walk).await?;
        }
        found.referrers = referrers.len();
        let index = self.fallback_index(digest, &referrers).await?;
        walk.nodes.push(Node {
            reference: Reference::Tag(referrers_tag(digest)?),
            manifest: index,
            blobs: Vec::new(),
        });
        Ok(found)
    }

    /// The `sha256-<hex>` index to write at the destination: the source's, raw, when it has
    /// one and the destination's lists nothing more; otherwise one built from the referrers
    /// plus any the destination already lists (so no referrer there is forgotten).
    async fn fallback_index(&self, digest: &Digest, referrers: &[Referrer]) -> Result<RawManifest> {
        let tag = Reference::Tag(referrers_tag(digest)?);
        let source = self
            .client
            .get_manifest(self.src.0, self.src.1, &tag)
            .await?
            .filter(RawManifest::is_index);
        let existing = match self
            .client
            .get_manifest(self.dst.0, self.dst.1, &tag)
            .await?
        {
            Some(index) if index.is_index() => parse_referrers(&index.bytes, None)?,
            _ => Vec::new(),
        };
        let listed: HashSet<&Digest> = referrers.iter().map(|r| &r.digest).collect();
        let extra: Vec<&Referrer> = existing
            .iter()
            .filter(|r| !listed.contains(&r.digest))
            .collect();
        if let Some(raw) = source.filter(|_| extra.is_empty()) {
            return Ok(raw);
        }
        let entries: Vec<serde_json::Value> = referrers
            .iter()
            .chain(extra)
            .map(|r| {
                let mut entry =
                    json!({"mediaType": r.media_type, "digest": r.digest, "size": r.size});
                if let Some(t) = &r.artifact_type {
                    entry["artifactType"] = json!(t);
                }
                entry
            })
            .collect();
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries});
        let bytes = serde_json::to_vec(&index)
            .map_err(|e| Error::InvalidManifest(format!("referrers index: {e}")))?;
        Ok(RawManifest::new(OCI_INDEX, bytes))
    }
}
