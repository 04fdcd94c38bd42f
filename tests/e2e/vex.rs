//! VEX through the whole server: a CI-supplied OpenVEX statement suppresses a finding,
//! and the input document shows the suppression.

use reqwest::StatusCode;
use serde_json::json;

use crate::evidence_docs::{body, openvex_not_affected, rules};
use crate::support::{TestApp, trivy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vex_suppressed_critical_is_allowed_and_the_suppression_shown() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "vex").await;
    let source = app.source("team/app", &digest);
    let report = trivy(&[("CVE-2026-0001", "CRITICAL"), ("CVE-2026-0002", "LOW")]);

    // Without the VEX document the critical denies.
    let (status, p) = app
        .post(
            "/v1/promotions",
            &app.tokens.ci,
            &body(&source, vec![("trivy-json", report.clone())], true),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(rules(&p), ["vulnerability.no_critical"]);

    // A VEX statement for another digest changes nothing.
    let other = format!("sha256:{}", "e".repeat(64));
    let (_, p) = app
        .post(
            "/v1/promotions",
            &app.tokens.ci,
            &body(
                &source,
                vec![
                    ("trivy-json", report.clone()),
                    ("openvex", openvex_not_affected(&other, "CVE-2026-0001")),
                ],
                true,
            ),
        )
        .await;
    assert_eq!(rules(&p), ["vulnerability.no_critical"]);

    let evidence = vec![
        ("trivy-json", report),
        ("openvex", openvex_not_affected(&digest, "CVE-2026-0001")),
    ];
    let (_, dry) = app
        .post(
            "/v1/promotions",
            &app.tokens.ci,
            &body(&source, evidence.clone(), true),
        )
        .await;
    let vulns = dry["evidence"]["vulnerabilities"].as_array().unwrap();
    let low = vulns.iter().find(|v| v["id"] == "CVE-2026-0002").unwrap();
    assert!(
        low["suppressed_by"].is_null(),
        "only the named CVE is suppressed"
    );
    let critical = vulns.iter().find(|v| v["id"] == "CVE-2026-0001").unwrap();
    assert_eq!(critical["suppressed_by"]["status"], "not_affected");
    assert_eq!(dry["evidence"]["suppressed_index"], json!([0]));

    let (status, p) = app
        .post(
            "/v1/promotions",
            &app.tokens.ci,
            &body(&source, evidence, false),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "pending_approval", "{p}");
    assert_eq!(
        p["decision"]["suppressions"],
        json!([{
            "vulnerability": "CVE-2026-0001",
            "package": "openssl",
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
            "source": "ci:openvex"
        }])
    );
}
