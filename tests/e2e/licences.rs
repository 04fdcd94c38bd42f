//! Licences through the whole server: an SBOM component under a denied licence is named
//! in the violations.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::evidence_docs::body;
use crate::support::{TestApp, trivy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gpl3_component_is_denied_and_named() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "gpl").await;
    let sbom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "components": [
            {"type": "library", "name": "zlib", "version": "1.3", "purl": "pkg:deb/debian/zlib@1.3",
             "licenses": [{"license": {"id": "Zlib"}}]},
            {"type": "library", "name": "readline", "version": "8.2", "purl": "pkg:deb/debian/readline@8.2",
             "licenses": [{"license": {"id": "GPL-3.0-only"}}]},
            {"type": "library", "name": "dual", "version": "2.0",
             "licenses": [{"expression": "MIT OR GPL-3.0-only"}]},
            {"type": "library", "name": "jre", "version": "17",
             "licenses": [{"expression": "GPL-2.0-only WITH Classpath-exception-2.0"}]},
            {"type": "library", "name": "bash", "version": "5.2",
             "licenses": [{"license": {"name": "GPLv3+"}}]}
        ]
    });
    let (status, p) = app
        .post(
            "/v1/promotions",
            &app.tokens.ci,
            &body(
                &app.source("team/app", &digest),
                vec![("trivy-json", trivy(&[])), ("cyclonedx-json", sbom)],
                true,
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["decision"]["allow"], false);
    let licence: Vec<&Value> = p["decision"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["rule"] == "licence.denied")
        .collect();
    let messages: Vec<&str> = licence
        .iter()
        .map(|v| v["message"].as_str().unwrap())
        .collect();
    // readline (GPL-3.0-only) and bash (GPLv3+ mapped to GPL-3.0-or-later) are denied; the
    // dual-licensed component can be taken under MIT; the Classpath exception is its own term.
    assert_eq!(licence.len(), 2, "{messages:?}");
    assert!(
        messages
            .iter()
            .any(|m| m.contains("readline@8.2") && m.contains("GPL-3.0-only")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("bash@5.2") && m.contains("GPL-3.0-or-later")),
        "{messages:?}"
    );
    assert!(
        !messages
            .iter()
            .any(|m| m.contains("dual") || m.contains("jre"))
    );
    assert!(
        licence
            .iter()
            .all(|v| v["remediation"].as_str().unwrap().contains("replace"))
    );
    let components = p["evidence"]["components"].as_array().unwrap();
    let dual = components.iter().find(|c| c["name"] == "dual").unwrap();
    assert_eq!(
        dual["licence"]["alternatives"],
        json!([["GPL-3.0-only"], ["MIT"]])
    );
}
