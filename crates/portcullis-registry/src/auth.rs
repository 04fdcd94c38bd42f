//! Registry credentials and the Docker token flow: parsing a `WWW-Authenticate: Bearer …`
//! challenge and exchanging it (with basic credentials when configured) for a bearer token.

use std::fmt;

use serde::Deserialize;

use crate::{Error, Result};

/// How to talk to one registry.
#[derive(Clone, Default)]
pub struct RegistryAuthConfig {
    /// Use plain `http://` instead of `https://`.
    pub insecure: bool,
    /// Basic-auth user name.
    pub username: Option<String>,
    /// Basic-auth password; never printed.
    pub password: Option<String>,
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

/// Exchanges a challenge for a bearer token at its realm.
pub(crate) async fn fetch_token(
    http: &reqwest::Client,
    registry: &str,
    config: &RegistryAuthConfig,
    challenge: &BearerChallenge,
    fallback_scope: &str,
) -> Result<String> {
    const OP: &str = "token request";
    let mut url = reqwest::Url::parse(&challenge.realm)
        .map_err(|e| Error::protocol(registry, format!("bad token realm: {e}")))?;
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
    let mut req = http.get(url);
    if let Some((user, pass)) = config.basic() {
        req = req.basic_auth(user, pass);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| Error::transport(registry, OP, e))?;
    let status = resp.status().as_u16();
    if status == 401 || status == 403 {
        return Err(Error::Unauthorized {
            registry: registry.to_owned(),
            status,
            operation: OP,
        });
    }
    let resp = crate::client::check_status(resp, registry, OP).await?;
    let body: TokenResponse = resp
        .json()
        .await
        .map_err(|e| Error::transport(registry, OP, e))?;
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

    #[test]
    fn debug_never_prints_the_password() {
        let c = RegistryAuthConfig {
            insecure: true,
            username: Some("ci".into()),
            password: Some("hunter2".into()),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
