//! OIDC/JWT bearer tokens for people and CI, beside the static tokens: a token whose issuer is
//! configured in `auth.oidc[]` is verified against that issuer's JWKS (a file, or an https URL
//! fetched and cached, refetched on an unknown `kid` at most once per `jwks_refresh_seconds`),
//! then its expiry, not-before and audience are checked, and its claims are mapped to a
//! subject, approver groups and roles. `alg: none` and every HMAC algorithm are refused, and
//! a key is used only for the algorithms its type allows.

mod jwk;
mod jwt;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use portcullis_core::{GroupName, Role};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::RwLock;

pub use jwk::{Algorithm, Jwk, parse_set};
pub use jwt::looks_like_jwt;

/// One trusted issuer (`auth.oidc[]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcIssuer {
    /// The `iss` claim, compared exactly.
    pub issuer: String,
    /// The audience the token must name (`aud`, a string or a list).
    pub audience: String,
    /// A JWKS file.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// A JWKS URL: https, or http on a loopback address only.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// A PEM CA bundle to trust for `jwks_url`, besides the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The accepted signature algorithms (default RS256 and ES256). HMAC and `none` cannot be
    /// configured.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<Algorithm>,
    /// The claim naming the subject (default `sub`).
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// The claim listing approver groups (a string or a list of strings).
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// Roles granted by claim values.
    #[serde(default)]
    pub roles: Vec<RoleMapping>,
    /// Least time between two JWKS fetches (default 60).
    #[serde(default = "default_refresh")]
    pub jwks_refresh_seconds: u64,
    /// Clock skew allowed on `exp` and `nbf` (default 30).
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
}

/// A role granted when a claim has a value (or, for a list claim, contains it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleMapping {
    /// The claim, e.g. `repository` or `groups`.
    pub claim: String,
    /// The value it must have.
    pub equals: String,
    /// The role granted.
    pub role: Role,
    /// The routes the role is granted on; absent, on every route. (A CI workflow may request
    /// promotions on its own route only; a team's approvers approve on their routes.)
    #[serde(default)]
    pub routes: Option<Vec<String>>,
}

fn default_algorithms() -> Vec<Algorithm> {
    vec![Algorithm::RS256, Algorithm::ES256]
}
fn default_subject_claim() -> String {
    "sub".into()
}
fn default_refresh() -> u64 {
    60
}
fn default_leeway() -> u64 {
    30
}

/// Who a verified token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcIdentity {
    /// The issuer.
    pub issuer: String,
    /// The subject claim's value.
    pub subject: String,
    /// Approver groups from the groups claim (values that are not group names are skipped).
    pub groups: Vec<GroupName>,
    /// Roles granted by the mappings, in configuration order, unique.
    pub roles: Vec<Role>,
    /// The roles held on some routes only, with those routes (see `Caller::scoped`).
    pub scoped: Vec<(Role, Vec<String>)>,
}

struct Keys {
    keys: Vec<Jwk>,
    fetched: Option<Instant>,
}

struct IssuerState {
    config: OidcIssuer,
    http: Option<reqwest::Client>,
    keys: RwLock<Keys>,
}

/// The configured issuers and their key sets.
pub struct Oidc {
    issuers: Vec<IssuerState>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.issuers.iter().map(|i| &i.config.issuer))
            .finish()
    }
}

/// How long fetching a JWKS may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

