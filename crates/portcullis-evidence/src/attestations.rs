//! Signed in-toto attestations of a digest: DSSE envelopes found in cosign's layout (the
//! `sha256-<hex>.att` manifest, one envelope per layer) and through OCI 1.1 referrers (the
//! referrers API, or the referrers tag schema where the registry has no API). An envelope
//! reaches the evidence items only when a trusted key verified it, it is an in-toto statement
//! about the promoted digest and its predicate parsed; everything else is recorded as
//! rejected. A registry failure fails closed: `AttestationEvidence.error` is set.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use portcullis_core::{
    AcceptedAttestation, AttestationEvidence, Digest, EvidenceItems, ImageRef, Reference,
    RejectedAttestation,
};
use portcullis_registry::{Descriptor, ManifestContents, RawManifest, RegistryClient};
use serde::Deserialize;

use crate::TrustedKey;
use crate::bundles;
use crate::dsse::{DSSE_MEDIA_TYPE, MAX_ENVELOPE_BYTES};
use crate::keyless::KeylessHandle;
use crate::keyless::bundle::BundleKind;

mod verify;

use verify::statement_items;

/// More envelopes than this on one digest is not something we verify; fail closed.
pub const MAX_ENVELOPES: usize = 64;
/// Referrer manifests read per digest unless configured (`limits.max_referrers`); more is
/// not something we read: fail closed before fetching any of them.
pub const MAX_ATTESTATION_REFERRERS: usize = 256;

/// Finds and verifies the attestations of a digest against the trusted keys.
#[derive(Debug, Clone)]
pub struct AttestationVerifier {
    keys: Arc<[TrustedKey]>,
    keyless: Option<KeylessHandle>,
    registry: RegistryClient,
    max_referrers: usize,
}

/// Where an envelope was found, and its layer.
struct Found {
    location: String,
    layer: Descriptor,
}

/// What `collect` accumulates.
#[derive(Default)]
struct Collected {
    evidence: AttestationEvidence,
    items: EvidenceItems,
    predicate_types: BTreeSet<String>,
}

/// An envelope that verified, before its items are added.
pub(super) struct Accepted {
    pub(super) predicate_type: String,
    pub(super) key_ids: Vec<String>,
    pub(super) signer: Option<portcullis_core::Signer>,
}

impl Collected {
    fn accept(&mut self, location: String, accepted: Accepted, items: EvidenceItems) {
        self.evidence.verified += 1;
        self.predicate_types.insert(accepted.predicate_type.clone());
        self.items.extend(items);
        self.evidence.accepted.push(AcceptedAttestation {
            location,
            predicate_type: accepted.predicate_type,
            key_ids: accepted.key_ids,
            signer: accepted.signer,
        });
    }

    fn reject(&mut self, location: String, reason: String) {
        tracing::info!(attestation.location = %location, attestation.reason = %reason, "attestation rejected");
        self.evidence
            .rejected
            .push(RejectedAttestation { location, reason });
    }
}

#[derive(Deserialize)]
struct Subject {
    subject: Option<SubjectDescriptor>,
}

#[derive(Deserialize)]
struct SubjectDescriptor {
    digest: String,
}

impl AttestationVerifier {
    /// A verifier over `keys` that fetches through `registry`.
    pub fn new(keys: Arc<[TrustedKey]>, registry: RegistryClient) -> Self {
        Self {
            keys,
            keyless: None,
            registry,
            max_referrers: MAX_ATTESTATION_REFERRERS,
        }
    }

    /// Also accepts keyless attestations (a Fulcio certificate with a transparency-log entry
    /// of the envelope, in the `.att` layout or a Sigstore bundle) whose identity `keyless`
    /// trusts; each matching identity id counts like a key id.
    pub fn with_keyless(mut self, keyless: impl Into<KeylessHandle>) -> Self {
        self.keyless = Some(keyless.into());
        self
    }

    /// Reads at most `max` referrer manifests of a digest: a digest with more is refused
    /// (the attestations fail closed) before any of them is fetched.
    pub fn with_max_referrers(mut self, max: usize) -> Self {
        self.max_referrers = max;
        self
    }

