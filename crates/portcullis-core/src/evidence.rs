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
        /// The report format; serialises as `trivy-json` and so on.
        format: crate::EvidenceFormat,
    },
    /// Taken from an attestation whose DSSE signature verified with trusted keys (or keyless
    /// identities) and whose in-toto subject names the promoted digest.
    SignedAttestation {
        /// Every trusted key or keyless identity id that verified the envelope, sorted.
        key_ids: Vec<String>,
        /// The in-toto predicate type of the statement.
        predicate_type: String,
    },
}

impl EvidenceOrigin {
    /// A CI-supplied origin for `format`.
    pub fn ci(format: crate::EvidenceFormat) -> Self {
        Self::CiSupplied { format }
    }
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
    /// Package URL of the affected package, when the scanner gives one.
    #[serde(default)]
    pub purl: Option<String>,
    /// Other ids of the same vulnerability (GHSA for a CVE and so on), sorted, unique.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// A vulnerability report, normalised, with its origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VulnerabilityReport {
    /// Where the report came from.
    pub origin: EvidenceOrigin,
    /// The scanner that produced it (`trivy`, `grype`, `cyclonedx`…).
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
    /// The keyless signers (Fulcio certificate identities) of the verified signatures, in
    /// the order found; empty for key-based signatures.
    #[serde(default)]
    pub signers: Vec<Signer>,
    /// Every signature found, where, and how it verified or why it did not.
    #[serde(default)]
    pub items: Vec<SignatureItem>,
}

/// One signature found on a digest (a `.sig` layer or a Sigstore bundle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureItem {
    /// Where it was found, e.g. `sha256-….sig layer 0` or `referrer sha256:… (bundle v0.3)`.
    pub location: String,
    /// The trusted key or identity ids that verified it; empty when it did not verify.
    pub verified_ids: Vec<String>,
    /// The keyless signer, when a certificate-based signature verified.
    pub signer: Option<Signer>,
    /// Why it did not verify.
    pub rejected: Option<String>,
}

impl SignatureItem {
    /// A signature found at `location` that did not verify, for `reason`.
    pub fn rejected(location: String, reason: String) -> Self {
        Self {
            location,
            verified_ids: Vec::new(),
            signer: None,
            rejected: Some(reason),
        }
    }
}

/// Who signed, as a Fulcio certificate says it: the OIDC issuer and subject, and the build
/// facts Fulcio copies from a CI token (OIDs 1.3.6.1.4.1.57264.1.x).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Signer {
    /// The OIDC issuer (extension 1.8, else the legacy 1.1); none on certificates from 2021.
    pub issuer: Option<String>,
    /// The subject: the certificate's email, URI or otherName SAN.
    pub subject: String,
    /// The source repository URI (1.12, else `https://github.com/` + legacy 1.5).
    pub source_repository_uri: Option<String>,
    /// The source ref, e.g. `refs/tags/v1.2.3` (1.14, else legacy 1.6).
    pub source_repository_ref: Option<String>,
    /// The source commit digest (1.13, else legacy 1.3).
    pub source_repository_digest: Option<String>,
    /// The build configuration, e.g. the workflow file at its ref (1.18).
    pub build_config_uri: Option<String>,
    /// The run that built it (1.21).
    pub run_invocation_uri: Option<String>,
}

/// An attestation that verified: where it was, what it attests and who signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedAttestation {
    /// Where it was found.
    pub location: String,
    /// The in-toto predicate type of the statement.
    pub predicate_type: String,
    /// The trusted key or identity ids that verified it.
    pub key_ids: Vec<String>,
    /// The keyless signer, for certificate-based attestations.
    pub signer: Option<Signer>,
}

/// The licence information of one component, parsed as an SPDX licence expression.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Licence {
    /// The licence text as the document gave it (several CycloneDX entries joined with ` AND `).
    pub declared: String,
    /// The normalised SPDX expression, when every part could be parsed or mapped.
    pub expression: Option<String>,
    /// Every licence term in the expression, sorted, unique: an SPDX id (`MIT`), an id with
    /// an exception (`GPL-2.0-only WITH Classpath-exception-2.0`) or a `LicenseRef-…`.
    pub terms: Vec<String>,
    /// The expression in disjunctive normal form: each inner list is one way to comply and
    /// holds the terms that are all required together. `MIT OR Apache-2.0` is
    /// `[["Apache-2.0"], ["MIT"]]`. Empty when the expression did not parse.
    pub alternatives: Vec<Vec<String>>,
    /// Names that are not SPDX and could not be mapped unambiguously (e.g. `Custom`).
    pub unknown: Vec<String>,
}

/// One software component of an SBOM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    /// Component name.
    pub name: String,
    /// Version, when given.
    pub version: Option<String>,
    /// Package URL, when given.
    pub purl: Option<String>,
    /// Licence, when the SBOM states one (`None` for absent, `NOASSERTION` or `NONE`).
    pub licence: Option<Licence>,
}

