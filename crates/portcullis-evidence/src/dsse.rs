//! DSSE envelopes (<https://github.com/secure-systems-lab/dsse>): parsing with size caps, the
//! pre-authentication encoding (PAE) that is actually signed, and verification of every
//! signature against every trusted key. The `keyid` hints are ignored: a signature counts only
//! when a trusted key verifies it.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;

use crate::TrustedKey;

/// Media type of a DSSE envelope layer (cosign's `.att` layers, referrer layers).
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// Largest envelope we read; SBOM predicates can be big, but not bigger than this.
pub const MAX_ENVELOPE_BYTES: u64 = 8 * 1024 * 1024;
/// More signatures than this on one envelope is not an envelope we accept.
pub const MAX_SIGNATURES: usize = 16;

/// Base64 decoders that accept padded or unpadded input, as the DSSE spec asks.
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A parsed DSSE envelope: the decoded payload and the decoded signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The payload type (`application/vnd.in-toto+json`).
    pub payload_type: String,
    /// The decoded payload bytes; only these were signed (through the PAE).
    pub payload: Vec<u8>,
    /// The decoded signatures.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSignature {
    /// The signer's key id hint; untrusted, never used to pick a key.
    pub keyid: Option<String>,
    /// The raw signature bytes.
    pub sig: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEnvelope {
    payload_type: String,
    payload: String,
    #[serde(default)]
    signatures: Vec<RawSignature>,
}

#[derive(Deserialize)]
struct RawSignature {
    #[serde(default)]
    keyid: Option<String>,
    sig: String,
}

/// Decodes standard or URL-safe base64, padded or not.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(text)
        .or_else(|_| STANDARD_LENIENT.decode(text))
        .or_else(|_| URL_SAFE.decode(text))
        .or_else(|_| URL_SAFE_LENIENT.decode(text))
        .ok()
}

impl Envelope {
    /// Parses envelope JSON; the error says what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() as u64 > MAX_ENVELOPE_BYTES {
            return Err(format!(
                "envelope is {} bytes, more than {MAX_ENVELOPE_BYTES}",
                bytes.len()
            ));
        }
        let raw: RawEnvelope =
            serde_json::from_slice(bytes).map_err(|e| format!("not a DSSE envelope: {e}"))?;
        if raw.signatures.is_empty() {
            return Err("envelope has no signatures".into());
        }
        if raw.signatures.len() > MAX_SIGNATURES {
            return Err(format!(
                "envelope has {} signatures, more than {MAX_SIGNATURES}",
                raw.signatures.len()
            ));
        }
        let payload = decode_base64(&raw.payload).ok_or("envelope payload is not base64")?;
        let signatures = raw
            .signatures
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let sig = decode_base64(&s.sig)
                    .filter(|sig| !sig.is_empty())
                    .ok_or_else(|| format!("envelope signature {i} is not base64"))?;
                Ok(EnvelopeSignature {
                    keyid: s.keyid,
                    sig,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            payload_type: raw.payload_type,
            payload,
            signatures,
        })
    }

    /// The bytes the signatures are over.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }

    /// The ids of the trusted keys that verified at least one signature, sorted, unique.
    pub fn verified_key_ids(&self, keys: &[TrustedKey]) -> Vec<String> {
        let message = self.pae();
        let mut ids = BTreeSet::new();
        for signature in &self.signatures {
            for key in keys {
                if key.verifies(&signature.sig, &message) {
                    ids.insert(key.id.clone());
                }
            }
        }
        ids.into_iter().collect()
    }

    /// The ids of trusted keys that a signature's `keyid` hint names (by fingerprint). Only
    /// for explaining a rejection: a named key that did not verify means the payload or the
    /// signature was altered after signing.
    pub fn hinted_key_ids(&self, keys: &[TrustedKey]) -> Vec<String> {
        let ids: BTreeSet<String> = keys
            .iter()
            .filter(|k| !k.fingerprint().is_empty())
            .filter(|k| {
                self.signatures
                    .iter()
                    .any(|s| s.keyid.as_deref() == Some(k.fingerprint()))
            })
            .map(|k| k.id.clone())
            .collect();
        ids.into_iter().collect()
    }
}

/// `DSSEv1 <len(type)> <type> <len(body)> <body>`, lengths as ASCII decimal byte counts.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(
        format!(
            "DSSEv1 {} {payload_type} {} ",
            payload_type.len(),
            payload.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_spec_test_vector() {
        // From the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn parses_standard_and_url_safe_base64() {
        let env =
            br#"{"payloadType":"t","payload":"aGk=","signatures":[{"keyid":"k","sig":"-_8"}]}"#;
        let parsed = Envelope::parse(env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.payload, b"hi");
        assert_eq!(parsed.payload_type, "t");
        assert_eq!(parsed.signatures[0].sig, vec![0xfb, 0xff]);
        assert_eq!(parsed.signatures[0].keyid.as_deref(), Some("k"));
    }

    #[test]
    fn rejects_malformed_envelopes_with_a_reason() {
        let cases: [(&[u8], &str); 5] = [
            (b"[]", "not a DSSE envelope"),
            (br#"{"payload":"aGk=","signatures":[]}"#, "payloadType"),
            (
                br#"{"payloadType":"t","payload":"aGk=","signatures":[]}"#,
                "no signatures",
            ),
            (
                br#"{"payloadType":"t","payload":"!!","signatures":[{"sig":"aGk="}]}"#,
                "payload is not base64",
            ),
            (
                br#"{"payloadType":"t","payload":"aGk=","signatures":[{"sig":""}]}"#,
                "signature 0",
            ),
        ];
        for (doc, expected) in cases {
            let err = Envelope::parse(doc).err().unwrap_or_default();
            assert!(
                err.contains(expected),
                "{err:?} should mention {expected:?}"
            );
        }
    }

    #[test]
    fn caps_size_and_signature_count() {
        let big = vec![b' '; MAX_ENVELOPE_BYTES as usize + 1];
        assert!(
            Envelope::parse(&big)
                .err()
                .unwrap_or_default()
                .contains("bytes")
        );
        let sigs = vec![r#"{"sig":"aGk="}"#; MAX_SIGNATURES + 1].join(",");
        let many = format!(r#"{{"payloadType":"t","payload":"aGk=","signatures":[{sigs}]}}"#);
        let err = Envelope::parse(many.as_bytes()).err().unwrap_or_default();
        assert!(err.contains("signatures, more than"), "{err}");
    }

    #[test]
    fn no_keys_verify_nothing() {
        let env = br#"{"payloadType":"t","payload":"aGk=","signatures":[{"sig":"aGk="}]}"#;
        let parsed = Envelope::parse(env).unwrap_or_else(|e| panic!("{e}"));
        assert!(parsed.verified_key_ids(&[]).is_empty());
    }
}
