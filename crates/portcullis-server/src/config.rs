//! Configuration: one YAML file (`--config` / `PORTCULLIS_CONFIG`) with environment
//! overrides for the deployment-specific values. Secrets are read from the environment at
//! load time and held in `Secret`, which never prints.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use portcullis_core::{ImageRef, RegistryHost, RepoPath};
use serde::Deserialize;

/// A value that must never be logged or shown.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// The secret value; call only where it is sent.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(****)")
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The YAML does not match the schema.
    #[error("config {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A value is present but wrong.
    #[error("config: {0}")]
    Invalid(String),
}

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

/// A promotion route: sources under `from` go to the same path under `to`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Route name used in requests.
    pub name: String,
    /// Source prefix, e.g. `127.0.0.1:5001/` or `staging.example.com/team/`.
    pub from: String,
    /// Destination prefix, e.g. `127.0.0.1:5002/`.
    pub to: String,
    /// Whether a promotion may move a destination tag that already points at another
    /// digest. Tags are immutable by default.
    #[serde(default)]
    pub allow_tag_overwrite: bool,
    /// Copy only these platforms (`os/arch[/variant]`) of a multi-platform index; the
    /// destination then gets a new index of just those, under its own digest.
    #[serde(default)]
    pub platforms: Option<Vec<String>>,
}

impl Route {
    /// The destination repository for `source`, or `None` if the source is outside this route.
    pub fn destination(&self, source: &ImageRef) -> Option<(RegistryHost, RepoPath)> {
        let name = source.repository_name();
        let rest = name.strip_prefix(&self.from)?;
        let dest = format!("{}{rest}", self.to);
        let (host, repo) = dest.split_once('/')?;
        Some((host.parse().ok()?, repo.parse().ok()?))
    }
}

/// A trusted cosign public key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustKey {
    /// The id policies see.
    pub id: String,
    /// PEM public key file, relative to the config file.
    pub public_key_file: PathBuf,
}

/// Trust settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trust {
    /// Trusted cosign public keys.
    #[serde(default)]
    pub keys: Vec<TrustKey>,
    /// How long verification results are reused.
    #[serde(default)]
    pub cache: TrustCache,
    /// Keyless (Fulcio certificate + Rekor bundle) signers, verified offline against local
    /// trust material; each identity id counts like a key id.
    #[serde(default)]
    pub keyless: Option<portcullis_evidence::KeylessConfig>,
}

/// The verification cache: results per (image, digest, trust configuration).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustCache {
    /// Seconds a verified result is reused (0 disables).
    #[serde(default = "default_cache_ttl")]
    pub ttl_seconds: u64,
    /// Seconds a negative result (unsigned, untrusted, fetch failed) is reused (0 disables).
    #[serde(default = "default_negative_ttl")]
    pub negative_ttl_seconds: u64,
    /// Most entries kept.
    #[serde(default = "default_cache_entries")]
    pub max_entries: usize,
}

impl Default for TrustCache {
    fn default() -> Self {
        Self {
            ttl_seconds: default_cache_ttl(),
            negative_ttl_seconds: default_negative_ttl(),
            max_entries: default_cache_entries(),
        }
    }
}

fn default_cache_ttl() -> u64 {
    300
}

fn default_negative_ttl() -> u64 {
    30
}

fn default_cache_entries() -> usize {
    4096
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Postgres URL; the database is created if missing.
    pub database_url: String,
    /// Directory of the policy bundle.
    pub policy_dir: PathBuf,
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Concurrent policy evaluations.
    #[serde(default = "default_eval_concurrency")]
    pub policy_concurrency: usize,
    /// Registries by `host:port`.
    #[serde(default)]
    pub registries: BTreeMap<String, RegistrySettings>,
    /// Promotion routes.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Trusted keys.
    #[serde(default)]
    pub trust: Trust,
    /// Copy engine settings.
    #[serde(default)]
    pub copy: CopySettings,
    /// The gate's own signing key.
    #[serde(default)]
    pub gate: GateSettings,
    /// Audit checkpoints.
    #[serde(default)]
    pub audit: AuditSettings,
    /// Database pool settings.
    #[serde(default)]
    pub database: DatabaseSettings,
    /// HTTP server limits.
    #[serde(default)]
    pub http: HttpSettings,
    /// How refused requests are counted, rate-limited and kept.
    #[serde(default)]
    pub auth_failures: AuthFailureSettings,
    /// How much evidence one request may bring.
    #[serde(default)]
    pub limits: LimitSettings,
}

