//! The auditor's pages (a digest's audit trail, break-glass reviews) and the evidence summary
//! of a promotion with suppressions, flagged licences and remediations.

use portcullis_core::Role;
use reqwest::StatusCode;
use serde_json::json;

use super::webdriver::Browser;
use super::{WAIT_MS, assert_accessible, pending, plain_sign_in, sign_in, ui_app};
use crate::support::trivy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditors_read_a_digests_trail_and_acknowledge_break_glass_reviews() {
    let app = ui_app(|_| {}).await;
    let (id, digest) = pending(&app, "ui-audit").await;
    let glass = app.token("oncall", Role::BreakGlass, &[], None).await;
    let (status, e) = app
        .post(
            &format!("/v1/promotions/{id}/break-glass"),
            &glass,
            &json!({"justification": "INC-1: outage"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{e}");
    let b = Browser::start(1280, 1000, WAIT_MS).await;
    sign_in(&b, &app, &app.tokens.auditor).await;

    b.goto(&format!("{}/ui/promotions/{id}", app.base)).await;
    b.click(&b.find("#audit-link").await).await;
    let trail = b.text_of("#audit-events").await;
    for action in ["requested", "break_glass"] {
        assert!(trail.contains(action), "{action} missing: {trail}");
    }
    assert!(b.text_of("#audit-caption").await.contains(&digest));
    assert_accessible(&b, "audit").await;
    b.screenshot("audit").await;

    b.goto(&format!("{}/ui/reviews", app.base)).await;
    assert!(b.text_of("#reviews").await.contains("INC-1: outage"));
    assert_accessible(&b, "reviews").await;
    b.screenshot("reviews").await;
    b.type_into(&b.find("#reviews textarea").await, "checked the incident")
        .await;
    b.click(&b.find("#reviews button").await).await;
    b.find("#no-reviews").await;
    assert_eq!(
        app.count("SELECT count(*) FROM reviews WHERE state = 'acknowledged' AND acknowledged_by = 'audrey'")
            .await,
        1
    );
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_promotion_page_shows_suppressions_flagged_licences_and_remediations() {
    let app = ui_app(|_| {}).await;
    let digest = app.push_signed("team/app", "ui-summary").await;
    let sbom = json!({
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "components": [
            {"type": "library", "name": "readline", "version": "8.2",
             "licenses": [{"license": {"id": "GPL-3.0-only"}}]},
            {"type": "library", "name": "blob", "version": "1",
             "licenses": [{"license": {"name": "Acme Proprietary Licence"}}]}
        ]
    });
    let report = trivy(&[("CVE-2024-3333", "CRITICAL"), ("CVE-2024-1111", "HIGH")]);
    let vex = crate::evidence_docs::openvex_not_affected(&digest, "CVE-2024-3333");
    let request = crate::evidence_docs::body(
        &app.source("team/app", &digest),
        vec![
            ("trivy-json", report),
            ("openvex", vex),
            ("cyclonedx-json", sbom),
        ],
        false,
    );
    let (status, p) = app.post("/v1/promotions", &app.tokens.ci, &request).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "denied", "{p}");
    let id = p["id"].as_str().unwrap();
    let (http, cookie) = plain_sign_in(&app, &app.tokens.approver1).await;
    let page = http
        .get(format!("{}/ui/promotions/{id}", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    for expected in [
        "<span id=\"verdict\">denied</span>",
        "<strong>licence.denied</strong>",
        "To fix:",
        "<th scope=\"row\">critical</th><td>1</td><td>1</td>",
        "<th scope=\"row\">high</th><td>1</td><td>0</td>",
        "CVE-2024-3333 in openssl: not affected (vulnerable code not in execute path), VEX from ci:openvex",
        "readline",
        "not an SPDX licence: ",
        "You cannot vote: It is denied, not pending approval.",
    ] {
        assert!(
            html.contains(expected),
            "{expected} missing from the page:\n{html}"
        );
    }
}
