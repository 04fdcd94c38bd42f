//! Examples of request bodies and key answers, named by the handlers' annotations
//! (`example = examples::promotion`). The e2e test `openapi` validates each against its
//! schema.

use serde_json::{Value, json};

const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const POLICY: &str = "sha256:60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";
const EVIDENCE: &str = "sha256:d2a84f4b8b650937ec8f73cd8be2c74add5a911ba64df27458ed8229da804a26";
const PROMOTION_ID: &str = "0b5e3c4e-8f0a-4d55-9a4e-2f1f3c0c9a11";
const AT: &str = "2026-11-30T14:02:11.204518Z";

/// `POST /v1/promotions`.
pub fn promotion_request() -> Value {
    json!({
        "source": format!("registry.staging.example.com/payments/api@{DIGEST}"),
        "route": "staging-to-prod",
        "tag": "v1.8.0",
        "evidence": [{
            "format": "trivy-json",
            "document": {
                "SchemaVersion": 2,
                "ArtifactName": "registry.staging.example.com/payments/api",
                "Results": [{
                    "Target": "app (debian 12.8)",
                    "Vulnerabilities": [{
                        "VulnerabilityID": "CVE-2024-45490",
                        "PkgName": "libexpat1",
                        "InstalledVersion": "2.5.0-1",
                        "FixedVersion": "2.5.0-1+deb12u1",
                        "Severity": "MEDIUM"
                    }]
                }]
            }
        }]
    })
}

/// A promotion waiting for approvals, as its GET shows it.
pub fn promotion() -> Value {
    json!({
        "id": PROMOTION_ID,
        "kind": "promotion",
        "state": "pending_approval",
        "source": format!("registry.staging.example.com/payments/api@{DIGEST}"),
        "digest": DIGEST,
        "destination": "registry.prod.example.com/payments/api",
        "tag": "v1.8.0",
        "route": "staging-to-prod",
        "requested_by": "ci-pipeline",
        "decision": {
            "allow": true,
            "violations": [],
            "required_approvals": {"count": 2, "group": "release-approvers"},
            "warnings": ["1 medium vulnerability with a fix available"],
            "suppressions": [],
            "waived": []
        },
        "approvals": [{
            "approver": "alice",
            "verdict": "approve",
            "comment": "release notes reviewed",
            "at": "2026-11-30T14:10:40.001200Z",
            "evidence_hash": EVIDENCE
        }],
        "policy_digest": POLICY,
        "error": null,
        "copy": null,
        "created_at": AT,
        "updated_at": "2026-11-30T14:10:40.001200Z",
        "evidence_hash": EVIDENCE,
        "decision_ids": ["5d0c8a0e-4c1e-4a7b-9a53-6f2f4a7e8b10"]
    })
}

/// A promotion the policy denied.
pub fn denied_promotion() -> Value {
    let mut p = promotion();
    p["state"] = json!("denied");
    p["approvals"] = json!([]);
    p["decision"] = json!({
        "allow": false,
        "violations": [{
            "rule": "vuln.no_critical",
            "message": "CVE-2024-3094 (critical) in xz-utils 5.6.0",
            "severity": "critical",
            "remediation": "rebuild on a base image with xz-utils 5.6.1 or later"
        }],
        "required_approvals": null,
        "warnings": [],
        "suppressions": [],
        "waived": []
    });
    p
}

/// `GET /v1/promotions`.
pub fn promotion_list() -> Value {
    json!({ "promotions": [promotion()] })
}

/// `POST /v1/promotions/{id}/approvals`.
pub fn vote() -> Value {
    json!({
        "verdict": "approve",
        "comment": "release notes reviewed; load test green",
        "evidence_hash": EVIDENCE
    })
}

/// `POST /v1/rollbacks`.
pub fn rollback_request() -> Value {
    json!({
        "route": "staging-to-prod",
        "repository": "registry.prod.example.com/payments/api",
        "to_digest": DIGEST,
        "channel_tag": "stable"
    })
}

/// `POST /v1/waivers`.
pub fn waiver_request() -> Value {
    json!({
        "kind": "vulnerability",
        "id": "CVE-2024-45490",
        "scope": {"repository_prefix": "payments"},
        "expires_at": "2026-12-31T00:00:00Z",
        "justification": "libexpat is not reachable from the service; fixed in the January base image"
    })
}

/// A waiver awaiting its second approver.
pub fn waiver() -> Value {
    json!({
        "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "kind": "vulnerability",
        "match": "CVE-2024-45490",
        "scope": {"repository_prefix": "payments"},
        "expires_at": "2026-12-31T00:00:00Z",
        "justification": "libexpat is not reachable from the service; fixed in the January base image",
        "state": "pending",
        "created_by": "alice",
        "created_at": AT,
        "confirmed_by": null,
        "confirmed_at": null,
        "revoked_by": null,
        "revoked_at": null,
        "revoke_reason": null
    })
}

/// `POST /v1/tokens`.
pub fn mint_request() -> Value {
    json!({
        "subject": "carol",
        "role": "approver",
        "groups": ["release-approvers"],
        "ttl_seconds": 28800
    })
}

/// `POST /v1/tokens` with 201.
pub fn minted() -> Value {
    json!({
        "id": "1f0e2d3c-4b5a-4978-8c6d-5e4f3a2b1c0d",
        "token": "pc_3q2x9Vn0bZk7YtLw4sHc8MfRj1aPdE6u",
        "subject": "carol",
        "role": "approver",
        "groups": ["release-approvers"],
        "expires_at": "2026-11-30T22:02:11Z",
        "state": "awaiting_confirmation"
    })
}

