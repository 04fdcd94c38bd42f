//! Request ids. Every request gets one before anything else runs: the client's
//! `x-request-id` when it is a valid `RequestId` (1-64 of `[A-Za-z0-9._-]`), a fresh UUID
//! otherwise. It is echoed in the response's `x-request-id`, is a field (`request.id`) of the
//! span every log line of the request is written in, is the problem+json `instance`
//! (`urn:portcullis:request:<id>`) of an error answer, and is stored with the audit events the
//! request writes (through `Caller::request_id`).

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use portcullis_core::RequestId;
use tracing::Instrument as _;

/// The header that carries the id, both ways.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// What problem+json `instance` holds: a URN naming the request occurrence, so the answer a
/// client got can be matched to the server's log lines and audit events.
pub const INSTANCE_PREFIX: &str = "urn:portcullis:request:";

tokio::task_local! {
    /// The id of the request the current task is serving.
    static CURRENT: RequestId;
}

/// The id of the request being served by this task, if any (not inside `spawn`ed tasks).
pub fn current() -> Option<RequestId> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The client's id if it is acceptable, otherwise a new one.
fn choose(req: &Request) -> RequestId {
    let offered = req.headers().get(&HEADER);
    match offered.map(|v| v.to_str().map(str::parse::<RequestId>)) {
        Some(Ok(Ok(id))) => id,
        None => RequestId::generate(),
        Some(_) => {
            let id = RequestId::generate();
            // The refused value is not logged: it is whatever the client chose to send.
            tracing::debug!(request.id = %id, "client x-request-id refused; a new one was assigned");
            id
        }
    }
}

/// Middleware, outermost: assigns the id, runs the request inside its span and task-local
/// scope, and echoes the id on the response.
pub async fn assign(mut req: Request, next: Next) -> Response {
    let id = choose(&req);
    req.extensions_mut().insert(id.clone());
    let span = tracing::info_span!(
        "request",
        request.id = %id,
        http.method = %req.method(),
        http.path = %req.uri().path(),
    );
    let mut response = CURRENT
        .scope(id.clone(), next.run(req).instrument(span))
        .await;
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tokio::sync::Semaphore;
    use tower::ServiceExt as _;

    use super::*;
    use crate::services::work;

    /// Log lines, collected.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    async fn handler() -> &'static str {
        tracing::info!("in the handler");
        let permits = Arc::new(Semaphore::new(1));
        work::blocking(&permits, || tracing::info!("on the blocking pool"))
            .await
            .unwrap();
        "ok"
    }

    #[tokio::test]
    async fn every_log_line_of_a_request_names_it_on_the_blocking_pool_too() {
        let lines = Lines::default();
        let writer = lines.clone();
        // Global: the blocking pool's threads log through it too.
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init()
            .unwrap();
        let app = Router::new()
            .route("/work", get(handler))
            .layer(axum::middleware::from_fn(assign));
        let request = axum::http::Request::get("/work")
            .header("x-request-id", "log-test-1")
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.headers()[&HEADER], "log-test-1");
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let ours: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("in the handler") || l.contains("on the blocking pool"))
            .collect();
        assert_eq!(ours.len(), 2, "{text}");
        for line in ours {
            assert!(line.contains("request.id=log-test-1"), "{line}");
        }
    }
}
