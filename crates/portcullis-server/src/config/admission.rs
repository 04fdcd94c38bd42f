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

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::Config;
    use super::*;

    const BASE: &str = "listen: 127.0.0.1:0\ndatabase_url: postgres://x/y\npolicy_dir: p\n";

    fn load(extra: &str) -> Result<Config, ConfigError> {
        Config::from_yaml(&format!("{BASE}{extra}"), Path::new("/etc/p"), &|_| None)
    }

    #[test]
    fn modes_and_tls_files_are_read_with_paths_resolved() {
        let cfg = load(
            "admission: { default_mode: warn, namespaces: { legacy-batch: off, shop: enforce } }\n\
             tls: { cert_file: tls/tls.crt, key_file: /abs/tls.key }\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.admission.default_mode, AdmissionMode::Warn);
        assert_eq!(cfg.admission.namespaces["legacy-batch"], AdmissionMode::Off);
        assert_eq!(cfg.admission.namespaces["shop"], AdmissionMode::Enforce);
        let tls = cfg.tls.unwrap_or_else(|| panic!("tls"));
        assert_eq!(tls.cert_file, PathBuf::from("/etc/p/tls/tls.crt"));
        assert_eq!(tls.key_file, PathBuf::from("/abs/tls.key"));
        let default = load("").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(default.admission.default_mode, AdmissionMode::Enforce);
        assert!(default.tls.is_none());
    }

    #[test]
    fn unknown_modes_and_bad_namespace_names_are_refused_at_load() {
        for (extra, says) in [
            (
                "admission: { default_mode: audit }",
                "unknown variant `audit`",
            ),
            (
                "admission: { namespaces: { Shop: warn } }",
                "\"Shop\" is not a Kubernetes namespace name",
            ),
            (
                "admission: { namespaces: { shop: maybe } }",
                "unknown variant `maybe`",
            ),
            ("tls: { cert_file: a.crt }", "missing field `key_file`"),
        ] {
            let err = load(extra).err().unwrap_or_else(|| panic!("{extra} loads"));
            assert!(err.to_string().contains(says), "{extra}: {err}");
        }
    }
}
