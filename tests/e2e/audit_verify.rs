//! `GET /v1/audit/verify` and `GET /v1/audit/checkpoints`: the log checked against itself
//! and the witness through the API, incrementally from the newest verified checkpoint, in
//! agreement with `portcullis audit verify` (`checkpoints::verify_log`).

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, trivy};

async fn superuser(app: &TestApp, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&app.db)
        .await
        .unwrap();
}

/// Signs a checkpoint of the current head into the gate's own witness file.
async fn witness_head(app: &TestApp) -> i64 {
    let (head, hash) = app.state.store.audit_head().await.unwrap().unwrap();
    portcullis_gate::Checkpoint::sign(
        app.state.keys.ring().current(),
        head,
        &hash,
        "2026-12-01T00:00:00Z",
    )
    .unwrap()
    .append_to(&app.witness())
    .unwrap();
    head
}

async fn verify(app: &TestApp) -> Value {
    let (status, report) = app.get("/v1/audit/verify", &app.tokens.auditor).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

async fn requested(app: &TestApp, tag: &str) {
    let digest = app.push_signed("team/app", tag).await;
    let (status, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_verifies_the_log_incrementally_and_agrees_with_the_cli() {
    // The service's own witness stays quiet; the test signs checkpoints itself.
    let app = TestApp::spawn_with(|c| {
        c.audit.checkpoint_interval_seconds = 86_400;
        c.audit.checkpoint_every_events = i64::MAX;
    })
    .await;
    let (status, _) = app.get("/v1/audit/verify", &app.tokens.ci).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    requested(&app, "one").await;
    let head = witness_head(&app).await;

    // The checkpoints as JSON lines, which the CLI reads back.
    let resp = app
        .http
        .get(format!("{}/v1/audit/checkpoints", app.base))
        .bearer_auth(&app.tokens.auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let lines = resp.text().await.unwrap();
    assert_eq!(lines.lines().count(), 1, "{lines}");
    let kept = std::env::temp_dir().join(format!("kept-{}.jsonl", uuid::Uuid::new_v4()));
    std::fs::write(&kept, &lines).unwrap();
    let cps = portcullis_gate::read_checkpoints(&kept).unwrap();
    assert_eq!(cps[0].seq, head);

    // The first check covers the whole log; the next starts at the verified checkpoint.
    let first = verify(&app).await;
    assert_eq!(first["ok"], true, "{first}");
    assert_eq!(first["events"], head);
    assert_eq!(first["verified_from"], 0);
    assert_eq!(first["checkpoint"]["seq"], head);
    requested(&app, "two").await;
    let next = verify(&app).await;
    assert_eq!(next["ok"], true, "{next}");
    assert_eq!(next["verified_from"], head);
    assert!(next["events"].as_i64().unwrap() > head, "{next}");

    // A superuser edits an event past the checkpoint: the API names it, as the CLI does.
    superuser(&app, "ALTER TABLE audit_events DISABLE TRIGGER USER").await;
    let edited = head + 1;
    superuser(
        &app,
        &format!("UPDATE audit_events SET actor = 'mallory' WHERE seq = {edited}"),
    )
    .await;
    let broken = verify(&app).await;
    assert_eq!(broken["ok"], false, "{broken}");
    assert_eq!(broken["first_bad_seq"], edited, "{broken}");
    let cli = portcullis_server::services::checkpoints::verify_log(
        &app.state.store,
        &app.state.keys,
        &cps,
    )
    .await
    .unwrap();
    let problem = cli.problem.expect("the CLI finds it too");
    assert!(problem.starts_with(&format!("event {edited}")), "{problem}");
    assert_eq!(broken["problem"], problem.as_str());

    // After a failure the next check starts over from the first event; an edit behind the
    // old checkpoint is found too.
    superuser(&app, "UPDATE audit_events SET actor = 'eve' WHERE seq = 1").await;
    let again = verify(&app).await;
    assert_eq!(again["verified_from"], 0, "{again}");
    assert_eq!(again["first_bad_seq"], 1, "{again}");
    std::fs::remove_file(kept).unwrap();
}