impl Oidc {
    /// Checks the settings and loads every issuer's key set (a start-up error otherwise).
    pub async fn load(issuers: &[OidcIssuer]) -> Result<Self, String> {
        let mut states = Vec::new();
        for cfg in issuers {
            let what = format!("auth.oidc issuer {:?}", cfg.issuer);
            if cfg.issuer.is_empty() || cfg.audience.is_empty() {
                return Err(format!("{what}: issuer and audience must not be empty"));
            }
            if cfg.algorithms.is_empty() {
                return Err(format!("{what}: no algorithms"));
            }
            let http = match (&cfg.jwks_file, &cfg.jwks_url) {
                (Some(_), None) => None,
                (None, Some(url)) => {
                    Some(client(url, cfg.ca_file.as_deref()).map_err(|e| format!("{what}: {e}"))?)
                }
                _ => return Err(format!("{what}: set exactly one of jwks_file and jwks_url")),
            };
            let state = IssuerState {
                config: cfg.clone(),
                http,
                keys: RwLock::new(Keys {
                    keys: Vec::new(),
                    fetched: None,
                }),
            };
            let keys = state.fetch().await.map_err(|e| format!("{what}: {e}"))?;
            *state.keys.write().await = Keys {
                keys,
                fetched: Some(Instant::now()),
            };
            states.push(state);
        }
        Ok(Self { issuers: states })
    }

    /// Whether any issuer is configured.
    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// Verifies `token` and maps its claims; the error says why it is not accepted.
    pub async fn authenticate(&self, token: &str) -> Result<OidcIdentity, String> {
        let unverified = jwt::Unverified::parse(token)?;
        let iss = unverified
            .claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or("JWT has no iss claim")?;
        let state = self
            .issuers
            .iter()
            .find(|s| s.config.issuer == iss)
            .ok_or_else(|| format!("JWT issuer {iss:?} is not trusted"))?;
        let cfg = &state.config;
        if !cfg.algorithms.contains(&unverified.alg) {
            return Err(format!(
                "alg {:?} is not accepted for {iss}",
                unverified.alg
            ));
        }
        state.verify_signature(&unverified).await?;
        check_times(&unverified.claims, cfg.leeway_seconds)?;
        check_audience(&unverified.claims, &cfg.audience)?;
        let subject = unverified
            .claims
            .get(&cfg.subject_claim)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| format!("JWT has no {} claim", cfg.subject_claim))?;
        let groups = cfg
            .groups_claim
            .as_ref()
            .map(|claim| {
                strings(unverified.claims.get(claim))
                    .filter_map(|g| g.parse::<GroupName>().ok())
                    .collect()
            })
            .unwrap_or_default();
        let granted = cfg
            .roles
            .iter()
            .filter(|m| strings(unverified.claims.get(&m.claim)).any(|v| v == m.equals));
        let (roles, scoped) = grants(granted);
        Ok(OidcIdentity {
            issuer: cfg.issuer.clone(),
            subject: subject.to_owned(),
            groups,
            roles,
            scoped,
        })
    }
}

/// The roles the matching mappings grant, unique in configuration order, and those held on
/// some routes only: a role granted once without `routes` is held everywhere; otherwise on
/// the union of its grants' routes.
fn grants<'a>(
    granted: impl Iterator<Item = &'a RoleMapping>,
) -> (Vec<Role>, Vec<(Role, Vec<String>)>) {
    let mut roles: Vec<Role> = Vec::new();
    let mut scoped: Vec<(Role, Option<Vec<String>>)> = Vec::new();
    for mapping in granted {
        if !roles.contains(&mapping.role) {
            roles.push(mapping.role);
            scoped.push((mapping.role, Some(Vec::new())));
        }
        let Some((_, routes)) = scoped.iter_mut().find(|(r, _)| *r == mapping.role) else {
            continue;
        };
        match (routes.as_mut(), &mapping.routes) {
            (Some(held), Some(more)) => {
                for route in more {
                    if !held.contains(route) {
                        held.push(route.clone());
                    }
                }
            }
            (_, None) => *routes = None,
            (None, Some(_)) => {}
        }
    }
    let scoped = scoped
        .into_iter()
        .filter_map(|(role, routes)| routes.map(|r| (role, r)))
        .collect();
    (roles, scoped)
}

