//! Keyless signatures in cosign's own layouts: a `.sig` simple-signing layer and a `.att`
//! DSSE layer, each carrying the certificate, chain and Rekor bundle as annotations.

use sha2::Digest as _;
use sigstore::cosign::payload::SimpleSigning;

use super::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, KeylessTrust, KeylessVerified,
    Leaf, SIGNATURE_ANNOTATION, SignatureCheck, Signed, cert, tlog,
};

impl KeylessTrust {
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

/// True when a layer descriptor carries a keyless certificate, so it must be verified as
/// keyless and never with a plain public key.
pub(crate) fn has_certificate(layer: &serde_json::Value) -> bool {
    layer
        .get("annotations")
        .and_then(|a| a.get(CERTIFICATE_ANNOTATION))
        .is_some()
}
