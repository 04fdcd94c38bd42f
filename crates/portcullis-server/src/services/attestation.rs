//! The promotion attestation: after a copy, the gate signs an in-toto statement about the
//! production digest (predicate type [`PREDICATE_TYPE`], modelled on SLSA's Verification
//! Summary Attestation) and attaches it twice, so that any verifier downstream can require
//! "passed the gate" with the gate's public key alone:
//! - as a layer of cosign's `sha256-<hex>.att` manifest (`cosign verify-attestation`,
//!   Kyverno and policy-controller read it);
//! - as a Sigstore bundle (v0.3, `publicKey` material, no transparency-log entry) in an OCI
//!   1.1 referrer (cosign v3, sigstore-js, Portcullis's own attestation collector).
//!
//! The predicate is built from the decision statement the copier verified, never from bare
//! rows: the votes come from the statement's signed vote envelopes, the break-glass from
//! its signed actor and justification. `docs/promotion-predicate.schema.json` is its schema.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use portcullis_core::Digest;
use portcullis_gate::Envelope;
use portcullis_registry::{Attachment, PreparedLayer, RawManifest, Role, Subject};
use portcullis_store::PromotionRecord;
use serde::Serialize;
use serde_json::{Value, json};

use crate::services::trust::{Release, timestamp};

/// The predicate type of a promotion attestation.
pub const PREDICATE_TYPE: &str = "https://portcullis.dev/promotion/v1";
/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The in-toto statement type.
const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The verifier id the predicate names (SLSA VSA `verifier.id`).
pub const VERIFIER_ID: &str = "https://portcullis.dev/gate";
/// Media type of a DSSE envelope layer (cosign's `.att`).
const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// Media type (and referrer artifact type) of a Sigstore bundle v0.3.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Where the attestation went.
#[derive(Debug, Clone, Serialize)]
pub struct Attested {
    /// The production digest the statement is about.
    pub subject: Digest,
    /// The SHA-256 of the signed statement (the envelope's payload).
    pub statement_sha256: String,
    /// The `.att` manifest holding the envelope as a layer.
    pub att_manifest: Digest,
    /// The referrer manifest holding the Sigstore bundle.
    pub bundle_referrer: Digest,
}

/// A signed vote of the statement, as the predicate lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Approval {
    approver: String,
    groups: Vec<String>,
    at: String,
    evidence_hash: String,
}

/// The decoded payload of a vote envelope the statement carries (its signature was checked
/// with the statement's).
fn vote_record(envelope: &Value) -> Option<Value> {
    let payload = envelope.get("payload")?.as_str()?;
    serde_json::from_slice(&STANDARD.decode(payload).ok()?).ok()
}

