//! Refused requests, counted in memory and kept out of the audit chain. A refusal costs a
//! short mutex hold here, not a chained append under the audit lock: it is added to a
//! per-minute, per-client, per-reason count with a few truncated samples, which a
//! background flusher writes in one batch (`Store::record_auth_failures`) and prunes after
//! the retention. A client (peer IP) refused more than `max_per_minute` times in a minute
//! gets 429 with `Retry-After` for the rest of that minute (each answered after
//! `RATE_LIMITED_DELAY`), unless it presents a token that authenticated recently: a flood
//! from a shared address does not lock out legitimate callers behind it, and a guesser
//! learns nothing.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, DurationRound, Utc};
use portcullis_store::{AuthFailureCount, AuthFailureSample, MAX_SAMPLES_PER_ROW, Store};
use sha2::{Digest as _, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// Longest path kept in a sample, in bytes; refused paths can be ~64 KiB.
pub const MAX_SAMPLE_PATH: usize = 256;
/// Distinct (minute, client, reason) counts held between flushes; beyond it refusals are
/// counted under the client `overflow`, so memory stays bounded under a spread-out flood.
const MAX_PENDING: usize = 10_000;
/// Clients whose minute window is tracked at once.
const MAX_WINDOWS: usize = 100_000;
/// Tokens remembered as recently authenticated.
const MAX_GOOD_TOKENS: usize = 4096;
const WINDOW: Duration = Duration::from_secs(60);
/// How long a rate-limited request waits for its 429: a flooding connection then sends a
/// few requests a second instead of thousands, so the flood costs the flooder time rather
/// than the server CPU that legitimate requests need.
pub const RATE_LIMITED_DELAY: Duration = Duration::from_millis(200);

/// Why a request was refused (the stored `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No bearer token.
    MissingToken,
    /// The token is unknown or revoked.
    InvalidToken,
    /// The token's role may not use the endpoint.
    RoleNotAllowed,
    /// The client was over its refusal limit.
    RateLimited,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::InvalidToken => "invalid_token",
            Self::RoleNotAllowed => "role_not_allowed",
            Self::RateLimited => "rate_limited",
        }
    }
}

type PendingKey = (DateTime<Utc>, String, Reason);

#[derive(Default)]
struct Inner {
    windows: HashMap<String, (Instant, u32)>,
    pending: HashMap<PendingKey, (i64, Vec<AuthFailureSample>)>,
    good_tokens: HashMap<[u8; 32], Instant>,
}

/// The in-memory refusal counter and rate limiter; share it in an `Arc`.
pub struct AuthFailures {
    max_per_minute: u32,
    inner: Mutex<Inner>,
    total: AtomicU64,
}

/// The client key of a request: its peer IP, or `unknown` in-process.
pub fn client_of(extensions: &axum::http::Extensions) -> String {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| ip_key(c.0.ip()))
}

fn ip_key(ip: IpAddr) -> String {
    ip.to_canonical().to_string()
}

fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn token_key(value: &[u8]) -> [u8; 32] {
    Sha256::digest(value).into()
}

impl AuthFailures {
    /// A counter that rate-limits clients past `max_per_minute` refusals.
    pub fn new(max_per_minute: u32) -> Self {
        Self {
            max_per_minute,
            inner: Mutex::new(Inner::default()),
            total: AtomicU64::new(0),
        }
    }

