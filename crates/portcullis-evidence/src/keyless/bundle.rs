//! Sigstore bundles (protobuf-specs `Bundle`, JSON form) v0.1, v0.2 and v0.3: what cosign v3
//! and GitHub's attest actions attach to an image as OCI 1.1 referrers.
//!
//! A bundle holds one signed thing (a DSSE envelope or a message signature), the material to
//! verify it (an X.509 chain, one certificate, or a public-key hint for key-based signing),
//! transparency-log entries and RFC 3161 timestamps. It counts as an **image signature** when
//! it is a DSSE in-toto statement of predicate type `https://sigstore.dev/cosign/sign/v1` whose
//! only subject is the digest, with exactly one signature, or a message signature whose
//! `messageDigest` is the manifest digest. Any other statement is an **attestation**.

use rustls_pki_types::CertificateDer;
use sha2::{Digest as _, Sha256};

use super::body::{Signed, Verifier};
use super::cert::Leaf;
use super::tlog::{LogEntry, decode, hash32};
use super::{KeylessTrust, SignatureCheck};
use crate::TrustedKey;
use crate::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use crate::statement::Statement;

mod raw;

use raw::{RawBundle, entry};

/// The media types (and OCI artifact types) of Sigstore bundles.
pub const BUNDLE_MEDIA_TYPES: [&str; 3] = [
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
];
/// cosign v3's image-signature predicate.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// The largest bundle we read (an SBOM attestation can be big).
pub const MAX_BUNDLE_BYTES: u64 = 8 * 1024 * 1024;
/// More log entries or timestamps than this in one bundle is not a bundle we accept.
const MAX_ENTRIES: usize = 8;
/// More certificates than this in a chain is not a chain we accept.
const MAX_CHAIN: usize = 8;

/// How the bundle's signer is identified.
enum Material {
    Certificate {
        leaf: Box<Leaf>,
        chain: Vec<CertificateDer<'static>>,
    },
    PublicKey {
        hint: Option<String>,
    },
}

/// A parsed bundle, not yet verified.
pub(crate) struct Bundle {
    version: u8,
    material: Material,
    entries: Vec<LogEntry>,
    timestamps: Vec<Vec<u8>>,
    content: Content,
}

enum Content {
    Dsse(Envelope),
    Message {
        digest: [u8; 32],
        signature: Vec<u8>,
    },
}

/// What a verified bundle is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BundleKind {
    /// An image signature of the digest (cosign v3 or a message signature).
    ImageSignature,
    /// An in-toto attestation; the payload is the statement.
    Attestation {
        /// The statement's predicate type.
        predicate_type: String,
        /// The DSSE payload (the statement JSON).
        payload: Vec<u8>,
    },
}

/// A bundle that verified.
#[derive(Debug, Clone)]
pub(crate) struct BundleVerified {
    pub(crate) kind: BundleKind,
    /// Key ids or keyless identity ids that verified it.
    pub(crate) ids: Vec<String>,
    /// The keyless signer, for certificate-based bundles.
    pub(crate) signer: Option<portcullis_core::Signer>,
}