/// How much evidence one request may bring (`limits:`); counted over all the request's
/// documents and its digest's verified attestations. Past a bound the request is refused
/// with 422 `evidence_too_large` and nothing is written.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Vulnerability findings (default 50,000).
    pub max_findings: usize,
    /// SBOM components (default 50,000).
    pub max_components: usize,
    /// VEX statements (default 50,000).
    pub max_vex_statements: usize,
    /// Referrer manifests of a digest read for attestations; a digest with more is denied
    /// without reading any (default 256).
    pub max_referrers: usize,
}

impl Default for LimitSettings {
    fn default() -> Self {
        let d = portcullis_evidence::Limits::default();
        Self {
            max_findings: d.max_findings,
            max_components: d.max_components,
            max_vex_statements: d.max_vex_statements,
            max_referrers: d.max_referrers,
        }
    }
}

impl LimitSettings {
    /// The bounds the evidence crate checks.
    pub fn limits(&self) -> portcullis_evidence::Limits {
        portcullis_evidence::Limits {
            max_findings: self.max_findings,
            max_components: self.max_components,
            max_vex_statements: self.max_vex_statements,
            max_referrers: self.max_referrers,
        }
    }
}

/// The gate's own key (`gate:`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSettings {
    /// PKCS#8 PEM private key (ECDSA P-256 or Ed25519); `portcullis keys generate` writes one.
    pub signing_key_file: Option<PathBuf>,
    /// Public keys (PEM) of retired gate keys, so records they signed still verify.
    #[serde(default)]
    pub retired_public_keys: Vec<PathBuf>,
    /// `serve --dev-ephemeral-key`: a throwaway key made at start (demos and tests); every
    /// check still runs, but nothing signed outlives the process. Not settable from YAML.
    #[serde(skip)]
    pub dev_ephemeral_key: bool,
}

/// Audit checkpoints (`audit:`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Directory of the witness file (`checkpoints.jsonl`); keep it outside the database's
    /// reach (another volume, or shipped off the host).
    pub checkpoint_dir: Option<PathBuf>,
    /// Longest time between checkpoints while events arrive.
    #[serde(default = "default_checkpoint_interval")]
    pub checkpoint_interval_seconds: u64,
    /// Most events between checkpoints.
    #[serde(default = "default_checkpoint_events")]
    pub checkpoint_every_events: i64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            checkpoint_dir: None,
            checkpoint_interval_seconds: default_checkpoint_interval(),
            checkpoint_every_events: default_checkpoint_events(),
        }
    }
}

fn default_checkpoint_interval() -> u64 {
    10
}

fn default_checkpoint_events() -> i64 {
    100
}

/// Database pool settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Longest wait for a pooled connection before a call answers 503
    /// `database_unavailable` (default 3000).
    #[serde(default = "default_acquire_timeout_ms")]
    pub acquire_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            acquire_timeout_ms: default_acquire_timeout_ms(),
        }
    }
}

fn default_acquire_timeout_ms() -> u64 {
    3000
}

