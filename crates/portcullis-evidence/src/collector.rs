//! `EvidenceCollector`: what the registry holds about a digest, verified once per (image,
//! digest, trust configuration) and cached, and whether a digest-pinned image exists.
//!
//! Registry-held evidence (cosign signatures and signed attestations) goes through a
//! single-flight TTL cache. A manifest is content addressed, so once the registry has
//! answered for a digest its existence is remembered for the same positive TTL: a burst of
//! requests for one pinned digest asks the registry once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portcullis_core::{
    AttestationEvidence, Digest, EvidenceItems, ImageRef, Reference, SignatureEvidence,
    SignatureStatus,
};
use portcullis_registry::RegistryClient;

use crate::{AttestationVerifier, CacheOutcome, CacheStats, SignatureVerifier, VerificationCache};

/// What the registry holds about a digest, verified.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Cosign signatures.
    pub signatures: SignatureEvidence,
    /// Attestations.
    pub attestations: AttestationEvidence,
    /// What the verified attestations carried.
    pub items: EvidenceItems,
}

impl CacheOutcome for Verified {
    fn is_negative(&self) -> bool {
        self.signatures.status != SignatureStatus::Verified || self.attestations.error.is_some()
    }
}

/// Verifies signatures and attestations, with a single-flight TTL cache in front.
#[derive(Debug)]
pub struct EvidenceCollector {
    signatures: SignatureVerifier,
    attestations: AttestationVerifier,
    cache: VerificationCache<(String, Digest), Arc<Verified>>,
    /// Hash of the trust configuration, part of every cache key; a reload changes it, so
    /// results verified under the old trust are never served again.
    trust_fingerprint: std::sync::RwLock<Arc<str>>,
    /// Digests the registry confirmed, per repository, and when.
    existing: Mutex<HashMap<(String, Digest), Instant>>,
    ttl: Duration,
    capacity: usize,
}

impl EvidenceCollector {
    /// A collector over the two verifiers; `trust_fingerprint` identifies the trust
    /// configuration they were built from. Positive results are kept for `ttl`, negative
    /// ones for `negative_ttl`, at most `capacity` of each kind.
    pub fn new(
        signatures: SignatureVerifier,
        attestations: AttestationVerifier,
        trust_fingerprint: String,
        ttl: Duration,
        negative_ttl: Duration,
        capacity: usize,
    ) -> Self {
        Self {
            signatures,
            attestations,
            cache: VerificationCache::new(ttl, negative_ttl, capacity),
            trust_fingerprint: std::sync::RwLock::new(trust_fingerprint.into()),
            existing: Mutex::new(HashMap::new()),
            ttl,
            capacity: capacity.max(1),
        }
    }

    /// The fingerprint of the trust configuration in use.
    pub fn trust_fingerprint(&self) -> Arc<str> {
        match self.trust_fingerprint.read() {
            Ok(f) => f.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Records that the trust configuration changed (a keyless trust reload): later
    /// look-ups verify afresh instead of serving what the old trust verified.
    pub fn retrust(&self, fingerprint: String) {
        let fingerprint: Arc<str> = fingerprint.into();
        match self.trust_fingerprint.write() {
            Ok(mut f) => *f = fingerprint,
            Err(poisoned) => *poisoned.into_inner() = fingerprint,
        }
    }

    /// The verified registry evidence of `image`'s `digest`, from the cache when fresh.
    pub async fn verified(&self, image: &ImageRef, digest: &Digest) -> Arc<Verified> {
        let fingerprint = self.trust_fingerprint();
        let key = (
            format!(
                "{}/{}#{fingerprint}",
                image.registry.as_str(),
                image.repository.as_str(),
            ),
            digest.clone(),
        );
        self.cache
            .get_or_compute(key, || async {
                let (signatures, (attestations, items)) = tokio::join!(
                    self.signatures.verify(image, digest),
                    self.attestations.collect(image, digest)
                );
                Arc::new(Verified {
                    signatures,
                    attestations,
                    items,
                })
            })
            .await
    }

    /// The digest `image` names. A tag is always resolved by the registry; a digest the
    /// registry confirmed less than the positive TTL ago is answered from memory (a manifest
    /// is content addressed), any other is asked for and remembered when it exists.
    pub async fn resolve(
        &self,
        registry: &RegistryClient,
        image: &ImageRef,
    ) -> portcullis_registry::Result<Digest> {
        let Reference::Digest(pinned) = &image.reference else {
            return registry.resolve(image).await;
        };
        let key = (
            format!("{}/{}", image.registry.as_str(), image.repository.as_str()),
            pinned.clone(),
        );
        if self.known(&key) {
            return Ok(pinned.clone());
        }
        let digest = registry.resolve(image).await?;
        self.remember(key);
        Ok(digest)
    }

    fn known(&self, key: &(String, Digest)) -> bool {
        let existing = self.existing.lock().unwrap_or_else(|p| p.into_inner());
        existing.get(key).is_some_and(|at| at.elapsed() < self.ttl)
    }

    fn remember(&self, key: (String, Digest)) {
        if self.ttl.is_zero() {
            return;
        }
        let mut existing = self.existing.lock().unwrap_or_else(|p| p.into_inner());
        if existing.len() >= self.capacity {
            let ttl = self.ttl;
            existing.retain(|_, at| at.elapsed() < ttl);
            if existing.len() >= self.capacity {
                existing.clear();
            }
        }
        existing.insert(key, Instant::now());
    }

    /// Cache counters of the verification cache.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }
}
