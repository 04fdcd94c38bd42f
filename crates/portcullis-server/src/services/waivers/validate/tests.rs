//! Unit tests of the waiver request checks.

use serde_json::{Value, json};

use super::*;

fn now() -> DateTime<Utc> {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn body(patch: Value) -> WaiverRequest {
    let mut base = json!({
        "kind": "vulnerability",
        "id": "CVE-2024-1",
        "scope": {"repository_prefix": "team/app"},
        "expires_at": "2026-01-31T00:00:00Z",
        "justification": "fix ships next sprint",
    });
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    serde_json::from_value(base).unwrap()
}

fn refused(patch: Value) -> (&'static str, String) {
    let e = validate(&body(patch), now(), 90).unwrap_err();
    (e.code(), e.to_string())
}

#[test]
fn a_good_request_is_parsed_into_domain_types() {
    let v = validate(&body(json!({"justification": "  why  "})), now(), 90).unwrap();
    assert_eq!(v.kind, WaiverKind::Vulnerability);
    assert_eq!(v.matched.as_str(), "CVE-2024-1");
    assert_eq!(
        v.scope,
        WaiverScope::RepositoryPrefix("team/app".parse().unwrap())
    );
    assert_eq!(v.justification, "why");
    let d = format!("sha256:{}", "a".repeat(64));
    let v = validate(
        &body(json!({"kind": "licence", "scope": {"digest": d}})),
        now(),
        90,
    )
    .unwrap();
    assert_eq!(v.scope, WaiverScope::Digest(d.parse().unwrap()));
}

#[test]
fn expiry_is_required_in_the_future_and_within_max_days() {
    let (code, detail) = refused(json!({"expires_at": null}));
    assert_eq!(code, "invalid_expires_at");
    assert!(
        detail.contains("required") && detail.contains("90 days"),
        "{detail}"
    );
    let (code, detail) = refused(json!({"expires_at": "next week"}));
    assert_eq!(code, "invalid_expires_at");
    assert!(detail.contains("RFC 3339"), "{detail}");
    let (_, detail) = refused(json!({"expires_at": "2025-12-31T23:59:59Z"}));
    assert!(detail.contains("not in the future"), "{detail}");
    let (_, detail) = refused(json!({"expires_at": "2026-04-01T00:00:01Z"}));
    assert!(detail.contains("more than 90 days"), "{detail}");
    // Exactly max_days away is allowed; offsets are honoured.
    assert!(
        validate(
            &body(json!({"expires_at": "2026-04-01T00:00:00Z"})),
            now(),
            90
        )
        .is_ok()
    );
    assert!(
        validate(
            &body(json!({"expires_at": "2026-04-01T01:00:00+01:00"})),
            now(),
            90
        )
        .is_ok()
    );
}

#[test]
fn kind_id_scope_and_justification_are_checked() {
    assert_eq!(refused(json!({"kind": "cve"})).0, "invalid_kind");
    assert_eq!(refused(json!({"kind": null})).0, "invalid_kind");
    assert_eq!(refused(json!({"id": ""})).0, "invalid_id");
    assert_eq!(refused(json!({"id": "CVE 1"})).0, "invalid_id");
    assert_eq!(refused(json!({"id": "x".repeat(129)})).0, "invalid_id");
    let d = format!("sha256:{}", "a".repeat(64));
    let (code, detail) = refused(json!({"scope": {"repository_prefix": "team", "digest": d}}));
    assert_eq!(code, "invalid_scope");
    assert!(detail.contains("not both"), "{detail}");
    assert_eq!(refused(json!({"scope": {}})).0, "invalid_scope");
    assert_eq!(refused(json!({"scope": null})).0, "invalid_scope");
    assert_eq!(
        refused(json!({"scope": {"digest": "sha256:12"}})).0,
        "invalid_scope"
    );
    for prefix in ["team/", "/team", "Team", "team//app", ""] {
        let (code, _) = refused(json!({"scope": {"repository_prefix": prefix}}));
        assert_eq!(code, "invalid_scope", "{prefix:?}");
    }
    assert_eq!(
        refused(json!({"justification": " "})).0,
        "invalid_justification"
    );
    assert_eq!(
        refused(json!({"justification": "a\u{202e}b"})).0,
        "invalid_justification"
    );
    assert_eq!(
        refused(json!({"justification": "x".repeat(2001)})).0,
        "invalid_justification"
    );
}

#[test]
fn unknown_fields_are_refused_by_the_body_type() {
    let extra = json!({"kind": "licence", "id": "MIT", "scope": {"digest": "x"},
                       "expires_at": "x", "justification": "x", "match": "MIT"});
    assert!(serde_json::from_value::<WaiverRequest>(extra).is_err());
    let scope = json!({"scope": {"repository": "team"}});
    assert!(serde_json::from_value::<WaiverRequest>(scope).is_err());
    assert_eq!(
        reason(&RevokeRequest::default()).unwrap_err().code(),
        "invalid_reason"
    );
}
