//! Copy-side rules through the API: immutable production tags and retrying a failed copy.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestApp, trivy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_production_tag_is_never_moved_to_another_digest() {
    let app = TestApp::spawn().await;
    let first = app.push_signed("team/app", "one").await;
    let (_, p) = app
        .request(&app.source("team/app", &first), trivy(&[]))
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    app.approve_twice(&id).await;
    assert_eq!(app.wait_settled(&id).await["state"], "promoted");
    assert_eq!(
        app.prod_digest("team/app", "v1").await.as_deref(),
        Some(first.as_str())
    );

    // Another digest for the same production tag is refused up front, writing nothing.
    let second = app.push_signed("team/app", "two").await;
    let before = app.count("SELECT count(*) FROM promotions").await;
    let (status, body) = app
        .request(&app.source("team/app", &second), trivy(&[]))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "tag_exists");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains(":v1") && detail.contains(&first),
        "{detail}"
    );
    assert_eq!(app.count("SELECT count(*) FROM promotions").await, before);
    assert_eq!(
        app.prod_digest("team/app", "v1").await.as_deref(),
        Some(first.as_str())
    );

    // The same digest again is an idempotent re-promotion, and a new tag is fine.
    let (status, p) = app
        .request(&app.source("team/app", &first), trivy(&[]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let body = json!({
        "source": app.source("team/app", &second), "route": crate::support::ROUTE, "tag": "v2",
        "evidence": [{"format": "trivy-json", "document": trivy(&[])}],
    });
    let (status, p) = app.post("/v1/promotions", &app.tokens.ci, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_that_allows_it_moves_the_tag() {
    let app = TestApp::spawn_with(|c| c.routes[0].allow_tag_overwrite = true).await;
    let first = app.push_signed("team/app", "one").await;
    let second = app.push_signed("team/app", "two").await;
    for digest in [&first, &second] {
        let (status, p) = app
            .request(&app.source("team/app", digest), trivy(&[]))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{p}");
        let id = p["id"].as_str().unwrap().to_owned();
        app.approve_twice(&id).await;
        assert_eq!(app.wait_settled(&id).await["state"], "promoted");
    }
    assert_eq!(
        app.prod_digest("team/app", "v1").await.as_deref(),
        Some(second.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_failed_promotions_are_retried_by_their_requester_or_an_admin() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "r").await;
    let (_, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    let retry = |token: String| {
        let id = id.clone();
        let app = &app;
        async move {
            app.post(&format!("/v1/promotions/{id}/retry"), &token, &json!({}))
                .await
        }
    };
    let (status, body) = retry(app.tokens.ci.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "promotion_not_failed");
    let (status, body) = retry(app.tokens.approver1.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = app
        .post(
            "/v1/promotions/00000000-0000-4000-8000-000000000000/retry",
            &app.tokens.admin,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            "/v1/promotions/not-a-uuid/retry",
            &app.tokens.admin,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'retried'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_that_failed_on_a_flaky_registry_is_retried_and_finishes() {
    use portcullis_registry::testing::{FaultPlan, FaultProxy, TestRegistry};
    use portcullis_server::config::{RegistrySettings, RetrySettings};

    // Production sits behind a proxy that answers 500 to the first manifest upload: not a
    // transient failure, so the copy job fails at once; the retried one gets through.
    // (Transient failures are retried by the job itself: see hung_registries.rs.)
    let prod = TestRegistry::start().await.unwrap();
    let proxy = FaultProxy::start(
        &prod.host,
        FaultPlan::first(1, 500).only("PUT", "/manifests/"),
    )
    .await
    .unwrap();
    let proxy_host = proxy.host.as_str().to_owned();
    let app = TestApp::spawn_with(move |c| {
        c.routes[0].to = format!("{proxy_host}/");
        c.registries.insert(
            proxy_host,
            RegistrySettings {
                insecure: true,
                retry: Some(RetrySettings {
                    max_attempts: Some(2),
                    initial_backoff_ms: Some(10),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
    })
    .await;
    let digest = app.push_signed("team/app", "flaky").await;
    let (status, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    app.approve_twice(&id).await;
    let failed = app.wait_settled(&id).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let reason = failed["error"].as_str().unwrap();
    assert!(
        reason.contains("500") && reason.contains("put manifest"),
        "{reason}"
    );
    assert_eq!(proxy.faulted(), 1);

    // Another CI identity may not retry it; the requester may.
    let (status, p) = app
        .post(
            &format!("/v1/promotions/{id}/retry"),
            &app.tokens.ci,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert!(p["error"].is_null(), "{p}");
    let done = app.wait_settled(&id).await;
    assert_eq!(done["state"], "promoted", "{done}");
    assert_eq!(proxy.faulted(), 1, "no fault after the retry");
    let at_prod = portcullis_testkit::manifest_digest(prod.host.as_str(), "team/app", "v1")
        .await
        .unwrap();
    assert_eq!(at_prod.as_deref(), Some(digest.as_str()));
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'retried'")
            .await,
        1
    );
}
