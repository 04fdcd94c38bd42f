//! `RegistryClient`: the HTTP core shared by manifest and blob operations — base URLs per
//! host, basic auth, the bearer-token retry with a per-(registry, scope) token cache, retries
//! of transient failures (policy in `retry.rs`), the per-registry limit on requests in
//! flight, and status/size checks. Operations themselves live in `manifest_ops.rs` and
//! `blobs.rs`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portcullis_core::{RegistryHost, RepoPath};
use reqwest::header::WWW_AUTHENTICATE;
use reqwest::{RequestBuilder, Response, StatusCode, Url};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::auth::{
    BearerChallenge, DEFAULT_MAX_CONCURRENT_REQUESTS, RegistryAuthConfig, fetch_token,
};
use crate::liveness::{Activity, Timeouts};
use crate::retry::{is_transient_error, is_transient_status, retry_after};
use crate::{Error, Result, RetryPolicy};

/// Longest registry error body kept in an error message.
const MAX_ERROR_BODY: usize = 512;

/// Which access a request needs; decides the token scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read-only.
    Pull,
    /// Read and write.
    Push,
}

impl Access {
    fn scope(self, repo: &RepoPath) -> String {
        match self {
            Self::Pull => format!("repository:{}:pull", repo.as_str()),
            Self::Push => format!("repository:{}:pull,push", repo.as_str()),
        }
    }
}

/// A cheap-to-clone OCI distribution client for any number of registries.
#[derive(Clone, Debug)]
pub struct RegistryClient {
    inner: Arc<Inner>,
    /// Where a copy's progress (bytes moved, backoffs) is recorded, for this handle only.
    activity: Option<Activity>,
}

#[derive(Debug)]
struct Inner {
    /// HTTP clients by (plain http, idle-read timeout), built on first use: plain ones
    /// without any CA store, TLS ones lazily since loading the platform's CA store costs
    /// more than a whole no-op copy between local registries.
    clients: Mutex<HashMap<(bool, Option<Duration>), reqwest::Client>>,
    registries: HashMap<RegistryHost, RegistryAuthConfig>,
    /// Bearer tokens keyed by (registry, scope). Never logged.
    tokens: Mutex<HashMap<(RegistryHost, String), String>>,
    /// One semaphore per registry bounding its requests in flight, created on first use.
    limits: Mutex<HashMap<RegistryHost, Arc<Semaphore>>>,
}

/// One failed attempt at a whole transfer (see `RegistryClient::with_restarts`): the error,
/// and the wait the registry asked for with `Retry-After`, if it did.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) error: Error,
    pub(crate) retry_after: Option<Duration>,
}

impl From<Error> for Failed {
    fn from(error: Error) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

impl RegistryClient {
    /// A client with per-registry settings; hosts not listed use https, anonymously.
    pub fn new(registries: HashMap<RegistryHost, RegistryAuthConfig>) -> Result<Self> {
        let tokens = Mutex::new(HashMap::new());
        let client = Self {
            inner: Arc::new(Inner {
                clients: Mutex::new(HashMap::new()),
                registries,
                tokens,
                limits: Mutex::new(HashMap::new()),
            }),
            activity: None,
        };
        // Fail at start-up, not on the first request, if plain HTTP cannot be set up.
        client.http_for_scheme(true, Some(Timeouts::default().idle_read))?;
        Ok(client)
    }

    /// A handle on the same client (connections, tokens, limits) that records the progress
    /// of its transfers and retry backoffs in `activity`.
    pub fn with_activity(&self, activity: Activity) -> Self {
        Self {
            inner: self.inner.clone(),
            activity: Some(activity),
        }
    }

    /// The progress clock of this handle, if any.
    pub(crate) fn activity(&self) -> Option<&Activity> {
        self.activity.as_ref()
    }

    /// The retry policy configured for `registry` (the default one when not configured).
    pub fn retry_policy(&self, registry: &RegistryHost) -> RetryPolicy {
        self.policy(registry)
    }

    fn timeouts(&self, registry: &RegistryHost) -> Timeouts {
        self.config(registry)
            .map(|c| c.timeouts)
            .unwrap_or_default()
    }

