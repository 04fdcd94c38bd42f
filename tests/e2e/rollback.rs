//! Rollbacks through the API: a route's channel tag is pointed back at a digest promoted
//! before on that route, as a promotion of kind `rollback` that re-checks the signatures and
//! the current policy and whose copy is only a tag write; every refusal leaves nothing behind.

use std::time::Instant;

use portcullis_server::config::Route;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{ROUTE, TestApp, trivy};

pub(crate) const REPO: &str = "team/app";

/// The app with `stable` as the route's channel tag, serving `policy_dir` if given, and a
/// second route `mirror` to `<prod>/mirror/`.
pub(crate) async fn spawn(policy_dir: Option<std::path::PathBuf>) -> TestApp {
    TestApp::spawn_with(move |c| {
        c.routes[0].channel_tags = vec!["stable".parse().unwrap()];
        let mirror = Route {
            name: "mirror".into(),
            from: c.routes[0].from.clone(),
            to: format!("{}mirror/", c.routes[0].to),
            allow_tag_overwrite: false,
            platforms: None,
            channel_tags: vec!["stable".parse().unwrap()],
        };
        c.routes.push(mirror);
        if let Some(dir) = policy_dir {
            c.policy_dir = dir;
        }
    })
    .await
}

/// Promotes `digest` along `route` to `tag` and waits for `promoted` (voting if asked).
pub(crate) async fn promote(app: &TestApp, route: &str, digest: &str, tag: &str) -> String {
    let body = json!({
        "source": app.source(REPO, digest), "route": route, "tag": tag,
        "evidence": [{"format": "trivy-json", "document": trivy(&[])}],
    });
    let (status, p) = app.post("/v1/promotions", &app.tokens.ci, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    if p["state"] == "pending_approval" {
        app.approve_twice(&id).await;
    }
    assert_eq!(app.wait_settled(&id).await["state"], "promoted");
    id
}

pub(crate) fn rollback_body(app: &TestApp, digest: &str, tag: &str) -> Value {
    json!({
        "route": ROUTE,
        "repository": format!("{}/{REPO}", app.prod.host.as_str()),
        "to_digest": digest,
        "channel_tag": tag,
    })
}

pub(crate) async fn rollback(app: &TestApp, body: &Value) -> (StatusCode, Value) {
    app.post("/v1/rollbacks", &app.tokens.ci, body).await
}

async fn rollback_rows(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM promotions WHERE kind = 'rollback'")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_moves_only_the_channel_tag_back_to_the_earlier_digest() {
    let app = spawn(None).await;
    let a = app.push_signed(REPO, "a").await;
    let b = app.push_signed(REPO, "b").await;
    promote(&app, ROUTE, &a, "v1").await;
    // The latest promotion of A is the one rolled back to.
    let promoted_a = promote(&app, ROUTE, &a, "stable").await;
    promote(&app, ROUTE, &b, "v2").await;
    // A promotion moves a channel tag; a version tag stays immutable.
    promote(&app, ROUTE, &b, "stable").await;
    assert_eq!(
        app.prod_digest(REPO, "stable").await.as_deref(),
        Some(b.as_str())
    );
    let body = json!({"source": app.source(REPO, &b), "route": ROUTE, "tag": "v1"});
    let (status, e) = app.post("/v1/promotions", &app.tokens.ci, &body).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["code"], "tag_exists");

    let blobs_before = app.prod.stored_blobs().unwrap();
    let clock = Instant::now();
    let (status, p) = rollback(&app, &rollback_body(&app, &a, "stable")).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["kind"], "rollback", "{p}");
    // The default policy needs no approvals for a rollback: released at once.
    assert_eq!(p["state"], "promoting", "{p}");
    assert_eq!(p["decision"]["required_approvals"]["count"], 0, "{p}");
    assert_eq!(p["digest"], a.as_str());
    assert_eq!(p["tag"], "stable");
    let id = p["id"].as_str().unwrap().to_owned();
    let done = app.wait_settled(&id).await;
    let took = clock.elapsed();
    eprintln!("rollback POST to promoted: {} ms", took.as_millis());
    assert_eq!(done["state"], "promoted", "{done}");
    assert_eq!(done["copy"]["blobs_copied"], 0, "{done}");
    assert_eq!(done["copy"]["manifests_copied"], 0, "{done}");

    assert_eq!(
        app.prod_digest(REPO, "stable").await.as_deref(),
        Some(a.as_str())
    );
    assert_eq!(
        app.prod_digest(REPO, "v1").await.as_deref(),
        Some(a.as_str())
    );
    assert_eq!(
        app.prod_digest(REPO, "v2").await.as_deref(),
        Some(b.as_str())
    );
    assert_eq!(
        app.prod.stored_blobs().unwrap(),
        blobs_before,
        "nothing uploaded"
    );

    // The row, the list and the audit trail say what happened.
    let kind: String = sqlx::query_scalar("SELECT kind FROM promotions WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(kind, "rollback");
    let (_, list) = app.get("/v1/promotions?limit=1", &app.tokens.auditor).await;
    assert_eq!(list["promotions"][0]["kind"], "rollback", "{list}");
    let requested: Value = sqlx::query_scalar(
        "SELECT details FROM audit_events WHERE action = 'rollback_requested' AND promotion_id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(requested["rollback_of"], promoted_a.as_str(), "{requested}");
    assert_eq!(requested["channel_tag"], "stable");
    let promoted: Value = sqlx::query_scalar(
        "SELECT details FROM audit_events WHERE action = 'promoted' AND promotion_id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(promoted["kind"], "rollback", "{promoted}");
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'auto_approved'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rollbacks_are_refused_and_leave_nothing_behind() {
    let app = spawn(None).await;
    let a = app.push_signed(REPO, "a").await;
    let mirrored = app.push_signed(REPO, "m").await;
    let never = app.push_signed(REPO, "never").await;
    promote(&app, ROUTE, &a, "stable").await;
    promote(&app, "mirror", &mirrored, "stable").await;
    let before = app.count("SELECT count(*) FROM audit_events").await;

    let mut unknown = rollback_body(&app, &a, "stable");
    unknown["force"] = json!(true);
    let (status, e) = rollback(&app, &unknown).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["code"], "invalid_body");
    let (status, e) = app
        .post(
            "/v1/rollbacks",
            &app.tokens.approver1,
            &rollback_body(&app, &a, "stable"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    let mut route = rollback_body(&app, &a, "stable");
    route["route"] = json!("nowhere");
    let (status, e) = rollback(&app, &route).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["code"], "unknown_route");
    let (status, e) = rollback(&app, &rollback_body(&app, &a, "v1")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["code"], "not_a_channel_tag");
    let (status, e) = rollback(&app, &rollback_body(&app, "sha256:12", "stable")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["code"], "invalid_digest");
    let mut outside = rollback_body(&app, &a, "stable");
    outside["repository"] = json!(format!("{}/{REPO}", app.staging.host.as_str()));
    let (status, e) = rollback(&app, &outside).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["code"], "repository_outside_route");

    // Never promoted here; promoted only on another route.
    let (status, e) = rollback(&app, &rollback_body(&app, &never, "stable")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["code"], "not_promoted_on_route");
    let (status, e) = rollback(&app, &rollback_body(&app, &mirrored, "stable")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["code"], "not_promoted_on_route");

    // Promoted here, but a blob and then the manifest are gone from production.
    let manifest = app
        .http
        .get(format!(
            "http://{}/v2/{REPO}/manifests/{a}",
            app.prod.host.as_str()
        ))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let prod = |path: String| format!("http://{}/v2/{REPO}/{path}", app.prod.host.as_str());
    let gone = app
        .http
        .delete(prod(format!("blobs/{layer}")))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::ACCEPTED);
    let (status, e) = rollback(&app, &rollback_body(&app, &a, "stable")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["code"], "missing_in_production");
    assert!(e["detail"].as_str().unwrap().contains(layer), "{e}");
    let gone = app
        .http
        .delete(prod(format!("manifests/{a}")))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::ACCEPTED);
    let (status, e) = rollback(&app, &rollback_body(&app, &a, "stable")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["code"], "missing_in_production");

    assert_eq!(rollback_rows(&app).await, 0);
    assert_eq!(app.count("SELECT count(*) FROM audit_events").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_whose_kind_was_changed_by_hand_is_refused_by_the_copier() {
    let app = spawn(None).await;
    let a = app.push_signed(REPO, "a").await;
    let b = app.push_signed(REPO, "b").await;
    promote(&app, ROUTE, &a, "stable").await;
    promote(&app, ROUTE, &b, "stable").await;
    // A released rollback turned into a promotion (which would copy from the source), and a
    // released promotion turned into a rollback: neither statement covers the row.
    let (_, rb) = rollback(&app, &rollback_body(&app, &a, "stable")).await;
    assert_eq!(rb["state"], "promoting", "{rb}");
    let c = app.push_signed(REPO, "c").await;
    let body = json!({
        "source": app.source(REPO, &c), "route": ROUTE, "tag": "v3",
        "evidence": [{"format": "trivy-json", "document": trivy(&[])}],
    });
    let (_, p) = app.post("/v1/promotions", &app.tokens.ci, &body).await;
    let promotion = p["id"].as_str().unwrap().to_owned();
    app.approve_twice(&promotion).await;
    let flip = "UPDATE promotions SET kind = CASE kind WHEN 'rollback' THEN 'promotion' ELSE 'rollback' END \
                WHERE state = 'promoting'";
    sqlx::query(flip).execute(&app.db).await.unwrap();
    assert_eq!(app.run_copies().await, 2);
    for id in [rb["id"].as_str().unwrap(), promotion.as_str()] {
        let (_, p) = app
            .get(&format!("/v1/promotions/{id}"), &app.tokens.auditor)
            .await;
        assert_eq!(p["state"], "failed", "{p}");
        assert!(
            p["error"].as_str().unwrap().contains("integrity_violation"),
            "{p}"
        );
    }
    assert_eq!(
        app.prod_digest(REPO, "stable").await.as_deref(),
        Some(b.as_str())
    );
    assert_eq!(app.prod_digest(REPO, "v3").await, None);
}
