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
        let base = self.url(registry, "")?;
        let token = fetch_token(self.http(), host, &base, config, &challenge, &scope).await?;
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
    /// `target` is the URL `req` goes to (a registry-issued upload URL); credentials are
    /// attached only when it is on the registry's own host and port.
    pub(crate) async fn send_once(
        &self,
        registry: &RegistryHost,
        repo: &RepoPath,
        access: Access,
        operation: &'static str,
        target: &Url,
        req: RequestBuilder,
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
        let resp = req
            .send()
            .await
            .map_err(|e| Error::transport(host, operation, e))?;
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