    /// Sleeps out a retry backoff, which counts as progress for the activity clock.
    async fn back_off(&self, delay: Duration) {
        if let Some(activity) = &self.activity {
            activity.busy_until(Instant::now() + delay);
        }
        tokio::time::sleep(delay).await;
    }

    fn config(&self, registry: &RegistryHost) -> Option<&RegistryAuthConfig> {
        self.inner.registries.get(registry)
    }

    fn policy(&self, registry: &RegistryHost) -> RetryPolicy {
        self.config(registry).map(|c| c.retry).unwrap_or_default()
    }

    /// Waits for a free slot among the registry's `max_concurrent_requests`. The semaphore
    /// is never closed, so `None` cannot happen in practice (and would mean "no limit").
    async fn permit(&self, registry: &RegistryHost) -> Option<OwnedSemaphorePermit> {
        let limit = self
            .config(registry)
            .map_or(DEFAULT_MAX_CONCURRENT_REQUESTS, |c| {
                c.max_concurrent_requests
            })
            .max(1);
        let semaphore = self
            .inner
            .limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(registry.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(limit)))
            .clone();
        semaphore.acquire_owned().await.ok()
    }

    /// Sends one request within the registry's concurrency limit. The slot is held until
    /// the response head arrives (for uploads, after the whole body went out), not while a
    /// response body streams: a streaming copy between two repositories of one registry
    /// holds a source body open while it uploads, and must not deadlock on its own slots.
    ///
    /// The registry's `response_header` timeout bounds the wait for the response head: from
    /// the start, or, for a streamed upload, from the moment `body_sent` is notified (a
    /// large body may take long to go out; while it does, the copy's activity clock sees
    /// its progress).
    async fn send_limited(
        &self,
        registry: &RegistryHost,
        operation: &'static str,
        req: RequestBuilder,
        body_sent: Option<&Notify>,
    ) -> Result<Response> {
        let _permit = self.permit(registry).await;
        let limit = self.timeouts(registry).response_header;
        let timed_out = || Error::Timeout {
            registry: registry.as_str().to_owned(),
            operation,
            waited_for: "response headers",
        };
        let deadline = async {
            if let Some(sent) = body_sent {
                sent.notified().await;
            }
            tokio::time::sleep(limit).await;
        };
        tokio::select! {
            sent = req.send() => sent.map_err(|e| {
                if e.is_timeout() && !e.is_connect() {
                    timed_out()
                } else {
                    Error::transport(registry.as_str(), operation, e)
                }
            }),
            () = deadline => Err(timed_out()),
        }
    }

    /// The HTTP client for `url` (plain for `http://`, TLS with the platform's trust store
    /// for anything else), with `registry`'s idle-read timeout, for requests to URLs the
    /// registry handed out.
    pub(crate) fn http_for(&self, registry: &RegistryHost, url: &Url) -> Result<reqwest::Client> {
        self.http_for_scheme(
            url.scheme() == "http",
            Some(self.timeouts(registry).idle_read),
        )
    }

    /// The HTTP client for a streamed upload to `url`: without an idle-read timeout, which
    /// would count the whole upload (the registry says nothing until the body is in) as
    /// idle. `send_once`'s response-header timeout covers the wait after the body.
    pub(crate) fn http_for_upload(&self, url: &Url) -> Result<reqwest::Client> {
        self.http_for_scheme(url.scheme() == "http", None)
    }

    fn http_for_scheme(&self, plain: bool, idle_read: Option<Duration>) -> Result<reqwest::Client> {
        let mut clients = self.inner.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(&(plain, idle_read)) {
            return Ok(client.clone());
        }
        let builder = match idle_read {
            Some(idle) => http_builder().read_timeout(idle),
            None => http_builder(),
        };
        let builder = if plain {
            builder.tls_certs_only(Vec::new())
        } else {
            builder
        };
        let client = builder.build().map_err(|e| Error::Protocol {
            registry: "-".to_owned(),
            reason: format!("cannot build the HTTP client: {}", e.without_url()),
        })?;
        clients.insert((plain, idle_read), client.clone());
        Ok(client)
    }

