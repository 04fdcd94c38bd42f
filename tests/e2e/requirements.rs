//! The policy decides the approval requirement: several groups filled by distinct people (a
//! matching, so one person in two groups counts once), and a count of 0 releases at once.

use portcullis_core::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, trivy};

/// A copy of the default bundle whose `approvals` setting is `approvals`.
fn bundle_with(approvals: Value) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-req-{}", uuid::Uuid::new_v4()));
    crate::policy::copy_bundle(&dir);
    let path = dir.join("data.json");
    let mut data: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    data["portcullis"]["config"]["approvals"] = approvals;
    std::fs::write(&path, data.to_string()).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_groups_need_two_distinct_people_matched_to_them() {
    let dir = bundle_with(json!([
        {"group": "security", "count": 1},
        {"group": "release-approvers", "count": 1}
    ]));
    let app = TestApp::spawn_with(move |c| c.policy_dir = dir).await;
    let carol = app
        .token(
            "carol",
            Role::Approver,
            &["security", "release-approvers"],
            None,
        )
        .await;
    let digest = app.push_signed("team/app", "two-groups").await;
    let (status, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["decision"]["required_approvals"][0]["group"], "security");
    let id = p["id"].as_str().unwrap().to_owned();

    // A qa-only approver holds neither group.
    let qa = app.token("dave", Role::Approver, &["qa"], None).await;
    let (status, e) = app.vote(&id, &qa, "approve").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["code"], "missing_group");
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .contains("security or release-approvers")
    );

    // Carol holds both groups but is one person: still pending.
    let (status, p) = app.vote(&id, &carol, "approve").await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["state"], "pending_approval", "{p}");
    // Alice (release only) completes it: Carol takes the security slot.
    let (status, p) = app.vote(&id, &app.tokens.approver1, "approve").await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["state"], "promoting", "{p}");
    assert_eq!(app.wait_settled(&id).await["state"], "promoted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requirement_of_zero_promotes_at_once() {
    let dir = bundle_with(json!({"count": 0, "group": "release-approvers"}));
    let app = TestApp::spawn_with(move |c| c.policy_dir = dir).await;
    let digest = app.push_signed("team/app", "auto").await;
    let (status, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "promoting", "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    assert_eq!(app.wait_settled(&id).await["state"], "promoted");
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'auto_approved'")
            .await,
        1
    );
    // Nobody can vote on it.
    let (status, e) = app.vote(&id, &app.tokens.approver1, "approve").await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
}
