//! Registries that accept connections and then go quiet, or fail for a while: a CI request
//! gets a prompt 504 `registry_timeout` naming the registry, a copy to a hung destination
//! fails by its deadline without holding up another route's promotion, and an outage longer
//! than one request's retries but shorter than `retry.max_elapsed_seconds` ends promoted
//! without a manual retry.

use std::time::Duration;

use portcullis_registry::testing::{FaultPlan, FaultProxy, TestRegistry};
use portcullis_server::config::{RegistrySettings, RetrySettings, Route, TimeoutSettings};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, trivy};

/// An insecure registry with the given timeouts and retries.
fn settings(header_secs: u64, retry: RetrySettings) -> RegistrySettings {
    RegistrySettings {
        insecure: true,
        timeouts: Some(TimeoutSettings {
            response_header_seconds: Some(header_secs),
            idle_read_seconds: Some(header_secs),
        }),
        retry: Some(retry),
        ..Default::default()
    }
}

/// Polls the promotion until `done` holds for it (the test fails after 90 s); for the
/// test of the real background worker, where copies run concurrently.
async fn wait_until(app: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..900 {
        let (status, p) = app
            .get(&format!("/v1/promotions/{id}"), &app.tokens.auditor)
            .await;
        assert_eq!(status, StatusCode::OK, "{p}");
        if done(&p) {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("promotion {id} never reached the expected state");
}

/// Requests `repo:tag` on `route` and approves it; returns the promotion id.
async fn promote(app: &TestApp, route: &str, repo: &str, tag: &str) -> String {
    let digest = app.push_signed(repo, tag).await;
    let body = json!({
        "source": app.source(repo, &digest),
        "route": route,
        "tag": tag,
        "evidence": [{"format": "trivy-json", "document": trivy(&[])}],
    });
    let (status, p) = app.post("/v1/promotions", &app.tokens.ci, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    app.approve_twice(&id).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_source_registry_answers_504_registry_timeout_naming_it() {
    let upstream = TestRegistry::start().await.unwrap();
    let hung = FaultProxy::start(&upstream.host, FaultPlan::hang())
        .await
        .unwrap();
    let hung_host = hung.host.as_str().to_owned();
    let host = hung_host.clone();
    let app = TestApp::spawn_with(move |c| {
        c.routes[0].from = format!("{host}/");
        c.registries
            .insert(host, settings(1, RetrySettings::default()));
    })
    .await;
    // The outer timeout only turns a request that hangs into a failure.
    let (status, p) = tokio::time::timeout(
        Duration::from_secs(60),
        app.request(&format!("{hung_host}/team/app:v1"), trivy(&[])),
    )
    .await
    .expect("the CI request hung on the registry");
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{p}");
    assert_eq!(p["code"], "registry_timeout", "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("source") && detail.contains(&hung_host) && detail.contains("resolve"),
        "says which registry and operation: {detail}"
    );
    assert_eq!(app.count("SELECT count(*) FROM promotions").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_to_a_hung_destination_fails_by_its_deadline_while_another_route_promotes() {
    // Route 1's destination answers reads but never answers an upload; route 2 is healthy.
    let upstream = TestRegistry::start().await.unwrap();
    let hung = FaultProxy::start(&upstream.host, FaultPlan::hang().only("PUT", "/"))
        .await
        .unwrap();
    let healthy = TestRegistry::start().await.unwrap();
    let (hung_host, healthy_host) = (
        hung.host.as_str().to_owned(),
        healthy.host.as_str().to_owned(),
    );
    let (h, ok) = (hung_host.clone(), healthy_host.clone());
    // The real worker: the healthy copy must finish while the stuck one hangs.
    let app = TestApp::spawn_with_worker(move |c| {
        c.routes[0].to = format!("{h}/");
        // Each upload times out after 2 s; the job retries them until 15 s have passed (or
        // its 16 s deadline ends it).
        let retry = RetrySettings {
            max_elapsed_seconds: Some(15),
            ..Default::default()
        };
        c.registries.insert(h, settings(2, retry));
        c.copy.job_deadline_seconds = 16;
        let from = c.routes[0].from.clone();
        c.routes.push(Route {
            name: "healthy".into(),
            from,
            to: format!("{ok}/"),
            allow_tag_overwrite: false,
            platforms: None,
            channel_tags: Vec::new(),
        });
        c.registries
            .insert(ok, settings(5, RetrySettings::default()));
    })
    .await;

    let stuck = promote(&app, crate::support::ROUTE, "team/app", "v1").await;
    // Wait until the stuck copy's upload is hanging at the destination.
    for _ in 0..600 {
        if hung.faulted() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(hung.faulted() > 0, "the copy reached the hung destination");

    let other = promote(&app, "healthy", "team/other", "v1").await;
    let done = wait_until(&app, &other, |p| p["state"] != "promoting").await;
    assert_eq!(done["state"], "promoted", "{done}");
    let (_, still) = app
        .get(&format!("/v1/promotions/{stuck}"), &app.tokens.auditor)
        .await;
    assert_eq!(
        still["state"], "promoting",
        "the hung copy is still stuck: {still}"
    );

    let failed = wait_until(&app, &stuck, |p| p["state"] != "promoting").await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let reason = failed["error"].as_str().unwrap();
    assert!(
        reason.starts_with("registry_timeout")
            && reason.contains(&format!(
                "at the destination: registry {hung_host} did not answer copy blob"
            )),
        "says which registry and operation: {reason}"
    );
    // The job let go of its lease: nothing keeps renewing it.
    let (lease_null, claim_null): (bool, bool) = sqlx::query_as(
        "SELECT lease_until IS NULL, claim_id IS NULL FROM promotions WHERE id = $1::uuid",
    )
    .bind(&stuck)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(lease_null && claim_null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_outage_longer_than_one_request_retries_ends_promoted() {
    // Manifest uploads fail with 503 for 4 s: far longer than one request's two attempts,
    // well within the 60 s the job may spend retrying.
    let prod = TestRegistry::start().await.unwrap();
    let flaky = FaultProxy::start(
        &prod.host,
        FaultPlan::always(503)
            .only("PUT", "/manifests/")
            .lasting(Duration::from_secs(4)),
    )
    .await
    .unwrap();
    let host = flaky.host.as_str().to_owned();
    let app = TestApp::spawn_with(move |c| {
        c.routes[0].to = format!("{host}/");
        let retry = RetrySettings {
            max_attempts: Some(2),
            initial_backoff_ms: Some(10),
            max_backoff_ms: Some(500),
            max_elapsed_seconds: Some(60),
        };
        c.registries.insert(host, settings(5, retry));
    })
    .await;
    let id = promote(&app, crate::support::ROUTE, "team/app", "v1").await;
    let done = app.wait_settled(&id).await;
    assert_eq!(done["state"], "promoted", "{done}");
    assert!(done["error"].is_null(), "{done}");
    assert!(
        flaky.faulted() > 2,
        "the job outlasted more failures than one request retries: {}",
        flaky.faulted()
    );
    let digest = done["digest"].as_str().unwrap();
    let at_prod = portcullis_testkit::manifest_digest(prod.host.as_str(), "team/app", "v1")
        .await
        .unwrap();
    assert_eq!(at_prod.as_deref(), Some(digest));
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'retried'")
            .await,
        0,
        "no manual retry"
    );
}