/// HTTP server limits against slow and numerous clients.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Longest an API request may take before it is answered 503 `deadline_exceeded`
    /// (default 30; health endpoints are exempt).
    #[serde(default = "default_request_timeout")]
    pub request_timeout_seconds: u64,
    /// A connection that has not sent a whole request head this long after it opened (or
    /// after its previous response) is closed (default 10).
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_seconds: u64,
    /// A request body not fully received this long after its head is refused (default 60).
    #[serde(default = "default_body_read_timeout")]
    pub body_read_timeout_seconds: u64,
    /// Connections served at once; more wait in the listen backlog (default 1024).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            request_timeout_seconds: default_request_timeout(),
            header_read_timeout_seconds: default_header_read_timeout(),
            body_read_timeout_seconds: default_body_read_timeout(),
            max_connections: default_max_connections(),
        }
    }
}

fn default_request_timeout() -> u64 {
    30
}

fn default_header_read_timeout() -> u64 {
    10
}

fn default_body_read_timeout() -> u64 {
    60
}

fn default_max_connections() -> usize {
    1024
}

/// Refused requests (401/403) are kept out of the audit chain: counted per client (peer IP)
/// per minute in a prunable table, with a few truncated samples, and rate-limited.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFailureSettings {
    /// Refusals a client may cause in a minute; beyond it every request from that client
    /// answers 429 with `Retry-After` until the minute ends (default 60).
    #[serde(default = "default_auth_failures_per_minute")]
    pub max_per_minute: u32,
    /// How often the per-minute counts are written, in milliseconds (default 5000).
    #[serde(default = "default_auth_failures_flush_ms")]
    pub flush_interval_ms: u64,
    /// Days the per-minute rows are kept (default 30).
    #[serde(default = "default_auth_failures_retention")]
    pub retention_days: u32,
}

impl Default for AuthFailureSettings {
    fn default() -> Self {
        Self {
            max_per_minute: default_auth_failures_per_minute(),
            flush_interval_ms: default_auth_failures_flush_ms(),
            retention_days: default_auth_failures_retention(),
        }
    }
}

fn default_auth_failures_per_minute() -> u32 {
    60
}

fn default_auth_failures_flush_ms() -> u64 {
    5000
}

fn default_auth_failures_retention() -> u32 {
    30
}

/// Copy engine settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopySettings {
    /// Blobs in flight at once per copy (per-registry request limits apply on top).
    #[serde(default = "default_blob_concurrency")]
    pub blob_concurrency: usize,
    /// Copy jobs run at once by one replica; a hung job never holds up the others.
    #[serde(default = "default_max_concurrent_jobs")]
    pub max_concurrent_jobs: usize,
    /// Longest a copy job may take, its retries included; must exceed every registry's
    /// `retry.max_elapsed_seconds`. A job past it fails with `registry_timeout`.
    #[serde(default = "default_job_deadline")]
    pub job_deadline_seconds: u64,
}

impl Default for CopySettings {
    fn default() -> Self {
        Self {
            blob_concurrency: default_blob_concurrency(),
            max_concurrent_jobs: default_max_concurrent_jobs(),
            job_deadline_seconds: default_job_deadline(),
        }
    }
}

fn default_max_concurrent_jobs() -> usize {
    4
}

fn default_job_deadline() -> u64 {
    600
}

fn default_blob_concurrency() -> usize {
    4
}

fn default_max_body() -> usize {
    16 * 1024 * 1024
}

