//! Sigstore bundles (protobuf-specs `Bundle` JSON, v0.1 / v0.2 / v0.3) and the DSSE
//! envelopes they carry. Every part is a public field, so a test can build a valid bundle and
//! then break exactly one thing.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use super::LogEntry;
use crate::attest::{IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_V1, pae};
use crate::keyless::LeafCert;
use crate::{Error, Result};

/// Predicate type of a cosign v3 image signature statement.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// Media type (and referrer artifact type) of a v0.3 bundle.
pub const BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Media type of a v0.2 bundle.
pub const BUNDLE_V02_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle+json;version=0.2";
/// Media type of a v0.1 bundle.
pub const BUNDLE_V01_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle+json;version=0.1";

/// A bundle format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleVersion {
    /// v0.1: chain, SET required, inclusion proof optional.
    V0_1,
    /// v0.2: chain, inclusion proof required.
    V0_2,
    /// v0.3: a single leaf `certificate`.
    V0_3,
}

impl BundleVersion {
    /// The bundle's `mediaType`.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::V0_1 => BUNDLE_V01_MEDIA_TYPE,
            Self::V0_2 => BUNDLE_V02_MEDIA_TYPE,
            Self::V0_3 => BUNDLE_V03_MEDIA_TYPE,
        }
    }
}

/// What a bundle signs.
#[derive(Debug, Clone, PartialEq)]
pub enum BundleContent {
    /// A DSSE envelope (JSON, as [`sign_envelope`] returns it).
    Dsse(Value),
    /// A signature over an artifact whose sha256 is `digest`.
    MessageSignature {
        /// sha256 of the signed bytes.
        digest: [u8; 32],
        /// The signature over those bytes (ASN.1 DER for ECDSA).
        signature: Vec<u8>,
    },
}

/// How a bundle names its signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Material {
    /// `x509CertificateChain` (v0.1 / v0.2): DER certificates, leaf first.
    Chain(Vec<Vec<u8>>),
    /// `certificate` (v0.3): the DER leaf.
    Certificate(Vec<u8>),
    /// `publicKey.hint` for key-based signatures.
    PublicKeyHint(String),
}

/// A Sigstore bundle, field by field.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    /// Format version (media type).
    pub version: BundleVersion,
    /// The signer.
    pub material: Material,
    /// What is signed.
    pub content: BundleContent,
    /// Transparency log entries.
    pub tlog_entries: Vec<LogEntry>,
    /// DER RFC 3161 `TimeStampResp`s over the signature bytes.
    pub rfc3161_timestamps: Vec<Vec<u8>>,
}

impl Bundle {
    /// The raw signature bytes (the DSSE signature, or the message signature): what a TSA
    /// timestamps.
    pub fn signature_bytes(&self) -> Result<Vec<u8>> {
        match &self.content {
            BundleContent::MessageSignature { signature, .. } => Ok(signature.clone()),
            BundleContent::Dsse(envelope) => envelope["signatures"][0]["sig"]
                .as_str()
                .and_then(|s| BASE64.decode(s).ok())
                .ok_or_else(|| Error::Invalid("DSSE envelope without a base64 signature".into())),
        }
    }

    /// The bundle JSON.
    pub fn to_json(&self) -> Value {
        let b64 = |der: &Vec<u8>| json!({ "rawBytes": BASE64.encode(der) });
        let mut material = match &self.material {
            Material::Chain(chain) => {
                json!({ "x509CertificateChain": { "certificates": chain.iter().map(b64).collect::<Vec<_>>() } })
            }
            Material::Certificate(der) => json!({ "certificate": b64(der) }),
            Material::PublicKeyHint(hint) => json!({ "publicKey": { "hint": hint } }),
        };
        material["tlogEntries"] = self
            .tlog_entries
            .iter()
            .map(LogEntry::to_bundle_json)
            .collect();
        let timestamps: Vec<Value> = self
            .rfc3161_timestamps
            .iter()
            .map(|t| json!({ "signedTimestamp": BASE64.encode(t) }))
            .collect();
        material["timestampVerificationData"] = json!({ "rfc3161Timestamps": timestamps });
        let mut bundle = json!({
            "mediaType": self.version.media_type(),
            "verificationMaterial": material,
        });
        match &self.content {
            BundleContent::Dsse(envelope) => bundle["dsseEnvelope"] = envelope.clone(),
            BundleContent::MessageSignature { digest, signature } => {
                bundle["messageSignature"] = json!({
                    "messageDigest": { "algorithm": "SHA2_256", "digest": BASE64.encode(digest) },
                    "signature": BASE64.encode(signature),
                });
            }
        }
        bundle
    }

    /// The bundle JSON, serialized (what is pushed as the referrer layer).
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        Ok(serde_json::to_vec(&self.to_json())?)
    }
}

/// The in-toto v1 statement cosign v3 signs for an image: subject = `digest` (`sha256:…`),
/// predicate type [`COSIGN_SIGN_PREDICATE`], no predicate.
pub fn cosign_sign_statement(digest: &str) -> Value {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    json!({
        "_type": IN_TOTO_STATEMENT_V1,
        "subject": [{ "digest": { "sha256": hex }, "annotations": {} }],
        "predicateType": COSIGN_SIGN_PREDICATE,
    })
}

/// A DSSE envelope of `statement` signed (over the PAE) by `leaf`; no key id, as cosign and
/// sigstore-go write it.
pub fn sign_envelope(statement: &Value, leaf: &LeafCert) -> Result<Value> {
    let payload = serde_json::to_vec(statement)?;
    let signature = leaf.sign(&pae(IN_TOTO_PAYLOAD_TYPE, &payload))?;
    Ok(json!({
        "payload": BASE64.encode(payload),
        "payloadType": IN_TOTO_PAYLOAD_TYPE,
        "signatures": [{ "sig": BASE64.encode(signature) }],
    }))
}
