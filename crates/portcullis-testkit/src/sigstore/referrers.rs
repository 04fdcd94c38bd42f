//! Pushing what the private Sigstore signs: bundles as OCI 1.1 referrers the way cosign v3
//! stores them (artifactType = the bundle media type, empty config, one layer holding the
//! bundle JSON, `subject` = the image), optionally also listed in the `sha256-<hex>`
//! tag-schema index; and keyless attestations in cosign's `.att` layout, whose layer carries
//! the certificate, chain and a Rekor bundle bound to that exact envelope.

use oci_client::secrets::RegistryAuth;
use serde_json::{Value, json};

use super::{LogEntry, PrivateSigstore, pem_certificate};
use crate::attest::{
    DSSE_MEDIA_TYPE, append_att_layer, append_referrers_index, push_referrer, statement,
};
use crate::keyless::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, FakeRekor, LeafCert,
};
use crate::layer::sha256_digest;
use crate::push::{oci_client_for, reference};
use crate::sign::SIGNATURE_ANNOTATION;
use crate::{Error, Result};

/// Pushes `bundle_json` as a referrer of `subject_digest` in `registry/repo` with artifact and
/// layer media type `media_type`; with `tag_fallback` it is also added to the
/// `sha256-<hex>` referrers-tag-schema index. Returns the referrer manifest's digest.
pub async fn push_bundle_referrer(
    registry: &str,
    repo: &str,
    subject_digest: &str,
    bundle_json: &[u8],
    media_type: &str,
    tag_fallback: bool,
) -> Result<String> {
    let client = oci_client_for(registry);
    client
        .store_auth_if_needed(registry, &RegistryAuth::Anonymous)
        .await;
    let target = reference(registry, repo, subject_digest)?;
    let layer_digest = sha256_digest(bundle_json);
    client
        .push_blob(&target, bundle_json.to_vec(), &layer_digest)
        .await?;
    let layer =
        json!({ "mediaType": media_type, "digest": layer_digest, "size": bundle_json.len() });
    let annotations = bundle_annotations(bundle_json);
    let (pushed, descriptor) = push_referrer(
        &client,
        &target,
        subject_digest,
        layer,
        media_type,
        annotations,
    )
    .await?;
    if tag_fallback {
        let tag = reference(registry, repo, &subject_digest.replace(':', "-"))?;
        append_referrers_index(&client, &tag, &descriptor).await?;
    }
    Ok(pushed)
}

/// The manifest annotations cosign v3 writes for a bundle: its content kind and, for DSSE,
/// the predicate type. `None` if the bytes are not a bundle (tests may push garbage).
fn bundle_annotations(bundle_json: &[u8]) -> Option<Value> {
    let bundle: Value = serde_json::from_slice(bundle_json).ok()?;
    let envelope = bundle.get("dsseEnvelope")?;
    let payload = envelope["payload"].as_str()?;
    let statement: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::STANDARD, payload).ok()?,
    )
    .ok()?;
    Some(json!({
        "dev.sigstore.bundle.content": "dsse-envelope",
        "dev.sigstore.bundle.predicateType": statement["predicateType"],
    }))
}

/// Which Rekor entry kind a keyless `.att` layer is logged as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttKind {
    /// `intoto` 0.0.1 (cosign ≤ 2.1).
    IntotoV001,
    /// `dsse` 0.0.1 (cosign ≥ 2.2).
    DsseV001,
}

/// Everything a keyless `.att` layer carries; public fields so tests can tamper.
#[derive(Debug, Clone)]
pub struct KeylessAttestation {
    /// The DSSE envelope JSON: the layer blob, byte for byte.
    pub envelope_json: Vec<u8>,
    /// The statement's predicate type (the layer's `predicateType` annotation).
    pub predicate_type: String,
    /// PEM leaf certificate.
    pub certificate: String,
    /// PEM chain (intermediate, root); `None` omits the annotation.
    pub chain: Option<String>,
    /// The Rekor entry logged for the envelope.
    pub entry: LogEntry,
    /// Cosign's bundle annotation (SET + payload) for `entry`.
    pub bundle: Value,
}

impl PrivateSigstore {
    /// A keyless attestation of `digest` signed by `leaf` and logged in Rekor v1 as `kind`
    /// at `integrated_time`, bound to the exact envelope bytes.
    pub fn keyless_attestation(
        &self,
        leaf: &LeafCert,
        digest: &str,
        predicate_type: &str,
        predicate: &Value,
        kind: AttKind,
        integrated_time: i64,
    ) -> Result<KeylessAttestation> {
        let envelope = super::sign_envelope(&statement(digest, predicate_type, predicate), leaf)?;
        let envelope_json = serde_json::to_vec(&envelope)?;
        let body = match kind {
            AttKind::IntotoV001 => FakeRekor::intoto_v001_body(&envelope_json, &leaf.cert_pem)?,
            AttKind::DsseV001 => FakeRekor::dsse_v001_body(&envelope_json, &leaf.cert_pem)?,
        };
        let entry = self.rekor.log(&body, integrated_time)?;
        let bundle = entry.cosign_bundle()?;
        let chain = format!(
            "{}{}",
            pem_certificate(&self.fulcio.intermediate_der()),
            pem_certificate(&self.fulcio.root_der())
        );
        Ok(KeylessAttestation {
            envelope_json,
            predicate_type: predicate_type.to_owned(),
            certificate: leaf.cert_pem.clone(),
            chain: Some(chain),
            entry,
            bundle,
        })
    }
}

/// Appends `att` as a layer of `repo:sha256-<hex>.att` for `digest` (creating it), with
/// cosign's annotations; returns the `.att` manifest digest.
pub async fn push_keyless_attestation(
    registry: &str,
    repo: &str,
    digest: &str,
    att: &KeylessAttestation,
) -> Result<String> {
    if !digest.starts_with("sha256:") {
        return Err(Error::Invalid(format!("`{digest}` is not a sha256 digest")));
    }
    let client = oci_client_for(registry);
    client
        .store_auth_if_needed(registry, &RegistryAuth::Anonymous)
        .await;
    let target = reference(registry, repo, digest)?;
    let layer_digest = sha256_digest(&att.envelope_json);
    client
        .push_blob(&target, att.envelope_json.clone(), &layer_digest)
        .await?;
    let mut annotations = serde_json::Map::new();
    annotations.insert(SIGNATURE_ANNOTATION.into(), "".into());
    annotations.insert(
        CERTIFICATE_ANNOTATION.into(),
        att.certificate.clone().into(),
    );
    if let Some(chain) = &att.chain {
        annotations.insert(CHAIN_ANNOTATION.into(), chain.clone().into());
    }
    annotations.insert(BUNDLE_ANNOTATION.into(), att.bundle.to_string().into());
    annotations.insert("predicateType".into(), att.predicate_type.clone().into());
    let layer = json!({
        "mediaType": DSSE_MEDIA_TYPE,
        "digest": layer_digest,
        "size": att.envelope_json.len(),
        "annotations": annotations,
    });
    let att_ref = reference(registry, repo, &format!("{}.att", digest.replace(':', "-")))?;
    append_att_layer(&client, &att_ref, layer).await
}
