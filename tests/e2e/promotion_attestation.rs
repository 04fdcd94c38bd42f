//! The promotion attestation in production, checked by code that did not write it:
//! sigstore-rs (the `.att` layer's DSSE signature), Sigstore's JavaScript verifier
//! (`tests/interop/verify-bundle.js`, the bundle referrer) and Portcullis's own attestation
//! collector as a downstream gate would run it; each fails with another key and with a
//! tampered predicate. The predicate validates against `docs/promotion-predicate.schema.json`.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use portcullis_core::{Digest, ImageRef, Reference, RepoPath, Role};
use portcullis_evidence::{AttestationVerifier, TrustedKey};
use portcullis_registry::testing::TestRegistry;
use portcullis_registry::{ManifestContents, RegistryClient};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sigstore::crypto::{CosignVerificationKey, Signature, SigningScheme};

use crate::support::{TestApp, trivy};

const PREDICATE: &str = "https://portcullis.dev/promotion/v1";
const BUNDLE_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// What a promoted digest carries in production.
struct Attached {
    envelope: Value,
    bundle: Value,
    referrer: Value,
}

async fn attached(
    client: &RegistryClient,
    app: &TestApp,
    repo: &str,
    digest: &str,
    copy: &Value,
) -> Attached {
    let host = &app.prod.host;
    let repo: RepoPath = repo.parse().unwrap();
    let d: Digest = digest.parse().unwrap();
    let att = client
        .get_manifest(host, &repo, &Reference::Tag(d.cosign_tag("att")))
        .await
        .unwrap()
        .expect("an .att manifest in production");
    assert_eq!(att.digest.as_str(), copy["attestation"]["att_manifest"]);
    let ManifestContents::Image { layers, .. } = att.contents().unwrap() else {
        panic!("the .att tag holds an index");
    };
    let ours: Vec<_> = layers
        .iter()
        .filter(|l| l.annotations.get("predicateType").map(String::as_str) == Some(PREDICATE))
        .collect();
    assert_eq!(ours.len(), 1, "{layers:?}");
    assert_eq!(ours[0].media_type, "application/vnd.dsse.envelope.v1+json");
    let envelope = client
        .get_blob_bytes(host, &repo, &ours[0].digest, 1 << 20)
        .await
        .unwrap();
    let referrer_digest: Digest = copy["attestation"]["bundle_referrer"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let listed = client.referrers(host, &repo, &d, None).await.unwrap();
    assert!(
        listed.iter().any(|r| r.digest == referrer_digest
            && r.artifact_type.as_deref() == Some(BUNDLE_TYPE)),
        "the bundle referrer is listed: {listed:?}"
    );
    let referrer = client
        .get_manifest(host, &repo, &Reference::Digest(referrer_digest))
        .await
        .unwrap()
        .expect("the referrer manifest");
    let referrer: Value = serde_json::from_slice(&referrer.bytes).unwrap();
    let layer: Digest = referrer["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let bundle = client
        .get_blob_bytes(host, &repo, &layer, 1 << 20)
        .await
        .unwrap();
    Attached {
        envelope: serde_json::from_slice(&envelope).unwrap(),
        bundle: serde_json::from_slice(&bundle).unwrap(),
        referrer,
    }
}

/// DSSE's pre-authentication encoding, written here rather than taken from the gate.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Verifies the envelope's signature with sigstore-rs over a PAE built here.
fn sigstore_rs_verifies(envelope: &Value, public_pem: &str) -> bool {
    let payload = STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    let sig = STANDARD
        .decode(envelope["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    let key = CosignVerificationKey::from_pem(
        public_pem.as_bytes(),
        &SigningScheme::ECDSA_P256_SHA256_ASN1,
    )
    .unwrap();
    let message = pae(envelope["payloadType"].as_str().unwrap(), &payload);
    key.verify_signature(Signature::Raw(&sig), &message).is_ok()
}

/// Runs Sigstore's JavaScript verifier on `bundle` with `public_pem`; returns its verdict line.
fn sigstore_js(dir: &Path, bundle: &Value, public_pem: &str, hint: &str) -> (bool, Value) {
    let bundle_path = dir.join("bundle.json");
    let key_path = dir.join("key.pem");
    std::fs::write(&bundle_path, serde_json::to_vec(bundle).unwrap()).unwrap();
    std::fs::write(&key_path, public_pem).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/verify-bundle.js");
    let out = Command::new("node")
        .arg(script)
        .arg(&bundle_path)
        .arg(&key_path)
        .arg(hint)
        .output()
        .expect("node runs (scripts/prereqs.sh installs tests/interop)");
    let line: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "verify-bundle.js said: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), line)
}

/// The same envelope with `predicate.verificationResult` rewritten, signature kept.
fn tampered(envelope: &Value) -> Value {
    let payload = STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    let mut statement: Value = serde_json::from_slice(&payload).unwrap();
    statement["predicate"]["approvals"] = json!([{"approver": "mallory", "groups": ["release-approvers"], "at": "2026-01-01T00:00:00Z", "evidenceHash": "sha256:00"}]);
    let mut forged = envelope.clone();
    forged["payload"] = json!(STANDARD.encode(serde_json::to_vec(&statement).unwrap()));
    forged
}

fn statement_of(envelope: &Value) -> Value {
    let payload = STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

fn validate_predicate(predicate: &Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/promotion-predicate.schema.json");
    let schema: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(predicate)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{predicate:#}");
}

async fn gate_key(app: &TestApp) -> (String, String) {
    let (status, keys) = app.get("/v1/gate/keys", &app.tokens.auditor).await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    let key = &keys["keys"][0];
    (
        key["key_id"].as_str().unwrap().to_owned(),
        key["public_key"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_is_attested_in_production_and_verifies_with_independent_code() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "build-1").await;
    let (status, p) = app
        .request(&app.source("team/app", &digest), trivy(&[("CVE-1", "LOW")]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    app.approve_twice(&id).await;
    let done = app.wait_settled(&id).await;
    assert_eq!(done["state"], "promoted", "{done}");
    assert_eq!(done["copy"]["attestation"]["subject"], digest, "{done}");

    let client = TestRegistry::client_for(&[&app.prod]).unwrap();
    let found = attached(&client, &app, "team/app", &digest, &done["copy"]).await;
    // One envelope, in both places.
    assert_eq!(found.bundle["dsseEnvelope"], found.envelope);
    assert_eq!(found.referrer["subject"]["digest"], digest);
    assert_eq!(found.referrer["artifactType"], BUNDLE_TYPE);
    assert_eq!(
        found.referrer["annotations"]["dev.sigstore.bundle.predicateType"],
        PREDICATE
    );

    // What it says.
    let statement = statement_of(&found.envelope);
    assert_eq!(
        found.envelope["payloadType"],
        "application/vnd.in-toto+json"
    );
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["predicateType"], PREDICATE);
    let hex = digest.trim_start_matches("sha256:");
    let destination = format!("{}/team/app", app.prod.host.as_str());
    assert_eq!(
        statement["subject"],
        json!([{"name": destination, "digest": {"sha256": hex}}])
    );
    let predicate = &statement["predicate"];
    validate_predicate(predicate);
    assert_eq!(predicate["verificationResult"], "PASSED");
    assert_eq!(predicate["breakGlass"], Value::Null);
    assert_eq!(predicate["promotion"]["id"], id);
    assert_eq!(predicate["promotion"]["kind"], "promotion");
    assert_eq!(predicate["promotion"]["requestedBy"], "ci-pipeline");
    assert_eq!(
        predicate["policy"]["digest"]["sha256"],
        done["policy_digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
    );
    assert_eq!(predicate["source"]["digest"]["sha256"], hex);
    assert_eq!(
        predicate["destination"]["uri"],
        format!("oci://{destination}")
    );
    assert_eq!(predicate["destination"]["tag"], "v1");
    // Signed as the copy ran, after the decision and before the promotion was `promoted`.
    let at = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert!(at(&predicate["timePromoted"]) >= at(&predicate["timeVerified"]));
    assert!(
        at(&predicate["timePromoted"]) <= at(&done["updated_at"]),
        "{done}"
    );
    assert_eq!(predicate["decision"]["policyAllowed"], true);
    assert_eq!(predicate["decision"]["evidenceHash"], done["evidence_hash"]);
    assert_eq!(
        predicate["decision"]["requiredApprovals"],
        json!({"count": 2, "group": "release-approvers"})
    );
    let mut approvers: Vec<&str> = predicate["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["evidenceHash"], done["evidence_hash"]);
            a["approver"].as_str().unwrap()
        })
        .collect();
    approvers.sort_unstable();
    assert_eq!(approvers, ["alice", "bob"]);

    // sigstore-rs: the `.att` envelope verifies with the gate's key, not another's, and not
    // once its predicate is changed.
    let (key_id, gate_pem) = gate_key(&app).await;
    assert!(sigstore_rs_verifies(&found.envelope, &gate_pem));
    assert!(!sigstore_rs_verifies(
        &found.envelope,
        &app.rogue_key.public_pem
    ));
    assert!(!sigstore_rs_verifies(&tampered(&found.envelope), &gate_pem));

    // Sigstore's JavaScript verifier: the bundle, likewise.
    let dir = std::env::temp_dir().join(format!("attest-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ok, line) = sigstore_js(&dir, &found.bundle, &gate_pem, &key_id);
    assert!(ok, "{line}");
    assert_eq!(line["predicateType"], PREDICATE);
    let (ok, line) = sigstore_js(&dir, &found.bundle, &app.rogue_key.public_pem, &key_id);
    assert!(!ok, "another key verified: {line}");
    let mut forged = found.bundle.clone();
    forged["dsseEnvelope"] = tampered(&found.envelope);
    let (ok, line) = sigstore_js(&dir, &forged, &gate_pem, &key_id);
    assert!(!ok, "a tampered predicate verified: {line}");
    let _ = std::fs::remove_dir_all(&dir);

    // A downstream Portcullis trusting the first gate's key finds both, and with another key
    // neither.
    let image: ImageRef = format!("{destination}@{digest}").parse().unwrap();
    let d: Digest = digest.parse().unwrap();
    let trusting = |pem: &str| {
        let key = TrustedKey::from_pem("upstream-gate", pem.as_bytes()).unwrap();
        AttestationVerifier::new(Arc::from(vec![key]), client.clone())
    };
    let (evidence, _) = trusting(&gate_pem).collect(&image, &d).await;
    let ours: Vec<&str> = evidence
        .accepted
        .iter()
        .filter(|a| a.predicate_type == PREDICATE)
        .map(|a| a.location.as_str())
        .collect();
    assert_eq!(ours.len(), 2, "{evidence:?}");
    assert!(ours.iter().any(|l| l.contains(".att")), "{ours:?}");
    assert!(ours.iter().any(|l| l.starts_with("referrer")), "{ours:?}");
    let (evidence, _) = trusting(&app.rogue_key.public_pem)
        .collect(&image, &d)
        .await;
    assert!(
        evidence
            .accepted
            .iter()
            .all(|a| a.predicate_type != PREDICATE),
        "{evidence:?}"
    );
    assert!(evidence.rejected.len() >= 2, "{evidence:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_break_glass_promotion_is_attested_as_failed_with_its_actor() {
    let app = TestApp::spawn().await;
    let glass = app.token("oncall", Role::BreakGlass, &[], None).await;
    // Denied: unsigned.
    let digest = app.push_image("team/app", "hotfix").await;
    let (status, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "denied", "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    let why = json!({"justification": "INC-4711: production outage"});
    let (status, p) = app
        .post(&format!("/v1/promotions/{id}/break-glass"), &glass, &why)
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let done = app.wait_settled(&id).await;
    assert_eq!(done["state"], "promoted", "{done}");

    let client = TestRegistry::client_for(&[&app.prod]).unwrap();
    let found = attached(&client, &app, "team/app", &digest, &done["copy"]).await;
    let statement = statement_of(&found.envelope);
    let predicate = &statement["predicate"];
    validate_predicate(predicate);
    assert_eq!(predicate["verificationResult"], "FAILED");
    assert_eq!(predicate["promotion"]["kind"], "break_glass");
    assert_eq!(predicate["decision"]["policyAllowed"], false);
    assert_eq!(predicate["approvals"], json!([]));
    assert_eq!(predicate["breakGlass"]["actor"], "oncall");
    assert_eq!(
        predicate["breakGlass"]["justification"],
        "INC-4711: production outage"
    );
    let (_, gate_pem) = gate_key(&app).await;
    assert!(sigstore_rs_verifies(&found.envelope, &gate_pem));
    // A downstream Portcullis does not take a break-glass promotion as passing the gate.
    let key = TrustedKey::from_pem("upstream-gate", gate_pem.as_bytes()).unwrap();
    let verifier = AttestationVerifier::new(Arc::from(vec![key]), client.clone());
    let image: ImageRef = format!("{}/team/app@{digest}", app.prod.host.as_str())
        .parse()
        .unwrap();
    let (evidence, _) = verifier.collect(&image, &digest.parse().unwrap()).await;
    assert!(evidence.accepted.is_empty(), "{evidence:?}");
    assert!(
        evidence
            .rejected
            .iter()
            .all(|r| r.reason.contains("not PASSED (promoted by break-glass)")),
        "{evidence:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_copy_attest_off_nothing_is_attached() {
    let app = TestApp::spawn_with(|c| c.copy.attest = false).await;
    let digest = app.push_signed("team/app", "build-1").await;
    let (_, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    app.approve_twice(&id).await;
    let done = app.wait_settled(&id).await;
    assert_eq!(done["state"], "promoted", "{done}");
    assert!(done["copy"].get("attestation").is_none(), "{done}");
    let att = format!("{}.att", digest.replace(':', "-"));
    assert_eq!(app.prod_digest("team/app", &att).await, None);
}

/// A platform subset's production digest is the index the copy makes, known only after it:
/// the attestation is about that index, not the source's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_subset_is_attested_at_the_index_the_copy_made() {
    let app = TestApp::spawn_with(|c| {
        c.routes[0].platforms = Some(vec!["linux/amd64".parse().unwrap()]);
    })
    .await;
    let (source, p) = app.request_signed_index("team/multi").await;
    let id = p["id"].as_str().unwrap().to_owned();
    app.approve_twice(&id).await;
    let done = app.wait_settled(&id).await;
    assert_eq!(done["state"], "promoted", "{done}");
    let subset = done["copy"]["subset_digest"]
        .as_str()
        .expect("a subset index");
    assert_ne!(subset, source);
    assert_eq!(done["copy"]["attestation"]["subject"], subset, "{done}");

    let client = TestRegistry::client_for(&[&app.prod]).unwrap();
    let found = attached(&client, &app, "team/multi", subset, &done["copy"]).await;
    assert_eq!(found.referrer["subject"]["digest"], subset);
    let statement = statement_of(&found.envelope);
    let hex = subset.trim_start_matches("sha256:");
    assert_eq!(statement["subject"][0]["digest"]["sha256"], hex);
    let predicate = &statement["predicate"];
    validate_predicate(predicate);
    assert_eq!(
        predicate["destination"]["platforms"],
        json!(["linux/amd64"])
    );
    assert_eq!(
        predicate["source"]["digest"]["sha256"],
        source.trim_start_matches("sha256:")
    );
    // Nothing was attached to the source digest in production.
    let d: Digest = source.parse().unwrap();
    let repo: RepoPath = "team/multi".parse().unwrap();
    let att = client
        .get_manifest(&app.prod.host, &repo, &Reference::Tag(d.cosign_tag("att")))
        .await
        .unwrap();
    assert!(att.is_none(), "an .att for the source digest: {att:?}");
}

/// Staging the attestation beside the copy is a head start, never a condition: when the
/// destination refuses its uploads then, the copy goes on, and the attestation is staged
/// again after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attestation_refused_beside_the_copy_is_staged_after_it() {
    use portcullis_registry::testing::{FaultPlan, FaultProxy};
    use portcullis_registry::{CopyPlan, copy_image};

    let upstream = TestRegistry::start().await.unwrap();
    // The first upload session is refused with a status that is not worth a retry. The copy
    // uploads nothing (below), so it is one of the attestation's, staged beside the copy.
    let proxy = FaultProxy::start(
        &upstream.host,
        FaultPlan::first(1, 400).only("POST", "/blobs/uploads/"),
    )
    .await
    .unwrap();
    let host = proxy.host.as_str().to_owned();
    let app = TestApp::spawn_with_worker(move |c| {
        c.routes[0].to = format!("{host}/");
        c.registries.insert(
            host,
            portcullis_server::config::RegistrySettings {
                insecure: true,
                ..Default::default()
            },
        );
    })
    .await;
    // The image is already in production under its tag, so the copy itself uploads nothing.
    let digest = app.push_signed("team/app", "build-1").await;
    let client = TestRegistry::client_for(&[&app.staging, &upstream]).unwrap();
    let plan = CopyPlan {
        source: format!("{}/team/app@{digest}", app.staging.host.as_str())
            .parse()
            .unwrap(),
        dest_registry: upstream.host.clone(),
        dest_repo: "team/app".parse().unwrap(),
        dest_tag: Some("v1".parse().unwrap()),
        options: Default::default(),
    };
    copy_image(&client, &plan).await.unwrap();

    let (status, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    app.approve_twice(&id).await;
    let done = app.wait_settled(&id).await;
    assert_eq!(done["state"], "promoted", "{done}");
    assert_eq!(
        proxy.faulted(),
        1,
        "the staging beside the copy was refused"
    );
    assert_eq!(done["copy"]["blobs_copied"], 0, "{done}");
    assert_eq!(done["copy"]["attestation"]["subject"], digest, "{done}");
    // Attached after all, in both layouts, where the production registry holds it.
    let att = client
        .get_manifest(
            &upstream.host,
            &"team/app".parse().unwrap(),
            &Reference::Tag(digest.parse::<Digest>().unwrap().cosign_tag("att")),
        )
        .await
        .unwrap()
        .expect("an .att manifest");
    assert_eq!(
        att.digest.as_str(),
        done["copy"]["attestation"]["att_manifest"]
    );
    let referrer: Digest = done["copy"]["attestation"]["bundle_referrer"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let found = client
        .get_manifest(
            &upstream.host,
            &"team/app".parse().unwrap(),
            &Reference::Digest(referrer),
        )
        .await
        .unwrap();
    assert!(found.is_some(), "the bundle referrer is in production");
}
