//! Policy reload through `POST /v1/admin/policy/reload`: a good bundle swaps in atomically,
//! a bundle that does not compile or fails its own tests is refused and the old one keeps
//! serving; every attempt is audited.

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{ROUTE, TestApp, trivy};

/// A private copy of the default bundle.
pub fn copy_bundle(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}

/// An app serving its own copy of the default bundle, which the test may edit.
async fn spawn_with_private_bundle() -> (TestApp, PathBuf) {
    let bundle = std::env::temp_dir().join(format!("portcullis-bundle-{}", uuid::Uuid::new_v4()));
    copy_bundle(&bundle);
    let dir = bundle.clone();
    (
        TestApp::spawn_with(move |c| c.policy_dir = dir).await,
        bundle,
    )
}

async fn serving_digest(app: &TestApp) -> String {
    let (status, body) = app.get("/readyz", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["policy_digest"].as_str().unwrap().to_owned()
}

async fn reload(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.post("/v1/admin/policy/reload", token, &json!({})).await
}

fn set_max_high(dir: &Path, max_high: u64) {
    let path = dir.join("data.json");
    let mut data: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    data["portcullis"]["config"]["max_high"] = json!(max_high);
    std::fs::write(path, serde_json::to_string_pretty(&data).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_good_bundles_and_refuses_bad_ones() {
    let (app, bundle) = spawn_with_private_bundle().await;
    let digest = app.push_signed("team/app", "reload").await;
    let dry_run = json!({
        "source": app.source("team/app", &digest), "route": ROUTE, "dry_run": true,
        "evidence": [{"format": "trivy-json", "document": trivy(&[("CVE-2026-1", "HIGH")])}],
    });
    let d0 = serving_digest(&app).await;

    // Only admins may reload.
    let (status, body) = reload(&app, &app.tokens.ci).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Nothing changed on disk: same digest.
    let (status, body) = reload(&app, &app.tokens.admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["changed"], false);
    assert_eq!(body["policy_digest"], d0.as_str());
    assert!(body["tests_passed"].as_u64().unwrap() >= 20, "{body}");

    // A stricter threshold swaps in and decides the next request.
    let (_, p) = app.post("/v1/promotions", &app.tokens.ci, &dry_run).await;
    assert_eq!(p["decision"]["allow"], true, "{p}");
    set_max_high(&bundle, 0);
    let (status, body) = reload(&app, &app.tokens.admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["changed"], true);
    assert_eq!(body["previous_digest"], d0.as_str());
    let d1 = body["policy_digest"].as_str().unwrap().to_owned();
    assert_ne!(d0, d1);
    assert_eq!(serving_digest(&app).await, d1);
    let (_, p) = app.post("/v1/promotions", &app.tokens.ci, &dry_run).await;
    assert_eq!(p["decision"]["allow"], false, "{p}");
    assert_eq!(
        p["decision"]["violations"][0]["rule"],
        "vulnerability.max_high"
    );
    assert_eq!(p["policy_digest"], d1.as_str());

    // A bundle that does not compile is refused; the previous one keeps serving.
    std::fs::write(
        bundle.join("broken.rego"),
        "package portcullis.broken\n\nthis is not rego\n",
    )
    .unwrap();
    set_max_high(&bundle, 10);
    let (status, body) = reload(&app, &app.tokens.admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "policy_invalid");
    assert!(
        body["detail"].as_str().unwrap().contains("broken.rego"),
        "{body}"
    );
    assert_eq!(serving_digest(&app).await, d1);
    std::fs::remove_file(bundle.join("broken.rego")).unwrap();

    // A bundle whose own tests fail is refused too, naming the test.
    std::fs::write(
        bundle.join("extra_test.rego"),
        "package portcullis.extra_test\n\nimport rego.v1\n\ntest_always_fails if {\n\tfalse\n}\n",
    )
    .unwrap();
    let (status, body) = reload(&app, &app.tokens.admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "policy_tests_failed");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("test_always_fails"),
        "{body}"
    );
    assert_eq!(serving_digest(&app).await, d1);
    let (_, p) = app.post("/v1/promotions", &app.tokens.ci, &dry_run).await;
    assert_eq!(
        p["decision"]["allow"], false,
        "still the stricter bundle: {p}"
    );

    // Every attempt is in the audit log.
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'policy_reloaded'")
            .await,
        2
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'policy_reload_failed'")
            .await,
        2
    );
    std::fs::remove_dir_all(&bundle).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_change_judges_pending_promotions_again_and_voids_their_votes() {
    let (app, bundle) = spawn_with_private_bundle().await;
    let digest = app.push_signed("team/app", "stale").await;
    let source = app.source("team/app", &digest);
    let (status, p) = app.request(&source, trivy(&[])).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let first = p["id"].as_str().unwrap().to_owned();
    let (status, _) = app.vote(&first, &app.tokens.approver1, "approve").await;
    assert_eq!(status, StatusCode::OK);

    // An unchanged reload keeps the promotion and its vote.
    let (status, _) = reload(&app, &app.tokens.admin).await;
    assert_eq!(status, StatusCode::OK);
    let (status, p) = app.request(&source, trivy(&[])).await;
    assert_eq!(status, StatusCode::OK, "the same open promotion: {p}");
    assert_eq!(p["id"], first.as_str());

    // After a real change that still allows it, the reload itself judges it again: the
    // earlier vote is voided at once, before anyone votes.
    set_max_high(&bundle, 5);
    let (status, body) = reload(&app, &app.tokens.admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rejudged"], 1, "{body}");
    let (_, p) = app
        .get(&format!("/v1/promotions/{first}"), &app.tokens.auditor)
        .await;
    assert_eq!(p["state"], "pending_approval", "{p}");
    assert_eq!(p["policy_digest"], serving_digest(&app).await);
    assert_eq!(p["approvals"], json!([]), "{p}");
    assert_eq!(p["approvals_voided"]["votes"], 1, "{p}");
    assert!(
        p["approvals_voided"]["reason"]
            .as_str()
            .unwrap()
            .contains("voided"),
        "{p}"
    );
    assert_eq!(app.count("SELECT count(*) FROM voided_approvals").await, 1);
    // Two fresh approvals under the new judgement promote it.
    app.approve_twice(&first).await;
    assert_eq!(app.wait_settled(&first).await["state"], "promoted");

    // A change under which it is denied closes a pending promotion, also on a new request.
    let digest = app.push_signed("team/app", "denied-later").await;
    let source = app.source("team/app", &digest);
    let v2 = json!({"source": source, "route": ROUTE, "tag": "v2",
                    "evidence": [{"format": "trivy-json", "document": trivy(&[])}]});
    let (status, p) = app.post("/v1/promotions", &app.tokens.ci, &v2).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let second = p["id"].as_str().unwrap().to_owned();
    // A new rule denies exactly this digest (the bundle's own tests still pass).
    let rules = bundle.join("promotion.rego");
    let mut text = std::fs::read_to_string(&rules).unwrap();
    text.push_str(&format!(
        "\nviolations contains v if {{\n\tinput.artifact.digest == \"{digest}\"\n\tv := {{\"rule\": \"test.denied_digest\", \"message\": \"denied for the test\", \"severity\": \"high\", \"remediation\": \"none\"}}\n}}\n"
    ));
    std::fs::write(&rules, text).unwrap();
    let (status, body) = reload(&app, &app.tokens.admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rejudged"], 1, "{body}");
    let (status, p) = app.post("/v1/promotions", &app.tokens.ci, &v2).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_ne!(p["id"], second.as_str());
    assert_eq!(p["state"], "denied", "judged under the new rule: {p}");
    let (_, old) = app
        .get(&format!("/v1/promotions/{second}"), &app.tokens.auditor)
        .await;
    assert_eq!(old["state"], "denied", "{old}");
    assert!(
        old["error"].as_str().unwrap().starts_with("superseded"),
        "{old}"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'superseded'")
            .await,
        2
    );
    std::fs::remove_dir_all(&bundle).unwrap();
}

/// A reload after which a pending promotion needs no approvals releases it at once
/// (`auto_approved`), as a new request under that bundle would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_drops_the_requirement_releases_pending_promotions() {
    let (app, bundle) = spawn_with_private_bundle().await;
    let digest = app.push_signed("team/app", "no-review").await;
    let (status, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "pending_approval");
    let id = p["id"].as_str().unwrap().to_owned();
    let (status, _) = app.vote(&id, &app.tokens.approver1, "approve").await;
    assert_eq!(status, StatusCode::OK);

    // The bundle's own tests pin the default requirement: this deployment drops them.
    for test in ["promotion_test.rego", "waivers_test.rego"] {
        std::fs::remove_file(bundle.join(test)).unwrap();
    }
    let path = bundle.join("data.json");
    let mut data: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    data["portcullis"]["config"]["approvals"] = json!({"count": 0, "group": "release-approvers"});
    std::fs::write(&path, serde_json::to_string_pretty(&data).unwrap()).unwrap();
    let (status, body) = reload(&app, &app.tokens.admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rejudged"], 1, "{body}");
    let settled = app.wait_settled(&id).await;
    assert_eq!(settled["state"], "promoted", "{settled}");
    assert_eq!(settled["approvals_voided"]["votes"], 1, "{settled}");
    let order: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_events WHERE promotion_id = $1 ORDER BY seq")
            .bind(uuid::Uuid::parse_str(&id).unwrap())
            .fetch_all(&app.db)
            .await
            .unwrap();
    let superseded = order.iter().position(|a| a == "superseded").unwrap();
    assert_eq!(order[superseded + 1], "auto_approved", "{order:?}");
    std::fs::remove_dir_all(&bundle).unwrap();
}
