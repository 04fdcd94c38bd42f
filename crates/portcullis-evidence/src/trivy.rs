//! Trivy JSON reports (SchemaVersion 2) into the evidence model.

use portcullis_core::{Digest, EvidenceOrigin, Severity, Vulnerability, VulnerabilityReport};
use serde_json::Value;

use crate::Result;
use crate::fields::Fields;

const F: Fields = Fields {
    format: "trivy-json",
};

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> crate::Error {
    F.invalid(field, reason)
}

fn opt_str<'a>(v: &'a Value, key: &str, path: &str) -> Result<Option<&'a str>> {
    F.opt_str(v, key, path)
}

fn req_str<'a>(v: &'a Value, key: &str, path: &str) -> Result<&'a str> {
    F.req_str(v, key, path)
}

/// Parses a Trivy SchemaVersion 2 report as CI-supplied evidence.
pub fn parse_trivy(doc: &Value) -> Result<VulnerabilityReport> {
    parse_trivy_with_origin(doc, EvidenceOrigin::ci(F.format))
}

/// Parses a Trivy SchemaVersion 2 report, recording `origin`.
pub fn parse_trivy_with_origin(doc: &Value, origin: EvidenceOrigin) -> Result<VulnerabilityReport> {
    F.object(doc)?;
    match doc.get("SchemaVersion").and_then(Value::as_u64) {
        Some(2) => {}
        Some(v) => {
            return Err(invalid(
                "$.SchemaVersion",
                format!("version {v} is not supported, expected 2"),
            ));
        }
        None => return Err(invalid("$.SchemaVersion", "missing or not a number")),
    }
    let mut vulnerabilities = Vec::new();
    let results = match doc.get("Results") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => return Err(invalid("$.Results", "expected an array")),
    };
    for (i, result) in results.iter().enumerate() {
        let vulns = match result.get("Vulnerabilities") {
            None | Some(Value::Null) => continue,
            Some(Value::Array(a)) => a,
            Some(_) => {
                return Err(invalid(
                    format!("$.Results[{i}].Vulnerabilities"),
                    "expected an array",
                ));
            }
        };
        for (j, v) in vulns.iter().enumerate() {
            let path = format!("$.Results[{i}].Vulnerabilities[{j}]");
            let severity_text = req_str(v, "Severity", &path)?;
            let severity: Severity = severity_text.parse().map_err(|_| {
                invalid(
                    format!("{path}.Severity"),
                    format!("unknown severity {severity_text:?}"),
                )
            })?;
            vulnerabilities.push(Vulnerability {
                id: req_str(v, "VulnerabilityID", &path)?.to_owned(),
                severity,
                package: req_str(v, "PkgName", &path)?.to_owned(),
                installed_version: opt_str(v, "InstalledVersion", &path)?
                    .unwrap_or_default()
                    .to_owned(),
                fixed_version: opt_str(v, "FixedVersion", &path)?
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
                title: opt_str(v, "Title", &path)?.map(str::to_owned),
                purl: match F.opt_object(v, "PkgIdentifier", &path)? {
                    Some(ident) => F
                        .opt_str(ident, "PURL", &format!("{path}.PkgIdentifier"))?
                        .map(str::to_owned),
                    None => None,
                },
                aliases: Vec::new(),
            });
        }
    }
    Ok(VulnerabilityReport {
        origin,
        scanner: "trivy".to_owned(),
        artifact_name: opt_str(doc, "ArtifactName", "$")?.map(str::to_owned),
        subject_digests: repo_digests(doc)?,
        vulnerabilities,
    })
}

/// The digests of `Metadata.RepoDigests` (`repo@sha256:…`), which bind the report to an image.
fn repo_digests(doc: &Value) -> Result<Vec<Digest>> {
    let list = match doc.get("Metadata").and_then(|m| m.get("RepoDigests")) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(invalid("$.Metadata.RepoDigests", "expected an array")),
    };
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let field = || format!("$.Metadata.RepoDigests[{i}]");
        let text = item
            .as_str()
            .ok_or_else(|| invalid(field(), "expected a string"))?;
        let (_, digest) = text
            .rsplit_once('@')
            .ok_or_else(|| invalid(field(), "expected repo@digest"))?;
        out.push(
            digest
                .parse()
                .map_err(|e: portcullis_core::Error| invalid(field(), e.to_string()))?,
        );
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Trivy's own golden report, read where it lies in ../shared/fixtures.
    fn alpine() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/fixtures/trivy-vuln-alpine-310.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn parses_the_alpine_fixture() {
        let doc = alpine();
        let r = parse_trivy(&doc).unwrap();
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
                format: "trivy-json".into()
            }
        );
    }

    #[test]
    fn repo_digests_bind_the_report_to_an_image() {
        let d = format!("sha256:{}", "b".repeat(64));
        let doc = json!({"SchemaVersion": 2, "Metadata": {"RepoDigests": [format!("r.example/app@{d}"), format!("other/app@{d}")]}});
        let r = parse_trivy(&doc).unwrap();
        assert_eq!(
            r.subject_digests
                .iter()
                .map(Digest::as_str)
                .collect::<Vec<_>>(),
            [d.as_str()]
        );
        let bad = json!({"SchemaVersion": 2, "Metadata": {"RepoDigests": ["app@sha256:12"]}});
        assert!(
            parse_trivy(&bad)
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
            let err = parse_trivy(&doc).unwrap_err().to_string();
            assert!(
                err.contains(field) && err.contains("trivy-json"),
                "{err} should name {field}"
            );
        }
    }
}
