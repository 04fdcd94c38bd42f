//! Every CI-supplied evidence format through the whole server: the fixtures are accepted
//! and the input matches its JSON Schema; malformed, unknown or oversized documents are
//! refused with their exact status and code.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::evidence_docs::{OPENVEX, body, fixture};
use crate::support::{ROUTE, TestApp, trivy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_format_is_accepted_and_the_input_matches_its_schema() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "schema").await;
    let (status, p) = app
        .post(
            "/v1/promotions",
            &app.tokens.ci,
            &body(
                &app.source("team/app", &digest),
                vec![
                    ("trivy-json", fixture("trivy-vuln-alpine-310.json")),
                    ("grype-json", fixture("grype-vuln-debian-10.json")),
                    ("cyclonedx-json", fixture("cyclonedx-centos-7.json")),
                    ("spdx-json", fixture("spdx-centos-7.json")),
                    ("openvex", fixture("openvex-v0.2.0.json")),
                ],
                true,
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let input = &p["evidence"];
    let schema_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/input.schema.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(input)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "input does not match the schema: {errors:#?}"
    );
    let scanners: std::collections::BTreeSet<&str> = input["vulnerability_reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scanner"].as_str().unwrap())
        .collect();
    assert!(
        scanners.contains("trivy") && scanners.contains("grype"),
        "{scanners:?}"
    );
    assert_eq!(input["sboms"].as_array().unwrap().len(), 2);
    assert!(!input["vex"].as_array().unwrap().is_empty());
    // A schema that the document violates is caught (the validation is not vacuous).
    let mut broken = input.clone();
    broken["vulnerability_index"]["CRITICAL"] = json!("all of them");
    assert!(!validator.is_valid(&broken));
    // The README's example inputs are real inputs too.
    for example in ["allowed.json", "denied.json"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("policies/examples")
            .join(example);
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{example}: {errors:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_evidence_is_refused_naming_the_format_and_field() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "bad").await;
    let source = app.source("team/app", &digest);
    let cases = [
        ("grype-json", json!({"matches": {}}), "$.matches"),
        (
            "cyclonedx-json",
            json!({"bomFormat": "SPDX"}),
            "$.bomFormat",
        ),
        (
            "spdx-json",
            json!({"spdxVersion": "SPDX-1.2"}),
            "$.spdxVersion",
        ),
        (
            "openvex",
            json!({"@context": OPENVEX, "statements": [{"vulnerability": {"name": "CVE-1"}, "products": [{"@id": "pkg:oci/app"}], "status": "maybe"}]}),
            "$.statements[0].status",
        ),
    ];
    for (format, doc, field) in cases {
        let (status, p) = app
            .post(
                "/v1/promotions",
                &app.tokens.ci,
                &body(
                    &source,
                    vec![("trivy-json", trivy(&[])), (format, doc)],
                    false,
                ),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{format}: {p}");
        assert_eq!(p["code"], "invalid_evidence");
        let detail = p["detail"].as_str().unwrap();
        assert!(
            detail.contains("evidence[1]") && detail.contains(format) && detail.contains(field),
            "{detail}"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM promotions").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refused_document_has_its_exact_status_code_and_detail() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "refused").await;
    let source = app.source("team/app", &digest);
    let finding =
        |severity: Value| json!({"VulnerabilityID": "CVE-1", "PkgName": "p", "Severity": severity});
    let deep = json!({"SchemaVersion": 2, "Results": [
        {"Target": "a"},
        {"Target": "b", "Vulnerabilities": [finding(json!("LOW")), finding(json!(5))]}]});
    let nested = json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [
        {"name": "a"}, {"name": "b", "components": [{"name": "c", "licenses": [{"license": {"id": ["MIT"]}}]}]}]});
    let many: Vec<(&str, Value)> = (0..17).map(|_| ("trivy-json", trivy(&[]))).collect();
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let cases = [
        (
            body(
                &source,
                vec![("trivy-json", trivy(&[])), ("nessus", json!({}))],
                true,
            ),
            unprocessable,
            "unknown_evidence_format",
            "evidence[1]: unknown evidence format \"nessus\"; supported: trivy-json, grype-json, cyclonedx-json, spdx-json, openvex",
        ),
        (
            body(&source, vec![("trivy-json", deep)], true),
            unprocessable,
            "invalid_evidence",
            "evidence[0]: trivy-json report is invalid at $.Results[1].Vulnerabilities[1].Severity: invalid type: integer `5`, expected a string",
        ),
        (
            body(&source, vec![("cyclonedx-json", nested)], true),
            unprocessable,
            "invalid_evidence",
            "evidence[0]: cyclonedx-json report is invalid at $.components[1].components[0].licenses[0].license.id: invalid type: sequence, expected a string",
        ),
        (
            body(
                &source,
                vec![("openvex", json!([{"@context": OPENVEX}]))],
                true,
            ),
            unprocessable,
            "invalid_evidence",
            "evidence[0]: openvex report is invalid at $: expected a JSON object",
        ),
        (
            body(
                &source,
                vec![(
                    "spdx-json",
                    json!({"spdxVersion": "SPDX-2.3", "name\u{0}": 1}),
                )],
                true,
            ),
            unprocessable,
            "invalid_evidence",
            "evidence[0] contains a U+0000 character",
        ),
        (
            body(&source, many, true),
            unprocessable,
            "invalid_evidence",
            "at most 16 evidence documents",
        ),
        (
            json!({"source": source, "route": ROUTE, "evidence": [{"format": 7, "document": {}}]}),
            unprocessable,
            "invalid_body",
            "evidence[0].format",
        ),
        (
            json!({"source": source, "route": ROUTE, "evidence": [{"format": "openvex"}]}),
            unprocessable,
            "invalid_body",
            "missing field `document`",
        ),
    ];
    for (request, status, code, detail) in cases {
        let (got, p) = app.post("/v1/promotions", &app.tokens.ci, &request).await;
        assert_eq!(got, status, "{p}");
        assert_eq!(p["code"], code, "{p}");
        let text = p["detail"].as_str().unwrap();
        assert!(
            text.starts_with(detail) || text.contains(detail),
            "{text:?} should hold {detail:?}"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM promotions").await, 0);
}
