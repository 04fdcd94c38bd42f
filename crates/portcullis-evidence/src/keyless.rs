//! Keyless verification, fully offline: a signature made with a short-lived Fulcio
//! certificate is trusted when
//! - a transparency-log entry of exactly this signature verified (its SET with a trusted
//!   Rekor log, or an inclusion proof ending in a checkpoint that log signed),
//! - a signing time was proven (a verified SET's integrated time, or an RFC 3161 timestamp
//!   from a trusted TSA; an inclusion proof alone proves no time),
//! - at every proven time the certificate chains, by key, to a Fulcio CA that was valid then,
//! - the certificate carries an SCT from a trusted CT log (unless `require_sct` is off),
//! - the leaf key signed the content, and the certificate's identity matches a configured one.
//!
//! Nothing here talks to Fulcio, Rekor, a TSA or a TUF repository.

mod asn1;
mod body;
pub(crate) mod bundle;
mod cert;
mod checkpoint;
mod prims;
mod root;
mod sct;
#[cfg(test)]
mod testdata;
mod timestamp;
mod tlog;

use std::path::{Path, PathBuf};

use regex::Regex;
use rustls_pki_types::CertificateDer;
use serde::Deserialize;
use sha2::Digest as _;
use sigstore::cosign::payload::SimpleSigning;
use sigstore::crypto::{CosignVerificationKey, Signature};

use crate::{Error, Result};

pub(crate) use body::{Signed, Verifier};
pub(crate) use cert::Leaf;
pub(crate) use tlog::LogEntry;

/// Annotation holding the PEM leaf certificate of a keyless signature.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Annotation holding the PEM intermediates (and root) the signer sent along; untrusted.
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// Annotation holding the Rekor bundle (SET + entry payload) as JSON.
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// Where the keyless trust material lives and which signer identities are accepted.
///
/// Either `trusted_root` (sigstore's `trusted_root.json`: Fulcio CAs, Rekor logs, CT logs and
/// TSAs, each with its validity window) or the loose PEM files `trust_root` +
/// `rekor_public_key` (+ `ctlog_public_key`), never both.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeylessConfig {
    /// sigstore's `trusted_root.json`.
    #[serde(default)]
    pub trusted_root: Option<PathBuf>,
    /// PEM file with one or more Fulcio CA certificates: self-signed ones are trust anchors,
    /// the others intermediates.
    #[serde(default)]
    pub trust_root: Option<PathBuf>,
    /// PEM file with one or more Rekor public keys.
    #[serde(default)]
    pub rekor_public_key: Option<PathBuf>,
    /// PEM file with one or more CT log public keys (loose-PEM configurations only).
    #[serde(default)]
    pub ctlog_public_key: Option<PathBuf>,
    /// Whether a certificate must carry an SCT from a trusted CT log, as cosign requires by
    /// default. Defaults to true, except for a loose-PEM configuration without
    /// `ctlog_public_key`, which has no CT log to check against (a warning says so at load).
    #[serde(default)]
    pub require_sct: Option<bool>,
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

    fn matches(&self, issuer: Option<&str>, sans: &[String]) -> bool {
        issuer == Some(self.issuer.as_str())
            && sans.iter().any(|san| match &self.subject {
                SubjectMatcher::Exact(exact) => exact == san,
                SubjectMatcher::Regex(regex) => regex.is_match(san),
            })
    }
}

/// Loaded keyless trust: the trust material, the accepted identities, the SCT rule.
pub struct KeylessTrust {
    material: root::TrustMaterial,
    identities: Vec<Identity>,
    require_sct: bool,
}

impl std::fmt::Debug for KeylessTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeylessTrust")
            .field("material", &self.material)
            .field("identities", &self.identities)
            .field("require_sct", &self.require_sct)
            .finish()
    }
}

/// What one keyless signature needs checked besides the trust itself.
pub(crate) struct SignatureCheck<'a> {
    /// The signing certificate.
    pub(crate) leaf: &'a Leaf,
    /// Intermediates the signer sent along; untrusted, only offered for path building.
    pub(crate) chain: &'a [CertificateDer<'static>],
    /// The transparency-log entries offered for this signature.
    pub(crate) entries: &'a [LogEntry],
    /// RFC 3161 timestamp tokens over the signature bytes.
    pub(crate) timestamps: &'a [Vec<u8>],
    /// What the log must have recorded.
    pub(crate) signed: Signed<'a>,
    /// The exact bytes the key signed (a simple-signing payload, a DSSE PAE, a manifest).
    pub(crate) message: &'a [u8],
    /// The raw signature bytes.
    pub(crate) signature: &'a [u8],
}

