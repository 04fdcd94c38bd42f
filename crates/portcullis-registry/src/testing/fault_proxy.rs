//! `FaultProxy`: a loopback HTTP proxy in front of a real registry that forwards every
//! request unchanged (bodies streamed both ways) except those its `FaultPlan` answers with
//! an injected status instead, never answers (a hung registry), or answers with a body that
//! stalls part-way; counting requests seen, faulted and in flight at once.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;
use portcullis_core::RegistryHost;
use tokio::task::JoinHandle;

/// Which requests get which injected answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultPlan {
    /// The status injected (e.g. 429, 503, 404); 0 injects nothing.
    pub status: u16,
    /// A `Retry-After` value sent with the injected status (e.g. `"1"`).
    pub retry_after: Option<String>,
    /// Fault only the first this many matching requests; `None` faults all of them.
    pub times: Option<usize>,
    /// Only requests with this method (e.g. `"PUT"`) match.
    pub method: Option<String>,
    /// Only requests whose path and query contain this match (e.g. `"/manifests/"`).
    pub path_contains: Option<String>,
    /// Fault matching requests only during this long after the first one matched (an
    /// outage that ends), instead of counting them with `times`.
    pub fail_for: Option<Duration>,
    /// How a matching request is faulted.
    pub mode: FaultMode,
}

/// What a faulted request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// The injected `status` at once.
    Status,
    /// Nothing, ever: the connection stays open and silent (a hung registry).
    Hang,
    /// The real response, whose body stops after this many bytes and never ends.
    StallBodyAfter(usize),
}

impl FaultPlan {
    /// Forwards everything.
    pub fn none() -> Self {
        Self::always(0)
    }

    /// Answers the first `n` requests with `status`.
    pub fn first(n: usize, status: u16) -> Self {
        Self {
            times: Some(n),
            ..Self::always(status)
        }
    }

    /// Answers every request with `status`.
    pub fn always(status: u16) -> Self {
        Self {
            status,
            retry_after: None,
            times: None,
            method: None,
            path_contains: None,
            fail_for: None,
            mode: FaultMode::Status,
        }
    }

    /// Never answers a matching request.
    pub fn hang() -> Self {
        Self {
            mode: FaultMode::Hang,
            ..Self::always(599)
        }
    }

    /// Forwards matching requests but stalls their response bodies after `bytes` bytes.
    pub fn stall_body_after(bytes: usize) -> Self {
        Self {
            mode: FaultMode::StallBodyAfter(bytes),
            ..Self::always(599)
        }
    }

    /// Faults matching requests only for `window` after the first one (then recovers).
    pub fn lasting(mut self, window: Duration) -> Self {
        self.fail_for = Some(window);
        self
    }

    /// Sends `Retry-After: <value>` with the injected status.
    pub fn with_retry_after(mut self, value: &str) -> Self {
        self.retry_after = Some(value.to_owned());
        self
    }

