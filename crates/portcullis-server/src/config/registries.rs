//! Per-registry settings (`registries:`): credentials, request limits, retries, timeouts
//! and token realms, checked and their passwords read at load time.

use std::path::{Path, PathBuf};

use portcullis_core::RegistryHost;
use serde::Deserialize;

use super::{ConfigError, Secret};

/// Per-registry settings, keyed by `host:port`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// Talk plain HTTP instead of HTTPS.
    #[serde(default)]
    pub insecure: bool,
    /// Basic-auth / token-flow user name.
    pub username: Option<String>,
    /// Environment variable that holds the password.
    pub password_env: Option<String>,
    /// File that holds the password (a mounted secret); trailing newlines are ignored.
    /// Relative to the config file. At most one of `password_env` and `password_file`.
    pub password_file: Option<PathBuf>,
    /// Requests in flight to this registry at once (default 8).
    #[serde(default)]
    pub max_concurrent_requests: Option<usize>,
    /// How transient failures (429, 502–504, connection errors) are retried.
    #[serde(default)]
    pub retry: Option<RetrySettings>,
    /// How long to wait on this registry before giving up with `registry_timeout`.
    #[serde(default)]
    pub timeouts: Option<TimeoutSettings>,
    /// Token realms on other hosts that may receive this registry's credentials (a realm
    /// on the registry's own host and port always may).
    #[serde(default)]
    pub token_realms: Vec<String>,
    /// The password, read from `password_env` or `password_file` at load time.
    #[serde(skip)]
    pub password: Option<Secret>,
}

/// Retries of transient registry failures, with exponential backoff and jitter;
/// `Retry-After` is honoured (up to 60 s). Omitted fields keep their defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    /// Attempts in all, the first included (default 6; 1 disables retries).
    pub max_attempts: Option<u32>,
    /// Wait before the second attempt, doubled each time (default 200).
    pub initial_backoff_ms: Option<u64>,
    /// Longest wait between attempts (default 10000).
    pub max_backoff_ms: Option<u64>,
    /// No attempt starts after this long since the first (default 120).
    pub max_elapsed_seconds: Option<u64>,
}

/// Per-registry timeouts; omitted fields keep their defaults (30 s each).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutSettings {
    /// Longest wait for response headers once a request is sent (default 30).
    pub response_header_seconds: Option<u64>,
    /// Longest wait between two reads of a response, e.g. a blob body that stalls
    /// (default 30).
    pub idle_read_seconds: Option<u64>,
}

impl TimeoutSettings {
    /// The client's timeouts: these settings over its defaults.
    pub fn timeouts(&self) -> portcullis_registry::Timeouts {
        let d = portcullis_registry::Timeouts::default();
        portcullis_registry::Timeouts {
            response_header: self
                .response_header_seconds
                .map_or(d.response_header, std::time::Duration::from_secs),
            idle_read: self
                .idle_read_seconds
                .map_or(d.idle_read, std::time::Duration::from_secs),
        }
    }
}

impl RetrySettings {
    /// The client's policy: these settings over its defaults.
    pub fn policy(&self) -> portcullis_registry::RetryPolicy {
        let d = portcullis_registry::RetryPolicy::default();
        portcullis_registry::RetryPolicy {
            max_attempts: self.max_attempts.unwrap_or(d.max_attempts),
            initial_backoff: self
                .initial_backoff_ms
                .map_or(d.initial_backoff, std::time::Duration::from_millis),
            max_backoff: self
                .max_backoff_ms
                .map_or(d.max_backoff, std::time::Duration::from_millis),
            max_elapsed: self
                .max_elapsed_seconds
                .map_or(d.max_elapsed, std::time::Duration::from_secs),
        }
    }
}

/// Checks one registry's settings and reads its password from `password_env` (through
/// `env`) or `password_file` (relative to `base`).
pub(super) fn resolve(
    host: &str,
    reg: &mut RegistrySettings,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    host.parse::<RegistryHost>()
        .map_err(|e| ConfigError::Invalid(format!("registries.{host}: {e}")))?;
    if reg.max_concurrent_requests == Some(0) {
        return Err(ConfigError::Invalid(format!(
            "registries.{host}.max_concurrent_requests must be at least 1"
        )));
    }
    let timeouts = reg.timeouts.clone().unwrap_or_default();
    for (field, value) in [
        ("response_header_seconds", timeouts.response_header_seconds),
        ("idle_read_seconds", timeouts.idle_read_seconds),
    ] {
        if value == Some(0) {
            return Err(ConfigError::Invalid(format!(
                "registries.{host}.timeouts.{field} must be at least 1"
            )));
        }
    }
    for realm in &reg.token_realms {
        let ok = portcullis_registry::Url::parse(realm)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
        if !ok {
            return Err(ConfigError::Invalid(format!(
                "registries.{host}.token_realms: {realm:?} is not an http(s) URL"
            )));
        }
    }
    if reg.retry.as_ref().and_then(|r| r.max_attempts) == Some(0) {
        return Err(ConfigError::Invalid(format!(
            "registries.{host}.retry.max_attempts must be at least 1"
        )));
    }
    match (&reg.password_env, &reg.password_file) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::Invalid(format!(
                "registries.{host}: set password_env or password_file, not both"
            )));
        }
        (Some(var), None) => {
            let pw = env(var).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "registries.{host}.password_env: variable {var} is not set"
                ))
            })?;
            reg.password = Some(Secret(pw));
        }
        (None, Some(file)) => {
            let path = base.join(file);
            // The error names the file, never its content.
            let pw = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::Invalid(format!(
                    "registries.{host}.password_file: cannot read {}: {e}",
                    path.display()
                ))
            })?;
            let pw = pw.trim_end_matches(['\n', '\r']).to_owned();
            if pw.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "registries.{host}.password_file: {} is empty",
                    path.display()
                )));
            }
            reg.password = Some(Secret(pw));
        }
        (None, None) => {}
    }
    Ok(())
}
