//! `GET /metrics` after a real promotion: request latencies by route template (never a
//! path with an id), decisions by outcome and rule, votes, copies, and the scrape-time
//! gauges; who may scrape.

use reqwest::StatusCode;

use crate::support::{ROUTE, TestApp, trivy};

async fn scrape(app: &TestApp, token: Option<&str>) -> (StatusCode, String, String) {
    let mut req = app.http.get(format!("{}/metrics", app.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, resp.text().await.unwrap())
}

/// The value of the sample line that starts with `series` (exactly, up to the space).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_shows_in_the_metrics_with_bounded_labels() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "build-1").await;
    let (status, p) = app
        .request(&app.source("team/app", &digest), trivy(&[("CVE-1", "LOW")]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    app.approve_twice(&id).await;
    assert_eq!(app.wait_settled(&id).await["state"], "promoted");
    // A denied dry run.
    let unsigned = app.push_image("team/app", "unsigned").await;
    let body = serde_json::json!({"source": app.source("team/app", &unsigned), "route": ROUTE, "dry_run": true});
    let (status, d) = app.post("/v1/promotions", &app.tokens.ci, &body).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["decision"]["allow"], false);
    let rule = d["decision"]["violations"][0]["rule"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, content_type, text) = scrape(&app, Some(&app.tokens.auditor)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!text.contains(&id), "a promotion id became a label value");
    assert!(
        sample(
            &text,
            "portcullis_http_request_duration_seconds_count{route=\"/v1/promotions/{id}\",method=\"GET\",status=\"200\"}"
        ) >= 1.0
    );
    assert_eq!(
        sample(
            &text,
            "portcullis_http_request_duration_seconds_count{route=\"/v1/promotions/{id}/approvals\",method=\"POST\",status=\"200\"}"
        ),
        2.0
    );
    assert_eq!(
        sample(
            &text,
            "portcullis_decisions_total{outcome=\"allow\",kind=\"request\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "portcullis_decisions_total{outcome=\"deny\",kind=\"dry_run\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            &format!("portcullis_decision_violations_total{{rule=\"{rule}\"}}")
        ),
        1.0
    );
    assert_eq!(
        sample(&text, "portcullis_votes_total{verdict=\"approve\"}"),
        2.0
    );
    assert_eq!(
        sample(&text, "portcullis_copy_jobs_total{outcome=\"promoted\"}"),
        1.0
    );
    assert!(sample(&text, "portcullis_copy_bytes_total") > 0.0);
    assert_eq!(sample(&text, "portcullis_copy_duration_seconds_count"), 1.0);
    assert_eq!(sample(&text, "portcullis_copy_jobs_in_flight"), 0.0);
    assert_eq!(sample(&text, "portcullis_copy_queue_depth"), 0.0);
    let chain: i64 = sqlx::query_scalar("SELECT max(seq) FROM audit_events")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(sample(&text, "portcullis_audit_chain_length") >= chain as f64);
    assert!(
        sample(&text, "portcullis_verification_cache_hits_total")
            + sample(&text, "portcullis_verification_cache_misses_total")
            >= 1.0
    );

    // Who may scrape: auditors and admins; nobody without a token.
    assert_eq!(scrape(&app, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        scrape(&app, Some(&app.tokens.ci)).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        scrape(&app, Some(&app.tokens.admin)).await.0,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_may_be_public_or_off() {
    let public = TestApp::spawn_with(|c| c.metrics.public = true).await;
    let (status, _, text) = scrape(&public, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("# TYPE portcullis_decisions_total counter"));
    let off = TestApp::spawn_with(|c| c.metrics.enabled = false).await;
    assert_eq!(
        scrape(&off, Some(&off.tokens.admin)).await.0,
        StatusCode::NOT_FOUND
    );
}
