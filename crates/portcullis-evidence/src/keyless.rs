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
mod config;
mod cosign;
mod handle;
mod prims;
mod root;
mod sct;
#[cfg(test)]
mod testdata;
mod timestamp;
mod tlog;

use std::path::Path;

use rustls_pki_types::CertificateDer;
use sigstore::crypto::{CosignVerificationKey, Signature};

use crate::{Error, Result};

pub(crate) use body::{Signed, Verifier};
pub(crate) use cert::Leaf;
use config::Identity;
pub use config::{KeylessConfig, KeylessIdentity};
pub(crate) use cosign::has_certificate;
pub use handle::KeylessHandle;
pub(crate) use tlog::LogEntry;

/// Annotation holding the PEM leaf certificate of a keyless signature.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Annotation holding the PEM intermediates (and root) the signer sent along; untrusted.
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// Annotation holding the Rekor bundle (SET + entry payload) as JSON.
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

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
}

fn read(path: &Path, field: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::InvalidKeyless(format!("{field}: cannot read {}: {e}", path.display())))
}
