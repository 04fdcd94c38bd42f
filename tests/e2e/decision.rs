//! The decision path's caches seen from outside: a digest-pinned source the registry
//! confirmed is not asked for again within the verification TTL (a manifest is content
//! addressed), and the dry run answers the input document it evaluated.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{ROUTE, TestApp, trivy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_pinned_digest_is_not_asked_for_again_within_the_ttl() {
    let mut app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "pinned").await;
    let body = |source: String| {
        json!({"source": source, "route": ROUTE, "dry_run": true,
               "evidence": [{"format": "trivy-json", "document": trivy(&[("CVE-1", "LOW")])}]})
    };
    let pinned = body(app.source("team/app", &digest));
    let (status, first) = app.post("/v1/promotions", &app.tokens.ci, &pinned).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["decision"]["allow"], true, "{first}");

    // `stop` returns once the registry process has exited.
    app.staging.stop().await.unwrap();
    let v2 = format!("http://{}/v2/", app.staging.host.as_str());
    assert!(
        reqwest::get(&v2).await.is_err(),
        "the source registry still answers"
    );

    let (status, second) = app.post("/v1/promotions", &app.tokens.ci, &pinned).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["decision"], first["decision"]);
    assert_eq!(second["evidence"], first["evidence"]);
    assert_eq!(second["evidence"]["vulnerabilities"][0]["id"], "CVE-1");

    // A digest the registry never confirmed is still asked for, and the outage shows.
    let unknown = format!("sha256:{}", "0".repeat(64));
    let (status, refused) = app
        .post(
            "/v1/promotions",
            &app.tokens.ci,
            &body(app.source("team/app", &unknown)),
        )
        .await;
    assert!(status.is_server_error(), "{status} {refused}");
}
