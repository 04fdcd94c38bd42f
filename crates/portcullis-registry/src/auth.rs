//! Registry credentials and the Docker token flow: parsing a `WWW-Authenticate: Bearer …`
//! challenge and exchanging it (with basic credentials when configured) for a bearer token.

use std::fmt;

use reqwest::Url;
use serde::Deserialize;

use crate::liveness::Timeouts;
use crate::{Error, Result, RetryPolicy};

/// Requests in flight to one registry at once, unless configured otherwise.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 8;

/// How to talk to one registry: transport, credentials, and how hard to push it.
#[derive(Clone)]
pub struct RegistryAuthConfig {
    /// Use plain `http://` instead of `https://`.
    pub insecure: bool,
    /// Basic-auth user name.
    pub username: Option<String>,
    /// Basic-auth password; never printed.
    pub password: Option<String>,
    /// Requests in flight to this registry at once (at least 1).
    pub max_concurrent_requests: usize,
    /// Retries of transient failures (429, 502, 503, 504, connection errors).
    pub retry: RetryPolicy,
    /// Token realms on other hosts that may receive this registry's credentials (a realm
    /// on the registry's own host and port always may). Matched on scheme, host, port and
    /// path.
    pub token_realms: Vec<Url>,
    /// How long to wait for response headers, and between two reads of a response.
    pub timeouts: Timeouts,
}

impl Default for RegistryAuthConfig {
    fn default() -> Self {
        Self {
            insecure: false,
            username: None,
            password: None,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            retry: RetryPolicy::default(),
            token_realms: Vec::new(),
            timeouts: Timeouts::default(),
        }
    }
}

impl RegistryAuthConfig {
    /// The credentials pair, when a user name is configured.
    pub(crate) fn basic(&self) -> Option<(&str, Option<&str>)> {
        self.username
            .as_deref()
            .map(|u| (u, self.password.as_deref()))
    }
}

impl fmt::Debug for RegistryAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryAuthConfig")
            .field("insecure", &self.insecure)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("retry", &self.retry)
            .field("token_realms", &self.token_realms)
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

/// A parsed `WWW-Authenticate: Bearer realm=…,service=…,scope=…` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerChallenge {
    /// The token endpoint.
    pub realm: String,
    /// The `service` parameter to pass back.
    pub service: Option<String>,
    /// The `scope` parameter to pass back.
    pub scope: Option<String>,
}

impl BearerChallenge {
    /// Parses a header value; `None` unless it is a Bearer challenge with a realm.
    pub fn parse(header: &str) -> Option<Self> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let mut realm = None;
        let mut service = None;
        let mut scope = None;
        for (key, value) in auth_params(rest) {
            match key.to_ascii_lowercase().as_str() {
                "realm" => realm = Some(value),
                "service" => service = Some(value),
                "scope" => scope = Some(value),
                _ => {}
            }
        }
        Some(Self {
            realm: realm?,
            service,
            scope,
        })
    }
}

/// Splits `k1="v1", k2=v2` into pairs; quoted values may contain commas and `\` escapes.
fn auth_params(input: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.trim().is_empty() {
            break;
        }
        if chars.next_if_eq(&'=').is_none() {
            continue;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect();
            value = value.trim().to_owned();
        }
        out.push((key.trim().to_owned(), value));
    }
    out
}

#[derive(Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
}

/// Checks a token realm before anything is sent to it: only http(s), and no downgrade to
/// plain http when the registry itself is reached over https (a man in the middle could
/// otherwise harvest the basic credentials). The reason never contains a credential.
pub(crate) fn check_realm(registry_base: &Url, realm: &Url) -> std::result::Result<(), String> {
    match realm.scheme() {
        "https" => Ok(()),
        "http" if registry_base.scheme() == "https" => Err(format!(
            "token realm on {} uses plain http while the registry is reached over https; \
             refusing to request a token there",
            realm.host_str().unwrap_or("<no host>")
        )),
        "http" => Ok(()),
        other => Err(format!("token realm has unsupported scheme {other:?}")),
    }
}

/// Whether basic credentials may go to `realm`: always over https, over plain http only
/// when the registry is explicitly configured insecure.
pub(crate) fn may_send_basic_to_realm(realm: &Url, insecure: bool) -> bool {
    realm.scheme() == "https" || (insecure && realm.scheme() == "http")
}

/// Whether the registry's credentials may go to the token `realm` it named: only a realm on
/// the registry's own host and port, or one listed in its `token_realms` (same scheme,
/// host, port and path). A challenge is registry-controlled input: without this, a
/// compromised or spoofed registry could name any host and collect the password.
pub(crate) fn realm_is_trusted(registry_base: &Url, realm: &Url, listed: &[Url]) -> bool {
    let same_origin = |a: &Url, b: &Url| {
        a.host() == b.host() && a.port_or_known_default() == b.port_or_known_default()
    };
    same_origin(registry_base, realm)
        || listed.iter().any(|l| {
            l.scheme() == realm.scheme() && same_origin(l, realm) && l.path() == realm.path()
        })
}

