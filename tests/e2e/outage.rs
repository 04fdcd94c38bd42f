//! A database outage: readiness and API calls answer 503 quickly (`not_ready`,
//! `database_unavailable` with `Retry-After`) instead of 500 after a long wait, and the app
//! recovers once the database is back.

use std::time::Duration;

use reqwest::StatusCode;

use crate::support::{TestApp, decode};
use crate::tcp_proxy::CutProxy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_cut_answers_503_and_the_app_recovers() {
    let proxy = CutProxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let port = proxy.port;
    let app = TestApp::spawn_with(|c| {
        c.database_url = c
            .database_url
            .expose()
            .replace("127.0.0.1:5432", &format!("127.0.0.1:{port}"))
            .into();
        // Long enough to open the pool through the proxy on a loaded machine (the whole
        // suite runs beside it), short enough that a cut answers 503 well within the
        // client's timeout.
        c.database.acquire_timeout_ms = 3000;
        c.database.min_connections = 2;
    })
    .await;
    // Generous client timeouts: they only stop a hang from hanging the test; the codes
    // are what is asserted.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let get = |path: &str, token: Option<&str>| {
        let mut req = http.get(format!("{}{path}", app.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { decode(req.send().await.unwrap()).await }
    };
    let (status, _) = get("/readyz", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get("/v1/promotions", Some(&app.tokens.auditor)).await;
    assert_eq!(status, StatusCode::OK);

    proxy.cut();
    let (status, err) = get("/readyz", None).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("not_ready"))
    );
    for path in ["/v1/promotions", "/v1/audit"] {
        let resp = http
            .get(format!("{}{path}", app.base))
            .bearer_auth(&app.tokens.auditor)
            .send()
            .await
            .unwrap();
        let retry_after = resp.headers().get("retry-after").cloned();
        let (status, err) = decode(resp).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Some("database_unavailable")
            ),
            "{path}: {err}"
        );
        assert!(retry_after.is_some(), "{path}: 503 carries Retry-After");
    }

    proxy.restore();
    let mut ready = false;
    for _ in 0..100 {
        if get("/readyz", None).await.0 == StatusCode::OK {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "readiness recovers once the database is back");
    let (status, body) = get("/v1/promotions", Some(&app.tokens.auditor)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