fn approvals(statement: &Value) -> Vec<Approval> {
    let field = |r: &Value, k: &str| {
        r.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    statement
        .get("votes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(vote_record)
        .map(|r| Approval {
            approver: field(&r, "approver"),
            groups: crate::services::trust::signed_groups(&r)
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
            at: field(&r, "at"),
            evidence_hash: field(&r, "evidence_hash"),
        })
        .collect()
}

/// `{"sha256": "<hex>"}`, in-toto's digest set.
fn digest_set(d: &Digest) -> Value {
    json!({ d.algorithm(): d.hex() })
}

/// The in-toto statement of a finished promotion of `job` at `production` (the digest the
/// destination holds: the source digest, or a platform subset's new index).
pub fn statement(
    job: &PromotionRecord,
    release: &Release,
    production: &Digest,
    key_id: &str,
    at: DateTime<Utc>,
) -> Value {
    let s = &release.record;
    let text = |k: &str| s.get(k).and_then(Value::as_str).map(str::to_owned);
    let break_glass = text("kind").as_deref() == Some("break_glass");
    let policy_allowed = if break_glass {
        s.get("policy_allowed") == Some(&Value::Bool(true))
    } else {
        // A promotion or rollback statement exists only for an allowed decision.
        true
    };
    let destination = job.destination_name();
    let waivers: Vec<Value> = job
        .decision
        .waived
        .iter()
        .map(|w| {
            json!({"id": w.waiver, "kind": w.kind, "match": w.matched, "finding": w.finding, "package": w.package})
        })
        .collect();
    let predicate = json!({
        "verifier": {
            "id": VERIFIER_ID,
            "keyId": key_id,
            "version": {"portcullis": env!("CARGO_PKG_VERSION")},
        },
        "timeVerified": text("issued_at"),
        "timePromoted": timestamp(at),
        "resourceUri": format!("oci://{destination}@{production}"),
        "policy": {"digest": digest_set(&job.policy_digest)},
        "verificationResult": if break_glass { "FAILED" } else { "PASSED" },
        "promotion": {
            "id": job.id.to_string(),
            "kind": text("kind"),
            "route": job.route,
            "requestedBy": job.requested_by,
            "statementDigest": release.statement_digest,
        },
        "source": {
            "uri": format!("oci://{}", job.source.with_digest(job.digest.clone())),
            "digest": digest_set(&job.digest),
        },
        "destination": {
            "uri": format!("oci://{destination}"),
            "tag": job.tag.as_ref().map(|t| t.as_str()),
            "digest": digest_set(production),
            "platforms": release.platforms,
        },
        "decision": {
            "policyAllowed": policy_allowed,
            "evidenceHash": text("evidence_hash"),
            "requiredApprovals": s.get("required_approvals").cloned().unwrap_or(Value::Null),
        },
        "approvals": approvals(s),
        "waivers": waivers,
        "breakGlass": if break_glass {
            json!({"actor": text("actor"), "justification": text("justification"), "at": text("issued_at")})
        } else {
            Value::Null
        },
    });
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": destination, "digest": digest_set(production)}],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    })
}

/// The Sigstore bundle (v0.3) of `envelope`: the key is named by its hint (the gate key
/// id); there is no transparency-log entry, so verifiers are told to skip the log.
pub fn bundle(envelope: &Envelope, key_id: &str) -> Value {
    json!({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {
            "publicKey": {"hint": key_id},
            "tlogEntries": [],
            "timestampVerificationData": {"rfc3161Timestamps": []},
        },
        "dsseEnvelope": envelope,
    })
}

/// What to attach: the `.att` layer and the bundle referrer.
#[derive(Clone)]
pub struct Prepared {
    /// The envelope as a `.att` layer.
    pub layer: Attachment,
    /// The bundle as a referrer.
    pub referrer: Attachment,
    /// SHA-256 of the statement.
    pub statement_sha256: String,
}

/// Signs the statement and lays out both attachments.
pub fn prepare(
    keys: &crate::services::trust::GateKeys,
    job: &PromotionRecord,
    release: &Release,
    production: &Digest,
    at: DateTime<Utc>,
) -> Result<Prepared, String> {
    let key = keys.ring().current();
    let statement = statement(job, release, production, key.key_id(), at);
    let envelope = Envelope::sign(key, IN_TOTO_PAYLOAD_TYPE, &statement)
        .map_err(|e| format!("signing the promotion attestation: {e}"))?;
    let statement_sha256 =
        portcullis_gate::sha256_hex(&portcullis_gate::canonical::to_vec(&statement));
    let envelope_bytes = serde_json::to_vec(&envelope).map_err(|e| e.to_string())?;
    let bundle_bytes =
        serde_json::to_vec(&bundle(&envelope, key.key_id())).map_err(|e| e.to_string())?;
    let layer = Attachment {
        media_type: DSSE_MEDIA_TYPE.to_owned(),
        bytes: envelope_bytes,
        annotations: BTreeMap::from([
            (
                "dev.cosignproject.cosign/signature".to_owned(),
                String::new(),
            ),
            ("predicateType".to_owned(), PREDICATE_TYPE.to_owned()),
        ]),
    };
    let referrer = Attachment {
        media_type: BUNDLE_MEDIA_TYPE.to_owned(),
        bytes: bundle_bytes,
        annotations: BTreeMap::from([
            (
                "dev.sigstore.bundle.content".to_owned(),
                "dsse-envelope".to_owned(),
            ),
            (
                "dev.sigstore.bundle.predicateType".to_owned(),
                PREDICATE_TYPE.to_owned(),
            ),
            ("org.opencontainers.image.created".to_owned(), timestamp(at)),
        ]),
    };
    Ok(Prepared {
        layer,
        referrer,
        statement_sha256,
    })
}

/// A signed attestation whose blobs are already in the destination, with the descriptor of
/// the image it is about: only its manifests remain to be written.
pub struct Staged {
    /// The production digest it is about.
    pub production: Digest,
    /// When it was signed (`timePromoted`).
    pub signed_at: DateTime<Utc>,
    prepared: Prepared,
    subject: RawManifest,
    /// The `.att` append made ahead (its config pushed), if it could be.
    att: Option<PreparedLayer>,
}

/// Pushes the blobs of `prepared` (about `production`, signed at `signed_at`) into `job`'s
/// destination, reads the subject's manifest and prepares the `.att` append (its config
/// pushed), all at once. Before the copy has put the image in production, the manifest is
/// read from the source (`from: Role::Source`; a digest names the same bytes everywhere);
/// after it, from the destination.
pub async fn stage(
    registry: &portcullis_registry::RegistryClient,
    job: &PromotionRecord,
    production: &Digest,
    prepared: &Prepared,
    signed_at: DateTime<Utc>,
    from: Role,
) -> portcullis_registry::Result<Staged> {
    let (host, repo) = (&job.destination.0, &job.destination.1);
    let (read_host, read_repo, read_name) = match from {
        Role::Source => (
            &job.source.registry,
            &job.source.repository,
            job.source.with_digest(production.clone()).to_string(),
        ),
        Role::Destination => (host, repo, job.destination_name()),
    };
    let reference = portcullis_core::Reference::Digest(production.clone());
    let attachments = [&prepared.layer, &prepared.referrer];
    let (pushed, subject, att) = tokio::join!(
        registry.stage_attachments(host, repo, &attachments),
        async {
            registry
                .get_manifest(read_host, read_repo, &reference)
                .await
                .map_err(|e| e.at(from))?
                .ok_or_else(|| {
                    portcullis_registry::Error::NotFound {
                        what: format!("manifest {production} in {read_name}"),
                    }
                    .at(from)
                })
        },
        registry.prepare_cosign_layer(host, repo, production, &prepared.layer),
    );
    pushed?;
    // Not made ahead: `attach` reads the tag and pushes the config itself, and says why it
    // cannot append when that is so.
    let att = att
        .inspect_err(|e| tracing::debug!(error = %e, "could not prepare the .att append ahead"))
        .ok();
    Ok(Staged {
        production: production.clone(),
        signed_at,
        prepared: prepared.clone(),
        subject: subject?,
        att,
    })
}

/// Writes the manifests of `staged` in `job`'s destination (both layouts, at once).
pub async fn attach(
    registry: &portcullis_registry::RegistryClient,
    job: &PromotionRecord,
    staged: &Staged,
) -> portcullis_registry::Result<Attested> {
    let (host, repo) = (&job.destination.0, &job.destination.1);
    let subject = Subject {
        registry: host,
        repo,
        manifest: &staged.subject,
    };
    // Two tags, no shared state: written at once.
    let (att_manifest, bundle_referrer) = tokio::try_join!(
        registry.attach_cosign_layer(subject, &staged.prepared.layer, staged.att.as_ref()),
        registry.attach_referrer(subject, &staged.prepared.referrer),
    )?;
    Ok(Attested {
        subject: staged.production.clone(),
        statement_sha256: staged.prepared.statement_sha256.clone(),
        att_manifest,
        bundle_referrer,
    })
}
