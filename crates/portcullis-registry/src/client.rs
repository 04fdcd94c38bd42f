//! `RegistryClient`: the HTTP core shared by manifest and blob operations — base URLs per
//! host, basic auth, the bearer-token retry with a per-(registry, scope) token cache, and
//! status/size checks. Operations themselves live in `manifests.rs` and `blobs.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use portcullis_core::{RegistryHost, RepoPath};
use reqwest::header::WWW_AUTHENTICATE;
use reqwest::{RequestBuilder, Response, StatusCode, Url};

use crate::auth::{BearerChallenge, RegistryAuthConfig, fetch_token};
use crate::{Error, Result};

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
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    registries: HashMap<RegistryHost, RegistryAuthConfig>,
    /// Bearer tokens keyed by (registry, scope). Never logged.
    tokens: Mutex<HashMap<(RegistryHost, String), String>>,
}

impl RegistryClient {
    /// A client with per-registry settings; hosts not listed use https, anonymously.
    pub fn new(registries: HashMap<RegistryHost, RegistryAuthConfig>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("portcullis-registry/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(15))
            .build()
            .map_err(|e| Error::transport("-", "building the HTTP client", e))?;
        let tokens = Mutex::new(HashMap::new());
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                registries,
                tokens,
            }),
        })
    }

    fn config(&self, registry: &RegistryHost) -> Option<&RegistryAuthConfig> {
        self.inner.registries.get(registry)
    }

    /// The raw HTTP client, for requests to URLs the registry handed out.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
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

    /// Sends a request built by `build`, doing the bearer-token dance once on a 401.
    /// A final 401/403 becomes `Unauthorized`; other statuses are left to the caller.
    pub(crate) async fn send(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        access: Access,
        operation: &'static str,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response> {
        let host = registry.as_str();
        let first = self.authorize(registry, repo, access, build(self.http()));
        let resp = first
            .send()
            .await
            .map_err(|e| Error::transport(host, operation, e))?;
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
        let token = fetch_token(self.http(), host, config, &challenge, &scope).await?;
        tracing::debug!(registry = host, auth.scope = %scope, "obtained registry bearer token");
        self.inner
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((registry.clone(), scope), token.clone());
        let retry = build(self.http()).bearer_auth(token);
        let resp = retry
            .send()
            .await
            .map_err(|e| Error::transport(host, operation, e))?;
        refuse_forbidden(resp, host, operation)
    }

    /// Sends a request whose body cannot be replayed: cached credentials only, no retry.
    pub(crate) async fn send_once(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        access: Access,
        operation: &'static str,
        req: RequestBuilder,
    ) -> Result<Response> {
        let host = registry.as_str();
        let resp = self
            .authorize(registry, repo, access, req)
            .send()
            .await
            .map_err(|e| Error::transport(host, operation, e))?;
        refuse_forbidden(resp, host, operation)
    }
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
    let body: String = body.chars().take(MAX_ERROR_BODY).collect();
    Err(Error::Http {
        status: status.as_u16(),
        operation,
        registry: registry.to_owned(),
        body,
    })
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
        .map_err(|e| Error::transport(registry, "reading a body", e))?
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
