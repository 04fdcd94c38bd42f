//! Keyless cosign verification, fully offline: a signature layer carrying a Fulcio
//! certificate is trusted when the certificate chains to the configured Fulcio roots at the
//! Rekor bundle's `integratedTime`, the bundle's SignedEntryTimestamp verifies with the
//! configured Rekor key, the bundle body is the Rekor entry of exactly this signature, the
//! leaf key signed the payload, and the certificate's OIDC issuer and SAN match a configured
//! identity. Nothing here talks to Fulcio, Rekor or a TUF repository.

#[allow(dead_code)] // wired by the bundle verifier
mod asn1;
mod cert;
#[allow(dead_code)] // wired by the bundle verifier
mod checkpoint;
#[allow(dead_code)] // wired by the bundle verifier
mod sct;
#[cfg(test)]
mod testdata;
#[allow(dead_code)] // wired by the bundle verifier
mod timestamp;
mod tlog;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;
use rustls_pki_types::{CertificateDer, TrustAnchor};
use serde::Deserialize;
use sigstore::cosign::payload::SimpleSigning;
use sigstore::crypto::{CosignVerificationKey, Signature};

use crate::{Error, Result};

/// Annotation holding the PEM leaf certificate of a keyless signature.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Annotation holding the PEM intermediates (and root) the signer sent along; untrusted.
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// Annotation holding the Rekor bundle (SET + entry payload) as JSON.
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// Where the keyless trust material lives and which signer identities are accepted.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeylessConfig {
    /// PEM file with one or more Fulcio CA certificates: self-signed ones are trust anchors,
    /// the others intermediates.
    pub trust_root: PathBuf,
    /// PEM file with one or more Rekor public keys.
    pub rekor_public_key: PathBuf,
    /// The accepted signer identities.
    pub identities: Vec<KeylessIdentity>,
}

/// One accepted signer: an OIDC issuer plus an email or URI subject.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeylessIdentity {
    /// What policies see in `verified_key_ids` when this identity signed.
    pub id: String,
    /// The OIDC issuer, compared exactly.
    pub issuer: String,
    /// The email or URI SAN, compared exactly.
    #[serde(default)]
    pub subject: Option<String>,
    /// A regular expression the whole email or URI SAN must match (it is anchored).
    #[serde(default)]
    pub subject_regex: Option<String>,
}

#[derive(Debug)]
enum SubjectMatcher {
    Exact(String),
    Regex(Regex),
}

#[derive(Debug)]
struct Identity {
    id: String,
    issuer: String,
    subject: SubjectMatcher,
}

impl Identity {
    fn parse(raw: &KeylessIdentity) -> Result<Self> {
        let invalid =
            |reason: &str| Error::InvalidKeyless(format!("identity {:?}: {reason}", raw.id));
        if raw.id.trim().is_empty() {
            return Err(Error::InvalidKeyless("an identity has an empty id".into()));
        }
        if raw.issuer.trim().is_empty() {
            return Err(invalid("issuer is empty"));
        }
        let subject = match (&raw.subject, &raw.subject_regex) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "set exactly one of subject and subject_regex, not both",
                ));
            }
            (None, None) => return Err(invalid("set exactly one of subject and subject_regex")),
            (Some(exact), None) if exact.is_empty() => return Err(invalid("subject is empty")),
            (Some(exact), None) => SubjectMatcher::Exact(exact.clone()),
            (None, Some(pattern)) => {
                // Anchored: `.*@example.com` must not also accept `x@example.com.evil`.
                let anchored = format!("^(?:{pattern})$");
                let regex = Regex::new(&anchored)
                    .map_err(|e| invalid(&format!("subject_regex does not compile: {e}")))?;
                SubjectMatcher::Regex(regex)
            }
        };
        Ok(Self {
            id: raw.id.clone(),
            issuer: raw.issuer.clone(),
            subject,
        })
    }

    fn matches(&self, issuer: &str, sans: &[String]) -> bool {
        self.issuer == issuer
            && sans.iter().any(|san| match &self.subject {
                SubjectMatcher::Exact(exact) => exact == san,
                SubjectMatcher::Regex(regex) => regex.is_match(san),
            })
    }
}

/// Loaded keyless trust: Fulcio anchors and intermediates, Rekor keys by log id, identities.
pub struct KeylessTrust {
    anchors: Vec<TrustAnchor<'static>>,
    intermediates: Vec<CertificateDer<'static>>,
    rekor_keys: BTreeMap<String, CosignVerificationKey>,
    identities: Vec<Identity>,
}

