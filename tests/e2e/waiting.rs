//! Waiting for a promotion without polling: `GET /v1/promotions/{id}?wait_seconds=N` answers
//! once the state differs from the one the caller saw (or after N seconds), woken in every
//! replica by Postgres notifications.

use reqwest::StatusCode;

use crate::support::{TestApp, trivy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_get_answers_when_the_state_moves_on() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "wait").await;
    let (status, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/promotions/{id}");

    // Nothing happens: after the wait, the view as it is.
    let (status, same) = app
        .get(&format!("{path}?wait_seconds=1"), &app.tokens.ci)
        .await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(same["state"], "pending_approval");

    // A waiter started before the votes sees the state move on.
    let waiter = {
        let (http, url, token) = (
            app.http.clone(),
            format!("{}{path}?wait_seconds=25&state=pending_approval", app.base),
            app.tokens.ci.clone(),
        );
        tokio::spawn(async move {
            let resp = http.get(url).bearer_auth(token).send().await.unwrap();
            (
                resp.status(),
                resp.json::<serde_json::Value>().await.unwrap(),
            )
        })
    };
    for approver in [&app.tokens.approver1, &app.tokens.approver2] {
        let (status, v) = app.vote(&id, approver, "approve").await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let (status, moved) = waiter.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_ne!(moved["state"], "pending_approval", "{moved}");

    // Waiting out a state it has already left answers at once with where it is now.
    let settled = app.wait_settled(&id).await;
    assert_eq!(settled["state"], "promoted");
    let (status, now) = app
        .get(
            &format!("{path}?wait_seconds=20&state=promoting"),
            &app.tokens.ci,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{now}");
    assert_eq!(now["state"], "promoted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_waits_are_refused_with_the_reason() {
    let app = TestApp::spawn().await;
    let id = uuid::Uuid::new_v4();
    for (query, says) in [
        ("wait_seconds=0", "between 1 and"),
        ("wait_seconds=100000", "between 1 and"),
        ("wait_seconds=x", "wait_seconds"),
        ("state=promoted", "needs wait_seconds"),
        ("wait_seconds=1&state=sleeping", "sleeping"),
        ("wait_seconds=1&then=more", "then"),
    ] {
        let (status, e) = app
            .get(&format!("/v1/promotions/{id}?{query}"), &app.tokens.ci)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {e}");
        assert_eq!(e["code"], "invalid_query", "{query}: {e}");
        assert!(e["detail"].as_str().unwrap().contains(says), "{query}: {e}");
    }
    let (status, e) = app
        .get(
            &format!("/v1/promotions/{id}?wait_seconds=1"),
            &app.tokens.ci,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{e}");
}