    /// Refusals counted since start.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves only counters behind; keep counting.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one refusal of `client` and keeps it as a sample if its row has room.
    pub fn record(&self, client: &str, actor: &str, method: &str, path: &str, reason: Reason) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let now = Utc::now();
        let minute = now
            .duration_trunc(chrono::Duration::minutes(1))
            .unwrap_or(now);
        let mut inner = self.lock();
        let started = Instant::now();
        if inner.windows.len() >= MAX_WINDOWS && !inner.windows.contains_key(client) {
            inner.windows.retain(|_, (at, _)| at.elapsed() < WINDOW);
        }
        if inner.windows.len() < MAX_WINDOWS || inner.windows.contains_key(client) {
            let window = inner
                .windows
                .entry(client.to_owned())
                .or_insert((started, 0));
            if window.0.elapsed() >= WINDOW {
                *window = (started, 0);
            }
            window.1 = window.1.saturating_add(1);
        }
        let mut key = (minute, client.to_owned(), reason);
        if inner.pending.len() >= MAX_PENDING && !inner.pending.contains_key(&key) {
            key.1 = "overflow".to_owned();
        }
        let (count, samples) = inner.pending.entry(key).or_default();
        *count += 1;
        if samples.len() < MAX_SAMPLES_PER_ROW {
            samples.push(AuthFailureSample {
                at: now,
                actor: truncate(actor, 200),
                method: truncate(method, 16),
                path: truncate(path, MAX_SAMPLE_PATH),
            });
        }
    }

    /// Seconds until `client` may be refused again, if it is over its limit and `token`
    /// (the raw `Authorization` value) did not authenticate recently.
    pub fn blocked(&self, client: &str, token: Option<&[u8]>) -> Option<u64> {
        let mut inner = self.lock();
        let (started, count) = *inner.windows.get(client)?;
        let left = WINDOW.checked_sub(started.elapsed())?;
        if count < self.max_per_minute {
            return None;
        }
        if let Some(token) = token {
            let key = token_key(token);
            match inner.good_tokens.get(&key) {
                Some(at) if at.elapsed() < WINDOW * 10 => return None,
                Some(_) => {
                    inner.good_tokens.remove(&key);
                }
                None => {}
            }
        }
        Some(left.as_secs().max(1))
    }

    /// Remembers that `token` (the raw `Authorization` value) just authenticated.
    pub fn authenticated(&self, token: &[u8]) {
        let key = token_key(token);
        let mut inner = self.lock();
        if inner.good_tokens.len() >= MAX_GOOD_TOKENS {
            inner.good_tokens.retain(|_, at| at.elapsed() < WINDOW * 10);
            if inner.good_tokens.len() >= MAX_GOOD_TOKENS {
                inner.good_tokens.clear();
            }
        }
        inner.good_tokens.insert(key, Instant::now());
    }

    fn take_pending(&self) -> Vec<AuthFailureCount> {
        let pending = std::mem::take(&mut self.lock().pending);
        pending
            .into_iter()
            .map(
                |((minute, client, reason), (count, samples))| AuthFailureCount {
                    minute,
                    client,
                    reason: reason.as_str().to_owned(),
                    count,
                    samples,
                },
            )
            .collect()
    }

    /// Writes the counts gathered since the last flush in one batch. On failure the
    /// batch is dropped and logged with its size: losing counts of refused requests during
    /// an outage is better than holding them without bound.
    pub async fn flush(&self, store: &Store) -> portcullis_store::Result<usize> {
        let batch = self.take_pending();
        let refused: i64 = batch.iter().map(|c| c.count).sum();
        if refused > 0 {
            tracing::info!(
                auth_failures.count = refused,
                auth_failures.total = self.total(),
                "refused requests since the last flush"
            );
        }
        if let Err(e) = store.record_auth_failures(&batch).await {
            tracing::error!(error = %e, auth_failures.lost = refused, "could not record auth failures");
            return Err(e);
        }
        Ok(batch.len())
    }

    /// Flushes every `interval` and prunes rows older than `retention` once an hour,
    /// until the task is aborted.
    pub async fn run_flusher(
        self: std::sync::Arc<Self>,
        store: Store,
        interval: Duration,
        retention: Duration,
    ) {
        let mut last_prune: Option<Instant> = None;
        let mut ticker = tokio::time::interval(interval);
        loop {
            ticker.tick().await;
            let _ = self.flush(&store).await;
            if last_prune.is_none_or(|at| at.elapsed() >= Duration::from_secs(3600)) {
                last_prune = Some(Instant::now());
                let cutoff = chrono::Duration::from_std(retention)
                    .ok()
                    .and_then(|r| Utc::now().checked_sub_signed(r));
                if let Some(cutoff) = cutoff
                    && let Err(e) = store.prune_auth_failures(cutoff).await
                {
                    tracing::warn!(error = %e, "could not prune auth failures");
                }
            }
        }
    }
}