    /// `https://host/v2/<path>` (or `http://` for insecure registries).
    pub(crate) fn url(&self, registry: &RegistryHost, path: &str) -> Result<Url> {
        let insecure = self.config(registry).is_some_and(|c| c.insecure);
        let scheme = if insecure { "http" } else { "https" };
        Url::parse(&format!("{scheme}://{}/v2/{path}", registry.as_str())).map_err(|e| {
            Error::InvalidRequest(format!("cannot build URL for {}: {e}", registry.as_str()))
        })
    }

    /// Adds the best credentials we hold: a cached bearer token, else basic auth.
    pub(crate) fn authorize(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        access: Access,
        req: RequestBuilder,
    ) -> RequestBuilder {
        let key = (registry.clone(), access.scope(repo));
        let token = self
            .inner
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        match (
            token,
            self.config(registry).and_then(RegistryAuthConfig::basic),
        ) {
            (Some(token), _) => req.bearer_auth(token),
            (None, Some((user, pass))) => req.basic_auth(user, pass),
            (None, None) => req,
        }
    }

    /// Sends a request built by `build`, doing the bearer-token dance once on a 401, and
    /// retrying transient failures (429, 502, 503, 504, connection errors, also of the token
    /// request) per the registry's `RetryPolicy`. A final 401/403 becomes `Unauthorized`,
    /// a transient failure that outlasts the retries `RetriesExhausted`/`TransportExhausted`;
    /// other statuses are left to the caller.
    pub(crate) async fn send(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        access: Access,
        operation: &'static str,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response> {
        let policy = self.policy(registry);
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let outcome = self
                .send_attempt(registry, repo, access, operation, &build)
                .await;
            let wait = match &outcome {
                Ok(resp) if is_transient_status(resp.status().as_u16()) => retry_after(resp),
                Err(e) if is_transient_error(e) => None,
                _ => return outcome,
            };
            let delay = policy.delay(attempt, wait);
            if attempt >= policy.max_attempts || started.elapsed() + delay > policy.max_elapsed {
                return match outcome {
                    _ if attempt == 1 => outcome,
                    Ok(resp) => Err(Error::RetriesExhausted {
                        registry: registry.as_str().to_owned(),
                        operation,
                        status: resp.status().as_u16(),
                        attempts: attempt,
                    }),
                    Err(e) => Err(exhausted(e, attempt)),
                };
            }
            log_retry(registry, operation, attempt, delay, &outcome);
            self.back_off(delay).await;
        }
    }

    /// Runs a whole transfer that cannot be resent half-way (a streamed blob upload: its
    /// source body is consumed as it goes) again from the start — re-opening the source,
    /// starting a new upload session — when an attempt fails transiently.
    pub(crate) async fn with_restarts<T, F, Fut>(
        &self,
        registry: &RegistryHost,
        operation: &'static str,
        mut transfer: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, Failed>>,
    {
        let policy = self.policy(registry);
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let failed = match transfer().await {
                Ok(v) => return Ok(v),
                Err(f) if is_transient_error(&f.error) => f,
                Err(f) => return Err(f.error),
            };
            let delay = policy.delay(attempt, failed.retry_after);
            if attempt >= policy.max_attempts || started.elapsed() + delay > policy.max_elapsed {
                return Err(if attempt == 1 {
                    failed.error
                } else {
                    exhausted(failed.error, attempt)
                });
            }
            let outcome: Result<Response> = Err(failed.error);
            log_retry(registry, operation, attempt, delay, &outcome);
            self.back_off(delay).await;
        }
    }

    /// One attempt of `send`: the request, and on a 401 the token dance and the request again.
    async fn send_attempt(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        access: Access,
        operation: &'static str,
        build: &impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response> {
        let host = registry.as_str();
        let base = self.url(registry, "")?;
        let http = self.http_for(registry, &base)?;
        let first = self.authorize(registry, repo, access, build(&http));
        let resp = self.send_limited(registry, operation, first, None).await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return refuse_forbidden(resp, host, operation);
        }
        let challenge = resp
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(BearerChallenge::parse);
        let Some(challenge) = challenge else {
            return Err(Error::Unauthorized {
                registry: host.to_owned(),
                status: 401,
                operation,
            });
        };
        let scope = access.scope(repo);
        let default_config = RegistryAuthConfig::default();
        let config = self.config(registry).unwrap_or(&default_config);
        let realm_http = self.http_for_scheme(
            challenge.realm.starts_with("http://"),
            Some(config.timeouts.idle_read),
        )?;
        let token = fetch_token(&realm_http, host, &base, config, &challenge, &scope).await?;
        tracing::debug!(registry = host, auth.scope = %scope, "obtained registry bearer token");
        self.inner
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((registry.clone(), scope), token.clone());
        let retry = build(&http).bearer_auth(token);
        let resp = self.send_limited(registry, operation, retry, None).await?;
        refuse_forbidden(resp, host, operation)
    }

    /// Sends a request whose body cannot be replayed: cached credentials only, no retry.
    /// `target` is the URL `req` goes to (a registry-issued upload URL); credentials are
    /// attached only when it is on the registry's own host and port. For a streamed body,
    /// `body_sent` is notified when it has gone out (see `send_limited`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn send_once(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        access: Access,
        operation: &'static str,
        target: &Url,
        req: RequestBuilder,
        body_sent: Option<&Notify>,
    ) -> Result<Response> {
        let host = registry.as_str();
        let base = self.url(registry, "")?;
        let insecure = self.config(registry).is_some_and(|c| c.insecure);
        let req = if may_send_credentials(&base, target, insecure) {
            self.authorize(registry, repo, access, req)
        } else {
            tracing::debug!(
                registry = host,
                "upload location is on another host; sending it without credentials"
            );
            req
        };
        let resp = self
            .send_limited(registry, operation, req, body_sent)
            .await?;
        refuse_forbidden(resp, host, operation)
    }
}

