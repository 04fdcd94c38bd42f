//! Reading the decision history: the query is checked (digest, action, page size, cursor) and
//! answered newest first, a page at a time.

use chrono::{DateTime, Utc};
use portcullis_core::{AuditAction, Digest};
use portcullis_store::{AuditFilter, AuditPage, Store};
use serde::Deserialize;

/// A query the audit service refused, or could not answer.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A filter or the cursor is malformed.
    #[error("{0}")]
    InvalidQuery(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] portcullis_store::Error),
}

impl AuditError {
    /// The stable machine code the API answers (`error.rs` adds the HTTP status).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidQuery(_) => "invalid_query",
            Self::Store(e) => crate::services::store_code(e),
        }
    }
}

/// Most events one page may hold.
pub const MAX_PAGE: i64 = 500;

/// What the caller asked for, as received (the query string of `GET /v1/audit`).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this digest.
    pub digest: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
    /// Page size (default 100).
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// One page of events matching `q`, newest first.
#[tracing::instrument(skip_all, fields(audit.digest = q.digest.as_deref(), audit.action = q.action.as_deref()))]
pub async fn query(store: &Store, q: AuditQuery) -> Result<AuditPage, AuditError> {
    let filter = filter(q)?;
    Ok(store.query_audit(&filter).await?)
}

/// Checks the query and builds the store's filter.
pub(crate) fn filter(q: AuditQuery) -> Result<AuditFilter, AuditError> {
    let invalid = |e: portcullis_core::Error| AuditError::InvalidQuery(e.to_string());
    let digest = q
        .digest
        .as_deref()
        .map(str::parse::<Digest>)
        .transpose()
        .map_err(invalid)?;
    let action = q
        .action
        .as_deref()
        .map(str::parse::<AuditAction>)
        .transpose()
        .map_err(invalid)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(AuditError::InvalidQuery(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let before_seq = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| AuditError::InvalidQuery("cursor is not valid".into()))
        })
        .transpose()?;
    Ok(AuditFilter {
        digest,
        actor: q.actor,
        action,
        since: q.since,
        until: q.until,
        before_seq,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_digest_action_limit_or_cursor_is_an_invalid_query() {
        let cases = [
            AuditQuery {
                digest: Some("sha256:nope".into()),
                ..AuditQuery::default()
            },
            AuditQuery {
                action: Some("paging_test".into()),
                ..AuditQuery::default()
            },
            AuditQuery {
                limit: Some(0),
                ..AuditQuery::default()
            },
            AuditQuery {
                limit: Some(MAX_PAGE + 1),
                ..AuditQuery::default()
            },
            AuditQuery {
                cursor: Some("x".into()),
                ..AuditQuery::default()
            },
        ];
        for q in cases {
            let err = filter(q).unwrap_err();
            assert_eq!(err.code(), "invalid_query", "{err}");
        }
    }

    #[test]
    fn defaults_to_a_page_of_100_from_the_newest() {
        let f = filter(AuditQuery::default()).unwrap();
        assert_eq!((f.limit, f.before_seq), (100, None));
        let f = filter(AuditQuery {
            cursor: Some("42".into()),
            ..AuditQuery::default()
        })
        .unwrap();
        assert_eq!(f.before_seq, Some(42));
    }
}
