//! Signed in-toto attestations the way `cosign attest --key` writes them: an in-toto
//! statement about a digest, wrapped in a DSSE envelope whose PAE is signed with sigstore's
//! signing code, pushed either in cosign's layout (one layer per envelope on the
//! `sha256-<hex>.att` manifest) or as an OCI 1.1 referrer (a manifest whose `subject` is the
//! digest, also listed in the `sha256-<hex>` referrers-tag-schema index). Forgery helpers
//! build the envelopes a verifier must refuse.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use oci_client::{
    Client, Reference,
    manifest::{OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE},
    secrets::RegistryAuth,
};
use serde_json::{Value, json};

use crate::layer::sha256_digest;
use crate::push::{oci_client_for, reference};
use crate::{Result, TestKey};

/// Media type of a DSSE envelope layer.
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The in-toto statement `_type` we write.
pub const IN_TOTO_STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// The empty config blob OCI artifacts use.
const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const COSIGN_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";

/// Where an attestation is pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Appended as a layer to the `sha256-<hex>.att` manifest, as cosign does by default.
    Cosign,
    /// As an OCI 1.1 referrer manifest, also listed in the `sha256-<hex>` fallback index.
    Referrer,
}

/// How a forged envelope is wrong.
#[derive(Debug, Clone, Copy)]
pub enum Forgery<'a> {
    /// Validly signed, but with this (untrusted) key.
    UntrustedKey(&'a TestKey),
    /// Signed with the right key, then the payload was changed.
    TamperedPayload,
    /// Signed with the right key, but the statement is about this other digest.
    OtherSubject(&'a str),
}

/// An in-toto v1 statement about `digest` (`sha256:…`).
pub fn statement(digest: &str, predicate_type: &str, predicate: &Value) -> Value {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    json!({
        "_type": IN_TOTO_STATEMENT_V1,
        "subject": [{"name": "image", "digest": {"sha256": hex}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    })
}

/// DSSE's pre-authentication encoding: what is actually signed.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Hex SHA-256 of `key`'s DER public key, written as the DSSE `keyid` hint.
pub fn fingerprint(key: &TestKey) -> Result<String> {
    let der = key.signer().to_sigstore_keypair()?.public_key_to_der()?;
    Ok(sha256_digest(&der).trim_start_matches("sha256:").to_owned())
}

/// A DSSE envelope of `statement`, signed by every key in `keys`.
pub fn sign_statement(statement: &Value, keys: &[&TestKey]) -> Result<Value> {
    let payload = serde_json::to_vec(statement)?;
    let message = pae(IN_TOTO_PAYLOAD_TYPE, &payload);
    let signatures = keys
        .iter()
        .map(|key| {
            let sig = key.signer().sign(&message)?;
            Ok(json!({"keyid": fingerprint(key)?, "sig": STANDARD.encode(sig)}))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(json!({
        "payloadType": IN_TOTO_PAYLOAD_TYPE,
        "payload": STANDARD.encode(payload),
        "signatures": signatures,
    }))
}

/// A forged envelope: what `key` would sign for `digest`, broken as `forgery` says.
pub fn forged_envelope(
    digest: &str,
    predicate_type: &str,
    predicate: &Value,
    key: &TestKey,
    forgery: Forgery<'_>,
) -> Result<Value> {
    match forgery {
        Forgery::UntrustedKey(other) => {
            sign_statement(&statement(digest, predicate_type, predicate), &[other])
        }
        Forgery::OtherSubject(other_digest) => {
            sign_statement(&statement(other_digest, predicate_type, predicate), &[key])
        }
        Forgery::TamperedPayload => {
            let mut envelope =
                sign_statement(&statement(digest, predicate_type, predicate), &[key])?;
            let tampered = json!({"tampered": true, "original": predicate});
            let payload = serde_json::to_vec(&statement(digest, predicate_type, &tampered))?;
            envelope["payload"] = Value::String(STANDARD.encode(payload));
            Ok(envelope)
        }
    }
}

/// Signs a statement about `digest` with `keys` and pushes it as `placement` says; returns
/// the digest of the manifest now holding it.
pub async fn attest(
    registry: &str,
    repo: &str,
    digest: &str,
    predicate_type: &str,
    predicate: &Value,
    keys: &[&TestKey],
    placement: Placement,
) -> Result<String> {
    let envelope = sign_statement(&statement(digest, predicate_type, predicate), keys)?;
    push_envelope(registry, repo, digest, predicate_type, &envelope, placement).await
}

/// Pushes `envelope` as an attestation of `digest`; returns the digest of the manifest
/// now holding it (the `.att` manifest or the referrer manifest).
pub async fn push_envelope(
    registry: &str,
    repo: &str,
    digest: &str,
    predicate_type: &str,
    envelope: &Value,
    placement: Placement,
) -> Result<String> {
    let client = oci_client_for(registry);
    client
        .store_auth_if_needed(registry, &RegistryAuth::Anonymous)
        .await;
    let target = reference(registry, repo, digest)?;
    let body = serde_json::to_vec(envelope)?;
    let layer_digest = sha256_digest(&body);
    let layer = json!({
        "mediaType": DSSE_MEDIA_TYPE,
        "digest": layer_digest,
        "size": body.len(),
        "annotations": {"dev.cosignproject.cosign/signature": "", "predicateType": predicate_type},
    });
    client.push_blob(&target, body, &layer_digest).await?;
    let tagged = |tag: &str| reference(registry, repo, tag);
    let tag_base = digest.replace(':', "-");
    match placement {
        Placement::Cosign => {
            append_att_layer(&client, &tagged(&format!("{tag_base}.att"))?, layer).await
        }
        Placement::Referrer => {
            let (pushed, descriptor) =
                push_referrer(&client, &target, digest, layer, DSSE_MEDIA_TYPE, None).await?;
            append_referrers_index(&client, &tagged(&tag_base)?, &descriptor).await?;
            Ok(pushed)
        }
    }
}

/// Adds `layer` to the cosign `.att` manifest at `att` (creating it), with a config whose
/// diff_ids list the layers, as cosign writes it.
pub(crate) async fn append_att_layer(
    client: &Client,
    att: &Reference,
    layer: Value,
) -> Result<String> {
    let mut layers = match pull_json(client, att, OCI_IMAGE_MEDIA_TYPE).await? {
        Some(existing) => existing["layers"].as_array().cloned().unwrap_or_default(),
        None => Vec::new(),
    };
    layers.push(layer);
    let diff_ids: Vec<&Value> = layers.iter().map(|l| &l["digest"]).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "", "os": "", "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))?;
    let config_digest = sha256_digest(&config);
    let config_size = config.len();
    client.push_blob(att, config, &config_digest).await?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_IMAGE_MEDIA_TYPE,
        "config": {"mediaType": COSIGN_CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config_size},
        "layers": layers,
    });
    put(client, att, &manifest, OCI_IMAGE_MEDIA_TYPE).await
}

/// Pushes a referrer manifest of `artifact_type` holding `layer` whose subject is `digest`
/// (with manifest `annotations` if given); returns its digest and its descriptor (with
/// `artifactType`, as an index entry needs it).
pub(crate) async fn push_referrer(
    client: &Client,
    target: &Reference,
    digest: &str,
    layer: Value,
    artifact_type: &str,
    annotations: Option<Value>,
) -> Result<(String, Value)> {
    let (subject_bytes, _) = client
        .pull_manifest_raw(
            target,
            &RegistryAuth::Anonymous,
            &[OCI_IMAGE_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE],
        )
        .await?;
    let subject: Value = serde_json::from_slice(&subject_bytes)?;
    let subject_media_type = subject["mediaType"]
        .as_str()
        .unwrap_or(OCI_IMAGE_MEDIA_TYPE);
    let empty = b"{}".to_vec();
    let empty_digest = sha256_digest(&empty);
    client.push_blob(target, empty, &empty_digest).await?;
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_IMAGE_MEDIA_TYPE,
        "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_CONFIG_MEDIA_TYPE, "digest": empty_digest, "size": 2},
        "layers": [layer],
        "subject": {"mediaType": subject_media_type, "digest": digest, "size": subject_bytes.len()},
    });
    if let Some(annotations) = annotations {
        manifest["annotations"] = annotations;
    }
    let body = serde_json::to_vec(&manifest)?;
    let pushed = sha256_digest(&body);
    let descriptor = json!({
        "mediaType": OCI_IMAGE_MEDIA_TYPE,
        "artifactType": artifact_type,
        "digest": pushed,
        "size": body.len(),
    });
    let mut descriptor = descriptor;
    if let Some(annotations) = manifest.get("annotations") {
        // The referrers API lists a manifest's annotations in its descriptor; mirror that.
        descriptor["annotations"] = annotations.clone();
    }
    let by_digest = Reference::with_digest(
        target.registry().to_owned(),
        target.repository().to_owned(),
        pushed.clone(),
    );
    put(client, &by_digest, &manifest, OCI_IMAGE_MEDIA_TYPE).await?;
    Ok((pushed, descriptor))
}

/// Adds `entry` to the referrers-tag-schema index at `tag` (creating it).
pub(crate) async fn append_referrers_index(
    client: &Client,
    tag: &Reference,
    entry: &Value,
) -> Result<()> {
    let mut manifests = match pull_json(client, tag, OCI_IMAGE_INDEX_MEDIA_TYPE).await? {
        Some(existing) => existing["manifests"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        None => Vec::new(),
    };
    manifests.push(entry.clone());
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_IMAGE_INDEX_MEDIA_TYPE,
        "manifests": manifests,
    });
    put(client, tag, &index, OCI_IMAGE_INDEX_MEDIA_TYPE).await?;
    Ok(())
}

