//! The approver web page (`ui:`): whether it is served, how long a session lasts, whether
//! its cookies may travel without TLS (loopback only), and the OIDC client it signs people in
//! with.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use super::ConfigError;

/// `ui:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiSettings {
    /// Whether `/ui` is served (default true).
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// How long a session lasts after sign-in: seconds, or `90s`, `30m`, `8h`, `1d`
    /// (default 8h; 1 second to 7 days).
    #[serde(default = "default_ttl", deserialize_with = "duration_seconds")]
    pub session_ttl: u64,
    /// How long a session may go unused before it ends (sliding; default 30m, 2 minutes to
    /// 7 days). It bounds how long roles copied from an ID token outlive a person's last
    /// use of the page.
    #[serde(default = "default_idle", deserialize_with = "duration_seconds")]
    pub idle_timeout: u64,
    /// Cookies without `Secure`, for a plain-HTTP listener on a loopback address only
    /// (refused otherwise).
    #[serde(default)]
    pub insecure_cookies: bool,
    /// The URL people reach the gate at (e.g. `https://gate.example`), from which the OIDC
    /// redirect URI (`<public_url>/ui/oidc/callback`) is made. Required with `oidc`: the
    /// request's `Host` is never trusted for it.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Sign-in with OIDC (the authorization code flow with PKCE).
    #[serde(default)]
    pub oidc: Option<UiOidcSettings>,
}

/// `ui.oidc`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiOidcSettings {
    /// The provider's issuer URL (its discovery document is
    /// `<issuer>/.well-known/openid-configuration`); it must also be an `auth.oidc[]` issuer
    /// whose `audience` is `client_id`: the ID token is verified and mapped there.
    pub issuer: String,
    /// The client id registered with the provider.
    pub client_id: String,
    /// A file holding the client secret.
    pub client_secret_file: PathBuf,
    /// Scopes asked for besides `openid` (default `profile`, `email`, `groups`).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            enabled: default_enabled(),
            session_ttl: default_ttl(),
            idle_timeout: default_idle(),
            insecure_cookies: false,
            public_url: None,
            oidc: None,
        }
    }
}

fn default_enabled() -> bool {
    true
}

fn default_ttl() -> u64 {
    8 * 3600
}

fn default_idle() -> u64 {
    30 * 60
}

/// The shortest idle timeout: a session in use is marked at most once a minute.
pub const MIN_IDLE_TIMEOUT: u64 = 120;

fn default_scopes() -> Vec<String> {
    vec!["profile".into(), "email".into(), "groups".into()]
}

/// The longest session.
pub const MAX_SESSION_TTL: u64 = 7 * 86_400;

/// Seconds from `3600` or `"3600"`, `"90s"`, `"30m"`, `"8h"`, `"1d"`.
fn duration_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Seconds(n) => Ok(n),
        Raw::Text(t) => parse_duration(&t).map_err(serde::de::Error::custom),
    }
}

/// Parses `90`, `90s`, `30m`, `8h` or `1d` into seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 90s, 30m, 8h or 1d"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// Resolves `ui.oidc.client_secret_file` against the config file's directory.
pub(super) fn resolve(ui: &mut UiSettings, base: &std::path::Path) {
    if let Some(oidc) = &mut ui.oidc
        && oidc.client_secret_file.is_relative()
    {
        oidc.client_secret_file = base.join(&oidc.client_secret_file);
    }
}

/// Whether `url` is https, or http on a loopback address.
pub fn https_or_loopback(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback)
}