impl Bundle {
    /// Parses bundle JSON; a malformed bundle is an error naming the field.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() as u64 > MAX_BUNDLE_BYTES {
            return Err(format!(
                "bundle is {} bytes, more than {MAX_BUNDLE_BYTES}",
                bytes.len()
            ));
        }
        let raw: RawBundle<'_> =
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(bytes))
                .map_err(|e| format!("not a Sigstore bundle at {}: {}", e.path(), e.inner()))?;
        let version = match raw.media_type.as_str() {
            "application/vnd.dev.sigstore.bundle.v0.3+json"
            | "application/vnd.dev.sigstore.bundle+json;version=0.3" => 3,
            "application/vnd.dev.sigstore.bundle+json;version=0.2" => 2,
            "application/vnd.dev.sigstore.bundle+json;version=0.1" => 1,
            other => return Err(format!("unsupported bundle mediaType {other:?}")),
        };
        let m = raw.verification_material;
        let material = match (m.x509_certificate_chain, m.certificate, m.public_key) {
            (Some(chain), None, None) if version < 3 => {
                if chain.certificates.is_empty() || chain.certificates.len() > MAX_CHAIN {
                    return Err(format!(
                        "x509CertificateChain holds {} certificates",
                        chain.certificates.len()
                    ));
                }
                let mut certs = chain
                    .certificates
                    .iter()
                    .map(|c| decode(&c.raw_bytes, "certificate"))
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter();
                let leaf = Box::new(Leaf::from_der(certs.next().unwrap_or_default())?);
                Material::Certificate {
                    leaf,
                    chain: certs.map(CertificateDer::from).collect(),
                }
            }
            (None, Some(cert), None) => Material::Certificate {
                leaf: Box::new(Leaf::from_der(decode(&cert.raw_bytes, "certificate")?)?),
                chain: Vec::new(),
            },
            (None, None, Some(key)) => Material::PublicKey { hint: key.hint },
            (Some(_), None, None) => {
                return Err("a v0.3 bundle carries one certificate, not a chain".into());
            }
            _ => {
                return Err(
                    "verificationMaterial must hold exactly one of x509CertificateChain, certificate and publicKey".into(),
                );
            }
        };
        if m.tlog_entries.len() > MAX_ENTRIES {
            return Err(format!(
                "{} tlogEntries, more than {MAX_ENTRIES}",
                m.tlog_entries.len()
            ));
        }
        let entries = m
            .tlog_entries
            .iter()
            .enumerate()
            .map(|(i, e)| entry(e, version).map_err(|err| format!("tlogEntries[{i}]: {err}")))
            .collect::<Result<Vec<_>, _>>()?;
        let stamps = m
            .timestamp_verification_data
            .map(|t| t.rfc3161_timestamps)
            .unwrap_or_default();
        if stamps.len() > MAX_ENTRIES {
            return Err(format!(
                "{} RFC 3161 timestamps, more than {MAX_ENTRIES}",
                stamps.len()
            ));
        }
        let timestamps = stamps
            .iter()
            .map(|t| decode(&t.signed_timestamp, "signedTimestamp"))
            .collect::<Result<Vec<_>, _>>()?;
        let content = match (raw.dsse_envelope, raw.message_signature) {
            (Some(envelope), None) => Content::Dsse(Envelope::parse(envelope.get().as_bytes())?),
            (None, Some(message)) => {
                if message.message_digest.algorithm != "SHA2_256" {
                    return Err(format!(
                        "messageDigest algorithm {} is not SHA2_256",
                        message.message_digest.algorithm
                    ));
                }
                Content::Message {
                    digest: hash32(&message.message_digest.digest, "messageDigest")?,
                    signature: decode(&message.signature, "messageSignature.signature")?,
                }
            }
            _ => {
                return Err(
                    "a bundle holds exactly one of dsseEnvelope and messageSignature".into(),
                );
            }
        };
        Ok(Self {
            version,
            material,
            entries,
            timestamps,
            content,
        })
    }

    /// Verifies the bundle for `digest`. `manifest` is the image manifest's bytes, needed
    /// only for a message signature (its signature is over those bytes).
    pub(crate) fn verify(
        &self,
        digest: &portcullis_core::Digest,
        manifest: Option<&[u8]>,
        keyless: Option<&KeylessTrust>,
        keys: &[TrustedKey],
    ) -> Result<BundleVerified, String> {
        let (kind, message, signature, signed) = match &self.content {
            Content::Dsse(envelope) => {
                let [signature] = envelope.signatures.as_slice() else {
                    return Err(format!(
                        "the envelope must carry exactly one signature, not {}",
                        envelope.signatures.len()
                    ));
                };
                if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
                    return Err(format!(
                        "payload type {:?} is not {IN_TOTO_PAYLOAD_TYPE}",
                        envelope.payload_type
                    ));
                }
                let statement = Statement::decode(&envelope.payload)?;
                let kind = if statement.predicate_type == COSIGN_SIGN_PREDICATE {
                    if statement.subject_digests.as_slice() != std::slice::from_ref(digest) {
                        return Err(format!(
                            "the image signature's subject is not exactly {digest}"
                        ));
                    }
                    BundleKind::ImageSignature
                } else {
                    statement.check_subject(digest)?;
                    BundleKind::Attestation {
                        predicate_type: statement.predicate_type.clone(),
                        payload: envelope.payload.clone(),
                    }
                };
                let signed = Signed::Envelope {
                    envelope: None,
                    payload: &envelope.payload,
                    signature: &signature.sig,
                };
                (kind, envelope.pae(), signature.sig.as_slice(), signed)
            }
            Content::Message {
                digest: signed_digest,
                signature,
            } => {
                if hex::encode(signed_digest) != digest.hex() {
                    return Err(format!("the message signature is not over {digest}"));
                }
                let manifest = manifest.ok_or("the signed manifest is not available")?;
                if Sha256::digest(manifest).as_slice() != signed_digest {
                    return Err("the manifest does not match the signed digest".into());
                }
                let signed = Signed::Message {
                    digest: *signed_digest,
                    signature,
                };
                (
                    BundleKind::ImageSignature,
                    manifest.to_vec(),
                    signature.as_slice(),
                    signed,
                )
            }
        };
        match &self.material {
            Material::Certificate { leaf, chain } => {
                let trust = keyless.ok_or("keyless signing is not configured (trust.keyless)")?;
                let verified = trust.verify_signature(&SignatureCheck {
                    leaf,
                    chain,
                    entries: &self.entries,
                    timestamps: &self.timestamps,
                    signed,
                    message: &message,
                    signature,
                })?;
                Ok(BundleVerified {
                    kind,
                    ids: verified.ids,
                    signer: Some(verified.signer),
                })
            }
            Material::PublicKey { hint } => {
                let verified: Vec<&TrustedKey> = keys
                    .iter()
                    .filter(|k| k.verifies(signature, &message))
                    .collect();
                let Some(key) = verified.first() else {
                    return Err(match hint {
                        Some(h) => {
                            format!("no trusted key verifies the signature (key hint {h:?})")
                        }
                        None => "no trusted key verifies the signature".into(),
                    });
                };
                // Log entries, when present, must be of exactly this signature by this key.
                if !self.entries.is_empty() || !self.timestamps.is_empty() {
                    let trust = keyless.ok_or(
                        "the bundle's log entries need Rekor keys (trust.keyless) to verify",
                    )?;
                    trust.signing_times(
                        &self.entries,
                        &self.timestamps,
                        &signed,
                        &Verifier::PublicKey(key.der()),
                        signature,
                    )?;
                }
                Ok(BundleVerified {
                    kind,
                    ids: verified.iter().map(|k| k.id.clone()).collect(),
                    signer: None,
                })
            }
        }
    }

    /// The bundle format's minor version (1, 2 or 3).
    pub(crate) fn version(&self) -> u8 {
        self.version
    }

    /// Whether the bundle claims to be an image signature (a message signature, or a DSSE
    /// statement of cosign's sign predicate); anything else is an attestation. Unverified.
    pub(crate) fn is_image_signature(&self) -> bool {
        match &self.content {
            Content::Message { .. } => true,
            Content::Dsse(envelope) => Statement::decode(&envelope.payload)
                .is_ok_and(|s| s.predicate_type == COSIGN_SIGN_PREDICATE),
        }
    }

    /// Whether verifying needs the image manifest's bytes (a message signature).
    pub(crate) fn needs_manifest(&self) -> bool {
        matches!(self.content, Content::Message { .. })
    }
}

