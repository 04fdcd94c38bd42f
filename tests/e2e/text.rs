//! Control characters in query filters and request fields: 422 with a stable code, never a
//! 500 from Postgres (which refuses NUL in text) and never text that rewrites a log line.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{ROUTE, TestApp, trivy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_and_control_characters_in_filters_are_refused_with_422() {
    let app = TestApp::spawn().await;
    for path in [
        "/v1/audit?actor=%00",
        "/v1/audit?action=approved%00",
        "/v1/audit?actor=%1B%5B31mroot",
        "/v1/audit?actor=alice%E2%80%AE",
        "/v1/audit?digest=%00",
        "/v1/audit?cursor=5%0A",
        "/v1/promotions?state=denied%00",
    ] {
        let (status, err) = app.get(path, &app.tokens.admin).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_query")),
            "{path}: {err}"
        );
    }
    // Printable Unicode is an ordinary filter.
    let (status, page) = app
        .get("/v1/audit?actor=J%C3%BCrgen", &app.tokens.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_request_fields_are_refused_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "t").await;
    let source = app.source("team/app", &digest);
    let cases = [
        json!({"source": source, "route": format!("{ROUTE}\u{1b}[2K")}),
        json!({"source": source, "route": format!("{ROUTE}\u{202e}")}),
        json!({"source": format!("{source}\u{85}"), "route": ROUTE}),
        json!({"source": source, "route": ROUTE, "tag": "v1\u{feff}"}),
        json!({"source": source, "route": ROUTE,
               "evidence": [{"format": "trivy-json\u{0}", "document": trivy(&[])}]}),
    ];
    for body in &cases {
        let (status, err) = app.post("/v1/promotions", &app.tokens.ci, body).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body")),
            "{body}: {err}"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM promotions").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM audit_events").await, 0);
}
