//! cosign's `sha256-<hex>.att` layout: one DSSE envelope a layer, a new envelope appended to
//! the layers already there (cosign does the same), under a config whose `rootfs.diff_ids`
//! name the layers.
//!
//! Appending is a read-modify-write of the tag. Its first half (read the tag, push the new
//! config) may be done ahead, while the image is still being copied
//! (`prepare_cosign_layer`); the write then only checks that the tag still holds what was
//! read, puts the manifest and reads it back. Two of the five registry round trips leave the
//! path between the copy's end and `promoted`.

use portcullis_core::{Digest, Reference, RegistryHost, RepoPath};
use serde_json::{Value, json};

use super::{ATTEMPTS, Attachment, Subject, append_keeping, json_bytes};
use crate::manifest::{OCI_MANIFEST, RawManifest};
use crate::{Error, RegistryClient, Result, Role};

/// Layers on one `.att` manifest beyond which nothing more is appended.
pub const MAX_ATT_LAYERS: usize = 64;
/// The config media type cosign gives its `.att` manifests.
const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";

/// The first half of appending a layer to a `.att` tag, done ahead: what the tag held when it
/// was read, and what to put over it (its config already pushed).
#[derive(Debug, Clone)]
pub struct PreparedLayer(Plan);

#[derive(Debug, Clone)]
enum Plan {
    /// The tag already holds the layer, in this manifest.
    Present(Digest),
    /// Put `manifest` (the layers read plus the new one) over `based_on` (none: no tag yet).
    Put {
        based_on: Option<Digest>,
        manifest: RawManifest,
    },
}

/// The new layer's descriptor, with the digest it is known by.
struct Layer {
    digest: String,
    descriptor: Value,
}

impl Layer {
    fn of(envelope: &Attachment) -> Self {
        let digest = Digest::sha256_of(&envelope.bytes);
        let descriptor = json!({
            "mediaType": envelope.media_type,
            "size": envelope.bytes.len(),
            "digest": digest,
            "annotations": envelope.annotations,
        });
        Self {
            digest: digest.to_string(),
            descriptor,
        }
    }
}

fn att_tag(subject: &Digest) -> Reference {
    Reference::Tag(subject.cosign_tag("att"))
}

impl RegistryClient {
    /// Reads the `.att` tag of `subject` in `repo` and pushes the config of the manifest that
    /// appends `envelope` to it, without writing the tag. Errors carry `Role::Destination`.
    pub async fn prepare_cosign_layer(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        subject: &Digest,
        envelope: &Attachment,
    ) -> Result<PreparedLayer> {
        let tag = att_tag(subject);
        let existing = self.get_manifest(registry, repo, &tag).await;
        self.plan(registry, repo, &tag, existing, &Layer::of(envelope))
            .await
            .map(PreparedLayer)
            .map_err(|e| e.at(Role::Destination))
    }

    /// Appends `envelope` as a layer of the image's cosign `.att` manifest (made when
    /// missing) and returns the manifest's new digest; `prepared` (from
    /// [`Self::prepare_cosign_layer`]) is used when the tag still holds what it was made
    /// over. Already there: nothing is written. Errors carry `Role::Destination`.
    pub async fn attach_cosign_layer(
        &self,
        subject: Subject<'_>,
        envelope: &Attachment,
        prepared: Option<&PreparedLayer>,
    ) -> Result<Digest> {
        self.attach_layer(subject, envelope, prepared)
            .await
            .map_err(|e| e.at(Role::Destination))
    }