impl super::Config {
    /// `ui:` checks: insecure cookies on loopback only; the OIDC client's issuer trusted in
    /// `auth.oidc[]` for this client's tokens.
    pub(super) fn validate_ui(&self) -> Result<(), ConfigError> {
        let ui = &self.ui;
        if ui.insecure_cookies && !self.listen.ip().is_loopback() {
            return Err(ConfigError::Invalid(format!(
                "ui.insecure_cookies is allowed only on a loopback listener, not {}: \
                 session cookies must not travel without TLS",
                self.listen
            )));
        }
        if !(1..=MAX_SESSION_TTL).contains(&ui.session_ttl) {
            return Err(ConfigError::Invalid(format!(
                "ui.session_ttl must be between 1 second and {MAX_SESSION_TTL} seconds (7 days)"
            )));
        }
        if !(MIN_IDLE_TIMEOUT..=MAX_SESSION_TTL).contains(&ui.idle_timeout) {
            return Err(ConfigError::Invalid(format!(
                "ui.idle_timeout must be between {MIN_IDLE_TIMEOUT} seconds and \
                 {MAX_SESSION_TTL} seconds (7 days)"
            )));
        }
        if let Some(url) = &ui.public_url
            && !https_or_loopback(url)
        {
            return Err(ConfigError::Invalid(format!(
                "ui.public_url {url:?} must be https (http only on loopback)"
            )));
        }
        let Some(oidc) = &ui.oidc else {
            return Ok(());
        };
        if ui.public_url.is_none() {
            return Err(ConfigError::Invalid(
                "ui.oidc needs ui.public_url (e.g. https://gate.example): the OIDC redirect URI \
                 is <public_url>/ui/oidc/callback and is never taken from the request's Host"
                    .into(),
            ));
        }
        if !https_or_loopback(&oidc.issuer) {
            return Err(ConfigError::Invalid(format!(
                "ui.oidc.issuer {:?} must be https (http only on loopback)",
                oidc.issuer
            )));
        }
        if oidc.client_id.trim().is_empty() {
            return Err(ConfigError::Invalid("ui.oidc.client_id is empty".into()));
        }
        let trusted = self
            .auth
            .oidc
            .iter()
            .any(|i| i.issuer == oidc.issuer && i.audience == oidc.client_id);
        if !trusted {
            return Err(ConfigError::Invalid(format!(
                "ui.oidc.issuer {:?} must also be an auth.oidc[] issuer with audience {:?}: \
                 the ID token is verified and its claims mapped to roles there",
                oidc.issuer, oidc.client_id
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Config;
    use super::*;

    fn load(listen: &str, ui: &str) -> Result<Config, ConfigError> {
        let yaml = format!(
            "listen: \"{listen}\"\ndatabase_url: postgres://x/y\npolicy_dir: p\n\
             auth:\n  oidc:\n    - {{ issuer: \"https://idp.example\", audience: portcullis-ui, jwks_file: j.json }}\n\
             ui:\n{ui}"
        );
        Config::from_yaml(&yaml, Path::new("/etc/p"), &|_| None)
    }

    #[test]
    fn insecure_cookies_are_refused_unless_the_listener_is_loopback() {
        let ui = "  insecure_cookies: true\n";
        assert!(load("127.0.0.1:8080", ui).unwrap().ui.insecure_cookies);
        assert!(load("[::1]:8080", ui).is_ok());
        let err = load("0.0.0.0:8080", ui).unwrap_err().to_string();
        assert!(err.contains("ui.insecure_cookies"), "{err}");
        assert!(load("10.1.2.3:8080", ui).is_err());
    }

    #[test]
    fn session_ttl_takes_seconds_or_units_within_bounds() {
        assert_eq!(
            load("127.0.0.1:1", "  session_ttl: 90\n")
                .unwrap()
                .ui
                .session_ttl,
            90
        );
        assert_eq!(
            load("127.0.0.1:1", "  session_ttl: 30m\n")
                .unwrap()
                .ui
                .session_ttl,
            1800
        );
        assert_eq!(
            load("127.0.0.1:1", "  session_ttl: 1d\n")
                .unwrap()
                .ui
                .session_ttl,
            86_400
        );
        assert_eq!(
            load("127.0.0.1:1", "  enabled: true\n")
                .unwrap()
                .ui
                .session_ttl,
            8 * 3600
        );
        for bad in ["0", "8w", "8d", "x"] {
            assert!(
                load("127.0.0.1:1", &format!("  session_ttl: {bad}\n")).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_oidc_client_must_be_a_trusted_issuer_for_its_client_id() {
        let ok = "  public_url: https://gate.example\n  oidc: { issuer: \"https://idp.example\", client_id: portcullis-ui, client_secret_file: s }\n";
        let cfg = load("127.0.0.1:1", ok).unwrap();
        let oidc = cfg.ui.oidc.unwrap();
        assert_eq!(oidc.client_secret_file, Path::new("/etc/p/s"));
        let other = "  oidc: { issuer: \"https://idp.example\", client_id: other, client_secret_file: s }\n";
        assert!(load("127.0.0.1:1", other).is_err());
        let plain = "  oidc: { issuer: \"http://idp.example\", client_id: portcullis-ui, client_secret_file: s }\n";
        assert!(load("127.0.0.1:1", plain).is_err());
        assert!(https_or_loopback("http://127.0.0.1:9000"));
        assert!(!https_or_loopback("not a url"));
        assert!(https_or_loopback("http://[::1]:9000/x"));
        assert!(!https_or_loopback("http://10.0.0.1"));
    }

    #[test]
    fn oidc_sign_in_requires_a_public_url() {
        let no_url = "  oidc: { issuer: \"https://idp.example\", client_id: portcullis-ui, client_secret_file: s }\n";
        let err = load("127.0.0.1:1", no_url).unwrap_err().to_string();
        assert!(err.contains("ui.public_url"), "{err}");
        assert!(err.contains("Host"), "{err}");
    }

    #[test]
    fn idle_timeout_defaults_to_thirty_minutes_within_bounds() {
        let cfg = load("127.0.0.1:1", "  enabled: true\n").unwrap();
        assert_eq!(cfg.ui.idle_timeout, 1800);
        let cfg = load("127.0.0.1:1", "  idle_timeout: 2h\n").unwrap();
        assert_eq!(cfg.ui.idle_timeout, 7200);
        for bad in ["60", "0", "8d"] {
            let err = load("127.0.0.1:1", &format!("  idle_timeout: {bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("ui.idle_timeout"), "{bad}: {err}");
        }
    }
}
