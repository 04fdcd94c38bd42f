//! `GET /v1/promotions` reads a page's votes in one query: each promotion must still come
//! back with its own votes, and only its own.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, trivy};

/// Promotion id → (state, [(approver, verdict)]).
type Listing<'a> = BTreeMap<&'a str, (&'a str, Vec<(&'a str, &'a str)>)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_shows_each_promotion_with_its_own_votes() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for tag in ["one", "two", "three"] {
        let digest = app.push_signed("team/app", tag).await;
        let (status, p) = app
            .request(&app.source("team/app", &digest), trivy(&[]))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{p}");
        ids.push(p["id"].as_str().unwrap().to_owned());
    }
    let (status, _) = app.vote(&ids[0], &app.tokens.approver1, "approve").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.vote(&ids[1], &app.tokens.approver2, "reject").await;
    assert_eq!(status, StatusCode::OK);
    let (status, list) = app
        .get("/v1/promotions?limit=10", &app.tokens.auditor)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let seen: Listing = list["promotions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let votes = p["approvals"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| {
                    (
                        v["approver"].as_str().unwrap(),
                        v["verdict"].as_str().unwrap(),
                    )
                })
                .collect();
            (
                p["id"].as_str().unwrap(),
                (p["state"].as_str().unwrap(), votes),
            )
        })
        .collect();
    let expected: Listing = [
        (
            ids[0].as_str(),
            ("pending_approval", vec![("alice", "approve")]),
        ),
        (ids[1].as_str(), ("rejected", vec![("bob", "reject")])),
        (ids[2].as_str(), ("pending_approval", vec![])),
    ]
    .into_iter()
    .collect();
    assert_eq!(seen, expected);
    // Newest first, and the filter and the page size still apply.
    let order: Vec<&str> = list["promotions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(order, [ids[2].as_str(), ids[1].as_str(), ids[0].as_str()]);
    let (_, rejected) = app
        .get("/v1/promotions?state=rejected", &app.tokens.auditor)
        .await;
    let only: Vec<&Value> = rejected["promotions"].as_array().unwrap().iter().collect();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["approvals"][0]["approver"], "bob");
    let (_, one) = app.get("/v1/promotions?limit=1", &app.tokens.auditor).await;
    assert_eq!(one["promotions"].as_array().unwrap().len(), 1);
}
