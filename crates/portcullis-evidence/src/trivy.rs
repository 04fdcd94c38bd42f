//! Trivy JSON reports (SchemaVersion 2) into the evidence model.

use portcullis_core::{EvidenceOrigin, Severity, Vulnerability, VulnerabilityReport};
use serde_json::Value;

use crate::{Error, Result};

const FORMAT: &str = "trivy-json";

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::InvalidReport {
        format: FORMAT,
        field: field.into(),
        reason: reason.into(),
    }
}

fn opt_str<'a>(v: &'a Value, key: &str, path: &str) -> Result<Option<&'a str>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{path}.{key}"), "expected a string")),
    }
}

fn req_str<'a>(v: &'a Value, key: &str, path: &str) -> Result<&'a str> {
    opt_str(v, key, path)?.ok_or_else(|| invalid(format!("{path}.{key}"), "missing"))
}

/// Parses a Trivy SchemaVersion 2 report; CI-supplied, so marked unsigned.
pub fn parse_trivy(doc: &Value) -> Result<VulnerabilityReport> {
    if !doc.is_object() {
        return Err(invalid("$", "expected a JSON object"));
    }
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
            });
        }
    }
    Ok(VulnerabilityReport {
        origin: EvidenceOrigin::CiSupplied {
            format: FORMAT.to_owned(),
        },
        scanner: "trivy".to_owned(),
        artifact_name: opt_str(doc, "ArtifactName", "$")?.map(str::to_owned),
        vulnerabilities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_alpine_fixture() {
        let text = include_str!("../tests/fixtures/trivy-vuln-alpine-310.json");
        let doc: Value = serde_json::from_str(text).unwrap();
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
