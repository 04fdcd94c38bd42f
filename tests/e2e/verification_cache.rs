//! The verification cache through the whole server: a burst of requests for one digest
//! verifies once.

use reqwest::StatusCode;
use serde_json::Value;

use crate::evidence_docs::body;
use crate::support::{TestApp, trivy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_requests_for_one_digest_verifies_once() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "burst").await;
    let source = app.source("team/app", &digest);
    let before = app.state.gate.collector.cache_stats();
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (http, base, token) = (app.http.clone(), app.base.clone(), app.tokens.ci.clone());
        let body = body(&source, vec![("trivy-json", trivy(&[]))], true);
        tasks.push(tokio::spawn(async move {
            let resp = http
                .post(format!("{base}/v1/promotions"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let p: Value = resp.json().await.unwrap();
            (status, p)
        }));
    }
    for t in tasks {
        let (status, p) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{p}");
        assert_eq!(p["evidence"]["signatures"]["status"], "verified");
    }
    let after = app.state.gate.collector.cache_stats();
    assert_eq!(after.misses - before.misses, 1, "{after:?}");
    assert_eq!(after.hits - before.hits, 11, "{after:?}");

    // An unsigned digest is a negative result, cached too (for the negative TTL).
    let unsigned = app.push_image("team/app", "unsigned").await;
    let source = app.source("team/app", &unsigned);
    for _ in 0..3 {
        let (_, p) = app
            .post(
                "/v1/promotions",
                &app.tokens.ci,
                &body(&source, vec![("trivy-json", trivy(&[]))], true),
            )
            .await;
        assert_eq!(p["evidence"]["signatures"]["status"], "unsigned");
    }
    let last = app.state.gate.collector.cache_stats();
    assert_eq!(last.misses - after.misses, 1, "{last:?}");
}
