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
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaiverRequest {
    /// `vulnerability` or `licence` (required).
    kind: Option<String>,
    /// The vulnerability id or alias, or the SPDX licence id (required).
    id: Option<String>,
    /// Which images (required).
    scope: Option<ScopeRequest>,
    /// When it stops applying, RFC 3339 (required; at most `waivers.max_days` ahead).
    expires_at: Option<String>,
    /// Why (required).
    justification: Option<String>,
}

/// `scope`: exactly one of the two keys.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeRequest {
    /// Every source repository equal to this path or under it.
    repository_prefix: Option<String>,
    /// Exactly this manifest digest.
    digest: Option<String>,
}

/// The body of `POST /v1/waivers/{id}/revoke`: `{reason}`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Why (required).
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
mod tests;
