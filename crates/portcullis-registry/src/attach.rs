//! Attaching a signed artifact to an image already in a repository, in the two layouts
//! verifiers read:
//! - cosign's `sha256-<hex>.att` manifest: one DSSE envelope a layer. A new envelope is
//!   appended to the layers already there (cosign does the same), so the build's own
//!   attestations stay beside it.
//! - an OCI 1.1 referrer: a manifest whose `subject` is the image and whose one layer is the
//!   artifact (a Sigstore bundle), with the referrers tag schema (`sha256-<hex>` index)
//!   brought up to date when the registry does not list the referrer through its API.
//!
//! The blobs both name go first, through `stage_attachments`, which may run while the image
//! itself is still being copied, and so may the first half of the `.att` append (`cosign`:
//! read the tag, push the new config); the manifests are written once the image is there.
//!
//! Both read back what they wrote and try again (up to `ATTEMPTS` times) when a concurrent
//! writer replaced the tag in between: a read-modify-write of a tag is not atomic in the
//! distribution API.

use std::collections::BTreeMap;

use portcullis_core::{Digest, Reference, RegistryHost, RepoPath};
use serde_json::{Value, json};

use crate::manifest::{OCI_INDEX, OCI_MANIFEST, RawManifest};
use crate::referrers::referrers_tag;
use crate::{Error, RegistryClient, Result, Role};

mod cosign;

pub use cosign::{MAX_ATT_LAYERS, PreparedLayer};

/// Read-modify-write rounds before giving up on a tag another writer keeps changing.
const ATTEMPTS: usize = 3;
/// The OCI empty descriptor's media type and content (`{}`).
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY: &[u8] = b"{}";

/// One blob to attach, with its descriptor's media type and annotations.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The layer's media type (`application/vnd.dsse.envelope.v1+json`, a bundle type).
    pub media_type: String,
    /// The layer's bytes.
    pub bytes: Vec<u8>,
    /// Annotations of the layer descriptor (`.att`) or of the referrer manifest.
    pub annotations: BTreeMap<String, String>,
}

/// Where an image lives, and the descriptor of its manifest (a referrer's `subject`).
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The registry.
    pub registry: &'a RegistryHost,
    /// The repository.
    pub repo: &'a RepoPath,
    /// The image manifest, as stored.
    pub manifest: &'a RawManifest,
}

/// Attachments of one kind an image keeps, in `.att` and in the referrers tag-schema index:
/// as a new one is added, the oldest of its kind beyond this many go. An image promoted again
/// and again then neither grows those manifests (which the registry checks entry by entry on
/// every write) without end nor reaches the most we, or a registry, will read.
pub const KEEP_OF_A_KIND: usize = 16;

/// An attachment's kind, from its descriptor: its artifact (or media) type and the predicate
/// type its annotations name (`predicateType` on a cosign `.att` layer,
/// `dev.sigstore.bundle.predicateType` on a bundle referrer); none without one.
fn kind(descriptor: &Value) -> Option<(&str, &str)> {
    let media = descriptor
        .get("artifactType")
        .or_else(|| descriptor.get("mediaType"))?
        .as_str()?;
    let annotations = descriptor.get("annotations")?;
    let predicate = annotations
        .get("predicateType")
        .or_else(|| annotations.get("dev.sigstore.bundle.predicateType"))?
        .as_str()?;
    Some((media, predicate))
}

/// Appends `new` to `list` after dropping the oldest entries of its kind beyond the newest
/// `KEEP_OF_A_KIND - 1`; entries of other kinds (a build's own attestations) are kept as
/// they are. Returns how many were dropped.
fn append_keeping(list: &mut Vec<Value>, new: Value) -> usize {
    let mut excess = 0;
    if let Some((media, predicate)) = kind(&new) {
        let k = (media.to_owned(), predicate.to_owned());
        let of_kind = |d: &Value| kind(d) == Some((k.0.as_str(), k.1.as_str()));
        excess = (list.iter().filter(|d| of_kind(d)).count() + 1).saturating_sub(KEEP_OF_A_KIND);
        let mut left = excess;
        list.retain(|d| {
            let drop = left > 0 && of_kind(d);
            left -= usize::from(drop);
            !drop
        });
    }
    list.push(new);
    excess
}