/// A keyless signature that verified.
#[derive(Debug, Clone)]
pub(crate) struct KeylessVerified {
    /// Every configured identity id that accepts the signer.
    pub(crate) ids: Vec<String>,
    /// The signer, as the certificate says.
    pub(crate) signer: portcullis_core::Signer,
}

impl KeylessTrust {
    /// Reads the trust material named by `cfg` and validates its identities.
    pub fn load(cfg: &KeylessConfig) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidKeyless(reason);
        let (material, can_check_sct) = match (
            &cfg.trusted_root,
            &cfg.trust_root,
            &cfg.rekor_public_key,
        ) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(invalid(
                    "set either trusted_root or the loose PEM files (trust_root + rekor_public_key), not both".into(),
                ));
            }
            (Some(path), None, None) => {
                if cfg.ctlog_public_key.is_some() {
                    return Err(invalid(
                        "ctlog_public_key belongs to the loose PEM settings; trusted_root carries its CT logs".into(),
                    ));
                }
                let bytes = read(path, "trusted_root")?;
                let material = root::parse_trusted_root(&bytes)
                    .map_err(|e| invalid(format!("trusted_root {}: {e}", path.display())))?;
                (material, true)
            }
            (None, Some(fulcio), Some(rekor)) => {
                let fulcio = read(fulcio, "trust_root")?;
                let rekor = read(rekor, "rekor_public_key")?;
                let ctlog = cfg
                    .ctlog_public_key
                    .as_deref()
                    .map(|p| read(p, "ctlog_public_key"))
                    .transpose()?;
                let has_ct = ctlog.is_some();
                (
                    Self::pem_material(&fulcio, &rekor, ctlog.as_deref())?,
                    has_ct,
                )
            }
            (None, _, _) => {
                return Err(invalid(
                    "set trusted_root, or both trust_root and rekor_public_key".into(),
                ));
            }
        };
        let require_sct = match cfg.require_sct {
            Some(true) if !can_check_sct => {
                return Err(invalid(
                    "require_sct is on but no CT log key is configured (ctlog_public_key)".into(),
                ));
            }
            Some(required) => required,
            None if !can_check_sct => {
                tracing::warn!(
                    "keyless trust from loose PEM files without ctlog_public_key: SCTs are not checked; prefer trusted_root"
                );
                false
            }
            None => true,
        };
        Self::new(material, &cfg.identities, require_sct)
    }

    /// Builds the trust from PEM bytes: Fulcio CA certificates and Rekor public keys; SCTs
    /// are not required (there is no CT log key).
    pub fn from_pem(
        trust_root_pem: &[u8],
        rekor_pem: &[u8],
        identities: &[KeylessIdentity],
    ) -> Result<Self> {
        Self::new(
            Self::pem_material(trust_root_pem, rekor_pem, None)?,
            identities,
            false,
        )
    }

    /// Builds the trust from a `trusted_root.json` document; `require_sct` as configured.
    pub fn from_trusted_root(
        trusted_root_json: &[u8],
        identities: &[KeylessIdentity],
        require_sct: bool,
    ) -> Result<Self> {
        let material = root::parse_trusted_root(trusted_root_json)
            .map_err(|e| Error::InvalidKeyless(format!("trusted_root: {e}")))?;
        Self::new(material, identities, require_sct)
    }

    fn pem_material(
        fulcio: &[u8],
        rekor: &[u8],
        ctlog: Option<&[u8]>,
    ) -> Result<root::TrustMaterial> {
        let (anchors, intermediates) = cert::load_trust_root(fulcio)?;
        let tlogs = root::pem_log_keys(rekor)
            .map_err(|e| Error::InvalidKeyless(format!("rekor_public_key: {e}")))?;
        let ctlogs = ctlog
            .map(root::pem_log_keys)
            .transpose()
            .map_err(|e| Error::InvalidKeyless(format!("ctlog_public_key: {e}")))?
            .unwrap_or_default();
        Ok(root::TrustMaterial {
            cas: root::pem_authorities(anchors, intermediates),
            tlogs,
            ctlogs,
            tsas: Vec::new(),
        })
    }

    fn new(
        material: root::TrustMaterial,
        identities: &[KeylessIdentity],
        require_sct: bool,
    ) -> Result<Self> {
        if identities.is_empty() {
            return Err(Error::InvalidKeyless("no identities configured".into()));
        }
        let identities = identities
            .iter()
            .map(Identity::parse)
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            material,
            identities,
            require_sct,
        })
    }

    /// The times at which the signature provably existed: each verified SET's integrated
    /// time and each verified RFC 3161 timestamp. Every offered log entry must be bound to
    /// this signature, and at least one must verify; no proven time is a rejection.
    pub(crate) fn signing_times(
        &self,
        entries: &[LogEntry],
        timestamps: &[Vec<u8>],
        signed: &Signed<'_>,
        verifier: &Verifier<'_>,
        signature: &[u8],
    ) -> std::result::Result<Vec<i64>, String> {
        if entries.is_empty() {
            return Err("no transparency-log entry".into());
        }
        let mut times = Vec::new();
        for entry in entries {
            body::check(&entry.body, entry.kind.as_ref(), signed, verifier)?;
            if entry.set.is_none() && entry.proof.is_none() {
                return Err(format!(
                    "log entry {} has neither a SET nor an inclusion proof",
                    entry.log_index
                ));
            }
            if entry.set.is_some() {
                times.push(tlog::verify_set(entry, &self.material.tlogs)?);
            }
            if let Some(proof) = &entry.proof {
                prims::verify_inclusion(entry, proof, &self.material.tlogs)?;
            }
        }
        for token in timestamps {
            times.push(prims::verify_timestamp(
                token,
                signature,
                &self.material.tsas,
            )?);
        }
        if times.is_empty() {
            return Err(
                "no proven signing time: no verified SET and no RFC 3161 timestamp from a trusted TSA".into(),
            );
        }
        Ok(times)
    }

    /// Verifies a certificate-based signature end to end; see the module docs.
    pub(crate) fn verify_signature(
        &self,
        check: &SignatureCheck<'_>,
    ) -> std::result::Result<KeylessVerified, String> {
        let verifier = Verifier::Certificate(check.leaf.der());
        let times = self.signing_times(
            check.entries,
            check.timestamps,
            &check.signed,
            &verifier,
            check.signature,
        )?;
        for time in &times {
            check
                .leaf
                .verify_chain_at(&self.material.cas, check.chain, *time)?;
        }
        if self.require_sct {
            prims::verify_sct(check.leaf, check.chain, &self.material)?;
        }
        let key = CosignVerificationKey::try_from(check.leaf.public_key_info())
            .map_err(|e| format!("certificate public key: {e}"))?;
        key.verify_signature(Signature::Raw(check.signature), check.message)
            .map_err(|_| "signature does not verify with the certificate key".to_owned())?;
        let signer = check.leaf.signer()?;
        let sans = check.leaf.subjects()?;
        let ids: Vec<String> = self
            .identities
            .iter()
            .filter(|identity| identity.matches(signer.issuer.as_deref(), &sans))
            .map(|identity| identity.id.clone())
            .collect();
        if ids.is_empty() {
            return Err(format!(
                "no identity accepts issuer {:?} with subject {sans:?}",
                signer.issuer.as_deref().unwrap_or("(none)")
            ));
        }
        Ok(KeylessVerified { ids, signer })
    }

    /// Verifies one cosign `.sig` layer: `annotations` are the layer descriptor's
    /// annotations, `payload` the simple-signing bytes it points to.
    pub(crate) fn verify_layer(
        &self,
        annotations: &serde_json::Map<String, serde_json::Value>,
        payload: &[u8],
        digest: &portcullis_core::Digest,
    ) -> std::result::Result<KeylessVerified, String> {
        let get = |name: &str| annotations.get(name).and_then(|v| v.as_str());
        let cert_pem = get(CERTIFICATE_ANNOTATION).ok_or("no certificate annotation")?;
        let signature = get(SIGNATURE_ANNOTATION).ok_or("no signature annotation")?;
        let bundle = get(BUNDLE_ANNOTATION).ok_or("no Rekor bundle annotation")?;
        let signature = tlog::decode(signature, "signature annotation")?;
        let leaf = Leaf::parse(cert_pem)?;
        let chain = get(CHAIN_ANNOTATION).map(cert::parse_chain).transpose()?;
        let entry = tlog::from_annotation(bundle)?;
        let simple: SimpleSigning = serde_json::from_slice(payload)
            .map_err(|e| format!("payload is not simple signing: {e}"))?;
        if !simple.satisfies_manifest_digest(digest.as_str()) {
            return Err(format!("payload does not sign {digest}"));
        }
        let digest_bytes: [u8; 32] = sha2::Sha256::digest(payload).into();
        self.verify_signature(&SignatureCheck {
            leaf: &leaf,
            chain: chain.as_deref().unwrap_or_default(),
            entries: std::slice::from_ref(&entry),
            timestamps: &[],
            signed: Signed::Message {
                digest: digest_bytes,
                signature: &signature,
            },
            message: payload,
            signature: &signature,
        })
    }

    /// Verifies a DSSE envelope from a cosign `.att` layer signed keyless: the layer's
    /// certificate, chain and Rekor bundle annotations, the envelope's one signature over
    /// its PAE, and a log entry (`intoto` 0.0.1/0.0.2 or `dsse` 0.0.1) of this very envelope.
    pub(crate) fn verify_envelope_layer(
        &self,
        annotations: &std::collections::BTreeMap<String, String>,
        envelope_bytes: &[u8],
        envelope: &crate::Envelope,
    ) -> std::result::Result<KeylessVerified, String> {
        let get = |name: &str| annotations.get(name).map(String::as_str);
        let cert_pem = get(CERTIFICATE_ANNOTATION).ok_or("no certificate annotation")?;
        let bundle = get(BUNDLE_ANNOTATION).ok_or("no Rekor bundle annotation")?;
        let leaf = Leaf::parse(cert_pem)?;
        let chain = get(CHAIN_ANNOTATION).map(cert::parse_chain).transpose()?;
        let entry = tlog::from_annotation(bundle)?;
        let [signature] = envelope.signatures.as_slice() else {
            return Err(format!(
                "a keyless envelope must carry exactly one signature, not {}",
                envelope.signatures.len()
            ));
        };
        let pae = crate::pae(&envelope.payload_type, &envelope.payload);
        self.verify_signature(&SignatureCheck {
            leaf: &leaf,
            chain: chain.as_deref().unwrap_or_default(),
            entries: std::slice::from_ref(&entry),
            timestamps: &[],
            signed: Signed::Envelope {
                envelope: Some(envelope_bytes),
                payload: &envelope.payload,
                signature: &signature.sig,
            },
            message: &pae,
            signature: &signature.sig,
        })
    }

    /// Verifies one cosign `.sig` layer (see `verify_layer`) and returns the ids of every
    /// matching identity, or why the layer is not trusted.
    pub fn verify(
        &self,
        annotations: &serde_json::Map<String, serde_json::Value>,
        payload: &[u8],
        digest: &portcullis_core::Digest,
    ) -> std::result::Result<Vec<String>, String> {
        self.verify_layer(annotations, payload, digest)
            .map(|v| v.ids)
    }
}

/// The keyless trust in use, which a reload (SIGHUP) can replace while verifications run:
/// each verification works on the snapshot it started with.
#[derive(Debug, Clone)]
pub struct KeylessHandle(std::sync::Arc<std::sync::RwLock<std::sync::Arc<KeylessTrust>>>);

impl KeylessHandle {
    /// The trust verifications use now.
    pub fn current(&self) -> std::sync::Arc<KeylessTrust> {
        match self.0.read() {
            Ok(guard) => guard.clone(),
            // A writer panicked mid-swap; the value is still a whole Arc.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the trust for every later verification.
    pub fn replace(&self, trust: KeylessTrust) {
        let trust = std::sync::Arc::new(trust);
        match self.0.write() {
            Ok(mut guard) => *guard = trust,
            Err(poisoned) => *poisoned.into_inner() = trust,
        }
    }
}

impl From<KeylessTrust> for KeylessHandle {
    fn from(trust: KeylessTrust) -> Self {
        Self(std::sync::Arc::new(std::sync::RwLock::new(
            std::sync::Arc::new(trust),
        )))
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