impl std::fmt::Debug for KeylessTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeylessTrust")
            .field("anchors", &self.anchors.len())
            .field("intermediates", &self.intermediates.len())
            .field("rekor_log_ids", &self.rekor_keys.keys().collect::<Vec<_>>())
            .field("identities", &self.identities)
            .finish()
    }
}

impl KeylessTrust {
    /// Reads the trust root and Rekor key files named by `cfg` and validates its identities.
    pub fn load(cfg: &KeylessConfig) -> Result<Self> {
        let trust_root = read(&cfg.trust_root, "trust_root")?;
        let rekor = read(&cfg.rekor_public_key, "rekor_public_key")?;
        Self::from_pem(&trust_root, &rekor, &cfg.identities)
    }

    /// Builds the trust from PEM bytes: Fulcio CA certificates and Rekor public keys.
    pub fn from_pem(
        trust_root_pem: &[u8],
        rekor_pem: &[u8],
        identities: &[KeylessIdentity],
    ) -> Result<Self> {
        let (anchors, intermediates) = cert::load_trust_root(trust_root_pem)?;
        let rekor_keys = tlog::load_rekor_keys(rekor_pem)?;
        if identities.is_empty() {
            return Err(Error::InvalidKeyless("no identities configured".into()));
        }
        let identities = identities
            .iter()
            .map(Identity::parse)
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            anchors,
            intermediates,
            rekor_keys,
            identities,
        })
    }

    /// Verifies one signature layer: `annotations` are the layer descriptor's annotations,
    /// `payload` the simple-signing bytes it points to. Returns the ids of every matching
    /// identity, or why the layer is not trusted.
    pub fn verify(
        &self,
        annotations: &serde_json::Map<String, serde_json::Value>,
        payload: &[u8],
        digest: &portcullis_core::Digest,
    ) -> std::result::Result<Vec<String>, String> {
        let get = |name: &str| annotations.get(name).and_then(|v| v.as_str());
        let cert_pem = get(CERTIFICATE_ANNOTATION).ok_or("no certificate annotation")?;
        let signature = get(SIGNATURE_ANNOTATION).ok_or("no signature annotation")?;
        let bundle = get(BUNDLE_ANNOTATION).ok_or("no Rekor bundle annotation")?;

        let leaf = cert::Leaf::parse(cert_pem)?;
        let entry = tlog::verify_bundle(bundle, &self.rekor_keys)?;
        let chain = get(CHAIN_ANNOTATION).map(cert::parse_chain).transpose()?;
        leaf.verify_chain(
            &self.anchors,
            &self.intermediates,
            chain.as_deref().unwrap_or_default(),
            entry.integrated_time,
        )?;
        tlog::verify_body_matches(&entry.body, payload, signature, leaf.der())?;

        let key = CosignVerificationKey::try_from(leaf.public_key_info())
            .map_err(|e| format!("certificate public key: {e}"))?;
        key.verify_signature(Signature::Base64Encoded(signature.as_bytes()), payload)
            .map_err(|e| format!("signature does not verify with the certificate key: {e}"))?;
        let simple: SimpleSigning = serde_json::from_slice(payload)
            .map_err(|e| format!("payload is not simple signing: {e}"))?;
        if !simple.satisfies_manifest_digest(digest.as_str()) {
            return Err(format!("payload does not sign {digest}"));
        }

        let issuer = leaf.oidc_issuer()?;
        let sans = leaf.subjects()?;
        let ids: Vec<String> = self
            .identities
            .iter()
            .filter(|identity| identity.matches(&issuer, &sans))
            .map(|identity| identity.id.clone())
            .collect();
        if ids.is_empty() {
            return Err(format!(
                "no identity accepts issuer {issuer:?} with subject {sans:?}"
            ));
        }
        Ok(ids)
    }
}

/// True when a layer descriptor carries a keyless certificate, so it must be verified as
/// keyless and never with a plain public key.
pub(crate) fn has_certificate(layer: &serde_json::Value) -> bool {
    layer
        .get("annotations")
        .and_then(|a| a.get(CERTIFICATE_ANNOTATION))
        .is_some()
}

fn read(path: &Path, field: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::InvalidKeyless(format!("{field}: cannot read {}: {e}", path.display())))
}