fn json_bytes(value: &Value, what: &str) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::InvalidManifest(format!("{what}: {e}")))
}

impl RegistryClient {
    /// Puts `artifact` as an OCI 1.1 referrer of the image (`artifactType` = its media type),
    /// lists it in the referrers tag schema when the registry's referrers API does not list
    /// it, and returns the referrer manifest's digest. Errors carry `Role::Destination`.
    pub async fn attach_referrer(
        &self,
        subject: Subject<'_>,
        artifact: &Attachment,
    ) -> Result<Digest> {
        self.attach_referrer_inner(subject, artifact)
            .await
            .map_err(|e| e.at(Role::Destination))
    }

    async fn attach_referrer_inner(&self, s: Subject<'_>, artifact: &Attachment) -> Result<Digest> {
        let empty = Digest::sha256_of(EMPTY);
        let layer = Digest::sha256_of(&artifact.bytes);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact.media_type,
            "config": {"mediaType": EMPTY_MEDIA_TYPE, "size": EMPTY.len(), "digest": empty},
            "layers": [{"mediaType": artifact.media_type, "size": artifact.bytes.len(), "digest": layer}],
            "subject": {
                "mediaType": s.manifest.media_type,
                "size": s.manifest.bytes.len(),
                "digest": s.manifest.digest,
            },
            "annotations": artifact.annotations,
        });
        let manifest = RawManifest::new(OCI_MANIFEST, json_bytes(&manifest, "referrer manifest")?);
        let reference = Reference::Digest(manifest.digest.clone());
        let entry = json!({
            "mediaType": OCI_MANIFEST,
            "size": manifest.bytes.len(),
            "digest": manifest.digest,
            "artifactType": artifact.media_type,
            "annotations": artifact.annotations,
        });
        let index_tag = Reference::Tag(referrers_tag(&s.manifest.digest)?);
        // A registry known to lack the referrers API lists referrers only in the tag-schema
        // index: it is read while the referrer is put, not listed first.
        let without_api = self.lacks_referrers_api(s.registry);
        let (put, read) = tokio::join!(
            self.put_manifest(s.registry, s.repo, &reference, &manifest),
            async {
                match without_api {
                    true => self
                        .get_manifest(s.registry, s.repo, &index_tag)
                        .await
                        .map(Some),
                    false => Ok(None),
                }
            }
        );
        put?;
        let mut read = read?;
        for attempt in 0..=ATTEMPTS {
            let index = match read.take() {
                Some(index) => index,
                None => {
                    let listed = self
                        .referrers(s.registry, s.repo, &s.manifest.digest, None)
                        .await?;
                    if listed.iter().any(|r| r.digest == manifest.digest) {
                        return Ok(manifest.digest);
                    }
                    if attempt == ATTEMPTS {
                        break;
                    }
                    self.get_manifest(s.registry, s.repo, &index_tag).await?
                }
            };
            self.put_in_index(s, &index_tag, index, &entry).await?;
        }
        Err(Error::InvalidManifest(format!(
            "referrer {} is not listed for {} after {ATTEMPTS} attempts",
            manifest.digest, s.manifest.digest
        )))
    }

    /// Puts the referrers index `tag` (as read: `index`, or none yet) with `entry` added.
    async fn put_in_index(
        &self,
        s: Subject<'_>,
        tag: &Reference,
        index: Option<RawManifest>,
        entry: &Value,
    ) -> Result<()> {
        let mut manifests = match index {
            Some(index) if index.is_index() => {
                let doc: Value = serde_json::from_slice(&index.bytes)
                    .map_err(|e| Error::InvalidManifest(format!("referrers index: {e}")))?;
                doc.get("manifests")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            }
            Some(other) => {
                return Err(Error::InvalidManifest(format!(
                    "referrers tag {tag} holds a {}, not an image index",
                    other.media_type
                )));
            }
            None => Vec::new(),
        };
        let digest = entry.get("digest");
        if manifests.iter().any(|m| m.get("digest") == digest) {
            // Listed already (an attachment written again): nothing to change.
            return Ok(());
        }
        let dropped = append_keeping(&mut manifests, entry.clone());
        if dropped > 0 {
            tracing::info!(attach.tag = %tag, attach.unlisted = dropped, "unlisted the oldest referrers of this kind");
        }
        if manifests.len() > crate::MAX_REFERRERS {
            return Err(Error::InvalidManifest(format!(
                "referrers index {tag} would list {} manifests, more than {}",
                manifests.len(),
                crate::MAX_REFERRERS
            )));
        }
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        let index = RawManifest::new(OCI_INDEX, json_bytes(&index, "referrers index")?);
        self.put_manifest(s.registry, s.repo, tag, &index).await?;
        Ok(())
    }

    /// Pushes the blobs the manifests of [`Self::attach_cosign_layer`] and
    /// [`Self::attach_referrer`] name, whatever the repository holds: each attachment's
    /// bytes and the OCI empty config, all at once. Both need it done first. It may run
    /// before the subject is in the repository (a blob no manifest names is harmless, and
    /// the registry's garbage collection takes it). Errors carry `Role::Destination`.
    pub async fn stage_attachments(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        attachments: &[&Attachment],
    ) -> Result<()> {
        let fresh = attachments
            .iter()
            .map(|a| self.push_new_blob_bytes(registry, repo, a.bytes.clone()));
        let (empty, fresh) = tokio::join!(
            self.push_blob_bytes(registry, repo, EMPTY.to_vec()),
            futures_util::future::try_join_all(fresh)
        );
        empty
            .and(fresh.map(drop))
            .map_err(|e| e.at(Role::Destination))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(n: usize, predicate: &str) -> Value {
        json!({"mediaType": "application/vnd.dsse.envelope.v1+json", "digest": format!("d{n}"),
               "annotations": {"predicateType": predicate}})
    }

    #[test]
    fn the_oldest_of_a_kind_go_and_other_kinds_stay() {
        let ours = "https://portcullis.dev/promotion/v1";
        let theirs = "https://slsa.dev/provenance/v1";
        let mut list = vec![layer(0, theirs)];
        for n in 1..=KEEP_OF_A_KIND {
            assert_eq!(append_keeping(&mut list, layer(n, ours)), 0);
        }
        assert_eq!(list.len(), KEEP_OF_A_KIND + 1);
        // One more of ours: our oldest goes; the build's provenance stays, first.
        assert_eq!(append_keeping(&mut list, layer(100, ours)), 1);
        assert_eq!(list.len(), KEEP_OF_A_KIND + 1);
        assert_eq!(list[0]["digest"], "d0");
        assert_eq!(list[1]["digest"], "d2");
        assert_eq!(list[KEEP_OF_A_KIND]["digest"], "d100");
        // Another kind is never counted against ours.
        assert_eq!(append_keeping(&mut list, layer(200, theirs)), 0);
        assert_eq!(list.len(), KEEP_OF_A_KIND + 2);
    }

    #[test]
    fn a_referrer_entry_is_of_its_artifact_type_and_bundle_predicate() {
        let entry = |n: usize| {
            json!({"mediaType": OCI_MANIFEST, "digest": format!("r{n}"),
                   "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                   "annotations": {"dev.sigstore.bundle.predicateType": "https://portcullis.dev/promotion/v1"}})
        };
        let unkinded = json!({"mediaType": OCI_MANIFEST, "digest": "x"});
        let mut list = vec![unkinded.clone()];
        for n in 0..KEEP_OF_A_KIND {
            append_keeping(&mut list, entry(n));
        }
        assert_eq!(list.len(), KEEP_OF_A_KIND + 1);
        assert_eq!(list[0], unkinded, "an entry with no kind is never dropped");
        assert_eq!(list[1]["digest"], "r0");
        assert_eq!(append_keeping(&mut list, entry(99)), 1);
        assert_eq!(list[1]["digest"], "r1");
        // Nor does an attachment with no kind drop anything.
        assert_eq!(append_keeping(&mut list, unkinded), 0);
    }
}