/// What a verified Sigstore bundle is, for callers outside the crate (the verification API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleReport {
    /// The bundle format's minor version (1, 2 or 3).
    pub version: u8,
    /// True for an image signature, false for an attestation.
    pub image_signature: bool,
    /// The attestation's predicate type.
    pub predicate_type: Option<String>,
    /// Key ids or keyless identity ids that verified it.
    pub ids: Vec<String>,
    /// The keyless signer, for certificate-based bundles.
    pub signer: Option<portcullis_core::Signer>,
}

/// Parses and verifies one Sigstore bundle (JSON) for `digest`; `manifest` is the image
/// manifest's bytes, needed only for a message signature. The error is why it is rejected.
pub fn verify_bundle(
    bundle_json: &[u8],
    digest: &portcullis_core::Digest,
    manifest: Option<&[u8]>,
    keyless: Option<&KeylessTrust>,
    keys: &[TrustedKey],
) -> Result<BundleReport, String> {
    let bundle = Bundle::parse(bundle_json)?;
    let verified = bundle.verify(digest, manifest, keyless, keys)?;
    let (image_signature, predicate_type) = match verified.kind {
        BundleKind::ImageSignature => (true, None),
        BundleKind::Attestation { predicate_type, .. } => (false, Some(predicate_type)),
    };
    Ok(BundleReport {
        version: bundle.version(),
        image_signature,
        predicate_type,
        ids: verified.ids,
        signer: verified.signer,
    })
}
