//! The per-item sections of the input document (`vulnerability_reports`, `vulnerabilities`,
//! `sboms`, `components`, `provenance`, `vex`) and how they are built from the evidence.

use portcullis_core::{
    Digest, EvidenceItems, Licence, Provenance, Sbom, Severity, VexProduct, VexStatement,
    VexStatus, Vulnerability,
};
use serde::Serialize;

use super::{Input, Origin, severity_name};

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

impl<'a> LicenceView<'a> {
    /// The view of `licence`.
    pub fn of(licence: &'a Licence) -> Self {
        Self {
            alternatives: &licence.alternatives,
            declared: &licence.declared,
            expression: &licence.expression,
            terms: &licence.terms,
            unknown: &licence.unknown,
            licence,
        }
    }
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

impl<'a> ProvenanceEntry<'a> {
    /// The entry of `p`.
    pub fn of(p: &'a Provenance) -> Self {
        let origin = Origin::of(&p.origin);
        Self {
            build_type: &p.build_type,
            builder_id: &p.builder_id,
            origin,
            predicate_type: &p.predicate_type,
            signed: origin.signed(),
            source_commit: &p.source_commit,
            source_ref: &p.source_ref,
            source_repository: &p.source_repository,
            subject_digests: &p.subject_digests,
        }
    }
}

impl<'a> SbomEntry<'a> {
    /// The entry of `s`.
    pub fn of(s: &'a Sbom) -> Self {
        let origin = Origin::of(&s.origin);
        Self {
            component_count: s.components.len(),
            format: &s.format,
            origin,
            signed: origin.signed(),
            spec_version: &s.spec_version,
            subject_digests: &s.subject_digests,
        }
    }
}

impl<'a> VexEntry<'a> {
    /// The entry of `s`.
    pub fn of(s: &'a VexStatement) -> Self {
        let origin = Origin::of(&s.origin);
        Self {
            aliases: &s.aliases,
            justification: &s.justification,
            origin,
            products: &s.products,
            signed: origin.signed(),
            status: s.status,
            timestamp: &s.timestamp,
            vulnerability: &s.vulnerability,
        }
    }
}

/// Fills `vulnerability_reports`, `vulnerabilities`, `vulnerability_index` and
/// `suppressed_index`.
pub(super) fn findings<'a>(
    input: &mut Input<'a>,
    items: &'a EvidenceItems,
    governing: impl Fn(&Vulnerability) -> Option<&'a VexStatement>,
) {
    let total = items
        .vulnerability_reports
        .iter()
        .map(|r| r.vulnerabilities.len())
        .sum();
    input.vulnerabilities.reserve_exact(total);
    for report in &items.vulnerability_reports {
        let origin = Origin::of(&report.origin);
        let signed = origin.signed();
        let mut counts = Counts::default();
        for v in &report.vulnerabilities {
            let position = input.vulnerabilities.len();
            let suppressed_by = governing(v).filter(|s| s.status.suppresses()).map(|s| {
                let origin = Origin::of(&s.origin);
                Suppressed {
                    impact_statement: &s.impact_statement,
                    justification: &s.justification,
                    signed: origin.signed(),
                    source: origin.label(),
                    status: s.status,
                }
            });
            if suppressed_by.is_some() {
                input.suppressed_index.push(position);
            }
            if let Some(list) = input.vulnerability_index.get_mut(severity_name(v.severity)) {
                list.push(position);
            }
            match v.severity {
                Severity::Critical => counts.critical += 1,
                Severity::High => counts.high += 1,
                Severity::Medium => counts.medium += 1,
                Severity::Low => counts.low += 1,
                Severity::Negligible | Severity::Unknown => {}
            }
            input.vulnerabilities.push(Finding {
                aliases: &v.aliases,
                fixed_version: &v.fixed_version,
                id: &v.id,
                installed_version: &v.installed_version,
                origin,
                package: &v.package,
                purl: &v.purl,
                scanner: &report.scanner,
                severity: v.severity,
                signed,
                suppressed_by,
                title: &v.title,
            });
        }
        input.vulnerability_reports.push(ReportEntry {
            artifact_name: &report.artifact_name,
            counts,
            origin,
            scanner: &report.scanner,
            signed,
            subject_digests: &report.subject_digests,
        });
    }
}

/// Fills `components` and `licence_index`.
pub(super) fn components<'a>(input: &mut Input<'a>, items: &'a EvidenceItems) {
    let total = items.sboms.iter().map(|s| s.components.len()).sum();
    input.components.reserve_exact(total);
    for sbom in &items.sboms {
        let origin = Origin::of(&sbom.origin);
        for c in &sbom.components {
            let position = input.components.len();
            if let Some(licence) = &c.licence {
                for term in &licence.terms {
                    input
                        .licence_index
                        .entry(term.as_str())
                        .or_default()
                        .push(position);
                }
            }
            input.components.push(ComponentEntry {
                licence: c.licence.as_ref().map(LicenceView::of),
                name: &c.name,
                origin,
                purl: &c.purl,
                sbom_format: &sbom.format,
                signed: origin.signed(),
                version: &c.version,
            });
        }
    }
}
