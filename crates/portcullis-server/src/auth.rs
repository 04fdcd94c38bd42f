//! Bearer-token authentication and role checks. Tokens are random secrets shown once and
//! stored as HMACs under a key derived from the gate key (a row inserted by hand, or a
//! hash recomputed without the key, matches no token); every refusal is counted outside
//! the audit chain (see `auth_failures`). Subjects are normalised (`Subject`), so one person is one identity across
//! their tokens.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use portcullis_core::{GroupName, RequestId, Role, Subject};
use portcullis_store::{NewToken, Store};
use rand::RngCore;

use crate::auth_failures::{self, Reason};
use crate::error::ApiError;
use crate::services::trust::GateKeys;
use crate::state::AppState;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Token subject, normalised (lower case). For an OIDC token, `<issuer>#<subject>`, so
    /// identities from different issuers (and static tokens, issuer `portcullis`) never meet.
    pub subject: String,
    /// Who vouched for the identity: `portcullis` for static tokens, else the OIDC issuer.
    pub issuer: String,
    /// The roles the identity holds (one for a static token).
    pub roles: Vec<Role>,
    /// The roles held on some routes only, with those routes (from OIDC role mappings with
    /// `routes`); every other role in `roles` is held on every route.
    pub scoped: Vec<(Role, Vec<String>)>,
    /// Approver groups.
    pub groups: Vec<GroupName>,
    /// The id of the request it made (see `request_id`), recorded in its audit events.
    pub request_id: Option<RequestId>,
}

/// The issuer of the gate's own static tokens.
pub const STATIC_ISSUER: &str = "portcullis";

impl Caller {
    /// Whether the caller holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the caller holds one of the roles in `mask` (`roles::*` bits) on `route`.
    pub fn may_on(&self, mask: u8, route: &str) -> bool {
        self.roles.iter().any(|role| {
            bit(*role) & mask != 0
                && self
                    .scoped
                    .iter()
                    .find(|(r, _)| r == role)
                    .is_none_or(|(_, routes)| routes.iter().any(|r| r == route))
        })
    }
}

/// Creates a token and returns its secret, which is not stored and cannot be shown again.
pub async fn create_token(
    store: &Store,
    gate: &GateKeys,
    subject: &Subject,
    role: Role,
    groups: Vec<GroupName>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<String, portcullis_store::Error> {
    let (_, secret) =
        mint_token(store, gate, subject, role, groups, expires_at, None, false).await?;
    Ok(secret)
}

/// Creates a token minted by `created_by` (an admin, through the API), inactive until a
/// second admin confirms it when `awaiting_confirmation`; returns its id and secret.
#[allow(clippy::too_many_arguments)]
pub async fn mint_token(
    store: &Store,
    gate: &GateKeys,
    subject: &Subject,
    role: Role,
    groups: Vec<GroupName>,
    expires_at: Option<DateTime<Utc>>,
    created_by: Option<String>,
    awaiting_confirmation: bool,
) -> Result<(uuid::Uuid, String), portcullis_store::Error> {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let secret = format!("pct_{}", hex::encode(raw));
    let id = store
        .create_token(&NewToken {
            subject: subject.clone(),
            role,
            groups,
            token_hash: gate.token_hash(&secret),
            expires_at,
            created_by,
            awaiting_confirmation,
        })
        .await?;
    Ok((id, secret))
}

/// Counts a refusal outside the audit chain (see `auth_failures`): no database write and
/// no audit lock per refused request. The web page counts its refusals here too.
pub fn record_refusal(state: &AppState, actor: &str, parts: &Parts, reason: Reason) {
    audit_refusal(state, actor, parts, reason);
}

fn audit_refusal(state: &AppState, actor: &str, parts: &Parts, reason: Reason) {
    let client = auth_failures::client_of(&parts.extensions);
    state.auth_failures.record(
        &client,
        actor,
        parts.method.as_str(),
        parts.uri.path(),
        reason,
    );
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            audit_refusal(state, "anonymous", parts, Reason::MissingToken);
            return Err(ApiError::unauthorized("a bearer token is required"));
        };
        Caller::from_token(state, token, parts).await
    }
}

