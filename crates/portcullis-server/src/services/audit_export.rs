//! `GET /v1/audit/export?format=jsonl|csv&since=&until=&digest=`: every matching event in
//! chain order with its hash, streamed. A task reads the log a page at a time and hands
//! each page, formatted, to the response body through a small channel, so memory stays
//! bounded by a few pages however long the log is, and a slow reader slows the reading.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use http_body::Frame;
use portcullis_store::{AuditEvent, AuditFilter, Store};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::services::audit::{self, AuditError, AuditQuery};

/// Events read per page.
const PAGE: i64 = 1000;
/// Formatted pages waiting for the reader at most.
const BUFFERED_PAGES: usize = 2;

/// The query of `GET /v1/audit/export`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `jsonl` (default) or `csv`.
    pub format: Option<String>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
    /// Only this digest.
    pub digest: Option<String>,
}

/// The two export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON event per line.
    Jsonl,
    /// RFC 4180 CSV with a header; `details` as JSON text.
    Csv,
}

impl Format {
    /// The response's content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jsonl => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// The checked export request.
pub struct Export {
    filter: AuditFilter,
    /// How the events are written.
    pub format: Format,
}

/// Checks the query (400 `invalid_query` for a bad format, digest or time range).
pub fn check(q: ExportQuery) -> Result<Export, AuditError> {
    let format = match q.format.as_deref() {
        None | Some("jsonl") => Format::Jsonl,
        Some("csv") => Format::Csv,
        Some(other) => {
            return Err(AuditError::InvalidQuery(format!(
                "format must be jsonl or csv, not {other:?}"
            )));
        }
    };
    if let (Some(since), Some(until)) = (q.since, q.until)
        && since >= until
    {
        return Err(AuditError::InvalidQuery(
            "since must be before until".into(),
        ));
    }
    let filter = audit::filter(AuditQuery {
        digest: q.digest,
        since: q.since,
        until: q.until,
        ..AuditQuery::default()
    })?;
    Ok(Export { filter, format })
}

/// The response body: the pages the reading task sends.
pub struct ExportBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl http_body::Body for ExportBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|next| next.map(|r| r.map(Frame::data)))
    }
}

/// Starts reading the log for `export`; the body ends after the last event, or with an
/// error if the database fails part way (the client sees a broken transfer, never a
/// silently short export).
pub fn stream(store: Store, export: Export) -> ExportBody {
    let (tx, rx) = mpsc::channel(BUFFERED_PAGES);
    tokio::spawn(async move {
        if export.format == Format::Csv {
            let header = "seq,at,actor,action,promotion_id,digest,request_id,prev_hash,hash,key_id,details\n";
            if tx
                .send(Ok(Bytes::from_static(header.as_bytes())))
                .await
                .is_err()
            {
                return;
            }
        }
        let mut after = 0;
        loop {
            let page = match store.export_audit_page(&export.filter, after, PAGE).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, audit.after_seq = after, "audit export failed part way");
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
            let Some(last) = page.last().map(|e| e.seq) else {
                return;
            };
            let full = page.len() as i64 == PAGE;
            let mut text = String::new();
            for e in &page {
                match export.format {
                    Format::Jsonl => {
                        text.push_str(&serde_json::to_string(e).unwrap_or_default());
                        text.push('\n');
                    }
                    Format::Csv => csv_row(&mut text, e),
                }
            }
            // The reader went away: stop reading.
            if tx.send(Ok(Bytes::from(text))).await.is_err() || !full {
                return;
            }
            after = last;
        }
    });
    ExportBody(rx)
}

/// Appends one CSV row: every text field quoted, quotes doubled (RFC 4180).
fn csv_row(out: &mut String, e: &AuditEvent) {
    let quoted = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let fields = [
        e.seq.to_string(),
        quoted(&e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        quoted(&e.actor),
        quoted(e.action.as_str()),
        e.promotion_id
            .map(|id| quoted(&id.to_string()))
            .unwrap_or_default(),
        e.digest
            .as_ref()
            .map(|d| quoted(d.as_str()))
            .unwrap_or_default(),
        e.request_id.as_deref().map(quoted).unwrap_or_default(),
        quoted(&e.prev_hash),
        quoted(&e.hash),
        e.key_id.as_deref().map(quoted).unwrap_or_default(),
        quoted(&e.details.to_string()),
    ];
    out.push_str(&fields.join(","));
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_ranges_are_checked() {
        let bad = |q: ExportQuery| check(q).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            bad(ExportQuery {
                format: Some("xml".into()),
                ..ExportQuery::default()
            })
            .contains("jsonl or csv")
        );
        let t = Utc::now();
        assert!(
            bad(ExportQuery {
                since: Some(t),
                until: Some(t),
                ..ExportQuery::default()
            })
            .contains("before")
        );
        assert!(
            !bad(ExportQuery {
                digest: Some("nope".into()),
                ..ExportQuery::default()
            })
            .is_empty()
        );
        let ok = check(ExportQuery {
            format: Some("csv".into()),
            ..ExportQuery::default()
        })
        .map(|e| e.format)
        .ok();
        assert_eq!(ok, Some(Format::Csv));
    }
}