    /// Looks up, verifies and parses the attestations of `image`'s `digest`. Never fails:
    /// a registry error is reported in `AttestationEvidence.error` (with no items), which the
    /// policy denies.
    pub async fn collect(
        &self,
        image: &ImageRef,
        digest: &Digest,
    ) -> (AttestationEvidence, EvidenceItems) {
        let mut out = Collected::default();
        match self.collect_into(image, digest, &mut out).await {
            Ok(()) => {
                out.evidence.predicate_types = out.predicate_types.into_iter().collect();
                (out.evidence, out.items)
            }
            Err(reason) => {
                tracing::warn!(image.digest = %digest, attestation.error = %reason, "attestations could not be fetched");
                let evidence = AttestationEvidence {
                    found: out.evidence.found,
                    error: Some(reason),
                    ..AttestationEvidence::default()
                };
                (evidence, EvidenceItems::default())
            }
        }
    }

    async fn collect_into(
        &self,
        image: &ImageRef,
        digest: &Digest,
        out: &mut Collected,
    ) -> Result<(), String> {
        let mut envelopes = self.cosign_layout(image, digest).await?;
        envelopes.extend(self.referrers(image, digest, out).await?);
        self.bundles(image, digest, out).await?;
        let mut seen = HashSet::new();
        envelopes.retain(|f| seen.insert(f.layer.digest.clone()));
        if envelopes.len() > MAX_ENVELOPES {
            return Err(format!(
                "{} attestations, more than {MAX_ENVELOPES}",
                envelopes.len()
            ));
        }
        out.evidence.found += envelopes.len();
        for found in envelopes {
            let bytes = match self.fetch_envelope(image, &found.layer).await? {
                Ok(bytes) => bytes,
                Err(reason) => {
                    out.reject(found.location, reason);
                    continue;
                }
            };
            match self.verify(&bytes, &found.layer, digest) {
                Ok((accepted, items)) => out.accept(found.location, accepted, items),
                Err(reason) => out.reject(found.location, reason),
            }
        }
        Ok(())
    }

    /// The DSSE layers of the cosign `.att` manifest; none when it does not exist.
    async fn cosign_layout(&self, image: &ImageRef, digest: &Digest) -> Result<Vec<Found>, String> {
        let tag = digest.cosign_tag("att");
        let reference = Reference::Tag(tag.clone());
        let manifest = self
            .registry
            .get_manifest(&image.registry, &image.repository, &reference)
            .await
            .map_err(|e| format!("fetching {tag}: {e}"))?;
        let Some(manifest) = manifest else {
            return Ok(Vec::new());
        };
        let layers = dsse_layers(&manifest).map_err(|e| format!("{tag}: {e}"))?;
        Ok(layers
            .into_iter()
            .map(|(i, layer)| Found {
                location: format!("{tag} layer {i}"),
                layer,
            })
            .collect())
    }

    /// The DSSE layers of the referrer manifests whose subject is `digest`. A referrer that
    /// is missing or names another subject is rejected, not an error.
    async fn referrers(
        &self,
        image: &ImageRef,
        digest: &Digest,
        out: &mut Collected,
    ) -> Result<Vec<Found>, String> {
        let (registry, repo) = (&image.registry, &image.repository);
        let referrers = self
            .registry
            .referrers(registry, repo, digest, Some(DSSE_MEDIA_TYPE))
            .await
            .map_err(|e| format!("listing referrers of {digest}: {e}"))?;
        if referrers.len() > self.max_referrers {
            return Err(format!(
                "{digest} has {} attestation referrers, more than limits.max_referrers = {}; none were read",
                referrers.len(),
                self.max_referrers
            ));
        }
        let mut found = Vec::new();
        for referrer in referrers {
            let location = format!("referrer {}", referrer.digest);
            let manifest = self
                .registry
                .get_manifest(registry, repo, &Reference::Digest(referrer.digest.clone()))
                .await
                .map_err(|e| format!("fetching {location}: {e}"))?;
            let Some(manifest) = manifest else {
                out.evidence.found += 1;
                out.reject(location, "referrer manifest does not exist".into());
                continue;
            };
            let subject = serde_json::from_slice::<Subject>(&manifest.bytes)
                .ok()
                .and_then(|s| s.subject)
                .map(|s| s.digest);
            if subject.as_deref() != Some(digest.as_str()) {
                out.evidence.found += 1;
                let named = subject.unwrap_or_else(|| "nothing".into());
                out.reject(
                    location,
                    format!("referrer subject is {named}, not {digest}"),
                );
                continue;
            }
            match dsse_layers(&manifest) {
                Ok(layers) => found.extend(layers.into_iter().map(|(i, layer)| Found {
                    location: format!("{location} layer {i}"),
                    layer,
                })),
                Err(reason) => {
                    out.evidence.found += 1;
                    out.reject(location, reason);
                }
            }
        }
        Ok(found)
    }