impl Caller {
    /// The caller `token` identifies: an OIDC JWT from a trusted issuer, or a static token.
    /// A refusal is counted like a refused bearer token (the web page's token sign-in uses
    /// this too).
    pub async fn from_token(
        state: &AppState,
        token: &str,
        parts: &Parts,
    ) -> Result<Self, ApiError> {
        let request_id = parts.extensions.get::<RequestId>().cloned();
        if crate::oidc::looks_like_jwt(token) && !state.oidc.is_empty() {
            return match state.oidc.authenticate(token).await {
                Ok(id) => Self::from_oidc(id, request_id),
                Err(reason) => {
                    audit_refusal(state, "anonymous", parts, Reason::InvalidToken);
                    Err(ApiError::unauthorized(format!(
                        "the bearer token is not valid: {reason}"
                    )))
                }
            };
        }
        match state
            .store
            .find_token(&state.keys.token_hash(token))
            .await?
        {
            Some(t) => Ok(Caller {
                subject: t.subject.into(),
                issuer: STATIC_ISSUER.to_owned(),
                roles: vec![t.role],
                scoped: Vec::new(),
                groups: t.groups,
                request_id,
            }),
            None => {
                audit_refusal(state, "anonymous", parts, Reason::InvalidToken);
                Err(ApiError::unauthorized("the bearer token is not valid"))
            }
        }
    }

    /// The caller a verified OIDC identity maps to: subject `<issuer>#<subject>`.
    pub fn from_oidc(
        id: crate::oidc::OidcIdentity,
        request_id: Option<RequestId>,
    ) -> Result<Self, ApiError> {
        let subject: Subject = format!("{}#{}", id.issuer, id.subject)
            .parse()
            .map_err(|e| ApiError::unauthorized(format!("the JWT subject is not usable: {e}")))?;
        Ok(Caller {
            subject: subject.as_str().to_owned(),
            issuer: id.issuer,
            roles: id.roles,
            scoped: id.scoped,
            groups: id.groups,
            request_id,
        })
    }

    /// Whether the caller holds one of the roles in `mask` (`roles::*` bits) anywhere.
    pub fn holds(&self, mask: u8) -> bool {
        self.roles.iter().any(|r| bit(*r) & mask != 0)
    }
}

/// A caller whose role is one of those an endpoint allows.
pub struct Authorized<const MASK: u8>(pub Caller);

/// Role bits for `Authorized`.
pub mod roles {
    /// `ci`.
    pub const CI: u8 = 1;
    /// `approver`.
    pub const APPROVER: u8 = 2;
    /// `auditor`.
    pub const AUDITOR: u8 = 4;
    /// `admin`.
    pub const ADMIN: u8 = 8;
    /// `break-glass`.
    pub const BREAK_GLASS: u8 = 16;
    /// `admission`: the Kubernetes admission webhook (admission reviews, runtime reports).
    pub const ADMISSION: u8 = 32;
    /// Who may vote (the approval requirement's groups decide whose vote counts).
    pub const VOTERS: u8 = APPROVER | ADMIN;
}

fn bit(role: Role) -> u8 {
    match role {
        Role::Ci => roles::CI,
        Role::Approver => roles::APPROVER,
        Role::Auditor => roles::AUDITOR,
        Role::Admin => roles::ADMIN,
        Role::BreakGlass => roles::BREAK_GLASS,
        Role::Admission => roles::ADMISSION,
    }
}

impl<const MASK: u8> FromRequestParts<AppState> for Authorized<MASK> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.roles.iter().all(|r| bit(*r) & MASK == 0) {
            audit_refusal(state, &caller.subject, parts, Reason::RoleNotAllowed);
            let held: Vec<&str> = caller.roles.iter().map(|r| r.as_str()).collect();
            return Err(ApiError::forbidden(
                "forbidden",
                format!(
                    "role {} may not {} {}",
                    if held.is_empty() {
                        "(none)".to_owned()
                    } else {
                        held.join(", ")
                    },
                    parts.method,
                    parts.uri.path()
                ),
            ));
        }
        Ok(Self(caller))
    }
}
