//! The keyless settings (`trust.keyless`) and the signer identities they accept.

use std::path::PathBuf;

use regex::Regex;
use serde::Deserialize;

use crate::{Error, Result};

/// Where the keyless trust material lives and which signer identities are accepted.
///
/// Either `trusted_root` (sigstore's `trusted_root.json`: Fulcio CAs, Rekor logs, CT logs and
/// TSAs, each with its validity window) or the loose PEM files `trust_root` +
/// `rekor_public_key` (+ `ctlog_public_key`), never both.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeylessConfig {
    /// sigstore's `trusted_root.json`.
    #[serde(default)]
    pub trusted_root: Option<PathBuf>,
    /// PEM file with one or more Fulcio CA certificates: self-signed ones are trust anchors,
    /// the others intermediates.
    #[serde(default)]
    pub trust_root: Option<PathBuf>,
    /// PEM file with one or more Rekor public keys.
    #[serde(default)]
    pub rekor_public_key: Option<PathBuf>,
    /// PEM file with one or more CT log public keys (loose-PEM configurations only).
    #[serde(default)]
    pub ctlog_public_key: Option<PathBuf>,
    /// Whether a certificate must carry an SCT from a trusted CT log, as cosign requires by
    /// default. Defaults to true, except for a loose-PEM configuration without
    /// `ctlog_public_key`, which has no CT log to check against (a warning says so at load).
    #[serde(default)]
    pub require_sct: Option<bool>,
    /// The accepted signer identities.
    pub identities: Vec<KeylessIdentity>,
}

/// One accepted signer: an OIDC issuer plus an email or URI subject.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeylessIdentity {
    /// What policies see in `verified_key_ids` when this identity signed.
    pub id: String,
    /// The OIDC issuer, compared exactly.
    pub issuer: String,
    /// The email or URI SAN, compared exactly.
    #[serde(default)]
    pub subject: Option<String>,
    /// A regular expression the whole email or URI SAN must match (it is anchored).
    #[serde(default)]
    pub subject_regex: Option<String>,
}

#[derive(Debug)]
enum SubjectMatcher {
    Exact(String),
    Regex(Regex),
}

#[derive(Debug)]
pub(super) struct Identity {
    pub(super) id: String,
    issuer: String,
    subject: SubjectMatcher,
}

impl Identity {
    pub(super) fn parse(raw: &KeylessIdentity) -> Result<Self> {
        let invalid =
            |reason: &str| Error::InvalidKeyless(format!("identity {:?}: {reason}", raw.id));
        if raw.id.trim().is_empty() {
            return Err(Error::InvalidKeyless("an identity has an empty id".into()));
        }
        if raw.issuer.trim().is_empty() {
            return Err(invalid("issuer is empty"));
        }
        let subject = match (&raw.subject, &raw.subject_regex) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "set exactly one of subject and subject_regex, not both",
                ));
            }
            (None, None) => return Err(invalid("set exactly one of subject and subject_regex")),
            (Some(exact), None) if exact.is_empty() => return Err(invalid("subject is empty")),
            (Some(exact), None) => SubjectMatcher::Exact(exact.clone()),
            (None, Some(pattern)) => {
                // Anchored: `.*@example.com` must not also accept `x@example.com.evil`.
                let anchored = format!("^(?:{pattern})$");
                let regex = Regex::new(&anchored)
                    .map_err(|e| invalid(&format!("subject_regex does not compile: {e}")))?;
                SubjectMatcher::Regex(regex)
            }
        };
        Ok(Self {
            id: raw.id.clone(),
            issuer: raw.issuer.clone(),
            subject,
        })
    }

    pub(super) fn matches(&self, issuer: Option<&str>, sans: &[String]) -> bool {
        issuer == Some(self.issuer.as_str())
            && sans.iter().any(|san| match &self.subject {
                SubjectMatcher::Exact(exact) => exact == san,
                SubjectMatcher::Regex(regex) => regex.is_match(san),
            })
    }
}