/// The error of a transient failure that outlasted `attempts` attempts.
fn exhausted(e: Error, attempts: u32) -> Error {
    match e {
        Error::Http {
            status,
            operation,
            registry,
            ..
        } => Error::RetriesExhausted {
            registry,
            operation,
            status,
            attempts,
        },
        Error::Transport {
            registry,
            operation,
            source,
        } => Error::TransportExhausted {
            registry,
            operation,
            attempts,
            source,
        },
        other => other,
    }
}

/// One line per retry; names the status or error (never a URL or credential).
fn log_retry(
    registry: &RegistryHost,
    operation: &'static str,
    attempt: u32,
    delay: Duration,
    outcome: &Result<Response>,
) {
    let failure = match outcome {
        Ok(resp) => resp.status().as_u16().to_string(),
        Err(e) => e.to_string(),
    };
    tracing::warn!(
        registry = registry.as_str(),
        registry.operation = operation,
        retry.attempt = attempt,
        retry.delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        retry.failure = %failure,
        "transient registry failure; retrying"
    );
}

/// Whether the registry's credentials may accompany a request to `target`: only on the
/// registry's own host and port, and over plain http only for registries configured insecure.
pub(crate) fn may_send_credentials(registry_base: &Url, target: &Url, insecure: bool) -> bool {
    let scheme_ok = match target.scheme() {
        "https" => true,
        "http" => insecure,
        _ => false,
    };
    scheme_ok
        && target.host() == registry_base.host()
        && target.port_or_known_default() == registry_base.port_or_known_default()
}

fn refuse_forbidden(resp: Response, registry: &str, operation: &'static str) -> Result<Response> {
    let status = resp.status().as_u16();
    if status == 401 || status == 403 {
        return Err(Error::Unauthorized {
            registry: registry.to_owned(),
            status,
            operation,
        });
    }
    Ok(resp)
}

/// Passes a 2xx response through; turns anything else into `Unauthorized` or `Http`.
pub(crate) async fn check_status(
    resp: Response,
    registry: &str,
    operation: &'static str,
) -> Result<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let resp = refuse_forbidden(resp, registry, operation)?;
    let body = resp.text().await.unwrap_or_default();
    let codes = oci_error_codes(&body);
    let excerpt: String = body.chars().take(MAX_ERROR_BODY).collect();
    // The raw body is for operators only: it never goes into the error (and so never to
    // API clients or stored promotion errors).
    tracing::warn!(
        registry,
        registry.operation = operation,
        http.status = status.as_u16(),
        registry.error_body = %excerpt,
        "registry returned an error response"
    );
    Err(Error::Http {
        status: status.as_u16(),
        operation,
        registry: registry.to_owned(),
        codes,
    })
}