    /// Fetches one envelope blob. The outer error is a registry failure (fail closed); the
    /// inner one a reason to reject this envelope alone.
    async fn fetch_envelope(
        &self,
        image: &ImageRef,
        layer: &Descriptor,
    ) -> Result<Result<Vec<u8>, String>, String> {
        use portcullis_registry::Error as E;
        if layer.size > MAX_ENVELOPE_BYTES {
            return Ok(Err(format!(
                "envelope is {} bytes, more than {MAX_ENVELOPE_BYTES}",
                layer.size
            )));
        }
        match self
            .registry
            .get_blob_bytes(
                &image.registry,
                &image.repository,
                &layer.digest,
                MAX_ENVELOPE_BYTES,
            )
            .await
        {
            Ok(bytes) => Ok(Ok(bytes)),
            Err(e @ (E::NotFound { .. } | E::TooLarge { .. } | E::DigestMismatch { .. })) => {
                Ok(Err(format!("envelope blob {}: {e}", layer.digest)))
            }
            Err(e) => Err(format!("fetching envelope {}: {e}", layer.digest)),
        }
    }

    /// The Sigstore bundles among the referrers that are attestations.
    async fn bundles(
        &self,
        image: &ImageRef,
        digest: &Digest,
        out: &mut Collected,
    ) -> Result<(), String> {
        let found = bundles::find(&self.registry, image, digest, self.max_referrers).await?;
        for bundle in found {
            let parsed = match bundle.parsed {
                Ok(parsed) if parsed.is_image_signature() => continue,
                Ok(parsed) => parsed,
                Err(reason) => {
                    out.evidence.found += 1;
                    out.reject(bundle.location, reason);
                    continue;
                }
            };
            out.evidence.found += 1;
            let keyless = self.keyless.as_ref().map(KeylessHandle::current);
            let verified = parsed.verify(digest, None, keyless.as_deref(), &self.keys);
            let outcome = verified.and_then(|v| match v.kind {
                BundleKind::Attestation {
                    predicate_type,
                    payload,
                } => {
                    let accepted = Accepted {
                        predicate_type,
                        key_ids: v.ids,
                        signer: v.signer,
                    };
                    statement_items(&payload, digest, &accepted).map(|items| (accepted, items))
                }
                BundleKind::ImageSignature => Err("an image signature, not an attestation".into()),
            });
            match outcome {
                Ok((accepted, items)) => out.accept(bundle.location, accepted, items),
                Err(reason) => out.reject(bundle.location, reason),
            }
        }
        Ok(())
    }
}

/// The DSSE envelope layers of an image manifest, with their layer index.
fn dsse_layers(manifest: &RawManifest) -> Result<Vec<(usize, Descriptor)>, String> {
    match manifest.contents().map_err(|e| e.to_string())? {
        ManifestContents::Image { layers, .. } => Ok(layers
            .into_iter()
            .enumerate()
            .filter(|(_, l)| l.media_type == DSSE_MEDIA_TYPE)
            .collect()),
        ManifestContents::Index { .. } => Err("an image index, not an attestation manifest".into()),
    }
}
