//! Bad input: every one gets a problem+json 4xx with a stable code and leaves nothing written.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{ROUTE, TestApp, decode, trivy};

async fn assert_nothing_written(app: &TestApp) {
    assert_eq!(app.count("SELECT count(*) FROM promotions").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM approvals").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM audit_events").await, 0);
}

async fn raw_post(app: &TestApp, body: Vec<u8>, content_type: &str) -> (StatusCode, Value) {
    let resp = app
        .http
        .post(format!("{}/v1/promotions", app.base))
        .bearer_auth(&app.tokens.ci)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    decode(resp).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_problems_and_write_nothing() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "t").await;
    let host = app.staging.host.as_str();
    let good = app.source("team/app", &digest);

    let (status, err) = raw_post(&app, b"{\"source\": ".to_vec(), "application/json").await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_json"))
    );

    let (status, err) = raw_post(&app, b"{}".to_vec(), "text/plain").await;
    assert_eq!(
        (status, err["code"].as_str()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("unsupported_media_type")
        )
    );

    let big =
        serde_json::to_vec(&json!({"source": good, "route": ROUTE, "pad": "x".repeat(300 * 1024)}))
            .unwrap();
    let (status, err) = raw_post(&app, big, "application/json").await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );

    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"source": format!("{host}/team/app@sha256:1234"), "route": ROUTE}),
            "invalid_digest",
        ),
        (
            json!({"source": format!("{host}/team/app@sha256:{}", "Z".repeat(64)), "route": ROUTE}),
            "invalid_digest",
        ),
        (
            json!({"source": "team/app:v1", "route": ROUTE}),
            "invalid_source",
        ),
        (
            json!({"source": format!("{host}/Team/App:v1"), "route": ROUTE}),
            "invalid_source",
        ),
        (json!({"source": good, "route": "nowhere"}), "unknown_route"),
        (
            json!({"source": format!("{}/team/app:v1", app.prod.host.as_str()), "route": ROUTE}),
            "source_outside_route",
        ),
        (
            json!({"source": good, "route": ROUTE, "tag": "bad tag!"}),
            "invalid_tag",
        ),
        (
            json!({"source": good, "route": ROUTE, "unexpected": 1}),
            "invalid_body",
        ),
        (json!({"route": ROUTE}), "invalid_body"),
        (
            json!({"source": good, "route": ROUTE, "evidence": [{"format": "nessus", "document": {}}]}),
            "unknown_evidence_format",
        ),
        (
            json!({"source": good, "route": ROUTE, "evidence": [{"format": "trivy-json", "document": {"SchemaVersion": 1}}]}),
            "invalid_evidence",
        ),
        (
            json!({"source": good, "route": ROUTE, "evidence": [{"format": "trivy-json", "document": {"SchemaVersion": 2, "ArtifactName": "a\u{0}b"}}]}),
            "invalid_evidence",
        ),
        (
            json!({"source": format!("{host}/team/app:no-such-tag"), "route": ROUTE}),
            "source_not_found",
        ),
        (
            json!({"source": format!("{host}/team/app@sha256:{}", "0".repeat(64)), "route": ROUTE}),
            "source_not_found",
        ),
    ];
    for (body, code) in cases {
        let (status, err) = app.post("/v1/promotions", &app.tokens.ci, &body).await;
        assert!(status.is_client_error(), "{body} gave {status}");
        assert_eq!(err["code"], code, "{body}: {err}");
        assert!(!err["detail"].as_str().unwrap().is_empty());
    }
    let (_, err) = app
        .post("/v1/promotions", &app.tokens.ci, &json!({"source": good, "route": ROUTE, "evidence": [{"format": "trivy-json", "document": {"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"VulnerabilityID": "C", "PkgName": "p", "Severity": "SEVERE"}]}]}}]}))
        .await;
    assert!(
        err["detail"]
            .as_str()
            .unwrap()
            .contains("$.Results[0].Vulnerabilities[0].Severity"),
        "{err}"
    );
    assert_nothing_written(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_and_unknown_endpoints_are_problems() {
    let app = TestApp::spawn().await;
    for (path, code) in [
        ("/v1/promotions?state=bogus", "invalid_query"),
        ("/v1/promotions?limit=0", "invalid_query"),
        ("/v1/promotions?color=red", "invalid_query"),
        ("/v1/audit?limit=9999", "invalid_query"),
        ("/v1/audit?cursor=abc", "invalid_query"),
        ("/v1/audit?digest=sha256:nope", "invalid_query"),
        ("/v1/audit?since=yesterday", "invalid_query"),
        ("/v1/nothing", "not_found"),
        ("/v1/promotions/not-a-uuid", "not_found"),
    ] {
        let (status, err) = app.get(path, &app.tokens.admin).await;
        assert!(status.is_client_error(), "{path}: {status}");
        assert_eq!(err["code"], code, "{path}: {err}");
    }
    let (status, _) = app
        .get(
            &format!("/v1/promotions/{}", uuid::Uuid::new_v4()),
            &app.tokens.admin,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let resp = app
        .http
        .delete(format!("{}/v1/promotions", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(app.count("SELECT count(*) FROM promotions").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_filters_by_state_and_health_endpoints_answer() {
    let app = TestApp::spawn().await;
    let signed = app.push_signed("team/app", "a").await;
    let unsigned = app.push_image("team/app", "b").await;
    app.request(&app.source("team/app", &signed), trivy(&[]))
        .await;
    app.request(&app.source("team/app", &unsigned), trivy(&[]))
        .await;
    let (_, all) = app.get("/v1/promotions", &app.tokens.auditor).await;
    assert_eq!(all["promotions"].as_array().unwrap().len(), 2);
    let (_, denied) = app
        .get("/v1/promotions?state=denied", &app.tokens.approver1)
        .await;
    let denied = denied["promotions"].as_array().unwrap();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["digest"], unsigned);
    for path in ["/healthz", "/readyz"] {
        let resp = app
            .http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
}