    async fn attach_layer(
        &self,
        s: Subject<'_>,
        envelope: &Attachment,
        prepared: Option<&PreparedLayer>,
    ) -> Result<Digest> {
        let layer = Layer::of(envelope);
        let tag = att_tag(&s.manifest.digest);
        let mut ready = prepared.map(|p| p.0.clone());
        for _ in 0..ATTEMPTS {
            let existing = self.get_manifest(s.registry, s.repo, &tag).await;
            let plan = match ready.take() {
                Some(plan) if still_holds(&plan, &existing) => plan,
                _ => {
                    self.plan(s.registry, s.repo, &tag, existing, &layer)
                        .await?
                }
            };
            let manifest = match plan {
                Plan::Present(digest) => return Ok(digest),
                Plan::Put { manifest, .. } => manifest,
            };
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

    /// What appending `layer` to the tag as read (`existing`) takes: nothing when the layer
    /// is there, else a manifest over the layers read plus it, its config pushed.
    async fn plan(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        tag: &Reference,
        existing: Result<Option<RawManifest>>,
        layer: &Layer,
    ) -> Result<Plan> {
        let existing = existing?;
        let mut layers = match &existing {
            Some(m) => att_layers(m)?,
            None => Vec::new(),
        };
        if let Some(m) = &existing
            && layer_digests(&layers).contains(&layer.digest)
        {
            return Ok(Plan::Present(m.digest.clone()));
        }
        let dropped = append_keeping(&mut layers, layer.descriptor.clone());
        if dropped > 0 {
            tracing::info!(attach.tag = %tag, attach.dropped = dropped, "dropped the oldest attestation layers of this kind");
        }
        if layers.len() > MAX_ATT_LAYERS {
            return Err(Error::InvalidManifest(format!(
                "{tag} would hold {} layers, more than the {MAX_ATT_LAYERS} an attestation manifest may",
                layers.len()
            )));
        }
        let manifest = self.att_manifest(registry, repo, &layers).await?;
        Ok(Plan::Put {
            based_on: existing.map(|m| m.digest),
            manifest,
        })
    }

    /// The `.att` manifest over `layers`, with cosign's config (its `rootfs.diff_ids` name
    /// the layers), the config pushed.
    async fn att_manifest(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        layers: &[Value],
    ) -> Result<RawManifest> {
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
        let config_digest = self.push_new_blob_bytes(registry, repo, config).await?;
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
}

/// Whether a plan made ahead still applies to the tag as read now: it holds the same
/// manifest (or still none).
fn still_holds(plan: &Plan, now: &Result<Option<RawManifest>>) -> bool {
    let now = match now {
        Ok(m) => m.as_ref().map(|m| &m.digest),
        Err(_) => return false,
    };
    match plan {
        Plan::Present(digest) => now == Some(digest),
        Plan::Put { based_on, .. } => now == based_on.as_ref(),
    }
}

fn layer_digests(layers: &[Value]) -> Vec<String> {
    layers
        .iter()
        .filter_map(|l| l.get("digest").and_then(Value::as_str).map(str::to_owned))
        .collect()
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

    const DIGEST: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

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
        assert_eq!(layer_digests(&layers), [DIGEST]);
        let index = RawManifest::new(
            crate::manifest::OCI_INDEX,
            br#"{"schemaVersion":2,"manifests":[]}"#.to_vec(),
        );
        assert!(att_layers(&index).is_err());
    }

    #[test]
    fn a_plan_made_ahead_holds_only_over_the_manifest_it_was_made_over() {
        let read = RawManifest::new(OCI_MANIFEST, br#"{"layers":[]}"#.to_vec());
        let other = RawManifest::new(OCI_MANIFEST, br#"{"layers":[{}]}"#.to_vec());
        let put = |based_on: Option<&RawManifest>| Plan::Put {
            based_on: based_on.map(|m| m.digest.clone()),
            manifest: other.clone(),
        };
        // Made over the manifest read: holds while the tag still holds it.
        assert!(still_holds(&put(Some(&read)), &Ok(Some(read.clone()))));
        assert!(!still_holds(&put(Some(&read)), &Ok(Some(other.clone()))));
        assert!(!still_holds(&put(Some(&read)), &Ok(None)));
        // Made over no tag: holds until somebody writes one.
        assert!(still_holds(&put(None), &Ok(None)));
        assert!(!still_holds(&put(None), &Ok(Some(read.clone()))));
        // Found already there: holds while that manifest is still the tag's.
        let present = Plan::Present(read.digest.clone());
        assert!(still_holds(&present, &Ok(Some(read.clone()))));
        assert!(!still_holds(&present, &Ok(Some(other.clone()))));
        // A read that failed proves nothing.
        let failed = Err(Error::InvalidManifest("down".into()));
        assert!(!still_holds(&put(None), &failed));
    }
}
