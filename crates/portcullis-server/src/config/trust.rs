//! Trust settings (`trust:`): the cosign keys, keyless signers and the verification cache.

use std::path::PathBuf;

use serde::Deserialize;

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
