//! Evidence limits, the gate key, audit checkpoints and the database pool (`limits:`,
//! `gate:`, `audit:`, `database:`).

use std::path::PathBuf;

use serde::Deserialize;

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

/// CI-supplied evidence handling (`evidence:`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvidenceSettings {
    /// Bound on the per-document input cache: each CI-supplied document's part of the
    /// policy input (parsed items, engine values, JSON text), kept by the SHA-256 of the
    /// document's text, least recently used first out, by estimated size (default 64 MiB;
    /// 0 disables).
    pub input_cache_max_bytes: usize,
}

impl Default for EvidenceSettings {
    fn default() -> Self {
        Self {
            input_cache_max_bytes: 64 * 1024 * 1024,
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
    /// Connections kept open even when idle (default 8, at most 16; the two listening
    /// connections count), so the first copy job or vote after a quiet spell, or a burst of
    /// polls during one, does not wait for new connections.
    #[serde(default = "default_min_connections")]
    pub min_connections: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            acquire_timeout_ms: default_acquire_timeout_ms(),
            min_connections: default_min_connections(),
        }
    }
}

fn default_acquire_timeout_ms() -> u64 {
    3000
}

fn default_min_connections() -> u32 {
    portcullis_store::MAX_CONNECTIONS
}