/// A software bill of materials, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sbom {
    /// Where it came from.
    pub origin: EvidenceOrigin,
    /// `cyclonedx` or `spdx`.
    pub format: String,
    /// The spec version the document declares (`1.4`, `SPDX-2.3`).
    pub spec_version: String,
    /// Manifest digests the SBOM says it describes; empty when it does not say.
    pub subject_digests: Vec<crate::Digest>,
    /// The components.
    pub components: Vec<Component>,
}

/// The status of a VEX statement (OpenVEX).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VexStatus {
    /// The product is not affected by the vulnerability.
    NotAffected,
    /// The product is affected.
    Affected,
    /// The vulnerability is fixed in the product.
    Fixed,
    /// Not yet known.
    UnderInvestigation,
}

impl VexStatus {
    /// Whether a statement with this status suppresses the finding.
    pub fn suppresses(self) -> bool {
        matches!(self, Self::NotAffected | Self::Fixed)
    }
}

/// A product a VEX statement is about, with the subcomponents it narrows to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VexProduct {
    /// The product identifier: a purl (`pkg:oci/app@sha256:…`, `pkg:apk/alpine/openssl`) or
    /// another IRI.
    pub id: String,
    /// Subcomponent identifiers (purls); empty means the whole product.
    #[serde(default)]
    pub subcomponents: Vec<String>,
}

/// One VEX statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VexStatement {
    /// Where it came from.
    pub origin: EvidenceOrigin,
    /// The vulnerability id the statement is about (`CVE-…`).
    pub vulnerability: String,
    /// Other ids of the same vulnerability.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The products it covers.
    pub products: Vec<VexProduct>,
    /// The status.
    pub status: VexStatus,
    /// The justification (`vulnerable_code_not_present`…), for `not_affected`.
    pub justification: Option<String>,
    /// Free-text impact statement.
    pub impact_statement: Option<String>,
    /// RFC 3339 timestamp of the statement (or of its document).
    pub timestamp: Option<String>,
    /// The VEX document's `@id`.
    pub document_id: Option<String>,
}

/// SLSA build provenance, normalised across predicate versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Where it came from.
    pub origin: EvidenceOrigin,
    /// `https://slsa.dev/provenance/v0.2` or `https://slsa.dev/provenance/v1`.
    pub predicate_type: String,
    /// The builder id.
    pub builder_id: String,
    /// The build type.
    pub build_type: String,
    /// The source repository URI, when stated.
    pub source_repository: Option<String>,
    /// The source ref (branch or tag), when stated.
    pub source_ref: Option<String>,
    /// The source commit, when stated.
    pub source_commit: Option<String>,
    /// The statement's subject digests.
    pub subject_digests: Vec<crate::Digest>,
}

/// Evidence items parsed from reports and attestations; the parts of an `EvidenceSet` that
/// parsers produce.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EvidenceItems {
    /// Vulnerability reports.
    pub vulnerability_reports: Vec<VulnerabilityReport>,
    /// SBOMs.
    pub sboms: Vec<Sbom>,
    /// VEX statements.
    pub vex: Vec<VexStatement>,
    /// Build provenance.
    pub provenance: Vec<Provenance>,
}

impl EvidenceItems {
    /// Appends everything of `other`.
    pub fn extend(&mut self, other: Self) {
        self.vulnerability_reports
            .extend(other.vulnerability_reports);
        self.sboms.extend(other.sboms);
        self.vex.extend(other.vex);
        self.provenance.extend(other.provenance);
    }

    /// Whether nothing was parsed.
    pub fn is_empty(&self) -> bool {
        self.vulnerability_reports.is_empty()
            && self.sboms.is_empty()
            && self.vex.is_empty()
            && self.provenance.is_empty()
    }
}

/// An attestation that was found but did not reach the policy, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedAttestation {
    /// Where it was found (`sha256-….att` layer 0, referrer `sha256:…`).
    pub location: String,
    /// Why it was rejected (no trusted signature, subject mismatch, unknown predicate…).
    pub reason: String,
}

/// The outcome of looking for attestations on a digest.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AttestationEvidence {
    /// Envelopes found.
    pub found: usize,
    /// Envelopes whose signature and subject verified and whose predicate was parsed.
    pub verified: usize,
    /// Predicate types of the verified statements, sorted, unique.
    pub predicate_types: Vec<String>,
    /// Envelopes that were rejected, with the reason.
    pub rejected: Vec<RejectedAttestation>,
    /// Why the attestations could not be fetched, when they could not; fail closed.
    pub error: Option<String>,
    /// The attestations that verified.
    #[serde(default)]
    pub accepted: Vec<AcceptedAttestation>,
}

/// Everything gathered about one digest, as the policy will see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceSet {
    /// Signature verification outcome.
    pub signatures: SignatureEvidence,
    /// Attestation verification outcome.
    pub attestations: AttestationEvidence,
    /// Parsed items, CI-supplied and attested.
    pub items: EvidenceItems,
}
