//! Cosign signature verification. We fetch the `sha256-<hex>.sig` artifact ourselves so
//! that "no signature exists" (404) and "the signature could not be fetched" (any other
//! failure) stay distinct — sigstore's `trusted_signature_layers` folds both into an empty
//! list — and then verify each layer with sigstore's `PublicKeyVerifier`. Both outcomes deny.

use std::collections::BTreeSet;
use std::path::Path;

use portcullis_core::{Digest, ImageRef, Reference, SignatureEvidence, SignatureStatus};
use portcullis_registry::RegistryClient;
use sigstore::cosign::SignatureLayer;
use sigstore::cosign::payload::SimpleSigning;
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraint};
use sigstore::crypto::{CosignVerificationKey, Signature};

use crate::keyless::{self, KeylessTrust};
use crate::{Error, Result};

const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// A simple-signing payload is a few hundred bytes; refuse anything absurd.
const MAX_PAYLOAD_BYTES: u64 = 1 << 20;
/// More layers than this in one `.sig` manifest is not a signature artifact we accept.
const MAX_SIGNATURE_LAYERS: usize = 64;

/// A trusted cosign public key.
pub struct TrustedKey {
    /// The id policies see.
    pub id: String,
    verifier: PublicKeyVerifier,
    /// The same key, for raw signatures (DSSE) that are not cosign signature layers.
    raw: CosignVerificationKey,
    /// Hex SHA-256 of the DER public key: matched against DSSE `keyid` hints only to explain
    /// a rejection, never to choose or trust a key.
    fingerprint: String,
}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl TrustedKey {
    /// Loads a PEM public key (ECDSA P-256/P-384, RSA or Ed25519, as cosign writes them).
    pub fn from_pem(id: &str, pem: &[u8]) -> Result<Self> {
        let verifier = PublicKeyVerifier::try_from(pem).map_err(|e| Error::InvalidKey {
            id: id.to_owned(),
            reason: e.to_string(),
        })?;
        let raw = CosignVerificationKey::try_from_pem(pem).map_err(|e| Error::InvalidKey {
            id: id.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            id: id.to_owned(),
            verifier,
            raw,
            fingerprint: pem_fingerprint(pem).unwrap_or_default(),
        })
    }

    /// Hex SHA-256 of the DER public key (what the testkit writes as a DSSE `keyid`).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether `signature` (raw bytes, ASN.1 DER for ECDSA) is this key's signature over
    /// `message`, e.g. a DSSE pre-authentication encoding.
    pub fn verifies(&self, signature: &[u8], message: &[u8]) -> bool {
        self.raw
            .verify_signature(Signature::Raw(signature), message)
            .is_ok()
    }

    /// Loads a PEM public key from a file.
    pub fn from_file(id: &str, path: &Path) -> Result<Self> {
        let pem = std::fs::read(path).map_err(|e| Error::InvalidKey {
            id: id.to_owned(),
            reason: format!("cannot read {}: {e}", path.display()),
        })?;
        Self::from_pem(id, &pem)
    }
}

/// Hex SHA-256 of the DER body of a PEM document; `None` when it is not PEM.
fn pem_fingerprint(pem: &[u8]) -> Option<String> {
    use base64::Engine as _;
    let text = std::str::from_utf8(pem).ok()?;
    let body: String = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    Some(Digest::sha256_of(&der).hex().to_owned())
}

/// Verifies the cosign signatures of a digest against the trusted keys.
#[derive(Debug)]
pub struct SignatureVerifier {
    keys: std::sync::Arc<[TrustedKey]>,
    keyless: Option<KeylessTrust>,
    registry: RegistryClient,
}

impl SignatureVerifier {
    /// A verifier over `keys` that fetches through `registry`.
    pub fn new(keys: impl Into<std::sync::Arc<[TrustedKey]>>, registry: RegistryClient) -> Self {
        Self {
            keys: keys.into(),
            keyless: None,
            registry,
        }
    }

    /// Also accepts keyless (Fulcio certificate + Rekor bundle) signatures whose identity
    /// `keyless` trusts; each matching identity id counts like a key id.
    pub fn with_keyless(mut self, keyless: KeylessTrust) -> Self {
        self.keyless = Some(keyless);
        self
    }

    /// Looks up and verifies the signatures of `image`'s `digest`. Never fails: a fetch
    /// error is reported as `SignatureStatus::FetchFailed`, which the policy denies.
    pub async fn verify(&self, image: &ImageRef, digest: &Digest) -> SignatureEvidence {
        match self.verify_inner(image, digest).await {
            Ok(evidence) => evidence,
            Err(reason) => SignatureEvidence {
                status: SignatureStatus::FetchFailed,
                verified_key_ids: Vec::new(),
                signatures_found: 0,
                error: Some(reason),
            },
        }
    }

    async fn verify_inner(
        &self,
        image: &ImageRef,
        digest: &Digest,
    ) -> std::result::Result<SignatureEvidence, String> {
        let tag = Reference::Tag(digest.cosign_tag("sig"));
        let manifest = self
            .registry
            .get_manifest(&image.registry, &image.repository, &tag)
            .await
            .map_err(|e| format!("fetching {tag}: {e}"))?;
        let Some(manifest) = manifest else {
            return Ok(SignatureEvidence {
                status: SignatureStatus::Unsigned,
                verified_key_ids: Vec::new(),
                signatures_found: 0,
                error: None,
            });
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
        let mut found = 0;
        let mut verified = BTreeSet::new();
        for layer in layers {
            if layer.get("mediaType").and_then(|m| m.as_str()) != Some(SIMPLE_SIGNING_MEDIA_TYPE) {
                continue;
            }
            found += 1;
            let Some(sig_layer) = self.load_layer(image, digest, layer).await? else {
                continue;
            };
            if keyless::has_certificate(layer) {
                // A certificate-bearing layer is keyless: it never counts for a plain key.
                verified.extend(self.verify_keyless(layer, &sig_layer, digest));
                continue;
            }
            for key in self.keys.iter() {
                if key.verifier.verify(&sig_layer).unwrap_or(false) {
                    verified.insert(key.id.clone());
                }
            }
        }
        let status = if verified.is_empty() {
            SignatureStatus::Untrusted
        } else {
            SignatureStatus::Verified
        };
        Ok(SignatureEvidence {
            status,
            verified_key_ids: verified.into_iter().collect(),
            signatures_found: found,
            error: None,
        })
    }

    /// The identity ids a keyless layer verifies for; none without keyless trust.
    fn verify_keyless(
        &self,
        layer: &serde_json::Value,
        sig_layer: &SignatureLayer,
        digest: &Digest,
    ) -> Vec<String> {
        let (Some(trust), Some(annotations)) = (
            &self.keyless,
            layer.get("annotations").and_then(|a| a.as_object()),
        ) else {
            return Vec::new();
        };
        match trust.verify(annotations, &sig_layer.raw_data, digest) {
            Ok(ids) => ids,
            Err(reason) => {
                tracing::info!(signature.layer = %sig_layer.oci_digest, %reason, "keyless signature not trusted");
                Vec::new()
            }
        }
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
