//! Synthetic evidence for benchmarks and load tests: an `EvidenceSet` with realistic
//! proportions, generated deterministically so runs are comparable, and the input document
//! the server builds from it.

use std::collections::HashMap;

use portcullis_core::{
    AttestationEvidence, Component, Digest, EvidenceFormat, EvidenceItems, EvidenceOrigin,
    EvidenceSet, ImageRef, Licence, Provenance, RejectedAttestation, Sbom, Severity,
    SignatureEvidence, SignatureStatus, VexProduct, VexStatement, VexStatus, Vulnerability,
    VulnerabilityReport,
};
use serde_json::Value;

use crate::{Input, RequestInfo};

const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const SOURCE: &str = "staging.example/team/app";
const COMMIT: &str = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad";
const SLSA_V1: &str = "https://slsa.dev/provenance/v1";

/// Licences of the generated components; index 0, dual-licensed GPL (allowed because MIT
/// may be chosen), is used every 50th component.
const LICENCES: [&str; 5] = [
    "GPL-2.0-or-later OR MIT",
    "MIT",
    "Apache-2.0",
    "MIT OR Apache-2.0",
    "BSD-3-Clause",
];

/// Everything the server needs to build an input document.
#[derive(Debug, Clone)]
pub struct Synthetic {
    /// The image, pinned to `digest`.
    pub source: ImageRef,
    /// Its digest.
    pub digest: Digest,
    /// The evidence.
    pub evidence: EvidenceSet,
    /// The request.
    pub request: RequestInfo,
}

impl Synthetic {
    /// The input document over this evidence, VEX statements matched by vulnerability id.
    pub fn input(&self) -> Input<'_> {
        let by_id: HashMap<&str, &VexStatement> = self
            .evidence
            .items
            .vex
            .iter()
            .map(|s| (s.vulnerability.as_str(), s))
            .collect();
        Input::new(
            &self.source,
            &self.digest,
            &self.evidence,
            &self.request,
            |v: &Vulnerability| by_id.get(v.id.as_str()).copied(),
        )
    }
}

/// `synthetic(60, 40)` plus every optional part: a signed report, a signed suppressing
/// statement, a rejected attestation, errors, an unknown licence name.
pub fn synthetic_rich() -> portcullis_core::Result<Synthetic> {
    let mut case = synthetic(60, 40)?;
    let signed = EvidenceOrigin::SignedAttestation {
        key_ids: vec!["key-a".to_owned(), "key-b".to_owned()],
        predicate_type: "https://cosign.sigstore.dev/attestation/vuln/v1".to_owned(),
    };
    let items = &mut case.evidence.items;
    if let Some(mut report) = items.vulnerability_reports.first().cloned() {
        report.origin = signed.clone();
        report.scanner = "grype".to_owned();
        report.artifact_name = None;
        report.vulnerabilities.truncate(10);
        items.vulnerability_reports.push(report);
    }
    if let Some(statement) = items.vex.first_mut() {
        statement.origin = signed;
        statement.status = VexStatus::Fixed;
        statement.impact_statement = Some("not reachable \"here\" \u{e9}".to_owned());
    }
    let first = items
        .sboms
        .first_mut()
        .and_then(|s| s.components.first_mut());
    if let Some(l) = first.and_then(|c| c.licence.as_mut()) {
        l.unknown.push("Custom".to_owned());
        l.expression = None;
    }
    case.evidence.signatures.status = SignatureStatus::Untrusted;
    case.evidence.signatures.error = Some("timeout".to_owned());
    case.evidence
        .attestations
        .rejected
        .push(RejectedAttestation {
            location: "referrer sha256:00".to_owned(),
            reason: "no trusted signature".to_owned(),
        });
    case.request.tag = None;
    Ok(case)
}

