//! Request ids: `x-request-id` is kept when valid, made when absent or invalid, echoed on
//! every answer, named in problem+json `instance` and stored (and MAC-covered) with the audit
//! events the request wrote.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{ROUTE, TestApp, decode, trivy};

/// The id a response carries.
fn echoed(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("x-request-id")
        .expect("every response carries x-request-id")
        .to_str()
        .unwrap()
        .to_owned()
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_client_request_id_is_echoed_and_a_missing_one_generated() {
    let app = TestApp::spawn().await;
    let url = format!("{}/healthz", app.base);
    let mine = "build-42.run_7";
    let resp = app
        .http
        .get(&url)
        .header("x-request-id", mine)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(echoed(&resp), mine);
    let longest = "A".repeat(64);
    let resp = app
        .http
        .get(&url)
        .header("x-request-id", &longest)
        .send()
        .await
        .unwrap();
    assert_eq!(echoed(&resp), longest, "64 characters are kept");
    let first = echoed(&app.http.get(&url).send().await.unwrap());
    let second = echoed(&app.http.get(&url).send().await.unwrap());
    assert!(is_uuid(&first) && is_uuid(&second), "{first} {second}");
    assert_ne!(first, second, "each request gets its own id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_client_request_id_is_replaced() {
    let app = TestApp::spawn().await;
    let url = format!("{}/healthz", app.base);
    let too_long = "a".repeat(65);
    for bad in [too_long.as_str(), "has space", "a/b", "x;y", "", "quote\"d"] {
        let resp = app
            .http
            .get(&url)
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        let id = echoed(&resp);
        assert_ne!(id, bad);
        assert!(is_uuid(&id), "{bad:?} was replaced by {id:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problem_json_names_the_request_in_instance() {
    let app = TestApp::spawn().await;
    // An unknown promotion (404), and no token at all (401): both name the request.
    let resp = app
        .http
        .get(format!("{}/v1/promotions/not-a-uuid", app.base))
        .bearer_auth(&app.tokens.auditor)
        .header("x-request-id", "trace-404")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed(&resp), "trace-404");
    let (status, body) = decode(resp).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["instance"], "urn:portcullis:request:trace-404",
        "{body}"
    );
    let resp = app
        .http
        .get(format!("{}/v1/audit", app.base))
        .send()
        .await
        .unwrap();
    let id = echoed(&resp);
    let (status, body) = decode(resp).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body["instance"],
        format!("urn:portcullis:request:{id}"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_events_carry_the_request_id_under_their_mac() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "rid").await;
    let body = json!({
        "source": app.source("team/app", &digest),
        "route": ROUTE,
        "tag": "v1",
        "evidence": [{"format": "trivy-json", "document": trivy(&[])}],
    });
    let resp = app
        .http
        .post(format!("{}/v1/promotions", app.base))
        .bearer_auth(&app.tokens.ci)
        .header("x-request-id", "ci-run-1001")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, p) = decode(resp).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id: uuid::Uuid = p["id"].as_str().unwrap().parse().unwrap();
    let hash = app.evidence_hash(&id.to_string()).await;
    let resp = app
        .http
        .post(format!("{}/v1/promotions/{id}/approvals", app.base))
        .bearer_auth(&app.tokens.approver1)
        .header("x-request-id", "vote-7")
        .json(&json!({"verdict": "approve", "comment": "ok", "evidence_hash": hash}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let events: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT action, request_id FROM audit_events WHERE promotion_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    let expected = [
        ("requested", Some("ci-run-1001")),
        ("evaluated", Some("ci-run-1001")),
        ("approved", Some("vote-7")),
    ];
    let seen: Vec<(&str, Option<&str>)> = events
        .iter()
        .map(|(a, r)| (a.as_str(), r.as_deref()))
        .collect();
    assert_eq!(seen, expected);
    // The API shows it, and the chain verifies with it ...
    let (_, page) = app
        .get("/v1/audit?action=approved", &app.tokens.auditor)
        .await;
    assert_eq!(page["events"][0]["request_id"], "vote-7", "{page}");
    let keys = [app.state.keys.audit_mac().clone()];
    let intact = app.state.store.verify_audit_chain(&keys).await.unwrap();
    assert_eq!(intact.broken_at, None);
    // ... and not with it rewritten: the MAC covers it.
    sqlx::query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET request_id = 'someone-else' WHERE request_id = 'vote-7'")
        .execute(&app.db)
        .await
        .unwrap();
    let altered = app.state.store.verify_audit_chain(&keys).await.unwrap();
    let (_, why) = altered
        .broken_at
        .expect("a rewritten request id breaks the chain");
    assert!(why.contains("does not match"), "{why}");
}