/// Whether the guard covers the request: the API (`/v1/`), and the web page's sign-in
/// endpoints (`POST /ui/login`, `/ui/oidc/start`, `/ui/oidc/callback`), where a token or
/// a sign-in can be guessed as well.
fn guarded(method: &axum::http::Method, path: &str) -> Option<Surface> {
    if path.starts_with("/v1/") {
        return Some(Surface::Api);
    }
    let sign_in = matches!(path, "/ui/oidc/start" | "/ui/oidc/callback")
        || (path == "/ui/login" && method == axum::http::Method::POST);
    sign_in.then_some(Surface::Page)
}

/// What answers a rate-limited request: problem+json, or the web page's HTML error page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    Api,
    Page,
}

/// Middleware on `/v1/` and the web page's sign-in: answers 429 `rate_limited` to a client
/// over its refusal limit before any token lookup (as the HTML error page on `/ui`), and
/// remembers tokens that authenticated (a 2xx under `/v1/` always passed authentication).
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(surface) = guarded(req.method(), req.uri().path()) else {
        return next.run(req).await;
    };
    let token = req.headers().get(header::AUTHORIZATION).cloned();
    let client = client_of(req.extensions());
    let failures = &state.auth_failures;
    if let Some(retry) = failures.blocked(&client, token.as_ref().map(|t| t.as_bytes())) {
        failures.record(
            &client,
            "anonymous",
            req.method().as_str(),
            req.uri().path(),
            Reason::RateLimited,
        );
        tokio::time::sleep(RATE_LIMITED_DELAY).await;
        let e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many refused requests from this client; retry in {retry} s"),
        )
        .with_retry_after(retry);
        return match surface {
            Surface::Api => e.into_response(),
            Surface::Page => {
                let mut page = crate::ui::UiError(e).into_response();
                crate::ui::add_headers(state.ui.secure_cookies, page.headers_mut());
                page
            }
        };
    }
    let response = next.run(req).await;
    if surface == Surface::Api
        && response.status().is_success()
        && let Some(token) = token
    {
        failures.authenticated(token.as_bytes());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_blocked_past_its_limit_but_a_recent_good_token_is_not() {
        let f = AuthFailures::new(3);
        for _ in 0..3 {
            assert_eq!(f.blocked("10.0.0.1", None), None);
            f.record(
                "10.0.0.1",
                "anonymous",
                "GET",
                "/v1/x",
                Reason::InvalidToken,
            );
        }
        let retry = f.blocked("10.0.0.1", Some(b"Bearer bad")).unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert_eq!(f.blocked("10.0.0.2", None), None, "other clients are not");
        f.authenticated(b"Bearer good");
        assert_eq!(f.blocked("10.0.0.1", Some(b"Bearer good")), None);
        assert_eq!(f.total(), 3);
    }

    #[test]
    fn the_guard_covers_the_api_and_the_pages_sign_in_only() {
        use axum::http::Method;
        assert_eq!(guarded(&Method::GET, "/v1/promotions"), Some(Surface::Api));
        assert_eq!(guarded(&Method::POST, "/ui/login"), Some(Surface::Page));
        assert_eq!(guarded(&Method::GET, "/ui/oidc/start"), Some(Surface::Page));
        assert_eq!(
            guarded(&Method::GET, "/ui/oidc/callback"),
            Some(Surface::Page)
        );
        assert_eq!(guarded(&Method::GET, "/ui/login"), None);
        assert_eq!(guarded(&Method::GET, "/ui"), None);
        assert_eq!(guarded(&Method::GET, "/healthz"), None);
    }

    #[test]
    fn counts_aggregate_per_minute_client_and_reason_with_truncated_samples() {
        let f = AuthFailures::new(100);
        let long = format!("/v1/{}", "a".repeat(60_000));
        for _ in 0..50 {
            f.record("10.0.0.1", "anonymous", "GET", &long, Reason::InvalidToken);
        }
        let batch = f.take_pending();
        assert!((1..=2).contains(&batch.len()), "{batch:?}");
        assert_eq!(batch.iter().map(|c| c.count).sum::<i64>(), 50);
        let samples: Vec<_> = batch.iter().flat_map(|c| &c.samples).collect();
        assert!(samples.len() <= 2 * MAX_SAMPLES_PER_ROW);
        assert!(samples.iter().all(|s| s.path.len() == MAX_SAMPLE_PATH));
        assert!(f.take_pending().is_empty(), "a flush takes everything");
    }
}
