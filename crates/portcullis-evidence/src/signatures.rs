//! Cosign signature verification. We fetch the `sha256-<hex>.sig` artifact ourselves so
//! that "no signature exists" (404) and "the signature could not be fetched" (any other
//! failure) stay distinct — sigstore's `trusted_signature_layers` folds both into an empty
//! list — and then verify each layer with sigstore's `PublicKeyVerifier`. Both outcomes deny.

use std::collections::BTreeSet;

use portcullis_core::{
    Digest, ImageRef, Reference, SignatureEvidence, SignatureItem, SignatureStatus,
};
use portcullis_registry::RegistryClient;
use sigstore::cosign::SignatureLayer;
use sigstore::cosign::payload::SimpleSigning;
use sigstore::cosign::verification_constraint::VerificationConstraint;

use crate::TrustedKey;
use crate::bundles;
use crate::keyless::{self, KeylessHandle};

const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// A simple-signing payload is a few hundred bytes; refuse anything absurd.
const MAX_PAYLOAD_BYTES: u64 = 1 << 20;
/// More layers than this in one `.sig` manifest is not a signature artifact we accept.
const MAX_SIGNATURE_LAYERS: usize = 64;

/// Verifies the cosign signatures of a digest against the trusted keys.
#[derive(Debug)]
pub struct SignatureVerifier {
    keys: std::sync::Arc<[TrustedKey]>,
    keyless: Option<KeylessHandle>,
    registry: RegistryClient,
    max_referrers: usize,
}

impl SignatureVerifier {
    /// A verifier over `keys` that fetches through `registry`.
    pub fn new(keys: impl Into<std::sync::Arc<[TrustedKey]>>, registry: RegistryClient) -> Self {
        Self {
            keys: keys.into(),
            keyless: None,
            registry,
            max_referrers: crate::MAX_ATTESTATION_REFERRERS,
        }
    }

    /// Also accepts keyless (Fulcio certificate + Rekor bundle) signatures whose identity
    /// `keyless` trusts; each matching identity id counts like a key id.
    pub fn with_keyless(mut self, keyless: impl Into<KeylessHandle>) -> Self {
        self.keyless = Some(keyless.into());
        self
    }

    /// Reads at most `max` referrer manifests of a digest (`limits.max_referrers`).
    pub fn with_max_referrers(mut self, max: usize) -> Self {
        self.max_referrers = max;
        self
    }

    /// Looks up and verifies the signatures of `image`'s `digest`: the cosign `.sig` layers
    /// and the Sigstore bundles attached as referrers. Never fails: a fetch error is
    /// reported as `SignatureStatus::FetchFailed`, which the policy denies.
    pub async fn verify(&self, image: &ImageRef, digest: &Digest) -> SignatureEvidence {
        let mut items = Vec::new();
        let outcome = match self.sig_layers(image, digest, &mut items).await {
            Ok(()) => self.bundles(image, digest, &mut items).await,
            Err(e) => Err(e),
        };
        if let Err(reason) = outcome {
            return SignatureEvidence {
                status: SignatureStatus::FetchFailed,
                verified_key_ids: Vec::new(),
                signatures_found: 0,
                error: Some(reason),
                signers: Vec::new(),
                items,
            };
        }
        let verified: BTreeSet<String> = items
            .iter()
            .flat_map(|i| i.verified_ids.iter().cloned())
            .collect();
        let status = match (items.is_empty(), verified.is_empty()) {
            (true, _) => SignatureStatus::Unsigned,
            (false, true) => SignatureStatus::Untrusted,
            (false, false) => SignatureStatus::Verified,
        };
        SignatureEvidence {
            status,
            verified_key_ids: verified.into_iter().collect(),
            signatures_found: items.len(),
            error: None,
            signers: items.iter().filter_map(|i| i.signer.clone()).collect(),
            items,
        }
    }

    /// The Sigstore bundles among the digest's referrers that are image signatures.
    async fn bundles(
        &self,
        image: &ImageRef,
        digest: &Digest,
        items: &mut Vec<SignatureItem>,
    ) -> std::result::Result<(), String> {
        let found = bundles::find(&self.registry, image, digest, self.max_referrers).await?;
        let mut manifest = None;
        for bundle in found {
            let parsed = match bundle.parsed {
                Ok(parsed) if !parsed.is_image_signature() => continue,
                Ok(parsed) => parsed,
                Err(reason) => {
                    items.push(SignatureItem::rejected(bundle.location, reason));
                    continue;
                }
            };
            if parsed.needs_manifest() && manifest.is_none() {
                manifest = self
                    .registry
                    .get_manifest(
                        &image.registry,
                        &image.repository,
                        &Reference::Digest(digest.clone()),
                    )
                    .await
                    .map_err(|e| format!("fetching {digest}: {e}"))?
                    .map(|m| m.bytes);
            }
            let keyless = self.keyless.as_ref().map(KeylessHandle::current);
            let keyless = keyless.as_deref();
            match parsed.verify(digest, manifest.as_deref(), keyless, &self.keys) {
                Ok(v) => items.push(SignatureItem {
                    location: bundle.location,
                    verified_ids: v.ids,
                    signer: v.signer,
                    rejected: None,
                }),
                Err(reason) => {
                    tracing::info!(signature.location = %bundle.location, %reason, "bundle signature not trusted");
                    items.push(SignatureItem::rejected(bundle.location, reason));
                }
            }
        }
        Ok(())
    }

