//! The waiver request body and its checks: every field is parsed into its domain type
//! before anything is written, and each refusal names the field (422 with a code per field).

use chrono::{DateTime, Duration, SubsecRound, Utc};
use portcullis_core::{TextKind, WaiverKind, WaiverMatch, WaiverScope, check_text};
use serde::Deserialize;

use super::error::WaiverError;

/// Longest justification or revocation reason, in bytes.
pub const MAX_TEXT: usize = 2000;

/// The body of `POST /v1/waivers`:
/// `{kind, id, scope: {repository_prefix} | {digest}, expires_at, justification}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaiverRequest {
    kind: Option<String>,
    id: Option<String>,
    scope: Option<ScopeRequest>,
    expires_at: Option<String>,
    justification: Option<String>,
}

/// `scope`: exactly one of the two keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeRequest {
    repository_prefix: Option<String>,
    digest: Option<String>,
}

/// The body of `POST /v1/waivers/{id}/revoke`: `{reason}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    reason: Option<String>,
}

/// A waiver request that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Valid {
    /// What it waives.
    pub kind: WaiverKind,
    /// The id it waives.
    pub matched: WaiverMatch,
    /// Which images.
    pub scope: WaiverScope,
    /// When it stops applying (microseconds, as stored).
    pub expires_at: DateTime<Utc>,
    /// Why, trimmed.
    pub justification: String,
}

fn invalid(code: &'static str, detail: impl Into<String>) -> WaiverError {
    WaiverError::invalid(code, detail)
}

/// Checks free text: required, at most [`MAX_TEXT`] bytes, no control characters but newline
/// and tab; returned trimmed.
fn prose(code: &'static str, field: &str, text: Option<&str>) -> Result<String, WaiverError> {
    let text = text.map(str::trim).unwrap_or_default();
    if text.is_empty() || text.len() > MAX_TEXT {
        return Err(invalid(
            code,
            format!("{field} is required: 1 to {MAX_TEXT} bytes of text"),
        ));
    }
    check_text(text, TextKind::Prose).map_err(|e| invalid(code, format!("{field} {e}")))?;
    Ok(text.to_owned())
}

fn scope(s: Option<&ScopeRequest>) -> Result<WaiverScope, WaiverError> {
    const SHAPE: &str = "scope must be exactly one of {\"repository_prefix\": \"team/app\"} or {\"digest\": \"sha256:…\"}";
    match s.map(|s| (s.repository_prefix.as_deref(), s.digest.as_deref())) {
        Some((Some(prefix), None)) => prefix.parse().map(WaiverScope::RepositoryPrefix).map_err(|e| {
            invalid(
                "invalid_scope",
                format!("scope.repository_prefix: {e}: a repository path prefix of whole path segments (team or team/app), at most 255 bytes"),
            )
        }),
        Some((None, Some(digest))) => digest
            .parse()
            .map(WaiverScope::Digest)
            .map_err(|e| invalid("invalid_scope", format!("scope.digest: {e}"))),
        Some((Some(_), Some(_))) => Err(invalid(
            "invalid_scope",
            format!("{SHAPE}, not both"),
        )),
        _ => Err(invalid("invalid_scope", format!("{SHAPE}; it is missing"))),
    }
}

fn expiry(
    text: Option<&str>,
    now: DateTime<Utc>,
    max_days: u32,
) -> Result<DateTime<Utc>, WaiverError> {
    const CODE: &str = "invalid_expires_at";
    let text = text.ok_or_else(|| {
        invalid(
            CODE,
            format!("expires_at is required: an RFC 3339 time in the future, at most {max_days} days away (waivers.max_days)"),
        )
    })?;
    let at = DateTime::parse_from_rfc3339(text)
        .map_err(|e| {
            invalid(
                CODE,
                format!("expires_at {text:?} is not an RFC 3339 time (2030-01-31T12:00:00Z): {e}"),
            )
        })?
        .with_timezone(&Utc)
        .trunc_subsecs(6);
    if at <= now {
        return Err(invalid(
            CODE,
            format!("expires_at {text} is not in the future"),
        ));
    }
    let latest = now + Duration::days(i64::from(max_days));
    if at > latest {
        return Err(invalid(
            CODE,
            format!(
                "expires_at {text} is more than {max_days} days away (waivers.max_days); the latest allowed now is {}",
                latest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        ));
    }
    Ok(at)
}

/// Checks a creation request at `now` with the configured `max_days`.
pub fn validate(
    req: &WaiverRequest,
    now: DateTime<Utc>,
    max_days: u32,
) -> Result<Valid, WaiverError> {
    let kind = req
        .kind
        .as_deref()
        .ok_or_else(|| invalid("invalid_kind", "kind is required: vulnerability or licence"))?
        .parse()
        .map_err(|e| invalid("invalid_kind", format!("kind: {e}")))?;
    let matched = req
        .id
        .as_deref()
        .ok_or_else(|| {
            invalid(
                "invalid_id",
                "id is required: the vulnerability id (CVE-…, GHSA-…) or SPDX licence id waived",
            )
        })?
        .parse()
        .map_err(|e| invalid("invalid_id", format!("id: {e}")))?;
    let scope = scope(req.scope.as_ref())?;
    let expires_at = expiry(req.expires_at.as_deref(), now, max_days)?;
    let justification = prose(
        "invalid_justification",
        "justification",
        req.justification.as_deref(),
    )?;
    Ok(Valid {
        kind,
        matched,
        scope,
        expires_at,
        justification,
    })
}

/// Checks a revocation's reason; returned trimmed.
pub fn reason(req: &RevokeRequest) -> Result<String, WaiverError> {
    prose("invalid_reason", "reason", req.reason.as_deref())
}

#[cfg(test)]
mod tests {
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
}