/// `GET /v1/audit`.
pub fn audit_page() -> Value {
    json!({
        "events": [{
            "seq": 4182,
            "at": "2026-11-30T14:10:40.001200Z",
            "actor": "alice",
            "action": "approved",
            "promotion_id": PROMOTION_ID,
            "digest": DIGEST,
            "details": {"comment": "release notes reviewed", "evidence_hash": EVIDENCE},
            "request_id": "3f6c1e0a9b2d4c8e",
            "prev_hash": "hmac-sha256:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
            "hash": "hmac-sha256:6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b",
            "key_id": "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
        }],
        "next_cursor": "4182"
    })
}

/// `POST /v1/runtime/reports`.
pub fn runtime_report() -> Value {
    json!({
        "cluster": "prod-eu-1",
        "namespace": "payments",
        "workload": "api",
        "images": [format!("registry.prod.example.com/payments/api@{DIGEST}")]
    })
}

/// `POST /v1/admission`.
pub fn admission_review() -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "operation": "CREATE",
            "namespace": "payments",
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "api-7d4b9c", "namespace": "payments"},
                "spec": {"containers": [{
                    "name": "api",
                    "image": format!("registry.prod.example.com/payments/api@{DIGEST}")
                }]}
            }
        }
    })
}

/// A refused AdmissionReview.
pub fn admission_refused() -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "allowed": false,
            "status": {
                "code": 403,
                "message": "portcullis: container api: registry.staging.example.com/payments/api:latest was not promoted by this gate"
            }
        }
    })
}

/// `GET /v1/gate/keys`.
pub fn gate_keys() -> Value {
    json!({"keys": [{
        "key_id": "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        "algorithm": "ecdsa-p256-sha256",
        "public_key": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8n1qS1bD8yWk0mY4pGmQ0dbtS2Kx\nq3nPz1Qd2V6lQk9Xl3wM1VYQe0Gv1pJd0cO4Yc2r1u6bq4P5kQH7n2bY0A==\n-----END PUBLIC KEY-----\n",
        "status": "active"
    }]})
}

/// `GET /v1/audit/verify`.
pub fn verify_report() -> Value {
    json!({
        "ok": true,
        "events": 4182,
        "verified_from": 4000,
        "first_bad_seq": null,
        "problem": null,
        "checkpoint": {
            "seq": 4180,
            "head_hash": "hmac-sha256:6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b",
            "time": "2026-11-30T14:10:00Z",
            "key_id": "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
            "signature": "MEUCIQDx2m5Yg0Jq4l0v1r4fX8c9nKQ3WmZ0tqkq2m8p1s3u9AIgYv6w2Jk8l4bq7r0c5p1d9e3f2a6b8c0d4e1f7a9b2c3d5e8="
        }
    })
}

/// `POST /v1/admin/policy/reload`.
pub fn reloaded() -> Value {
    json!({
        "previous_digest": POLICY,
        "policy_digest": "sha256:fd61a03af4f77d870fc21e05e7e80678095c92d808cfb3b5c279ee04c74aca13",
        "changed": true,
        "tests_passed": 42,
        "rejudged": 3
    })
}

/// `POST /v1/promotions` with `dry_run: true` (the `evidence` shortened).
pub fn dry_run() -> Value {
    let denied = denied_promotion();
    json!({
        "dry_run": true,
        "digest": DIGEST,
        "destination": "registry.prod.example.com/payments/api",
        "decision": denied["decision"],
        "policy_digest": POLICY,
        "evidence": {
            "request": {"kind": "promotion", "route": "staging-to-prod", "digest": DIGEST},
            "vulnerabilities": [{"id": "CVE-2024-3094", "severity": "critical", "package": "xz-utils"}]
        }
    })
}

/// `POST /v1/decisions/{id}/replay`: identical.
pub fn replay_report() -> Value {
    let verdict = promotion()["decision"].clone();
    json!({
        "decision_id": "5d0c8a0e-4c1e-4a7b-9a53-6f2f4a7e8b10",
        "promotion_id": PROMOTION_ID,
        "at": AT,
        "policy_digest": POLICY,
        "now_ns": "1796047331204518000",
        "identical": true,
        "tampered": false,
        "tamper": [],
        "verdict": verdict,
        "replayed": verdict,
        "diff": []
    })
}

/// `POST /v1/policy/simulate`: one verdict would flip.
pub fn simulation_report() -> Value {
    json!({
        "candidate_digest": "sha256:fd61a03af4f77d870fc21e05e7e80678095c92d808cfb3b5c279ee04c74aca13",
        "judged": 1000,
        "flips": [{
            "decision_id": "5d0c8a0e-4c1e-4a7b-9a53-6f2f4a7e8b10",
            "promotion_id": PROMOTION_ID,
            "digest": DIGEST,
            "at": AT,
            "before": {
                "allow": true,
                "required_approvals": {"count": 2, "group": "release-approvers"},
                "rule_ids": []
            },
            "after": {
                "allow": false,
                "required_approvals": null,
                "rule_ids": ["vuln.no_medium_with_fix"]
            },
            "kind": "allow_to_deny"
        }],
        "unchanged": 987,
        "skipped": 12,
        "errors": []
    })
}

/// `GET /v1/runtime/drift`.
pub fn drift_page() -> Value {
    json!({
        "drift": [{
            "cluster": "prod-eu-1",
            "namespace": "payments",
            "workload": "api",
            "reported_at": AT,
            "images": [{
                "image": "registry.staging.example.com/payments/api:latest",
                "digest": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "reason": "never promoted by this gate"
            }]
        }],
        "scanned": 100,
        "next": "prod-eu-1/payments/api"
    })
}