fn default_eval_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl Config {
    /// Loads `path`, applies `PORTCULLIS_*` overrides, resolves relative paths against the
    /// file's directory, reads registry passwords from their env vars and validates.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml(&text, path.parent().unwrap_or(Path::new(".")), &|k| {
            std::env::var(k).ok()
        })
        .map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            other => other,
        })
    }

    /// Parses YAML text; `base` resolves relative paths, `env` reads variables.
    pub fn from_yaml(
        text: &str,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut cfg: Config = serde_norway::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        if let Some(v) = env("PORTCULLIS_LISTEN") {
            cfg.listen = v
                .parse()
                .map_err(|e| ConfigError::Invalid(format!("PORTCULLIS_LISTEN: {e}")))?;
        }
        if let Some(v) = env("PORTCULLIS_DATABASE_URL") {
            cfg.database_url = v;
        }
        if let Some(v) = env("PORTCULLIS_POLICY_DIR") {
            cfg.policy_dir = PathBuf::from(v);
        }
        if cfg.policy_dir.is_relative() {
            cfg.policy_dir = base.join(&cfg.policy_dir);
        }
        for path in cfg
            .gate
            .signing_key_file
            .iter_mut()
            .chain(cfg.gate.retired_public_keys.iter_mut())
            .chain(cfg.audit.checkpoint_dir.iter_mut())
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
        for key in &mut cfg.trust.keys {
            if key.public_key_file.is_relative() {
                key.public_key_file = base.join(&key.public_key_file);
            }
        }
        if let Some(keyless) = &mut cfg.trust.keyless {
            for path in [&mut keyless.trust_root, &mut keyless.rekor_public_key] {
                if path.is_relative() {
                    *path = base.join(&*path);
                }
            }
        }
        for (host, reg) in &mut cfg.registries {
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
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::BTreeSet::new();
        for r in &self.routes {
            // Route names reach the audit log with every promotion.
            if r.name.is_empty()
                || portcullis_core::check_text(&r.name, portcullis_core::TextKind::Line).is_err()
            {
                return Err(ConfigError::Invalid(format!(
                    "routes: route name {:?} must be non-empty printable text",
                    r.name
                )));
            }
            if !names.insert(&r.name) {
                return Err(ConfigError::Invalid(format!(
                    "routes: duplicate route name {:?}",
                    r.name
                )));
            }
            for (field, prefix) in [("from", &r.from), ("to", &r.to)] {
                let host = prefix.split('/').next().unwrap_or_default();
                // A trailing '/' keeps prefixes on path-segment boundaries: `host/team/`
                // must not also match `host/teamevil/app`.
                if !prefix.contains('/')
                    || !prefix.ends_with('/')
                    || host.parse::<RegistryHost>().is_err()
                {
                    return Err(ConfigError::Invalid(format!(
                        "routes.{}.{field}: {prefix:?} must be host[:port]/ followed by whole path segments, ending in /",
                        r.name
                    )));
                }
            }
            if let Some(platforms) = &r.platforms {
                let valid = |p: &&String| {
                    let parts: Vec<&str> = p.split('/').collect();
                    (2..=3).contains(&parts.len()) && parts.iter().all(|s| !s.is_empty())
                };
                if platforms.is_empty() || !platforms.iter().all(|p| valid(&p)) {
                    return Err(ConfigError::Invalid(format!(
                        "routes.{}.platforms: expected a non-empty list of os/arch[/variant], got {platforms:?}",
                        r.name
                    )));
                }
            }
        }
        if self.audit.checkpoint_interval_seconds == 0 || self.audit.checkpoint_every_events < 1 {
            return Err(ConfigError::Invalid(
                "audit.checkpoint_interval_seconds and audit.checkpoint_every_events must be at least 1".into(),
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "max_body_bytes must be at least 1024".into(),
            ));
        }
        if !(1..=64).contains(&self.copy.blob_concurrency) {
            return Err(ConfigError::Invalid(
                "copy.blob_concurrency must be between 1 and 64".into(),
            ));
        }
        self.validate_limits()?;
        if !(1..=64).contains(&self.copy.max_concurrent_jobs) {
            return Err(ConfigError::Invalid(
                "copy.max_concurrent_jobs must be between 1 and 64".into(),
            ));
        }
        // A job must outlive the retries it is meant to sit out (unconfigured registries
        // use the default policy).
        let default_retry = RetrySettings::default().policy().max_elapsed;
        let longest_retry = self
            .registries
            .values()
            .map(|r| r.retry.clone().unwrap_or_default().policy().max_elapsed)
            .chain([default_retry])
            .max()
            .unwrap_or(default_retry);
        if std::time::Duration::from_secs(self.copy.job_deadline_seconds) <= longest_retry {
            return Err(ConfigError::Invalid(format!(
                "copy.job_deadline_seconds ({}) must exceed every registry's retry.max_elapsed_seconds ({})",
                self.copy.job_deadline_seconds,
                longest_retry.as_secs()
            )));
        }
        if self.policy_concurrency == 0 {
            return Err(ConfigError::Invalid(
                "policy_concurrency must be at least 1".into(),
            ));
        }
        let l = &self.limits;
        for (key, value) in [
            ("max_findings", l.max_findings),
            ("max_components", l.max_components),
            ("max_vex_statements", l.max_vex_statements),
            ("max_referrers", l.max_referrers),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid(format!(
                    "limits.{key} must be at least 1"
                )));
            }
        }
        if self.http.request_timeout_seconds == 0 {
            return Err(ConfigError::Invalid(
                "http.request_timeout_seconds must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

impl Config {
    fn validate_limits(&self) -> Result<(), ConfigError> {
        let checks = [
            (
                "database.acquire_timeout_ms must be between 100 and 60000",
                (100..=60_000).contains(&self.database.acquire_timeout_ms),
            ),
            (
                "http.header_read_timeout_seconds must be between 1 and 300",
                (1..=300).contains(&self.http.header_read_timeout_seconds),
            ),
            (
                "http.body_read_timeout_seconds must be between 1 and 3600",
                (1..=3600).contains(&self.http.body_read_timeout_seconds),
            ),
            (
                "http.max_connections must be between 1 and 65536",
                (1..=65_536).contains(&self.http.max_connections),
            ),
            (
                "auth_failures.max_per_minute must be at least 1",
                self.auth_failures.max_per_minute >= 1,
            ),
            (
                "auth_failures.flush_interval_ms must be between 10 and 60000",
                (10..=60_000).contains(&self.auth_failures.flush_interval_ms),
            ),
            (
                "auth_failures.retention_days must be at least 1",
                self.auth_failures.retention_days >= 1,
            ),
        ];
        match checks.iter().find(|(_, ok)| !ok) {
            Some((message, _)) => Err(ConfigError::Invalid((*message).to_owned())),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
listen: 127.0.0.1:8080
database_url: postgres://postgres@127.0.0.1:5432/portcullis
policy_dir: policies
registries:
  "127.0.0.1:5001": { insecure: true }
  "registry.example.com": { username: bot, password_env: REG_PW }
routes:
  - { name: prod, from: "127.0.0.1:5001/", to: "127.0.0.1:5002/mirror/" }
trust:
  keys: [{ id: release, public_key_file: keys/cosign.pub }]
"#;

    #[test]
    fn loads_overrides_and_resolves_paths() {
        let env = |k: &str| match k {
            "REG_PW" => Some("s3cret".to_owned()),
            "PORTCULLIS_DATABASE_URL" => Some("postgres://other/db".to_owned()),
            _ => None,
        };
        let cfg = Config::from_yaml(YAML, Path::new("/etc/p"), &env).unwrap();
        assert_eq!(cfg.database_url, "postgres://other/db");
        assert_eq!(cfg.policy_dir, PathBuf::from("/etc/p/policies"));
        assert_eq!(
            cfg.trust.keys[0].public_key_file,
            PathBuf::from("/etc/p/keys/cosign.pub")
        );
        let reg = &cfg.registries["registry.example.com"];
        assert_eq!(reg.password.as_ref().map(Secret::expose), Some("s3cret"));
        assert!(
            !format!("{cfg:?}").contains("s3cret"),
            "secrets must not print"
        );
        let src: ImageRef = format!("127.0.0.1:5001/team/app@sha256:{}", "a".repeat(64))
            .parse()
            .unwrap();
        let (host, repo) = cfg.routes[0].destination(&src).unwrap();
        assert_eq!(
            (host.as_str(), repo.as_str()),
            ("127.0.0.1:5002", "mirror/team/app")
        );
        let other: ImageRef = "127.0.0.1:5009/team/app:v1".parse().unwrap();
        assert!(cfg.routes[0].destination(&other).is_none());
    }

    #[test]
    fn the_example_configs_in_the_repo_parse() {
        let none = |_: &str| None;
        for text in [
            include_str!("../../../config/portcullis.example.yaml"),
            include_str!("../../../config/compose.yaml"),
        ] {
            let cfg = Config::from_yaml(text, Path::new("/etc/portcullis"), &none).unwrap();
            assert_eq!(cfg.routes[0].name, "staging-to-prod");
            assert_eq!(cfg.trust.keys[0].id, "release-key");
        }
    }

    #[test]
    fn keyless_and_cache_settings_parse_with_paths_resolved() {
        let none = |k: &str| (k == "REG_PW").then(|| "pw".to_owned());
        let yaml = YAML.replace(
            "trust:\n",
            "trust:\n  cache: { ttl_seconds: 0 }\n  keyless:\n    trust_root: keys/fulcio.pem\n    rekor_public_key: /etc/rekor.pub\n    identities: [{ id: wf, issuer: https://issuer.example, subject: ci@example.com }]\n",
        );
        let cfg = Config::from_yaml(&yaml, Path::new("/etc/portcullis"), &none).unwrap();
        assert_eq!(cfg.trust.cache.ttl_seconds, 0);
        assert_eq!(
            cfg.trust.cache.negative_ttl_seconds, 30,
            "defaults fill the rest"
        );
        let keyless = cfg.trust.keyless.unwrap();
        assert_eq!(
            keyless.trust_root,
            Path::new("/etc/portcullis/keys/fulcio.pem")
        );
        assert_eq!(keyless.rekor_public_key, Path::new("/etc/rekor.pub"));
        assert_eq!(keyless.identities[0].id, "wf");
        let typo = YAML.replace(
            "trust:\n",
            "trust:\n  keyless: { trust_root: a, rekor_key: b, identities: [] }\n",
        );
        let err = Config::from_yaml(&typo, Path::new("."), &none)
            .unwrap_err()
            .to_string();
        assert!(err.contains("rekor_key"), "{err}");
    }

    #[test]
    fn passwords_come_from_a_file_and_routes_take_copy_options() {
        let dir = std::env::temp_dir().join(format!("portcullis-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("reg.pw"), "from-file\n").unwrap();
        let none = |_: &str| None;
        let yaml = YAML
            .replace("password_env: REG_PW", "password_file: reg.pw")
            .replace(
                r#"to: "127.0.0.1:5002/mirror/" }"#,
                r#"to: "127.0.0.1:5002/mirror/", allow_tag_overwrite: true, platforms: [linux/amd64, linux/arm64/v8] }"#,
            );
        let cfg = Config::from_yaml(&yaml, &dir, &none).unwrap();
        let reg = &cfg.registries["registry.example.com"];
        assert_eq!(reg.password.as_ref().unwrap().expose(), "from-file");
        assert!(
            !format!("{cfg:?}").contains("from-file"),
            "secrets never print"
        );
        assert!(cfg.routes[0].allow_tag_overwrite);
        assert_eq!(cfg.routes[0].platforms.as_ref().unwrap().len(), 2);

        let both = YAML.replace(
            "password_env: REG_PW",
            "password_env: REG_PW, password_file: reg.pw",
        );
        let env = |k: &str| (k == "REG_PW").then(|| "x".to_owned());
        let err = Config::from_yaml(&both, &dir, &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not both"), "{err}");
        let missing = YAML.replace("password_env: REG_PW", "password_file: nope.pw");
        let err = Config::from_yaml(&missing, &dir, &none)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("password_file") && err.contains("nope.pw"),
            "{err}"
        );
        let bad = YAML.replace(
            r#"to: "127.0.0.1:5002/mirror/" }"#,
            r#"to: "127.0.0.1:5002/mirror/", platforms: [linux] }"#,
        );
        let err = Config::from_yaml(&bad, &dir, &env).unwrap_err().to_string();
        assert!(err.contains("routes.prod.platforms"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn timeouts_token_realms_and_job_limits_are_read_and_checked() {
        let env = |k: &str| (k == "REG_PW").then(|| "x".to_owned());
        let yaml = YAML.replace(
            "password_env: REG_PW }",
            "password_env: REG_PW, timeouts: { response_header_seconds: 5 }, token_realms: [\"https://auth.example/token\"] }",
        );
        let yaml = format!("{yaml}copy: {{ max_concurrent_jobs: 2, job_deadline_seconds: 300 }}\n");
        let cfg = Config::from_yaml(&yaml, Path::new("."), &env).unwrap();
        let reg = &cfg.registries["registry.example.com"];
        let t = reg.timeouts.clone().unwrap_or_default().timeouts();
        assert_eq!(t.response_header, std::time::Duration::from_secs(5));
        assert_eq!(t.idle_read, std::time::Duration::from_secs(30));
        assert_eq!(reg.token_realms, ["https://auth.example/token"]);
        assert_eq!(cfg.copy.max_concurrent_jobs, 2);
        let defaults = Config::from_yaml(YAML, Path::new("."), &env).unwrap();
        assert_eq!(defaults.copy.max_concurrent_jobs, 4);
        assert_eq!(defaults.copy.job_deadline_seconds, 600);

        let short = format!("{YAML}copy: {{ job_deadline_seconds: 120 }}\n");
        let err = Config::from_yaml(&short, Path::new("."), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("copy.job_deadline_seconds"), "{err}");
        let long_retry = YAML.replace(
            "password_env: REG_PW }",
            "password_env: REG_PW, retry: { max_elapsed_seconds: 900 } }",
        );
        let err = Config::from_yaml(&long_retry, Path::new("."), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_elapsed_seconds (900)"), "{err}");
        for (bad, field) in [
            (
                "timeouts: { idle_read_seconds: 0 }",
                "timeouts.idle_read_seconds",
            ),
            ("token_realms: [\"ftp://x/t\"]", "token_realms"),
        ] {
            let yaml = YAML.replace(
                "password_env: REG_PW }",
                &format!("password_env: REG_PW, {bad} }}"),
            );
            let err = Config::from_yaml(&yaml, Path::new("."), &env)
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{err}");
        }
        let zero = format!("{YAML}copy: {{ max_concurrent_jobs: 0 }}\n");
        let err = Config::from_yaml(&zero, Path::new("."), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("copy.max_concurrent_jobs"), "{err}");
    }

    #[test]
    fn rejects_bad_config_with_the_field_named() {
        let none = |_: &str| None;
        let err = Config::from_yaml(YAML, Path::new("."), &none)
            .unwrap_err()
            .to_string();
        assert!(err.contains("REG_PW"), "{err}");
        let err = Config::from_yaml("listen: 1\n", Path::new("."), &none)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid"), "{err}");
        let bad_route = YAML.replace("from: \"127.0.0.1:5001/\"", "from: \"nohost\"");
        let env = |k: &str| (k == "REG_PW").then(|| "x".to_owned());
        let err = Config::from_yaml(&bad_route, Path::new("."), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("routes.prod.from"), "{err}");
        let no_slash = YAML.replace(
            "to: \"127.0.0.1:5002/mirror/\"",
            "to: \"127.0.0.1:5002/mirror\"",
        );
        let err = Config::from_yaml(&no_slash, Path::new("."), &env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("routes.prod.to") && err.contains("ending in /"),
            "{err}"
        );
        let zero = format!("{YAML}\nlimits: {{ max_referrers: 0 }}\n");
        let err = Config::from_yaml(&zero, Path::new("."), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("limits.max_referrers"), "{err}");
        let zero = format!("{YAML}\nhttp: {{ request_timeout_seconds: 0 }}\n");
        let err = Config::from_yaml(&zero, Path::new("."), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("http.request_timeout_seconds"), "{err}");
        let unknown = format!("{YAML}\nbogus: 1\n");
        let err = Config::from_yaml(&unknown, Path::new("."), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bogus"), "{err}");
    }
}
