//! How each entry of the per-item sections is made from the evidence item it views, and
//! how the typed input fills the sections and their indexes.

use portcullis_core::{
    Component, EvidenceItems, Licence, Provenance, Sbom, Severity, VexStatement, Vulnerability,
    VulnerabilityReport,
};

use super::{
    ComponentEntry, Counts, Finding, Input, LicenceView, Origin, ProvenanceEntry, ReportEntry,
    SbomEntry, Suppressed, VexEntry, severity_name,
};

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

impl<'a> ReportEntry<'a> {
    /// The entry of `report`, whose findings are counted in `counts`.
    pub fn of(report: &'a VulnerabilityReport, counts: Counts) -> Self {
        let origin = Origin::of(&report.origin);
        Self {
            artifact_name: &report.artifact_name,
            counts,
            origin,
            scanner: &report.scanner,
            signed: origin.signed(),
            subject_digests: &report.subject_digests,
        }
    }
}

impl Counts {
    /// Counts one finding of severity `s`.
    pub fn add(&mut self, s: Severity) {
        match s {
            Severity::Critical => self.critical += 1,
            Severity::High => self.high += 1,
            Severity::Medium => self.medium += 1,
            Severity::Low => self.low += 1,
            Severity::Negligible | Severity::Unknown => {}
        }
    }

    /// The counts of `report`'s findings.
    pub fn of(report: &VulnerabilityReport) -> Self {
        let mut counts = Self::default();
        for v in &report.vulnerabilities {
            counts.add(v.severity);
        }
        counts
    }
}

impl<'a> Finding<'a> {
    /// The entry of `v`, a finding of `report`, suppressed by `suppressing` (a statement
    /// whose status suppresses) if given.
    pub fn of(
        v: &'a Vulnerability,
        report: &'a VulnerabilityReport,
        suppressing: Option<&'a VexStatement>,
    ) -> Self {
        let origin = Origin::of(&report.origin);
        Finding {
            aliases: &v.aliases,
            fixed_version: &v.fixed_version,
            id: &v.id,
            installed_version: &v.installed_version,
            origin,
            package: &v.package,
            purl: &v.purl,
            scanner: &report.scanner,
            severity: v.severity,
            signed: origin.signed(),
            suppressed_by: suppressing.map(Suppressed::of),
            title: &v.title,
        }
    }
}

impl<'a> Suppressed<'a> {
    /// The view of the suppressing statement `s`.
    pub fn of(s: &'a VexStatement) -> Self {
        let origin = Origin::of(&s.origin);
        Suppressed {
            impact_statement: &s.impact_statement,
            justification: &s.justification,
            signed: origin.signed(),
            source: origin.label(),
            status: s.status,
        }
    }
}

impl<'a> ComponentEntry<'a> {
    /// The entry of `c`, a component of `sbom`.
    pub fn of(c: &'a Component, sbom: &'a Sbom) -> Self {
        let origin = Origin::of(&sbom.origin);
        ComponentEntry {
            licence: c.licence.as_ref().map(LicenceView::of),
            name: &c.name,
            origin,
            purl: &c.purl,
            sbom_format: &sbom.format,
            signed: origin.signed(),
            version: &c.version,
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
        let mut counts = Counts::default();
        for v in &report.vulnerabilities {
            let position = input.vulnerabilities.len();
            let suppressing = governing(v).filter(|s| s.status.suppresses());
            if suppressing.is_some() {
                input.suppressed_index.push(position);
            }
            if let Some(list) = input.vulnerability_index.get_mut(severity_name(v.severity)) {
                list.push(position);
            }
            counts.add(v.severity);
            input
                .vulnerabilities
                .push(Finding::of(v, report, suppressing));
        }
        input
            .vulnerability_reports
            .push(ReportEntry::of(report, counts));
    }
}

/// Fills `components` and `licence_index`.
pub(super) fn components<'a>(input: &mut Input<'a>, items: &'a EvidenceItems) {
    let total = items.sboms.iter().map(|s| s.components.len()).sum();
    input.components.reserve_exact(total);
    for sbom in &items.sboms {
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
            input.components.push(ComponentEntry::of(c, sbom));
        }
    }
}