    /// Faults only requests with `method` whose path contains `path_contains`.
    pub fn only(mut self, method: &str, path_contains: &str) -> Self {
        self.method = Some(method.to_owned());
        self.path_contains = Some(path_contains.to_owned());
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.status != 0
            && self.method.as_deref().is_none_or(|m| m == method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    own: String,
    plan: FaultPlan,
    http: reqwest::Client,
    seen: AtomicUsize,
    matched: AtomicUsize,
    faulted: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    first_match: Mutex<Option<Instant>>,
}

/// A running fault-injecting proxy on `127.0.0.1:<port>`, stopped on drop.
#[derive(Debug)]
pub struct FaultProxy {
    /// `127.0.0.1:<port>`: configure the client with this host (insecure).
    pub host: RegistryHost,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy forwarding to the plain-http registry `upstream`.
    pub async fn start(upstream: &RegistryHost, faults: FaultPlan) -> io::Result<Self> {
        let listener = loop {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            if !(5000..=5003).contains(&l.local_addr()?.port()) {
                break l;
            }
        };
        let own = listener.local_addr()?.to_string();
        let host: RegistryHost = own.parse().map_err(io::Error::other)?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(io::Error::other)?;
        let shared = Arc::new(Shared {
            upstream: format!("http://{}", upstream.as_str()),
            own: format!("http://{own}"),
            plan: faults,
            http,
            seen: AtomicUsize::new(0),
            matched: AtomicUsize::new(0),
            faulted: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            first_match: Mutex::new(None),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { host, shared, task })
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.shared.seen.load(Ordering::SeqCst)
    }

    /// Requests answered with the injected fault so far.
    pub fn faulted(&self) -> usize {
        self.shared.faulted.load(Ordering::SeqCst)
    }

    /// The most requests in flight at once so far (from arrival until the response body
    /// has been sent).
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Counts a request as in flight until dropped (with the response body).
struct InFlight(Arc<Shared>);

impl InFlight {
    fn enter(shared: &Arc<Shared>) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(shared.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn forward(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let guard = InFlight::enter(&shared);
    shared.seen.fetch_add(1, Ordering::SeqCst);
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let mut stall = None;
    if shared.plan.matches(method.as_str(), &path) && shared.should_fault() {
        shared.faulted.fetch_add(1, Ordering::SeqCst);
        match shared.plan.mode {
            FaultMode::Status => return injected(&shared.plan),
            FaultMode::Hang => return std::future::pending().await,
            FaultMode::StallBodyAfter(n) => stall = Some(n),
        }
    }
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let mut out = shared
        .http
        .request(method, format!("{}{path}", shared.upstream));
    for (name, value) in req.headers() {
        if name != header::HOST && name != header::CONNECTION {
            out = out.header(name, value);
        }
    }
    if has_body {
        out = out.body(reqwest::Body::wrap_stream(
            req.into_body().into_data_stream(),
        ));
    }
    let upstream = match out.send().await {
        Ok(resp) => resp,
        Err(_) => return status_only(StatusCode::BAD_GATEWAY),
    };
    let mut resp = Response::builder().status(upstream.status().as_u16());
    for (name, value) in upstream.headers() {
        if name == header::TRANSFER_ENCODING || name == header::CONNECTION {
            continue;
        }
        // Upload locations are absolute URLs of the registry: keep the client on the proxy.
        let rewritten = (name == header::LOCATION)
            .then(|| value.to_str().ok())
            .flatten()
            .filter(|v| v.starts_with(&shared.upstream))
            .and_then(|v| {
                HeaderValue::from_str(&v.replacen(&shared.upstream, &shared.own, 1)).ok()
            });
        resp = resp.header(name, rewritten.unwrap_or_else(|| value.clone()));
    }
    let body = upstream.bytes_stream().map(move |chunk| {
        let _still_in_flight = &guard;
        chunk
    });
    let body = match stall {
        Some(limit) => Body::from_stream(stalled(body, limit)),
        None => Body::from_stream(body),
    };
    resp.body(body)
        .unwrap_or_else(|_| status_only(StatusCode::BAD_GATEWAY))
}

impl Shared {
    /// Counts a matching request; whether the plan faults it (by count or time window).
    fn should_fault(&self) -> bool {
        let n = self.matched.fetch_add(1, Ordering::SeqCst);
        if let Some(window) = self.plan.fail_for {
            let mut first = self.first_match.lock().unwrap_or_else(|p| p.into_inner());
            let since = *first.get_or_insert_with(Instant::now);
            return since.elapsed() < window;
        }
        self.plan.times.is_none_or(|t| n < t)
    }
}

/// `body` cut after `limit` bytes, then silent forever.
fn stalled(
    body: impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send + 'static,
    limit: usize,
) -> impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send + 'static {
    let mut left = limit;
    body.map(move |chunk| {
        chunk.map(|mut c| {
            let keep = c.len().min(left);
            left -= keep;
            c.truncate(keep);
            c
        })
    })
    .take_while(|c| std::future::ready(c.as_ref().map_or(true, |c| !c.is_empty())))
    .chain(futures_util::stream::pending())
}

fn injected(plan: &FaultPlan) -> Response {
    let status = StatusCode::from_u16(plan.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let mut resp = status_only(status);
    if let Some(value) = plan
        .retry_after
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, value);
    }
    resp
}

fn status_only(status: StatusCode) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    resp
}