impl IssuerState {
    async fn fetch(&self) -> Result<Vec<Jwk>, String> {
        let bytes = match (&self.config.jwks_file, &self.http, &self.config.jwks_url) {
            (Some(path), _, _) => {
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
            }
            (None, Some(http), Some(url)) => {
                let resp = http
                    .get(url)
                    .send()
                    .await
                    .map_err(|e| format!("fetching {url}: {e}"))?;
                if !resp.status().is_success() {
                    return Err(format!("fetching {url}: HTTP {}", resp.status()));
                }
                let body = resp
                    .bytes()
                    .await
                    .map_err(|e| format!("reading {url}: {e}"))?;
                body.to_vec()
            }
            _ => return Err("no JWKS source".into()),
        };
        jwk::parse_set(&bytes)
    }

    /// Finds the signing key (by `kid`, refetching the set once per refresh interval when
    /// the kid is unknown) and checks the signature.
    async fn verify_signature(&self, token: &jwt::Unverified) -> Result<(), String> {
        let found = {
            let keys = self.keys.read().await;
            candidates(&keys.keys, token)
        };
        if let Some(result) = try_keys(&found, token) {
            return result;
        }
        // An unknown kid: the issuer may have rotated its keys.
        let refresh = Duration::from_secs(self.config.jwks_refresh_seconds);
        let refetched = {
            let mut keys = self.keys.write().await;
            if keys.fetched.is_some_and(|t| t.elapsed() < refresh) {
                None
            } else {
                match self.fetch().await {
                    Ok(fresh) => {
                        *keys = Keys {
                            keys: fresh,
                            fetched: Some(Instant::now()),
                        };
                        Some(candidates(&keys.keys, token))
                    }
                    Err(e) => {
                        keys.fetched = Some(Instant::now());
                        tracing::warn!(issuer = %self.config.issuer, error = %e, "JWKS refresh failed");
                        None
                    }
                }
            }
        };
        refetched
            .and_then(|found| try_keys(&found, token))
            .unwrap_or_else(|| Err(format!("no key {:?} for alg {:?}", token.kid, token.alg)))
    }
}

fn candidates(keys: &[Jwk], token: &jwt::Unverified) -> Vec<Jwk> {
    keys.iter()
        .filter(|k| token.kid.is_none() || k.kid == token.kid)
        .filter(|k| k.algorithms.contains(&token.alg))
        .cloned()
        .collect()
}

/// `None` when there is no candidate; otherwise whether one verifies.
fn try_keys(keys: &[Jwk], token: &jwt::Unverified) -> Option<Result<(), String>> {
    if keys.is_empty() {
        return None;
    }
    Some(if keys.iter().any(|k| token.verify_with(k).is_ok()) {
        Ok(())
    } else {
        Err("JWT signature does not verify".into())
    })
}

fn strings(value: Option<&Value>) -> impl Iterator<Item = &str> {
    let list: Vec<&str> = match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    list.into_iter()
}

fn check_times(claims: &serde_json::Map<String, Value>, leeway: u64) -> Result<(), String> {
    let now = chrono::Utc::now().timestamp();
    let leeway = i64::try_from(leeway).unwrap_or(i64::MAX);
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or("JWT has no numeric exp claim")?;
    if now > exp.saturating_add(leeway) {
        return Err("JWT has expired".into());
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = nbf.as_i64().ok_or("JWT nbf is not a number")?;
        if now < nbf.saturating_sub(leeway) {
            return Err("JWT is not valid yet".into());
        }
    }
    Ok(())
}

fn check_audience(claims: &serde_json::Map<String, Value>, audience: &str) -> Result<(), String> {
    if strings(claims.get("aud")).any(|a| a == audience) {
        Ok(())
    } else {
        Err(format!("JWT audience does not include {audience:?}"))
    }
}

fn client(url: &str, ca_file: Option<&std::path::Path>) -> Result<reqwest::Client, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("jwks_url {url:?}: {e}"))?;
    let loopback = matches!(
        parsed.host_str(),
        Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
    );
    if parsed.scheme() != "https" && !(parsed.scheme() == "http" && loopback) {
        return Err(format!(
            "jwks_url {url:?} must be https (http only on loopback)"
        ));
    }
    let mut builder = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("ca_file {}: {e}", path.display()))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
