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
//! itself is still being copied; the manifests are written once it is there.
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

/// Read-modify-write rounds before giving up on a tag another writer keeps changing.
const ATTEMPTS: usize = 3;
/// Layers on one `.att` manifest beyond which nothing more is appended.
pub const MAX_ATT_LAYERS: usize = 64;
/// The OCI empty descriptor's media type and content (`{}`).
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY: &[u8] = b"{}";
/// The config media type cosign gives its `.att` manifests.
const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";

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

fn json_bytes(value: &Value, what: &str) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::InvalidManifest(format!("{what}: {e}")))
}

fn layer_digests(layers: &[Value]) -> Vec<String> {
    layers
        .iter()
        .filter_map(|l| l.get("digest").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

impl RegistryClient {
    /// Appends `envelope` as a layer of the image's cosign `.att` manifest (made when
    /// missing) and returns the manifest's new digest. Already there: nothing is written.
    /// Errors carry `Role::Destination`.
    pub async fn attach_cosign_layer(
        &self,
        subject: Subject<'_>,
        envelope: &Attachment,
    ) -> Result<Digest> {
        self.attach_layer(subject, envelope)
            .await
            .map_err(|e| e.at(Role::Destination))
    }

    async fn attach_layer(&self, s: Subject<'_>, envelope: &Attachment) -> Result<Digest> {
        let layer = Digest::sha256_of(&envelope.bytes);
        let tag = Reference::Tag(s.manifest.digest.cosign_tag("att"));
        let descriptor = json!({
            "mediaType": envelope.media_type,
            "size": envelope.bytes.len(),
            "digest": layer,
            "annotations": envelope.annotations,
        });
        for _ in 0..ATTEMPTS {
            let existing = self.get_manifest(s.registry, s.repo, &tag).await?;
            let mut layers = match &existing {
                Some(m) => att_layers(m)?,
                None => Vec::new(),
            };
            if layer_digests(&layers).contains(&layer.to_string())
                && let Some(m) = existing
            {
                return Ok(m.digest);
            }
            if layers.len() >= MAX_ATT_LAYERS {
                return Err(Error::InvalidManifest(format!(
                    "{tag} already holds {} layers, the most an attestation manifest may",
                    layers.len()
                )));
            }
            layers.push(descriptor.clone());
            let manifest = self.att_manifest(s, &layers).await?;
            self.put_manifest(s.registry, s.repo, &tag, &manifest)
                .await?;
            let now = self.get_manifest(s.registry, s.repo, &tag).await?;
            if now.is_some_and(|m| m.digest == manifest.digest) {
                return Ok(manifest.digest);
            }
            tracing::warn!(attach.tag = %tag, "the attestation tag changed under us; appending again");
        }
        Err(Error::InvalidManifest(format!(
            "{tag} kept changing while the attestation was appended ({ATTEMPTS} attempts)"
        )))
    }

    /// The `.att` manifest over `layers`, with cosign's config (its `rootfs.diff_ids` name
    /// the layers), the config pushed.
    async fn att_manifest(&self, s: Subject<'_>, layers: &[Value]) -> Result<RawManifest> {
        let zero = "0001-01-01T00:00:00Z";
        let config = json!({
            "architecture": "",
            "created": zero,
            "history": [{"created": zero}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": layer_digests(layers)},
            "config": {},
        });
        let config = json_bytes(&config, "attestation config")?;
        let size = config.len();
        // Its `diff_ids` name a layer just signed: nothing to ask the registry first.
        let config_digest = self.push_new_blob_bytes(s.registry, s.repo, config).await?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "size": size, "digest": config_digest},
            "layers": layers,
        });
        Ok(RawManifest::new(
            OCI_MANIFEST,
            json_bytes(&manifest, "attestation manifest")?,
        ))
    }

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
        if manifests.len() >= crate::MAX_REFERRERS {
            return Err(Error::InvalidManifest(format!(
                "referrers index {tag} already lists {} manifests",
                manifests.len()
            )));
        }
        manifests.push(entry.clone());
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

/// The layer descriptors of an existing `.att` manifest, kept as written.
fn att_layers(manifest: &RawManifest) -> Result<Vec<Value>> {
    if manifest.is_index() {
        return Err(Error::InvalidManifest(
            "the .att tag holds an image index, not an attestation manifest".into(),
        ));
    }
    let doc: Value = serde_json::from_slice(&manifest.bytes)
        .map_err(|e| Error::InvalidManifest(format!(".att manifest: {e}")))?;
    Ok(doc
        .get("layers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_att_layers_are_kept_as_written() {
        let bytes = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"mediaType":"x","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
            "layers":[{"mediaType":"application/vnd.dsse.envelope.v1+json","size":3,
            "digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            "annotations":{"predicateType":"https://slsa.dev/provenance/v1"}}]}"#;
        let manifest = RawManifest::new(OCI_MANIFEST, bytes.to_vec());
        let layers = att_layers(&manifest).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(layers.len(), 1);
        assert_eq!(
            layers[0]["annotations"]["predicateType"],
            "https://slsa.dev/provenance/v1"
        );
        assert_eq!(
            layer_digests(&layers),
            ["sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"]
        );
        let index = RawManifest::new(OCI_INDEX, br#"{"schemaVersion":2,"manifests":[]}"#.to_vec());
        assert!(att_layers(&index).is_err());
    }
}