/// Evidence with `vulns` findings and `components` SBOM components.
///
/// Proportions: no CRITICAL, 3 HIGH, about 40 % MEDIUM, the rest LOW with a sprinkling of
/// NEGLIGIBLE and UNKNOWN; every 25th finding suppressed by a VEX `not_affected` statement;
/// every 50th component dual-licensed `GPL-2.0-or-later OR MIT` and every 20th without a
/// licence. The signature and provenance are good and no licence is denied, so the default
/// policy allows it after evaluating every rule.
pub fn synthetic(vulns: usize, components: usize) -> portcullis_core::Result<Synthetic> {
    let digest: Digest = DIGEST.parse()?;
    let source = format!("{SOURCE}@{DIGEST}").parse()?;
    let vulnerabilities: Vec<Vulnerability> = (0..vulns).map(vulnerability).collect();
    let vex = vulnerabilities
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 25 == 3)
        .map(|(_, v)| VexStatement {
            origin: EvidenceOrigin::ci(EvidenceFormat::OpenVex),
            vulnerability: v.id.clone(),
            aliases: v.aliases.clone(),
            products: vec![VexProduct {
                id: format!("pkg:oci/app@{DIGEST}"),
                subcomponents: Vec::new(),
            }],
            status: VexStatus::NotAffected,
            justification: Some("vulnerable_code_not_present".to_owned()),
            impact_statement: None,
            timestamp: Some("2025-01-01T00:00:00Z".to_owned()),
            document_id: None,
        })
        .collect();
    let items = EvidenceItems {
        vulnerability_reports: vec![VulnerabilityReport {
            origin: EvidenceOrigin::ci(EvidenceFormat::TrivyJson),
            scanner: "trivy".to_owned(),
            artifact_name: Some(format!("{SOURCE}:1.0")),
            subject_digests: vec![digest.clone()],
            vulnerabilities,
        }],
        sboms: vec![Sbom {
            origin: EvidenceOrigin::ci(EvidenceFormat::CycloneDxJson),
            format: "cyclonedx".to_owned(),
            spec_version: "1.5".to_owned(),
            subject_digests: Vec::new(),
            components: (0..components).map(component).collect(),
        }],
        vex,
        provenance: vec![Provenance {
            origin: EvidenceOrigin::SignedAttestation {
                key_ids: vec!["release-key".to_owned()],
                predicate_type: SLSA_V1.to_owned(),
            },
            predicate_type: SLSA_V1.to_owned(),
            builder_id: "https://github.com/actions/runner".to_owned(),
            build_type: "https://actions.github.io/buildtypes/workflow/v1".to_owned(),
            source_repository: Some("https://github.com/org/app".to_owned()),
            source_ref: Some("refs/heads/main".to_owned()),
            source_commit: Some(COMMIT.to_owned()),
            subject_digests: vec![digest.clone()],
        }],
    };
    Ok(Synthetic {
        source,
        digest,
        evidence: EvidenceSet {
            signatures: SignatureEvidence {
                status: SignatureStatus::Verified,
                verified_key_ids: vec!["release-key".to_owned()],
                signatures_found: 1,
                error: None,
                signers: Vec::new(),
                items: Vec::new(),
            },
            attestations: AttestationEvidence {
                found: 2,
                verified: 2,
                predicate_types: vec![SLSA_V1.to_owned()],
                rejected: Vec::new(),
                error: None,
                accepted: Vec::new(),
            },
            items,
        },
        request: RequestInfo {
            destination: "prod".to_owned(),
            dry_run: false,
            kind: portcullis_core::PromotionKind::Promotion,
            requested_by: "ci".to_owned(),
            route: "staging-to-prod".to_owned(),
            tag: Some("1.0".to_owned()),
        },
    })
}

/// The input document over [`synthetic`] evidence, as JSON (`policies/input.schema.json`);
/// `null` if the constants did not parse.
pub fn synthetic_input(vulns: usize, components: usize) -> Value {
    synthetic(vulns, components)
        .ok()
        .and_then(|case| case.input().to_json().ok())
        .and_then(|(text, _)| serde_json::from_slice(&text).ok())
        .unwrap_or(Value::Null)
}

fn severity(i: usize) -> Severity {
    match i {
        _ if i % 167 == 7 => Severity::High,
        _ if i % 97 == 11 => Severity::Negligible,
        _ if i % 89 == 13 => Severity::Unknown,
        _ if i % 5 < 2 => Severity::Medium,
        _ => Severity::Low,
    }
}

fn vulnerability(i: usize) -> Vulnerability {
    let package = format!("lib{}", i % 120);
    let version = format!("1.{}.{}", i % 7, i % 13);
    Vulnerability {
        id: format!("CVE-{}-{:05}", 2019 + i % 6, 10_000 + i * 37 % 90_000),
        severity: severity(i),
        installed_version: version.clone(),
        fixed_version: (!i.is_multiple_of(3)).then(|| format!("1.{}.{}", i % 7, i % 13 + 1)),
        title: Some(format!(
            "{package}: out-of-bounds read in parser (finding {i})"
        )),
        purl: Some(format!("pkg:deb/debian/{package}@{version}")),
        aliases: if i.is_multiple_of(4) {
            vec![format!("GHSA-{i:04}-abcd-efgh")]
        } else {
            Vec::new()
        },
        package,
    }
}

fn component(i: usize) -> Component {
    let name = format!("component-{i}");
    let version = format!("{}.{}.{}", i % 4, i % 10, i % 3);
    let licence = (i % 20 != 19).then(|| {
        let declared = LICENCES[if i % 50 == 10 { 0 } else { 1 + i % 4 }];
        let mut terms: Vec<String> = declared.split(" OR ").map(str::to_owned).collect();
        terms.sort_unstable();
        Licence {
            declared: declared.to_owned(),
            expression: Some(declared.to_owned()),
            alternatives: terms.iter().map(|t| vec![t.clone()]).collect(),
            terms,
            unknown: Vec::new(),
        }
    });
    Component {
        purl: Some(format!("pkg:cargo/{name}@{version}")),
        name,
        version: Some(version),
        licence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_input_has_the_requested_sizes_and_proportions() {
        let doc = synthetic_input(500, 300);
        let vulns = doc["vulnerabilities"].as_array().map_or(0, Vec::len);
        assert_eq!(vulns, 500);
        assert_eq!(doc["components"].as_array().map_or(0, Vec::len), 300);
        let idx = |s: &str| doc["vulnerability_index"][s].as_array().map_or(0, Vec::len);
        assert_eq!(idx("CRITICAL"), 0);
        assert!((1..=10).contains(&idx("HIGH")), "{}", idx("HIGH"));
        assert!(idx("LOW") + idx("MEDIUM") > 450);
        assert!(
            doc["licence_index"]["GPL-2.0-or-later"]
                .as_array()
                .map_or(0, Vec::len)
                > 0
        );
        assert_eq!(doc["vex"].as_array().map_or(0, Vec::len), 20);
        assert_eq!(doc["suppressed_index"].as_array().map_or(0, Vec::len), 20);
    }
}