/// Most OCI error codes kept from one response.
const MAX_ERROR_CODES: usize = 8;

#[derive(serde::Deserialize)]
struct OciErrors {
    errors: Vec<OciError>,
}

#[derive(serde::Deserialize)]
struct OciError {
    code: String,
}

/// The `code` values of an OCI error body (`{"errors":[{"code":"MANIFEST_UNKNOWN",…}]}`),
/// keeping only well-formed codes (`A-Z`, `0-9`, `_`) so nothing free-form slips through.
pub(crate) fn oci_error_codes(body: &str) -> Vec<String> {
    let Ok(parsed) = serde_json::from_str::<OciErrors>(body) else {
        return Vec::new();
    };
    parsed
        .errors
        .into_iter()
        .map(|e| e.code)
        .filter(|c| {
            !c.is_empty()
                && c.len() <= 64
                && c.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
        .take(MAX_ERROR_CODES)
        .collect()
}

/// Reads a whole response body, refusing more than `limit` bytes.
pub(crate) async fn read_limited(
    mut resp: Response,
    limit: u64,
    registry: &str,
    what: impl Fn() -> String,
) -> Result<Vec<u8>> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(Error::TooLarge {
            what: what(),
            limit,
        });
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Error::body(registry, "reading a body", e))?
    {
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(Error::TooLarge {
                what: what(),
                limit,
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// What both HTTP clients share.
fn http_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("portcullis-registry/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(15))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn credentials_go_only_to_the_registry_host_and_port() {
        let base = url("https://registry.example/v2/");
        let same = url("https://registry.example:443/v2/team/app/blobs/uploads/x?_state=s");
        assert!(may_send_credentials(&base, &same, false));
        let other_host = url("https://storage.example/upload/x");
        assert!(!may_send_credentials(&base, &other_host, false));
        let other_port = url("https://registry.example:8443/upload/x");
        assert!(!may_send_credentials(&base, &other_port, false));
        let downgraded = url("http://registry.example:443/upload/x");
        assert!(!may_send_credentials(&base, &downgraded, false));
    }

    #[test]
    fn insecure_registry_keeps_credentials_on_its_own_port() {
        let base = url("http://127.0.0.1:5000/v2/");
        assert!(may_send_credentials(
            &base,
            &url("http://127.0.0.1:5000/v2/a/blobs/uploads/u"),
            true
        ));
        assert!(!may_send_credentials(
            &base,
            &url("http://127.0.0.1:5001/v2/a/blobs/uploads/u"),
            true
        ));
        assert!(!may_send_credentials(
            &base,
            &url("http://localhost:5000/v2/a/blobs/uploads/u"),
            true
        ));
        assert!(!may_send_credentials(
            &base,
            &url("http://127.0.0.1:5000/v2/a/blobs/uploads/u"),
            false
        ));
    }

    #[test]
    fn keeps_only_well_formed_oci_error_codes() {
        let body = r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"secret detail"},
            {"code":"<script>"},{"code":"DENIED","detail":{"x":1}}]}"#;
        assert_eq!(oci_error_codes(body), vec!["MANIFEST_UNKNOWN", "DENIED"]);
        assert!(oci_error_codes("<html>502 Bad Gateway</html>").is_empty());
        assert!(oci_error_codes("").is_empty());
    }

    #[test]
    fn http_error_display_never_contains_the_body() {
        let e = Error::Http {
            status: 404,
            operation: "get manifest",
            registry: "r.example".into(),
            codes: oci_error_codes(r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"leak"}]}"#),
        };
        assert_eq!(
            e.to_string(),
            "registry r.example answered 404 to get manifest (MANIFEST_UNKNOWN)"
        );
        let bare = Error::Http {
            status: 502,
            operation: "get manifest",
            registry: "r.example".into(),
            codes: Vec::new(),
        };
        assert_eq!(
            bare.to_string(),
            "registry r.example answered 502 to get manifest"
        );
    }
}
