#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Typed parsing: a wrong type deep in a document is named by its JSON path, escaped and
//! plain strings read alike, and a document past the request's budget is refused before its
//! items are built.

use portcullis_core::{EvidenceFormat, EvidenceItems, Severity};
use portcullis_evidence::{Result, parse_report};
use serde_json::{Value, json};

/// Parses the JSON text `doc` as a document of the format named `format`.
fn report(format: &str, doc: &str) -> Result<EvidenceItems> {
    parse_report(format.parse().unwrap(), doc)
}

#[test]
fn a_wrong_type_deep_in_a_document_is_named_by_its_path() {
    let finding =
        |severity: Value| json!({"VulnerabilityID": "C", "PkgName": "p", "Severity": severity});
    let cases = [
        (
            "trivy-json",
            json!({"SchemaVersion": 2, "Results": [{}, {"Vulnerabilities": null}, {"Vulnerabilities": []},
                {"Vulnerabilities": [finding(json!("SEVERE"))]}]}),
            "$.Results[3].Vulnerabilities[0].Severity: unknown severity \"SEVERE\"",
        ),
        (
            "trivy-json",
            json!({"SchemaVersion": 2, "Results": [{"Vulnerabilities": [finding(json!("LOW")), finding(json!(["HIGH"]))]}]}),
            "$.Results[0].Vulnerabilities[1].Severity: invalid type: sequence, expected a string",
        ),
        (
            "grype-json",
            json!({"matches": [{"vulnerability": {"id": "C"}, "artifact": {"name": "p", "version": 1.5}}]}),
            "$.matches[0].artifact.version: invalid type: floating point `1.5`, expected a string",
        ),
        (
            "spdx-json",
            json!({"spdxVersion": "SPDX-2.3", "packages": [{"name": "a"}, {"name": "b", "externalRefs": [{"referenceType": false}]}]}),
            "$.packages[1].externalRefs[0].referenceType: invalid type: boolean `false`, expected a string",
        ),
        (
            "openvex",
            json!({"@context": "https://openvex.dev/ns/v0.2.0", "statements": [
                {"vulnerability": "C", "products": ["p"], "status": "fixed"},
                {"vulnerability": "C", "products": [{"@id": "p", "subcomponents": ["a", 7]}], "status": "fixed"}]}),
            "$.statements[1].products[0].subcomponents[1]: invalid type: integer `7`, expected a string or an object",
        ),
        (
            "cyclonedx-json",
            json!({"bomFormat": "CycloneDX", "specVersion": "1.4", "vulnerabilities": [{"id": "C", "ratings": [{"severity": "high"}, {"severity": {}}]}]}),
            "$.vulnerabilities[0].ratings[1].severity: invalid type: map, expected a string",
        ),
    ];
    for (format, doc, expected) in cases {
        let err = report(format, &doc.to_string()).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{format} report is invalid at {expected}")),
            "{err:?} should start with {expected:?}"
        );
    }
}

#[test]
fn escaped_strings_are_unescaped_and_plain_ones_borrowed_alike() {
    let text = r#"{"SchemaVersion": 2, "Results": [{"Vulnerabilities": [
        {"VulnerabilityID": "CVE-1", "PkgName": "caf\u00e9 \"quoted\"", "Severity": "H\u0049GH",
         "Title": "tab\there", "InstalledVersion": "1.0"}]}]}"#;
    let items = report("trivy-json", text).unwrap();
    let v = &items.vulnerability_reports[0].vulnerabilities[0];
    assert_eq!(v.package, "café \"quoted\"");
    assert_eq!(v.severity, Severity::High);
    assert_eq!(v.title.as_deref(), Some("tab\there"));
    assert_eq!(v.installed_version, "1.0");
}

#[test]
fn a_document_past_the_budget_is_refused_before_its_items_are_built() {
    use portcullis_evidence::{Budget, Error, Limits, Tally, parse_report_within};
    let limits = Limits {
        max_findings: 5,
        max_components: 3,
        max_vex_statements: 2,
        max_referrers: 1,
    };
    let used = Tally {
        findings: 3,
        ..Tally::default()
    };
    let budget = Budget { limits, used };
    let findings: Vec<Value> = (0..3)
        .map(|i| json!({"VulnerabilityID": format!("C{i}"), "PkgName": "p", "Severity": "LOW"}))
        .collect();
    let trivy = json!({"SchemaVersion": 2, "Results": [{"Vulnerabilities": findings}]}).to_string();
    let components: Vec<Value> = (0..2)
        .map(|i| json!({"name": format!("c{i}"), "components": [{"name": "n"}]}))
        .collect();
    let cdx = json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": components})
        .to_string();
    let statement = json!({"vulnerability": "C", "products": ["p"], "status": "fixed"});
    let vex = json!({"@context": "https://openvex.dev/ns", "statements": [statement, statement, statement]}).to_string();
    let cases = [
        (
            EvidenceFormat::TrivyJson,
            trivy.as_str(),
            "6 findings exceed limits.max_findings = 5",
        ),
        (
            EvidenceFormat::CycloneDxJson,
            cdx.as_str(),
            "4 components exceed limits.max_components = 3",
        ),
        (
            EvidenceFormat::OpenVex,
            vex.as_str(),
            "3 VEX statements exceed limits.max_vex_statements = 2",
        ),
    ];
    for (format, text, expected) in cases {
        match parse_report_within(format, text, &budget) {
            Err(Error::TooLarge(exceeded)) => assert_eq!(exceeded.to_string(), expected),
            other => panic!("{format}: {other:?}"),
        }
        assert!(
            parse_report(format, text).is_ok(),
            "{format} parses without a budget"
        );
    }
}
