//! The per-item sections of the input document (`vulnerability_reports`, `vulnerabilities`,
//! `sboms`, `components`, `provenance`, `vex`); `entries.rs` builds them from the evidence.

use portcullis_core::{Digest, Licence, Severity, VexProduct, VexStatus};
use serde::Serialize;

use super::Origin;

/// `vulnerability_reports[]`.
#[derive(Debug, Serialize)]
pub struct ReportEntry<'a> {
    /// The artifact name the scanner saw.
    pub artifact_name: &'a Option<String>,
    /// Findings by severity.
    pub counts: Counts,
    /// Where the report came from.
    pub origin: Origin<'a>,
    /// The scanner.
    pub scanner: &'a str,
    /// Whether it came from a verified attestation.
    pub signed: bool,
    /// Digests the report says it scanned.
    pub subject_digests: &'a [Digest],
}

/// `vulnerability_reports[].counts`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    /// CRITICAL findings.
    pub critical: usize,
    /// HIGH findings.
    pub high: usize,
    /// LOW findings.
    pub low: usize,
    /// MEDIUM findings.
    pub medium: usize,
}

/// `vulnerabilities[]`.
#[derive(Debug, Serialize)]
pub struct Finding<'a> {
    /// Other ids of the vulnerability.
    pub aliases: &'a [String],
    /// First fixed version.
    pub fixed_version: &'a Option<String>,
    /// CVE or advisory id.
    pub id: &'a str,
    /// Installed version.
    pub installed_version: &'a str,
    /// Where the report came from.
    pub origin: Origin<'a>,
    /// Affected package.
    pub package: &'a str,
    /// Package URL.
    pub purl: &'a Option<String>,
    /// The scanner.
    pub scanner: &'a str,
    /// Normalised severity.
    pub severity: Severity,
    /// Whether the report came from a verified attestation.
    pub signed: bool,
    /// The VEX statement that suppresses it, if any.
    pub suppressed_by: Option<Suppressed<'a>>,
    /// Short title.
    pub title: &'a Option<String>,
}

/// `vulnerabilities[].suppressed_by`.
#[derive(Debug, Serialize)]
pub struct Suppressed<'a> {
    /// Free-text impact statement.
    pub impact_statement: &'a Option<String>,
    /// The justification.
    pub justification: &'a Option<String>,
    /// Whether the statement came from a verified attestation.
    pub signed: bool,
    /// `ci:<format>` or `attestation:<key ids>`.
    pub source: String,
    /// `not_affected` or `fixed`.
    pub status: VexStatus,
}

/// `sboms[]`.
#[derive(Debug, Serialize)]
pub struct SbomEntry<'a> {
    /// Components it lists.
    pub component_count: usize,
    /// `cyclonedx` or `spdx`.
    pub format: &'a str,
    /// Where it came from.
    pub origin: Origin<'a>,
    /// Whether it came from a verified attestation.
    pub signed: bool,
    /// The declared spec version.
    pub spec_version: &'a str,
    /// Digests it says it describes.
    pub subject_digests: &'a [Digest],
}

/// `components[]`.
#[derive(Debug, Serialize)]
pub struct ComponentEntry<'a> {
    /// The licence, if stated.
    pub licence: Option<LicenceView<'a>>,
    /// Component name.
    pub name: &'a str,
    /// Where its SBOM came from.
    pub origin: Origin<'a>,
    /// Package URL.
    pub purl: &'a Option<String>,
    /// Its SBOM's format.
    pub sbom_format: &'a str,
    /// Whether its SBOM came from a verified attestation.
    pub signed: bool,
    /// Version.
    pub version: &'a Option<String>,
}

/// `components[].licence`, keys in order.
#[derive(Debug, Serialize)]
pub struct LicenceView<'a> {
    /// Disjunctive normal form.
    pub alternatives: &'a [Vec<String>],
    /// As declared.
    pub declared: &'a str,
    /// Normalised SPDX expression.
    pub expression: &'a Option<String>,
    /// Every term, sorted.
    pub terms: &'a [String],
    /// Names that are not SPDX.
    pub unknown: &'a [String],
    /// The licence viewed (not serialised): shares equal licences when building values.
    #[serde(skip)]
    pub licence: &'a Licence,
}

/// `provenance[]`.
#[derive(Debug, Serialize)]
pub struct ProvenanceEntry<'a> {
    /// The build type.
    pub build_type: &'a str,
    /// The builder id.
    pub builder_id: &'a str,
    /// Where it came from.
    pub origin: Origin<'a>,
    /// Its predicate type.
    pub predicate_type: &'a str,
    /// Whether it came from a verified attestation.
    pub signed: bool,
    /// Source commit.
    pub source_commit: &'a Option<String>,
    /// Source ref.
    pub source_ref: &'a Option<String>,
    /// Source repository.
    pub source_repository: &'a Option<String>,
    /// The statement's subject digests.
    pub subject_digests: &'a [Digest],
}

/// `vex[]`.
#[derive(Debug, Serialize)]
pub struct VexEntry<'a> {
    /// Other ids of the vulnerability.
    pub aliases: &'a [String],
    /// The justification.
    pub justification: &'a Option<String>,
    /// Where it came from.
    pub origin: Origin<'a>,
    /// Products covered (`id`, `subcomponents`: already in key order).
    pub products: &'a [VexProduct],
    /// Whether it came from a verified attestation.
    pub signed: bool,
    /// The status.
    pub status: VexStatus,
    /// Statement timestamp.
    pub timestamp: &'a Option<String>,
    /// The vulnerability id.
    pub vulnerability: &'a str,
}