/// Exchanges a challenge for a bearer token at its realm. `registry_base` is the registry's
/// own base URL, which decides whether a plain-http realm is acceptable.
pub(crate) async fn fetch_token(
    http: &reqwest::Client,
    registry: &str,
    registry_base: &Url,
    config: &RegistryAuthConfig,
    challenge: &BearerChallenge,
    fallback_scope: &str,
) -> Result<String> {
    const OP: &str = "token request";
    let mut url = Url::parse(&challenge.realm)
        .map_err(|e| Error::protocol(registry, format!("bad token realm: {e}")))?;
    check_realm(registry_base, &url).map_err(|reason| Error::protocol(registry, reason))?;
    let trusted = realm_is_trusted(registry_base, &url, &config.token_realms);
    let send_basic = trusted && may_send_basic_to_realm(&url, config.insecure);
    {
        let mut q = url.query_pairs_mut();
        if let Some(service) = &challenge.service {
            q.append_pair("service", service);
        }
        q.append_pair(
            "scope",
            challenge.scope.as_deref().unwrap_or(fallback_scope),
        );
    }
    let realm_host = url.host_str().unwrap_or("-").to_owned();
    let mut req = http.get(url);
    match config.basic() {
        Some((user, pass)) if send_basic => req = req.basic_auth(user, pass),
        Some(_) if !trusted => tracing::warn!(
            registry,
            auth.realm_host = %realm_host,
            "token realm is on another host and not in token_realms; requesting an anonymous token without credentials"
        ),
        Some(_) => tracing::warn!(
            registry,
            "token realm is plain http; requesting an anonymous token without credentials"
        ),
        None => {}
    }
    let timed_out = || Error::Timeout {
        registry: registry.to_owned(),
        operation: OP,
        waited_for: "response headers",
    };
    let resp = tokio::time::timeout(config.timeouts.response_header, req.send())
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| {
            if e.is_timeout() && !e.is_connect() {
                timed_out()
            } else {
                Error::transport(registry, OP, e)
            }
        })?;
    let status = resp.status().as_u16();
    if status == 401 || status == 403 {
        return Err(Error::Unauthorized {
            registry: registry.to_owned(),
            status,
            operation: OP,
        });
    }
    let resp = crate::response::check_status(resp, registry, OP).await?;
    let body: TokenResponse = resp
        .json()
        .await
        .map_err(|e| Error::body(registry, OP, e))?;
    body.token
        .or(body.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::protocol(
                registry,
                "token response has neither token nor access_token",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hub_style_challenge_with_comma_in_scope() {
        let c = BearerChallenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#,
        );
        assert_eq!(
            c,
            Some(BearerChallenge {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:samalba/my-app:pull,push".into()),
            })
        );
    }

    #[test]
    fn parses_unquoted_and_escaped_values_and_rejects_other_schemes() {
        let c = BearerChallenge::parse(r#"bearer realm=http://h/t , scope="a\"b""#);
        assert_eq!(c.as_ref().map(|c| c.realm.as_str()), Some("http://h/t"));
        assert_eq!(c.and_then(|c| c.scope), Some("a\"b".to_owned()));
        assert_eq!(
            BearerChallenge::parse(r#"Basic realm="Registry Realm""#),
            None
        );
        assert_eq!(BearerChallenge::parse(r#"Bearer service="x""#), None);
        assert_eq!(BearerChallenge::parse(""), None);
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn https_registry_refuses_plain_http_realm() {
        let registry = url("https://registry.example/v2/");
        let reason = check_realm(&registry, &url("http://auth.example/token"));
        assert!(
            reason
                .as_ref()
                .is_err_and(|r| r.contains("plain http") && r.contains("auth.example")),
            "{reason:?}"
        );
        assert_eq!(
            check_realm(&registry, &url("https://auth.example/token")),
            Ok(())
        );
        assert!(check_realm(&registry, &url("ftp://auth.example/token")).is_err());
    }

    #[test]
    fn insecure_registry_accepts_http_realm() {
        let registry = url("http://127.0.0.1:5000/v2/");
        assert_eq!(
            check_realm(&registry, &url("http://127.0.0.1:5001/token")),
            Ok(())
        );
        assert_eq!(
            check_realm(&registry, &url("https://auth.example/token")),
            Ok(())
        );
    }

    #[test]
    fn basic_credentials_go_to_http_realm_only_when_insecure() {
        assert!(may_send_basic_to_realm(
            &url("https://auth.example/t"),
            false
        ));
        assert!(may_send_basic_to_realm(
            &url("https://auth.example/t"),
            true
        ));
        assert!(!may_send_basic_to_realm(
            &url("http://auth.example/t"),
            false
        ));
        assert!(may_send_basic_to_realm(&url("http://auth.example/t"), true));
        assert!(!may_send_basic_to_realm(&url("file:///etc/passwd"), true));
    }

    #[test]
    fn credentials_go_to_a_realm_on_the_registry_origin_or_listed() {
        let base = url("https://registry.example/v2/");
        let listed = [url("https://auth.example/token")];
        assert!(realm_is_trusted(
            &base,
            &url("https://registry.example:443/token"),
            &[]
        ));
        assert!(!realm_is_trusted(
            &base,
            &url("https://auth.example/token"),
            &[]
        ));
        assert!(!realm_is_trusted(
            &base,
            &url("https://registry.example:8443/token"),
            &[]
        ));
        assert!(realm_is_trusted(
            &base,
            &url("https://auth.example/token"),
            &listed
        ));
        assert!(!realm_is_trusted(
            &base,
            &url("https://auth.example/other"),
            &listed
        ));
        assert!(!realm_is_trusted(
            &base,
            &url("https://auth.example:444/token"),
            &listed
        ));
    }

    #[test]
    fn debug_never_prints_the_password() {
        let c = RegistryAuthConfig {
            insecure: true,
            username: Some("ci".into()),
            password: Some("hunter2".into()),
            ..Default::default()
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
