//! The pages: what I can approve and recent promotions, one promotion, its copy progress
//! (polled by `progress.js`), the audit trail of a digest, and open break-glass reviews.
//! Each checks the role the matching API endpoint requires, calls the same service, and
//! renders.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use portcullis_core::{PromotionState, TextKind};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::actions::require;
use super::extract::UiQuery;
use super::render::{UiResult, page};
use super::session::UiCaller;
use super::summary;
use crate::auth::roles;
use crate::extract::check_field;
use crate::handlers::promotions::parse_id;
use crate::services::approvals::rules::{Ballot, check_vote};
use crate::services::audit::{self, AuditQuery};
use crate::services::{break_glass, promotions};
use crate::state::AppState;
use crate::views::PromotionView;

/// Who may read promotions (as `GET /v1/promotions`).
const READERS: u8 = roles::CI | roles::APPROVER | roles::AUDITOR | roles::ADMIN;
/// Who may read the audit log and reviews (as `GET /v1/audit`, `GET /v1/reviews`).
const AUDITORS: u8 = roles::AUDITOR | roles::ADMIN;

/// The signed-in person, as every page's header shows them.
#[derive(Serialize)]
struct Me<'a> {
    subject: &'a str,
    roles: Vec<&'static str>,
    csrf: &'a str,
    auditor: bool,
}

fn me(m: &UiCaller) -> Me<'_> {
    Me {
        subject: &m.caller.subject,
        roles: m.caller.roles.iter().map(|r| r.as_str()).collect(),
        csrf: &m.csrf,
        auditor: m.caller.holds(AUDITORS),
    }
}

/// A promotion in a list.
#[derive(Serialize)]
struct Row<'a> {
    p: &'a PromotionView,
    required: String,
}

fn rows(items: &[PromotionView]) -> Vec<Row<'_>> {
    items
        .iter()
        .map(|p| Row {
            p,
            required: requirement(p),
        })
        .collect()
}

fn requirement(p: &PromotionView) -> String {
    let required = serde_json::to_value(&p.decision.required_approvals).unwrap_or_default();
    crate::remote::render::requirement(&required)
}

/// `GET /ui`: the promotions awaiting my vote, and the most recent ones.
pub async fn home(State(state): State<AppState>, m: UiCaller) -> UiResult {
    let awaiting = if m.caller.holds(roles::VOTERS) {
        promotions::awaiting(&state.store, &m.caller, 50).await?
    } else {
        Vec::new()
    };
    let recent = if m.caller.holds(READERS) {
        promotions::list(&state.store, None, 25).await?
    } else {
        Vec::new()
    };
    let open_reviews = if m.caller.holds(AUDITORS) {
        Some(break_glass::reviews(&state, true, 500).await?.len())
    } else {
        None
    };
    page(
        "home.html",
        context! {
            title => "Promotions",
            me => me(&m),
            voter => m.caller.holds(roles::VOTERS),
            reader => m.caller.holds(READERS),
            awaiting => rows(&awaiting),
            recent => rows(&recent),
            open_reviews => open_reviews,
        },
    )
}

/// Query of a promotion's page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotionQuery {
    /// Set after a vote, to confirm it.
    voted: Option<String>,
}

/// Whether `m` may vote on `p` now, or why not.
fn ballot(state: &AppState, m: &UiCaller, p: &PromotionView) -> Result<(), String> {
    if p.state != PromotionState::PendingApproval {
        return Err(format!("It is {}, not pending approval.", p.state));
    }
    if !m.caller.holds(roles::VOTERS) {
        return Err("Your roles do not include approver.".into());
    }
    if state.bar_admin_approvals && m.caller.has(portcullis_core::Role::Admin) {
        return Err("Admins may not approve (approvals.bar_admins).".into());
    }
    if !m.caller.may_on(roles::VOTERS, &p.route) {
        return Err(format!("You may not approve on route {}.", p.route));
    }
    check_vote(&Ballot {
        promotion: p.id,
        requested_by: &p.requested_by,
        required: p.decision.required_approvals.as_ref(),
        voter: &m.caller.subject,
        voter_groups: &m.caller.groups,
        earlier: &p.approvals,
    })
    .map(|_| ())
    .map_err(|e| format!("{e}."))
}

