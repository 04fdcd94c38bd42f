//! Configuration: one YAML file (`--config` / `PORTCULLIS_CONFIG`) with environment
//! overrides for the deployment-specific values. Secrets are read from the environment at
//! load time and held in types that never print (`Secret`, `DatabaseUrl`). Values are parsed
//! into their domain types here, once (`PlatformSpec` of routes, registry hosts).
//!
//! One file per section: `registries`, `routes`, `trust`, `settings` (limits, gate, audit,
//! database), `serving` (http, auth_failures, copy), `admission` (admission, tls),
//! `simulation`, `webhooks` (webhooks, webhook_delivery, metrics), `ui` (the approver web
//! page); `validate` holds the
//! cross-field checks.

mod admission;
mod registries;
mod routes;
mod secret;
mod serving;
mod settings;
mod simulation;
mod trust;
mod ui;
mod validate;
mod webhooks;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use admission::{AdmissionMode, AdmissionSettings, TlsSettings};
pub use registries::{RegistrySettings, RetrySettings, TimeoutSettings};
pub use routes::Route;
pub use secret::{DatabaseUrl, Secret};
pub use serving::{
    ApprovalSettings, AuthFailureSettings, AuthSettings, CopySettings, HttpSettings, TokenSettings,
    WaiverSettings,
};
pub use settings::{
    AuditSettings, DatabaseSettings, EvidenceSettings, GateSettings, LimitSettings,
};
pub use simulation::SimulationSettings;
pub use trust::{Trust, TrustCache, TrustKey};
pub use ui::{UiOidcSettings, UiSettings, https_or_loopback};
pub use webhooks::{
    MetricsSettings, WEBHOOK_EVENTS, WebhookDelivery, WebhookFormat, WebhookSettings, read_secret,
};

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

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Postgres URL; the database is created if missing. Its password never prints.
    pub database_url: DatabaseUrl,
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
    /// Identity providers whose JWTs are accepted as bearer tokens (`auth.oidc[]`).
    #[serde(default)]
    pub auth: AuthSettings,
    /// Approval rules beyond the policy's requirement.
    #[serde(default)]
    pub approvals: ApprovalSettings,
    /// Tokens minted through the API.
    #[serde(default)]
    pub tokens: TokenSettings,
    /// Governed exceptions to the policy.
    #[serde(default)]
    pub waivers: WaiverSettings,
    /// How much evidence one request may bring.
    #[serde(default)]
    pub limits: LimitSettings,
    /// How CI-supplied evidence is cached.
    #[serde(default)]
    pub evidence: EvidenceSettings,
    /// Kubernetes admission: the mode per namespace.
    #[serde(default)]
    pub admission: AdmissionSettings,
    /// Serve HTTPS with this certificate and key (the admission webhook needs it).
    #[serde(default)]
    pub tls: Option<TlsSettings>,
    /// Webhook subscribers: CloudEvents of promotion changes, signed as Standard Webhooks.
    #[serde(default)]
    pub webhooks: Vec<WebhookSettings>,
    /// How webhook deliveries are timed and retried.
    #[serde(default)]
    pub webhook_delivery: WebhookDelivery,
    /// `GET /metrics` for Prometheus.
    #[serde(default)]
    pub metrics: MetricsSettings,
    /// Bounds on policy simulations.
    #[serde(default)]
    pub simulation: SimulationSettings,
    /// The approver web page (`/ui`).
    #[serde(default)]
    pub ui: UiSettings,
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
            cfg.database_url = DatabaseUrl::from(v);
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
            for path in [
                &mut keyless.trusted_root,
                &mut keyless.trust_root,
                &mut keyless.rekor_public_key,
                &mut keyless.ctlog_public_key,
            ]
            .into_iter()
            .flatten()
            {
                if path.is_relative() {
                    *path = base.join(&*path);
                }
            }
        }
        if let Some(tls) = &mut cfg.tls {
            for path in [&mut tls.cert_file, &mut tls.key_file] {
                if path.is_relative() {
                    *path = base.join(&*path);
                }
            }
        }
        for issuer in &mut cfg.auth.oidc {
            for path in [&mut issuer.jwks_file, &mut issuer.ca_file]
                .into_iter()
                .flatten()
            {
                if path.is_relative() {
                    *path = base.join(&*path);
                }
            }
        }
        for (host, reg) in &mut cfg.registries {
            registries::resolve(host, reg, base, env)?;
        }
        webhooks::resolve(&mut cfg.webhooks, base);
        ui::resolve(&mut cfg.ui, base);
        cfg.validate()?;
        Ok(cfg)
    }
}
