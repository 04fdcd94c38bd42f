//! Trivy JSON reports (SchemaVersion 2) into the evidence model, deserialised straight into
//! the borrowed structs below.

use portcullis_core::{
    EvidenceFormat, EvidenceOrigin, Severity, Vulnerability, VulnerabilityReport,
};
use serde::{Deserialize, Deserializer, de};

use crate::Result;
use crate::de::{RepoDigest, Text, digests, from_str, owned, severity};
use crate::limits::{Budget, Tally};

const FORMAT: &str = "trivy-json";

#[derive(Deserialize)]
struct Report<'a> {
    #[serde(rename = "SchemaVersion", deserialize_with = "schema_version")]
    _schema_version: (),
    #[serde(rename = "ArtifactName", borrow)]
    artifact_name: Option<Text<'a>>,
    #[serde(rename = "Metadata")]
    metadata: Option<Metadata>,
    #[serde(rename = "Results", borrow)]
    results: Option<Vec<TrivyResult<'a>>>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(rename = "RepoDigests")]
    repo_digests: Option<Vec<RepoDigest>>,
}

#[derive(Deserialize)]
struct TrivyResult<'a> {
    #[serde(rename = "Vulnerabilities", borrow)]
    vulnerabilities: Option<Vec<Finding<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Finding<'a> {
    #[serde(rename = "VulnerabilityID", borrow)]
    vulnerability_id: Text<'a>,
    #[serde(deserialize_with = "severity")]
    severity: Severity,
    #[serde(borrow)]
    pkg_name: Text<'a>,
    #[serde(borrow)]
    installed_version: Option<Text<'a>>,
    #[serde(borrow)]
    fixed_version: Option<Text<'a>>,
    #[serde(borrow)]
    title: Option<Text<'a>>,
    #[serde(borrow)]
    pkg_identifier: Option<PkgIdentifier<'a>>,
}

#[derive(Deserialize)]
struct PkgIdentifier<'a> {
    #[serde(rename = "PURL", borrow)]
    purl: Option<Text<'a>>,
}

/// `SchemaVersion`, which must be 2.
fn schema_version<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<(), D::Error> {
    match u64::deserialize(d)? {
        2 => Ok(()),
        v => Err(de::Error::custom(format_args!(
            "version {v} is not supported, expected 2"
        ))),
    }
}

/// Parses a Trivy SchemaVersion 2 report as CI-supplied evidence.
pub fn parse_trivy(text: &str) -> Result<VulnerabilityReport> {
    parse_trivy_with_origin(text, EvidenceOrigin::ci(EvidenceFormat::TrivyJson))
}

/// Parses a Trivy SchemaVersion 2 report, recording `origin`.
pub fn parse_trivy_with_origin(text: &str, origin: EvidenceOrigin) -> Result<VulnerabilityReport> {
    parse_bounded(text, origin, &Budget::unlimited())
}

/// Parses a Trivy report, refusing it before its findings are converted when they would
/// exceed `budget`.
pub(crate) fn parse_bounded(
    text: &str,
    origin: EvidenceOrigin,
    budget: &Budget,
) -> Result<VulnerabilityReport> {
    let report: Report = from_str(FORMAT, text)?;
    let results = report.results.unwrap_or_default();
    let findings = results
        .iter()
        .map(|r| r.vulnerabilities.as_ref().map_or(0, Vec::len))
        .sum();
    budget.check(Tally {
        findings,
        ..Tally::default()
    })?;
    let mut vulnerabilities = Vec::with_capacity(findings);
    for v in results
        .into_iter()
        .flat_map(|r| r.vulnerabilities.unwrap_or_default())
    {
        vulnerabilities.push(Vulnerability {
            id: v.vulnerability_id.owned(),
            severity: v.severity,
            package: v.pkg_name.owned(),
            installed_version: owned(v.installed_version).unwrap_or_default(),
            fixed_version: v.fixed_version.filter(|s| !s.is_empty()).map(Text::owned),
            title: owned(v.title),
            purl: v.pkg_identifier.and_then(|i| owned(i.purl)),
            aliases: Vec::new(),
        });
    }
    Ok(VulnerabilityReport {
        origin,
        scanner: "trivy".to_owned(),
        artifact_name: owned(report.artifact_name),
        subject_digests: digests(report.metadata.and_then(|m| m.repo_digests)),
        vulnerabilities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::Digest;
    use serde_json::json;

    /// Trivy's own golden report, read where it lies in ../shared/fixtures.
    fn alpine() -> String {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/fixtures/trivy-vuln-alpine-310.json"
        );
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn parses_the_alpine_fixture() {
        let doc = alpine();
        let r = parse_trivy(&doc.to_string()).unwrap();
        assert_eq!(
            r.artifact_name.as_deref(),
            Some("testdata/fixtures/images/alpine-310.tar.gz")
        );
        assert_eq!(r.vulnerabilities.len(), 4);
        assert!(
            r.vulnerabilities
                .iter()
                .all(|v| v.severity == Severity::Medium)
        );
        let first = &r.vulnerabilities[0];
        assert_eq!(first.id, "CVE-2019-1549");
        assert_eq!(first.package, "libcrypto1.1");
        assert_eq!(first.fixed_version.as_deref(), Some("1.1.1d-r0"));
        assert_eq!(
            r.origin,
            EvidenceOrigin::CiSupplied {
                format: EvidenceFormat::TrivyJson
            }
        );
    }

    #[test]
    fn repo_digests_bind_the_report_to_an_image() {
        let d = format!("sha256:{}", "b".repeat(64));
        let doc = json!({"SchemaVersion": 2, "Metadata": {"RepoDigests": [format!("r.example/app@{d}"), format!("other/app@{d}")]}});
        let r = parse_trivy(&doc.to_string()).unwrap();
        assert_eq!(
            r.subject_digests
                .iter()
                .map(Digest::as_str)
                .collect::<Vec<_>>(),
            [d.as_str()]
        );
        let bad = json!({"SchemaVersion": 2, "Metadata": {"RepoDigests": ["app@sha256:12"]}});
        assert!(
            parse_trivy(&bad.to_string())
                .unwrap_err()
                .to_string()
                .contains("$.Metadata.RepoDigests[0]")
        );
        let fixture = alpine();
        assert!(
            parse_trivy(&fixture).unwrap().subject_digests.is_empty(),
            "scanned from a tarball"
        );
    }

    #[test]
    fn malformed_reports_name_the_field() {
        let cases = [
            (json!([]), "$"),
            (json!({"SchemaVersion": 1}), "$.SchemaVersion"),
            (json!({"SchemaVersion": 2, "Results": {}}), "$.Results"),
            (
                json!({"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"VulnerabilityID": "C", "PkgName": "p"}]}]}),
                "$.Results[0].Vulnerabilities[0].Severity",
            ),
            (
                json!({"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"VulnerabilityID": "C", "PkgName": "p", "Severity": "SEVERE"}]}]}),
                "$.Results[0].Vulnerabilities[0].Severity",
            ),
            (
                json!({"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"VulnerabilityID": 7, "PkgName": "p", "Severity": "LOW"}]}]}),
                "$.Results[0].Vulnerabilities[0].VulnerabilityID",
            ),
        ];
        for (doc, field) in cases {
            let err = parse_trivy(&doc.to_string()).unwrap_err().to_string();
            assert!(
                err.contains(field) && err.contains("trivy-json"),
                "{err} should name {field}"
            );
        }
    }
}
