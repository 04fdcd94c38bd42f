//! Rollbacks and the policy: a policy may ask for approvals on a rollback
//! (`rollback_approvals`, or its own rule on `input.request.kind`), and a policy that denies
//! rollbacks denies them: the channel tag stays where it is.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::rollback::{REPO, promote, rollback, rollback_body, spawn};
use crate::support::ROUTE;

/// A copy of the default bundle with `approvals` as the promotion requirement, `rollback`
/// as `rollback_approvals` (if any) and `extra_rego` appended to the policy.
fn bundle(approvals: Value, rollback: Option<Value>, extra_rego: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-rb-{}", uuid::Uuid::new_v4()));
    crate::policy::copy_bundle(&dir);
    let path = dir.join("data.json");
    let mut data: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    data["portcullis"]["config"]["approvals"] = approvals;
    if let Some(r) = rollback {
        data["portcullis"]["config"]["rollback_approvals"] = r;
    }
    std::fs::write(&path, data.to_string()).unwrap();
    let rego = dir.join("promotion.rego");
    let text = std::fs::read_to_string(&rego).unwrap();
    std::fs::write(&rego, format!("{text}\n{extra_rego}\n")).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_may_ask_for_approvals_on_a_rollback() {
    let asked = json!({"count": 1, "group": "release-approvers"});
    let dir = bundle(
        json!({"count": 0, "group": "release-approvers"}),
        Some(asked),
        "",
    );
    let app = spawn(Some(dir)).await;
    let a = app.push_signed(REPO, "a").await;
    let b = app.push_signed(REPO, "b").await;
    promote(&app, ROUTE, &a, "stable").await;
    promote(&app, ROUTE, &b, "stable").await;

    let (status, p) = rollback(&app, &rollback_body(&app, &a, "stable")).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "pending_approval", "{p}");
    assert_eq!(p["decision"]["required_approvals"]["count"], 1, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    // The same request again returns the open rollback.
    let (status, again) = rollback(&app, &rollback_body(&app, &a, "stable")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], id.as_str());
    assert_eq!(app.run_copies().await, 0);
    assert_eq!(
        app.prod_digest(REPO, "stable").await.as_deref(),
        Some(b.as_str())
    );

    let (status, p) = app.vote(&id, &app.tokens.approver1, "approve").await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["state"], "promoting", "{p}");
    assert_eq!(app.wait_settled(&id).await["state"], "promoted");
    assert_eq!(
        app.prod_digest(REPO, "stable").await.as_deref(),
        Some(a.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_denying_rollbacks_denies_them() {
    let deny = r#"violations contains v if {
	input.request.kind == "rollback"
	v := {"rule": "rollback.frozen", "message": "rollbacks are frozen", "severity": "high", "remediation": "promote a fix"}
}"#;
    let dir = bundle(
        json!({"count": 0, "group": "release-approvers"}),
        None,
        deny,
    );
    let app = spawn(Some(dir)).await;
    let a = app.push_signed(REPO, "a").await;
    let b = app.push_signed(REPO, "b").await;
    promote(&app, ROUTE, &a, "stable").await;
    promote(&app, ROUTE, &b, "stable").await;

    let (status, p) = rollback(&app, &rollback_body(&app, &a, "stable")).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "denied", "{p}");
    assert_eq!(p["kind"], "rollback");
    assert_eq!(
        p["decision"]["violations"][0]["rule"], "rollback.frozen",
        "{p}"
    );
    assert_eq!(app.run_copies().await, 0);
    assert_eq!(
        app.prod_digest(REPO, "stable").await.as_deref(),
        Some(b.as_str())
    );
}
