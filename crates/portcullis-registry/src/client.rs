//! `RegistryClient`: the state shared by manifest and blob operations — base URLs per host,
//! HTTP clients, credentials and the per-(registry, scope) bearer-token cache, and the
//! per-registry limit on requests in flight. Sending (token dance, retries, timeouts) is in
//! `send`; response checks in `response`; operations in `manifest_ops.rs` and `blobs.rs`.

mod send;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portcullis_core::{RegistryHost, RepoPath};
use reqwest::{RequestBuilder, Url};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::{DEFAULT_MAX_CONCURRENT_REQUESTS, RegistryAuthConfig};
use crate::liveness::{Activity, Timeouts};
use crate::{Error, Result, RetryPolicy};
pub(crate) use send::Failed;

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
    /// Registries found without the OCI referrers API (a 404), and when: asked again only
    /// after `referrers::NO_API_RECHECK`.
    no_referrers_api: Mutex<HashMap<RegistryHost, std::time::Instant>>,
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
                no_referrers_api: Mutex::new(HashMap::new()),
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

    /// Records that `registry` answered the referrers API with 404 now.
    pub(crate) fn note_no_referrers_api(&self, registry: &RegistryHost) {
        self.inner
            .no_referrers_api
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(registry.clone(), std::time::Instant::now());
    }

    /// When `registry` last answered the referrers API with 404, if it did.
    pub(crate) fn no_referrers_api_since(
        &self,
        registry: &RegistryHost,
    ) -> Option<std::time::Instant> {
        self.inner
            .no_referrers_api
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(registry)
            .copied()
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
}

/// What both HTTP clients share.
fn http_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("portcullis-registry/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(15))
}
