//! A flood of refused requests: counted per client per minute outside the audit chain (a
//! few rows, however many requests), samples truncated, and a client past its limit
//! answered 429 `rate_limited` with `Retry-After`, while a token that authenticated
//! recently still gets through from the same address.

use futures_util::StreamExt;
use reqwest::StatusCode;

use crate::support::{TestApp, decode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_flood_is_rate_limited_and_adds_only_a_few_rows() {
    let app = TestApp::spawn_with(|c| {
        c.auth_failures.max_per_minute = 20;
        // Flushed by the test, not the timer.
        c.auth_failures.flush_interval_ms = 60_000;
    })
    .await;
    // A legitimate caller authenticates before the flood.
    let (status, _) = app.get("/v1/promotions", &app.tokens.auditor).await;
    assert_eq!(status, StatusCode::OK);
    let audit_before = app.count("SELECT count(*) FROM audit_events").await;

    let long_path = format!("/v1/promotions/{}", "a".repeat(60 * 1024));
    let (status, _) = app.get(&long_path, "pct_bogus").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Up to the limit, refusals are 401; then 429 with Retry-After.
    for i in 1..25 {
        let resp = app
            .http
            .get(format!("{}/v1/promotions", app.base))
            .bearer_auth(format!("pct_bogus{i}"))
            .send()
            .await
            .unwrap();
        let retry_after = resp.headers().get("retry-after").cloned();
        let (status, err) = decode(resp).await;
        if i < 20 {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "request {i}: {err}");
        } else {
            assert_eq!(
                (status, err["code"].as_str()),
                (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")),
                "request {i}"
            );
            let secs: u64 = retry_after.unwrap().to_str().unwrap().parse().unwrap();
            assert!((1..=60).contains(&secs), "{secs}");
        }
    }
    let flood: Vec<StatusCode> = futures_util::stream::iter(0..500)
        .map(|i| {
            let req = app
                .http
                .post(format!("{}/v1/promotions", app.base))
                .bearer_auth(format!("pct_flood{i}"))
                .json(&serde_json::json!({}));
            async move { req.send().await.unwrap().status() }
        })
        .buffer_unordered(25)
        .collect()
        .await;
    assert!(flood.iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS));

    // The recently authenticated token still works from the flooding address; a token
    // not seen before is refused until the minute ends (fail closed).
    let (status, body) = app.get("/v1/promotions", &app.tokens.auditor).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app.get("/v1/audit", &app.tokens.admin).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    app.state
        .auth_failures
        .flush(&app.state.store)
        .await
        .unwrap();
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events").await,
        audit_before,
        "refusals stay out of the audit chain"
    );
    assert_eq!(
        app.count("SELECT sum(count)::bigint FROM auth_failures")
            .await,
        1 + 24 + 500 + 1
    );
    let rows = app.count("SELECT count(*) FROM auth_failures").await;
    // invalid_token and rate_limited, in at most two minutes.
    assert!((2..=4).contains(&rows), "{rows} rows");
    let longest = app
        .count("SELECT max(octet_length(s->>'path'))::bigint FROM auth_failures, jsonb_array_elements(samples) s")
        .await;
    assert_eq!(longest, 256, "the 60 KiB path is kept truncated");
    let stored = app
        .count("SELECT sum(pg_column_size(samples))::bigint FROM auth_failures")
        .await;
    assert!(stored < 16 * 1024, "{stored} bytes of samples");
    // Unlike audit events, the counts can be pruned.
    sqlx::query("DELETE FROM auth_failures")
        .execute(&app.db)
        .await
        .unwrap();
}
