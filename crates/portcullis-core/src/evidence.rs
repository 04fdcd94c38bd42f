//! The evidence model: what Portcullis knows about a digest, in one shape whatever tool
//! produced it. Every item records where it came from, so a policy can demand signed evidence.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Where a piece of evidence came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EvidenceOrigin {
    /// Supplied by the CI caller in the promotion request; not signed.
    CiSupplied {
        /// The report format, e.g. `trivy-json`.
        format: String,
    },
    /// Taken from an attestation whose signature verified with a trusted key.
    SignedAttestation {
        /// The trusted key id that verified it.
        key_id: String,
    },
}

/// Vulnerability severity, normalised across scanners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// Unknown or unrated.
    Unknown,
    /// Negligible / informational.
    Negligible,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl FromStr for Severity {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_uppercase().as_str() {
            "UNKNOWN" | "" => Ok(Self::Unknown),
            "NEGLIGIBLE" | "INFO" | "NONE" => Ok(Self::Negligible),
            "LOW" => Ok(Self::Low),
            "MEDIUM" | "MODERATE" => Ok(Self::Medium),
            "HIGH" | "IMPORTANT" => Ok(Self::High),
            "CRITICAL" => Ok(Self::Critical),
            _ => Err(Error::InvalidEnum {
                kind: "severity",
                value: s.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::Unknown => "UNKNOWN",
            Self::Negligible => "NEGLIGIBLE",
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
            Self::Critical => "CRITICAL",
        };
        f.write_str(s)
    }
}

/// One vulnerability finding for one package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vulnerability {
    /// CVE or advisory id.
    pub id: String,
    /// Normalised severity.
    pub severity: Severity,
    /// Affected package name.
    pub package: String,
    /// Installed version.
    pub installed_version: String,
    /// First fixed version, when known.
    pub fixed_version: Option<String>,
    /// Short title, when the scanner gives one.
    pub title: Option<String>,
}

/// A vulnerability report, normalised, with its origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VulnerabilityReport {
    /// Where the report came from.
    pub origin: EvidenceOrigin,
    /// The scanner that produced it (`trivy`).
    pub scanner: String,
    /// The artifact name the scanner saw, as it reported it.
    pub artifact_name: Option<String>,
    /// Manifest digests the report says it scanned (Trivy's `Metadata.RepoDigests`); empty
    /// when the scanner did not say, e.g. for a local tarball.
    pub subject_digests: Vec<crate::Digest>,
    /// The findings.
    pub vulnerabilities: Vec<Vulnerability>,
}

/// The outcome of looking for cosign signatures on a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureStatus {
    /// At least one signature verified with a trusted key.
    Verified,
    /// Signatures exist but none verified with a trusted key.
    Untrusted,
    /// No signature artifact exists for the digest.
    Unsigned,
    /// The signature artifact could not be fetched or read; fail closed.
    FetchFailed,
}

/// Verified signature facts: the policy sees key ids, never raw signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureEvidence {
    /// Overall status.
    pub status: SignatureStatus,
    /// Ids of the trusted keys that verified at least one signature, sorted, unique.
    pub verified_key_ids: Vec<String>,
    /// How many signature layers were found.
    pub signatures_found: usize,
    /// Why fetching failed, when it did.
    pub error: Option<String>,
}

/// Everything gathered about one digest, as the policy will see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceSet {
    /// Signature verification outcome.
    pub signatures: SignatureEvidence,
    /// Vulnerability reports.
    pub vulnerability_reports: Vec<VulnerabilityReport>,
}
