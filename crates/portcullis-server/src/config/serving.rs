//! How the server meets its clients and runs copies (`http:`, `auth_failures:`, `copy:`).

use serde::Deserialize;

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
    /// Whether a finished copy attaches the gate-signed promotion attestation to the
    /// production digest (a cosign `.att` layer and a Sigstore bundle referrer). Default on.
    #[serde(default = "default_attest")]
    pub attest: bool,
}

fn default_attest() -> bool {
    true
}

impl Default for CopySettings {
    fn default() -> Self {
        Self {
            blob_concurrency: default_blob_concurrency(),
            max_concurrent_jobs: default_max_concurrent_jobs(),
            job_deadline_seconds: default_job_deadline(),
            attest: default_attest(),
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

/// Approval rules beyond the policy's requirement (`approvals:`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSettings {
    /// Refuse votes from holders of the `admin` role: those who manage credentials are not
    /// those who approve (403 `admin_barred`).
    #[serde(default)]
    pub bar_admins: bool,
    /// Hours a promotion may wait in `pending_approval` before it expires (default 168, a
    /// week; 0 never expires).
    #[serde(default = "default_pending_expiry_hours")]
    pub pending_expiry_hours: u64,
}

fn default_pending_expiry_hours() -> u64 {
    168
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        Self {
            bar_admins: false,
            pending_expiry_hours: default_pending_expiry_hours(),
        }
    }
}

/// Tokens minted through the API (`tokens:`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// The longest life of a token minted with `POST /v1/tokens` (default 24).
    #[serde(default = "default_token_hours")]
    pub max_ttl_hours: u64,
}

fn default_token_hours() -> u64 {
    24
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            max_ttl_hours: default_token_hours(),
        }
    }
}

/// Waivers (`waivers:`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaiverSettings {
    /// The furthest a waiver's `expires_at` may lie from its creation, in days (default 90,
    /// between 1 and 3650).
    #[serde(default = "default_waiver_days")]
    pub max_days: u32,
}

fn default_waiver_days() -> u32 {
    90
}

impl Default for WaiverSettings {
    fn default() -> Self {
        Self {
            max_days: default_waiver_days(),
        }
    }
}

/// Bearer-token identity beyond the static tokens (`auth:`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Trusted OIDC issuers whose JWTs authenticate people and CI.
    #[serde(default)]
    pub oidc: Vec<crate::oidc::OidcIssuer>,
}