/// `GET /ui/promotions/{id}`: everything an approver must see, and the vote form.
pub async fn promotion(
    State(state): State<AppState>,
    m: UiCaller,
    Path(id): Path<String>,
    UiQuery(q): UiQuery<PromotionQuery>,
) -> UiResult {
    require(&state, &m, READERS, "read promotions")?;
    let id = parse_id(&id)?;
    let (p, evidence) = promotions::get_with_evidence(&state.store, id).await?;
    let voted = match q.voted.as_deref() {
        Some(v @ ("approve" | "reject")) => Some(v),
        _ => None,
    };
    let may_vote = ballot(&state, &m, &p);
    page(
        "promotion.html",
        context! {
            title => format!("Promotion {}", p.id),
            me => me(&m),
            p => &p,
            required => requirement(&p),
            approvals => summary::approvals(&p),
            evidence => summary::evidence(&p, &evidence),
            progress => summary::progress(p.copy.as_ref()),
            promoting => p.state == PromotionState::Promoting,
            may_vote => may_vote.is_ok(),
            why_not => may_vote.err(),
            voted => voted,
        },
    )
}

/// `GET /ui/promotions/{id}/progress`: the state and copy progress as JSON, for the page's
/// script while the promotion is promoting.
pub async fn progress(
    State(state): State<AppState>,
    m: UiCaller,
    Path(id): Path<String>,
) -> Result<Response, super::UiError> {
    require(&state, &m, READERS, "read promotions")?;
    let id = parse_id(&id)?;
    let p = promotions::get(&state.store, id).await?;
    let (text, percent) = summary::progress(p.copy.as_ref()).unwrap_or_default();
    Ok(Json(json!({"state": p.state, "text": text, "percent": percent})).into_response())
}

/// Query of the audit page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditPageQuery {
    digest: Option<String>,
    cursor: Option<String>,
}

/// `GET /ui/audit?digest=`: the decision log of one digest (or all), newest first, paged.
pub async fn audit(
    State(state): State<AppState>,
    m: UiCaller,
    UiQuery(q): UiQuery<AuditPageQuery>,
) -> UiResult {
    require(&state, &m, AUDITORS, "read the audit log")?;
    let digest = q.digest.filter(|d| !d.trim().is_empty());
    for (field, value) in [("digest", &digest), ("cursor", &q.cursor)] {
        if let Some(v) = value {
            check_field("invalid_query", field, v, TextKind::Line)?;
        }
    }
    let found = audit::query(
        &state.store,
        AuditQuery {
            digest: digest.clone(),
            limit: Some(100),
            cursor: q.cursor,
            ..AuditQuery::default()
        },
    )
    .await?;
    let events: Vec<_> = found
        .events
        .iter()
        .map(|e| json!({"e": e, "details": e.details.to_string()}))
        .collect();
    page(
        "audit.html",
        context! {
            title => "Audit trail",
            me => me(&m),
            digest => digest,
            events => events,
            next_cursor => found.next_cursor,
        },
    )
}

/// Query of the reviews page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewsQuery {
    /// `open` (default) or `all`.
    state: Option<String>,
}

/// `GET /ui/reviews`: break-glass reviews (open ones unless `?state=all`).
pub async fn reviews(
    State(state): State<AppState>,
    m: UiCaller,
    UiQuery(q): UiQuery<ReviewsQuery>,
) -> UiResult {
    require(&state, &m, AUDITORS, "read reviews")?;
    let open_only = match q.state.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(_) => {
            return Err(crate::error::ApiError::bad_request(
                "invalid_query",
                "state must be open or all",
            )
            .into());
        }
    };
    let items = break_glass::reviews(&state, open_only, 200).await?;
    page(
        "reviews.html",
        context! {
            title => "Break-glass reviews",
            me => me(&m),
            reviews => items,
            open_only => open_only,
            may_acknowledge => m.caller.holds(roles::AUDITOR),
        },
    )
}