    /// The cosign `.sig` layers of the digest; none when the `.sig` manifest does not exist.
    async fn sig_layers(
        &self,
        image: &ImageRef,
        digest: &Digest,
        items: &mut Vec<SignatureItem>,
    ) -> std::result::Result<(), String> {
        let tag = Reference::Tag(digest.cosign_tag("sig"));
        let manifest = self
            .registry
            .get_manifest(&image.registry, &image.repository, &tag)
            .await
            .map_err(|e| format!("fetching {tag}: {e}"))?;
        let Some(manifest) = manifest else {
            return Ok(());
        };
        let doc: serde_json::Value = serde_json::from_slice(&manifest.bytes)
            .map_err(|e| format!("{tag} is not JSON: {e}"))?;
        let layers = doc
            .get("layers")
            .and_then(|l| l.as_array())
            .ok_or_else(|| format!("{tag} is not an image manifest (no layers)"))?;
        if layers.len() > MAX_SIGNATURE_LAYERS {
            return Err(format!(
                "{tag} has {} layers, more than {MAX_SIGNATURE_LAYERS}",
                layers.len()
            ));
        }
        for (i, layer) in layers.iter().enumerate() {
            if layer.get("mediaType").and_then(|m| m.as_str()) != Some(SIMPLE_SIGNING_MEDIA_TYPE) {
                continue;
            }
            let location = format!("{tag} layer {i}");
            let Some(sig_layer) = self.load_layer(image, digest, layer).await? else {
                items.push(SignatureItem::rejected(
                    location,
                    "the payload does not sign this digest or the layer has no signature".into(),
                ));
                continue;
            };
            if keyless::has_certificate(layer) {
                // A certificate-bearing layer is keyless: it never counts for a plain key.
                items.push(match self.verify_keyless(layer, &sig_layer, digest) {
                    Ok(v) => SignatureItem {
                        location,
                        verified_ids: v.ids,
                        signer: Some(v.signer),
                        rejected: None,
                    },
                    Err(reason) => SignatureItem::rejected(location, reason),
                });
                continue;
            }
            let ids: Vec<String> = self
                .keys
                .iter()
                .filter(|key| key.verifier.verify(&sig_layer).unwrap_or(false))
                .map(|key| key.id.clone())
                .collect();
            items.push(if ids.is_empty() {
                SignatureItem::rejected(location, "no trusted key verifies the signature".into())
            } else {
                SignatureItem {
                    location,
                    verified_ids: ids,
                    signer: None,
                    rejected: None,
                }
            });
        }
        Ok(())
    }

    /// What a keyless layer verifies for, or why it does not.
    fn verify_keyless(
        &self,
        layer: &serde_json::Value,
        sig_layer: &SignatureLayer,
        digest: &Digest,
    ) -> std::result::Result<keyless::KeylessVerified, String> {
        let trust =
            self.keyless.as_ref().map(KeylessHandle::current).ok_or(
                "a keyless signature, and keyless signing is not configured (trust.keyless)",
            )?;
        let annotations = layer
            .get("annotations")
            .and_then(|a| a.as_object())
            .ok_or("layer without annotations")?;
        trust.verify_layer(annotations, &sig_layer.raw_data, digest)
    }

    /// Fetches one simple-signing layer; `None` when it is well-formed JSON that does not
    /// sign this digest or carries no signature (counted, never verified).
    async fn load_layer(
        &self,
        image: &ImageRef,
        digest: &Digest,
        layer: &serde_json::Value,
    ) -> std::result::Result<Option<SignatureLayer>, String> {
        let layer_digest: Digest = layer
            .get("digest")
            .and_then(|d| d.as_str())
            .ok_or("signature layer without digest")?
            .parse()
            .map_err(|e| format!("signature layer digest: {e}"))?;
        let Some(signature) = layer
            .get("annotations")
            .and_then(|a| a.get(SIGNATURE_ANNOTATION))
            .and_then(|s| s.as_str())
        else {
            return Ok(None);
        };
        let raw = self
            .registry
            .get_blob_bytes(
                &image.registry,
                &image.repository,
                &layer_digest,
                MAX_PAYLOAD_BYTES,
            )
            .await
            .map_err(|e| format!("fetching signature payload {layer_digest}: {e}"))?;
        let Ok(simple_signing) = serde_json::from_slice::<SimpleSigning>(&raw) else {
            return Ok(None);
        };
        // The signed payload must name exactly the digest being promoted.
        if !simple_signing.satisfies_manifest_digest(digest.as_str()) {
            return Ok(None);
        }
        Ok(Some(SignatureLayer {
            simple_signing,
            oci_digest: layer_digest.to_string(),
            certificate_signature: None,
            bundle: None,
            signature: Some(signature.to_owned()),
            raw_data: raw,
        }))
    }
}