/// The JSON manifest at `reference`, or `None` when the registry does not know it.
pub(crate) async fn pull_json(
    client: &Client,
    reference: &Reference,
    media_type: &str,
) -> Result<Option<Value>> {
    match client
        .pull_manifest_raw(reference, &RegistryAuth::Anonymous, &[media_type])
        .await
    {
        Ok((bytes, _)) => Ok(Some(serde_json::from_slice(&bytes)?)),
        Err(e) if crate::push::is_not_found(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Uploads `manifest` under `reference`; returns its digest.
async fn put(
    client: &Client,
    reference: &Reference,
    manifest: &Value,
    media_type: &'static str,
) -> Result<String> {
    let body = serde_json::to_vec(manifest)?;
    let digest = sha256_digest(&body);
    client
        .push_manifest_raw(reference, body, http::HeaderValue::from_static(media_type))
        .await?;
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_envelope_verifies_over_the_pae_and_tampering_breaks_it() {
        let key = TestKey::generate().expect("key");
        let digest = format!("sha256:{}", "a".repeat(64));
        let predicate = json!({"builder": {"id": "b"}});
        let envelope = sign_statement(&statement(&digest, "p", &predicate), &[&key]).expect("sign");
        let verify = |env: &Value| {
            let payload = STANDARD
                .decode(env["payload"].as_str().expect("payload"))
                .expect("b64");
            let sig = env["signatures"][0]["sig"].as_str().expect("sig");
            key.verification_key()
                .expect("vk")
                .verify_signature(
                    sigstore::crypto::Signature::Base64Encoded(sig.as_bytes()),
                    &pae(IN_TOTO_PAYLOAD_TYPE, &payload),
                )
                .is_ok()
        };
        assert!(verify(&envelope));
        let tampered = forged_envelope(&digest, "p", &predicate, &key, Forgery::TamperedPayload)
            .expect("forge");
        assert!(!verify(&tampered));
    }
}
