//! The copy plan read ahead: the approval that completes a promotion's requirement starts
//! reading its copy's plan (the first does not), the copy takes it, and a re-promotion of an
//! image already in production, which then writes nothing, audits its start together with
//! its outcome, in order and in an intact chain. With the promotion attestation on, a
//! re-promotion writes (the attestation), so its start is audited before, on its own.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, trivy};

/// The actions audited for promotion `id`, in chain order, with their sequence numbers and
/// the transaction that wrote each (Postgres's `xmin`).
async fn actions(app: &TestApp, id: &str) -> Vec<(i64, String, String)> {
    sqlx::query_as(
        "SELECT seq, action, xmin::text FROM audit_events WHERE promotion_id = $1::uuid ORDER BY seq",
    )
    .bind(id)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// Requests `digest` of team/app and approves it twice, checking the plan is read ahead on
/// the second approval only; returns the promotion once copied.
async fn promote(app: &TestApp, digest: &str) -> (String, Value) {
    let (status, p) = app
        .request(&app.source("team/app", digest), trivy(&[]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    let (status, body) = app.vote(&id, &app.tokens.approver1, "approve").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        app.state.read_ahead.is_empty(),
        "one approval of two reads nothing"
    );
    let (status, body) = app.vote(&id, &app.tokens.approver2, "approve").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        app.state.read_ahead.len(),
        1,
        "the releasing approval reads the plan"
    );
    let done = app.wait_settled(&id).await;
    assert!(app.state.read_ahead.is_empty(), "the copy took its plan");
    assert_eq!(done["state"], "promoted", "{done}");
    (id, done)
}

/// Checks `GET /v1/audit/verify` finds the chain intact.
async fn chain_intact(app: &TestApp) {
    let (status, report) = app.get("/v1/audit/verify", &app.tokens.auditor).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ok"], true, "{report}");
}

/// The last two events of promotion `id`, which must be its copy's start and outcome.
async fn last_two(app: &TestApp, id: &str) -> ((i64, String, String), (i64, String, String)) {
    let mut audited = actions(app, id).await;
    let outcome = audited.pop().unwrap();
    let start = audited.pop().unwrap();
    assert_eq!(
        (start.1.as_str(), outcome.1.as_str()),
        ("copy_started", "promoted")
    );
    (start, outcome)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_promotion_that_writes_nothing_audits_its_start_with_its_outcome() {
    let app = TestApp::spawn_with(|c| c.copy.attest = false).await;
    let digest = app.push_signed("team/app", "build-1").await;

    let (first, done) = promote(&app, &digest).await;
    assert_eq!(done["copy"]["manifests_copied"], 2, "{done}");
    let (again, redone) = promote(&app, &digest).await;
    assert_eq!(redone["copy"]["manifests_copied"], 0, "{redone}");
    assert_eq!(redone["copy"]["blobs_copied"], 0, "{redone}");
    assert_eq!(redone["copy"]["signature_copied"], true, "{redone}");

    // The re-promotion wrote nothing: start and outcome are adjacent links of the chain,
    // written by one transaction. The first copy wrote: its start was committed on its own.
    let (start, outcome) = last_two(&app, &again).await;
    assert_eq!(start.0 + 1, outcome.0, "adjacent: {start:?} {outcome:?}");
    assert_eq!(start.2, outcome.2, "one transaction: {start:?} {outcome:?}");
    let (start, outcome) = last_two(&app, &first).await;
    assert_ne!(
        start.2, outcome.2,
        "two transactions: {start:?} {outcome:?}"
    );

    chain_intact(&app).await;
    assert_eq!(
        app.prod_digest("team/app", "v1").await.as_deref(),
        Some(digest.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_promotion_that_attests_commits_its_start_before_it_writes() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "build-1").await;
    promote(&app, &digest).await;
    let (again, redone) = promote(&app, &digest).await;
    assert_eq!(redone["copy"]["manifests_copied"], 0, "{redone}");
    assert!(redone["copy"]["attestation"].is_object(), "{redone}");
    let (start, outcome) = last_two(&app, &again).await;
    assert_ne!(
        start.2, outcome.2,
        "two transactions: {start:?} {outcome:?}"
    );
    chain_intact(&app).await;
}

/// `attempts` and whether a claim is held, of promotion `id`.
async fn claim_state(app: &TestApp, id: &str) -> (i32, bool) {
    sqlx::query_as("SELECT attempts, claim_id IS NOT NULL FROM promotions WHERE id = $1::uuid")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_releasing_vote_hands_its_job_to_a_free_worker_slot_only() {
    let app = TestApp::spawn_with_worker(|c| c.copy.max_concurrent_jobs = 1).await;
    let digest = app.push_signed("team/app", "build-1").await;
    let request = || async {
        let (status, p) = app
            .request(&app.source("team/app", &digest), trivy(&[]))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{p}");
        p["id"].as_str().unwrap().to_owned()
    };

    // The worker's one slot is taken: the vote releases the promotion but claims nothing,
    // and the worker (waiting for the slot) claims nothing either.
    let held = app
        .state
        .copy_handoff
        .slot(&app.state)
        .expect("the worker runs");
    assert!(
        app.state.copy_handoff.slot(&app.state).is_none(),
        "one slot"
    );
    let id = request().await;
    app.approve_twice(&id).await;
    assert_eq!(claim_state(&app, &id).await, (0, false));
    // Freed, the slot goes to the worker, which claims the job on its wake-up.
    drop(held);
    assert_eq!(app.wait_settled(&id).await["state"], "promoted");
    assert_eq!(claim_state(&app, &id).await, (1, false));

    // With the slot free, the releasing vote claims the job in its own commit: when its
    // answer arrives the job is claimed (or already done), by its first and only attempt.
    let again = request().await;
    let (status, body) = app.vote(&again, &app.tokens.approver1, "approve").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        claim_state(&app, &again).await,
        (0, false),
        "not released yet"
    );
    let (status, body) = app.vote(&again, &app.tokens.approver2, "approve").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(claim_state(&app, &again).await.0, 1);
    assert_eq!(app.wait_settled(&again).await["state"], "promoted");
    assert_eq!(claim_state(&app, &again).await, (1, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_job_is_handed_over_without_a_worker() {
    let app = TestApp::spawn().await;
    assert!(app.state.copy_handoff.slot(&app.state).is_none());
}
