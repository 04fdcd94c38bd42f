//! Kubernetes admission (`admission:`) and the HTTPS listener (`tls:`) the webhook needs:
//! the apiserver calls webhooks over HTTPS only.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;

/// What admission does in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AdmissionMode {
    /// Refuse workloads with an image the gate did not promote.
    #[default]
    Enforce,
    /// Allow them, with an AdmissionReview warning per image.
    Warn,
    /// Allow everything without looking.
    Off,
}

/// `admission: {default_mode, namespaces: {name: mode}}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionSettings {
    /// The mode of every namespace not listed (default `enforce`).
    #[serde(default)]
    pub default_mode: AdmissionMode,
    /// Modes of single namespaces.
    #[serde(default)]
    pub namespaces: BTreeMap<String, AdmissionMode>,
}

impl AdmissionSettings {
    /// Every namespace key is a Kubernetes namespace name (DNS-1123 label).
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for name in self.namespaces.keys() {
            let b = name.as_bytes();
            let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
            let ok = !b.is_empty()
                && b.len() <= 63
                && b.iter().all(|c| alnum(c) || *c == b'-')
                && b.first().is_some_and(alnum)
                && b.last().is_some_and(alnum);
            if !ok {
                return Err(ConfigError::Invalid(format!(
                    "admission.namespaces: {name:?} is not a Kubernetes namespace name"
                )));
            }
        }
        Ok(())
    }
}

/// `tls: {cert_file, key_file}`: serve HTTPS (every endpoint) with this PEM certificate
/// chain and private key. A file that does not load stops the start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}
