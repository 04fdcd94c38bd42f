//! Signed in-toto attestations of a digest: DSSE envelopes found in cosign's layout (the
//! `sha256-<hex>.att` manifest, one envelope per layer) and through OCI 1.1 referrers (the
//! referrers API, or the referrers tag schema where the registry has no API). An envelope
//! reaches the evidence items only when a trusted key verified it, it is an in-toto statement
//! about the promoted digest and its predicate parsed; everything else is recorded as
//! rejected. A registry failure fails closed: `AttestationEvidence.error` is set.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use portcullis_core::{
    AttestationEvidence, Digest, EvidenceItems, EvidenceOrigin, ImageRef, Reference,
    RejectedAttestation,
};
use portcullis_registry::{Descriptor, ManifestContents, RawManifest, RegistryClient};
use serde::Deserialize;

use crate::TrustedKey;
use crate::dsse::{DSSE_MEDIA_TYPE, Envelope, IN_TOTO_PAYLOAD_TYPE, MAX_ENVELOPE_BYTES};
use crate::statement::Statement;

/// More envelopes than this on one digest is not something we verify; fail closed.
pub const MAX_ENVELOPES: usize = 64;
/// Referrer manifests read per digest unless configured (`limits.max_referrers`); more is
/// not something we read: fail closed before fetching any of them.
pub const MAX_ATTESTATION_REFERRERS: usize = 256;

/// Finds and verifies the attestations of a digest against the trusted keys.
#[derive(Debug, Clone)]
pub struct AttestationVerifier {
    keys: Arc<[TrustedKey]>,
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

impl Collected {
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
            registry,
            max_referrers: MAX_ATTESTATION_REFERRERS,
        }
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
            match self.verify(&bytes, digest) {
                Ok((predicate_type, items)) => {
                    out.evidence.verified += 1;
                    out.predicate_types.insert(predicate_type);
                    out.items.extend(items);
                }
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

    /// Verifies one envelope: trusted signature, in-toto payload, subject, predicate.
    fn verify(&self, bytes: &[u8], digest: &Digest) -> Result<(String, EvidenceItems), String> {
        let envelope = Envelope::parse(bytes)?;
        let key_ids = envelope.verified_key_ids(&self.keys);
        if key_ids.is_empty() {
            let hinted = envelope.hinted_key_ids(&self.keys);
            if hinted.is_empty() {
                return Err("no trusted signature".into());
            }
            return Err(format!(
                "signature names trusted key {} but does not verify: payload or signature altered",
                hinted.join(", ")
            ));
        }
        if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
            return Err(format!(
                "payload type {:?} is not {IN_TOTO_PAYLOAD_TYPE}",
                envelope.payload_type
            ));
        }
        let statement = Statement::decode(&envelope.payload)?;
        statement.check_subject(digest)?;
        let origin = EvidenceOrigin::SignedAttestation {
            key_ids,
            predicate_type: statement.predicate_type.clone(),
        };
        let items = statement.items(origin)?;
        Ok((statement.predicate_type, items))
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
