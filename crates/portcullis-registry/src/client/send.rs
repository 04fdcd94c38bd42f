//! Sending requests for `RegistryClient`: the bearer-token dance on a 401, retries of
//! transient failures (policy in `retry.rs`), whole-transfer restarts for bodies that cannot
//! be replayed, the response-header timeout, and where credentials may go.

use std::future::Future;
use std::time::{Duration, Instant};

use portcullis_core::{RegistryHost, RepoPath};
use reqwest::header::WWW_AUTHENTICATE;
use reqwest::{RequestBuilder, Response, StatusCode, Url};
use tokio::sync::Notify;

use super::{Access, RegistryClient};
use crate::auth::{BearerChallenge, RegistryAuthConfig, fetch_token};
use crate::response::refuse_forbidden;
use crate::retry::{exhausted, is_transient_error, is_transient_status, log_retry, retry_after};
use crate::{Error, Result};

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
}
