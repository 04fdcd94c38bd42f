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

/// `GET /v1/audit/export`: every event in chain order with its hash, as JSON lines or CSV,
/// filtered by digest; bad queries are 400 `invalid_query`, and only auditors and admins
/// may export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_exports_in_chain_order_as_json_lines_or_csv() {
    let app = TestApp::spawn().await;
    requested(&app, "one").await;
    requested(&app, "two").await;
    let total = app.count("SELECT count(*) FROM audit_events").await;
    // More than one page of the export's reads: 2,500 events written by hand (the export
    // does not judge them; `verify` would).
    superuser(&app, "ALTER TABLE audit_events DISABLE TRIGGER USER").await;
    superuser(
        &app,
        &format!(
            "INSERT INTO audit_events (seq, at, actor, action, details, prev_hash, hash) \
             SELECT {total} + g, now(), 'bulk', 'evaluated', '{{\"n\": 1}}', 'x', 'h' || g \
             FROM generate_series(1, 2500) g"
        ),
    )
    .await;
    let total = total + 2500;
    let fetch = |query: &'static str| {
        let (http, url, token) = (
            app.http.clone(),
            format!("{}/v1/audit/export{query}", app.base),
            app.tokens.auditor.clone(),
        );
        async move {
            let resp = http.get(url).bearer_auth(token).send().await.unwrap();
            let status = resp.status();
            let kind = resp
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, kind, resp.text().await.unwrap())
        }
    };

    let (status, kind, body) = fetch("").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kind.as_deref(), Some("application/x-ndjson"));
    let events: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len() as i64, total);
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] + 1 == w[1]), "chain order");
    assert!(events.iter().all(|e| e["hash"].is_string()));

    let (status, kind, csv) = fetch("?format=csv").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kind.as_deref(), Some("text/csv; charset=utf-8"));
    let mut rows = csv.lines();
    assert!(rows.next().unwrap().starts_with("seq,at,actor,action"));
    assert_eq!(rows.count() as i64, total);
    assert!(csv.contains("\"{\"\"n\"\":1}\""), "details as quoted JSON");

    let digest = events
        .iter()
        .find_map(|e| e["digest"].as_str())
        .unwrap()
        .to_owned();
    let (http, url) = (
        app.http.clone(),
        format!("{}/v1/audit/export?digest={digest}", app.base),
    );
    let only = http
        .get(url)
        .bearer_auth(&app.tokens.auditor)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(only.lines().count() >= 1);
    assert!(only.lines().all(|l| l.contains(&digest)), "{only}");

    for bad in ["?format=xml", "?digest=nope", "?limit=5"] {
        let (status, e) = app
            .get(&format!("/v1/audit/export{bad}"), &app.tokens.auditor)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {e}");
        assert_eq!(e["code"], "invalid_query", "{bad}: {e}");
    }
    let (status, _) = app.get("/v1/audit/export", &app.tokens.ci).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
