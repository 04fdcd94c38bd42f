//! The gate against a database superuser: rows alone prove nothing. A state set by hand, a
//! forged vote or token, a replayed statement, and a rewritten, cut or emptied audit log are
//! all caught, and nothing is copied on their word.

use std::time::Duration;

use portcullis_core::Role;
use portcullis_gate::{Envelope, PublicKey};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::support::{TestApp, trivy};

/// Polls `sql` until it counts at least `n` (background work of the witness).
async fn wait_count(app: &TestApp, sql: &'static str, n: i64) {
    for _ in 0..300 {
        if app.count(sql).await >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{sql} never reached {n}");
}

async fn superuser(app: &TestApp, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&app.db)
        .await
        .unwrap();
}

/// A superuser sets the promotion to `promoting` by hand and wakes the copier; returns the
/// promotion once the copier has dealt with it.
async fn force_promoting(app: &TestApp, id: &str) -> Value {
    superuser(
        app,
        &format!("UPDATE promotions SET state = 'promoting' WHERE id = '{id}'"),
    )
    .await;
    app.state.copy_wakeup.notify_one();
    app.wait_settled(id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_promotion_set_to_promoting_by_hand_is_not_copied() {
    let app = TestApp::spawn().await;
    // Unsigned: the policy denies it.
    let digest = app.push_image("team/app", "unsigned").await;
    let (status, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "denied");
    let id = p["id"].as_str().unwrap().to_owned();

    let settled = force_promoting(&app, &id).await;
    assert_eq!(settled["state"], "failed", "{settled}");
    let error = settled["error"].as_str().unwrap();
    assert!(error.starts_with("integrity_violation"), "{error}");
    assert!(error.contains("decision statement is missing"), "{error}");
    assert_eq!(
        app.prod_digest("team/app", &digest).await,
        None,
        "nothing copied"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'integrity_violation'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'copy_started'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn votes_inserted_by_hand_count_for_nothing() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "forged-votes").await;
    let (_, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    assert_eq!(p["state"], "pending_approval", "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    // Two approvals written straight into the table, then the state flipped.
    superuser(
        &app,
        &format!(
            "INSERT INTO approvals (promotion_id, approver, verdict, comment) VALUES \
             ('{id}', 'alice', 'approve', 'x'), ('{id}', 'bob', 'approve', 'x')"
        ),
    )
    .await;
    // A real vote on top is refused: the forged rows carry no gate signature.
    let (status, body) = app.vote(&id, &app.tokens.admin, "approve").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "integrity_violation");
    // And flipping the state by hand copies nothing either.
    let settled = force_promoting(&app, &id).await;
    assert_eq!(settled["state"], "failed", "{settled}");
    assert_eq!(app.prod_digest("team/app", &digest).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_statement_is_signed_verifiable_with_the_served_key_and_spent_once() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "statement").await;
    let (_, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    app.approve_twice(&id).await;
    let done = app.wait_settled(&id).await;
    assert_eq!(done["state"], "promoted", "{done}");

    // Anyone can check the statement with the public key the gate serves.
    let keys: Value = reqwest::get(format!("{}/v1/gate/keys", app.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let served = PublicKey::from_pem(keys["keys"][0]["public_key"].as_str().unwrap()).unwrap();
    assert_eq!(keys["keys"][0]["key_id"], served.key_id.as_str());
    assert_eq!(keys["keys"][0]["status"], "active");
    let stored: Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT statement_envelope FROM promotions WHERE id = '{id}'"
    )))
    .fetch_one(&app.db)
    .await
    .unwrap();
    let envelope = Envelope::from_value(&stored).unwrap();
    assert_eq!(envelope.key_id(), Some(served.key_id.as_str()));
    let ring =
        portcullis_gate::KeyRing::new(portcullis_gate::GateKey::generate().unwrap(), vec![served]);
    let statement = envelope
        .verify(&ring, "application/vnd.portcullis.decision.v1+json")
        .unwrap()
        .record;
    assert_eq!(statement["kind"], "promotion");
    assert_eq!(statement["promotion_id"], id.as_str());
    assert_eq!(statement["digest"], digest.as_str());
    assert_eq!(statement["tag"], "v1");
    assert_eq!(statement["requested_by"], "ci-pipeline");
    assert_eq!(statement["votes"].as_array().unwrap().len(), 2);
    assert_eq!(statement["policy_digest"], done["policy_digest"]);

    // Replaying it: the row set back to promoting is refused, the statement was spent.
    let replayed = force_promoting(&app, &id).await;
    assert_eq!(replayed["state"], "failed", "{replayed}");
    assert!(
        replayed["error"].as_str().unwrap().contains("already used"),
        "{replayed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_statement_or_evaluation_is_refused() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "edited").await;
    let (_, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    // The superuser lowers the requirement in the row: the signed evaluation disagrees.
    superuser(
        &app,
        &format!(
            "UPDATE promotions SET decision = jsonb_set(decision, '{{required_approvals,count}}', '1') WHERE id = '{id}'"
        ),
    )
    .await;
    let (status, body) = app.vote(&id, &app.tokens.approver1, "approve").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "integrity_violation");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("required_approvals"),
        "{body}"
    );
    assert_eq!(app.count("SELECT count(*) FROM approvals").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_row_inserted_by_hand_matches_no_token() {
    let app = TestApp::spawn().await;
    let secret = "pct_forged";
    let unkeyed = sha2::Sha256::digest(secret.as_bytes()).to_vec();
    sqlx::query(
        "INSERT INTO api_tokens (id, subject, role, groups, token_hash) VALUES ($1, 'eve', 'admin', '{}', $2)",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(unkeyed)
    .execute(&app.db)
    .await
    .unwrap();
    let (status, body) = app.get("/v1/promotions", secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subjects_differing_in_case_are_one_approver() {
    let app = TestApp::spawn().await;
    let upper = app
        .token("Alice", Role::Approver, &["release-approvers"], None)
        .await;
    let digest = app.push_signed("team/app", "case").await;
    let (_, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    let (status, _) = app.vote(&id, &app.tokens.approver1, "approve").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.vote(&id, &upper, "approve").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "already_voted");
    let (_, now) = app.get(&format!("/v1/promotions/{id}"), &upper).await;
    assert_eq!(now["state"], "pending_approval", "one person, one slot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_revoked_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let expired = app
        .token(
            "carol",
            Role::Auditor,
            &[],
            Some(chrono::Duration::seconds(-1)),
        )
        .await;
    let (status, _) = app.get("/v1/promotions", &expired).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let live = app
        .token("dave", Role::Auditor, &[], Some(chrono::Duration::hours(1)))
        .await;
    let (status, _) = app.get("/v1/promotions", &live).await;
    assert_eq!(status, StatusCode::OK);
    let revoked = app
        .state
        .store
        .revoke_subject_tokens(&"DAVE".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(revoked, 1);
    let (status, _) = app.get("/v1/promotions", &live).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_votes_and_retries_are_audited() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "refusals").await;
    let (_, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    let requester = app
        .token("ci-pipeline", Role::Approver, &["release-approvers"], None)
        .await;
    let attempts = [
        (&requester, "self_approval"),
        (&app.tokens.outsider, "missing_group"),
    ];
    for (token, code) in attempts {
        let (_, body) = app.vote(&id, token, "approve").await;
        assert_eq!(body["code"], code, "{body}");
    }
    app.vote(&id, &app.tokens.approver1, "approve").await;
    let (_, body) = app.vote(&id, &app.tokens.approver1, "approve").await;
    assert_eq!(body["code"], "already_voted");
    let other_ci = app.token("other-pipeline", Role::Ci, &[], None).await;
    let (_, body) = app
        .post(&format!("/v1/promotions/{id}/retry"), &other_ci, &json!({}))
        .await;
    assert_eq!(body["code"], "not_requester");
    let (_, body) = app
        .post(
            &format!("/v1/promotions/{id}/retry"),
            &app.tokens.admin,
            &json!({}),
        )
        .await;
    assert_eq!(body["code"], "promotion_not_failed");
    let refused: Vec<(String, String, Value)> = sqlx::query_as(
        "SELECT actor, action, details FROM audit_events WHERE action IN ('vote_refused', 'retry_refused') ORDER BY seq",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let seen: Vec<(&str, &str, &str)> = refused
        .iter()
        .map(|(a, act, d)| (a.as_str(), act.as_str(), d["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("ci-pipeline", "vote_refused", "self_approval"),
            ("mallory", "vote_refused", "missing_group"),
            ("alice", "vote_refused", "already_voted"),
            ("other-pipeline", "retry_refused", "not_requester"),
            ("root", "retry_refused", "promotion_not_failed"),
        ]
    );
}

/// Waits until the witness file covers the newest event.
async fn wait_witnessed(app: &TestApp) -> i64 {
    for _ in 0..100 {
        let head: i64 = app
            .count("SELECT coalesce(max(seq), 0) FROM audit_events")
            .await;
        let cps = portcullis_gate::read_checkpoints(&app.witness()).unwrap();
        if head > 0 && cps.iter().any(|c| c.seq == head) {
            return head;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the head was never witnessed");
}

async fn verify_with(app: &TestApp, witness: &std::path::Path) -> Option<String> {
    let cps = portcullis_gate::read_checkpoints(witness).unwrap();
    portcullis_server::services::checkpoints::verify_log(&app.state.store, &app.state.keys, &cps)
        .await
        .unwrap()
        .problem
}

async fn promoted_once(app: &TestApp, tag: &str) {
    let digest = app.push_signed("team/app", tag).await;
    let (_, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    app.approve_twice(&id).await;
    assert_eq!(app.wait_settled(&id).await["state"], "promoted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superuser_cannot_rewrite_the_audit_log_unseen() {
    // The service's own witness stays quiet here (the next test covers it); the test signs
    // one checkpoint of the head with the gate key into a witness file of its own.
    let app = TestApp::spawn_with(|c| {
        c.audit.checkpoint_interval_seconds = 86_400;
        c.audit.checkpoint_every_events = i64::MAX;
    })
    .await;
    promoted_once(&app, "audit").await;
    let (head, head_hash) = app.state.store.audit_head().await.unwrap().unwrap();
    let witness = app.witness().with_file_name("test-witness.jsonl");
    portcullis_gate::Checkpoint::sign(
        app.state.keys.ring().current(),
        head,
        &head_hash,
        "2026-11-30T00:00:00Z",
    )
    .unwrap()
    .append_to(&witness)
    .unwrap();
    assert_eq!(
        verify_with(&app, &witness).await,
        None,
        "intact before the attacks"
    );
    superuser(&app, "ALTER TABLE audit_events DISABLE TRIGGER USER").await;

    // 1. A forged event appended with an unkeyed hash recomputed the old way.
    superuser(
        &app,
        &format!(
            "INSERT INTO audit_events (seq, at, actor, action, details, prev_hash, hash, key_id) \
             SELECT {next}, now(), 'alice', 'approved', '{{}}', hash, 'hmac-sha256:' || encode(sha256('x'), 'hex'), key_id \
             FROM audit_events WHERE seq = {head}",
            next = head + 1
        ),
    )
    .await;
    let problem = verify_with(&app, &witness)
        .await
        .expect("forged insert caught");
    assert!(
        problem.contains(&format!("event {}", head + 1)),
        "{problem}"
    );
    superuser(
        &app,
        &format!("DELETE FROM audit_events WHERE seq = {}", head + 1),
    )
    .await;

    // 2. A middle event rewritten, its hash recomputed without the key and the next
    //    event relinked to it (as a superuser recomputing the chain would).
    let (actor, hash): (String, String) =
        sqlx::query_as("SELECT actor, hash FROM audit_events WHERE seq = 3")
            .fetch_one(&app.db)
            .await
            .unwrap();
    superuser(
        &app,
        "UPDATE audit_events SET actor = 'mallory', \
         hash = 'hmac-sha256:' || encode(sha256(convert_to(prev_hash || 'mallory', 'UTF8')), 'hex') WHERE seq = 3",
    )
    .await;
    superuser(
        &app,
        "UPDATE audit_events SET prev_hash = (SELECT hash FROM audit_events WHERE seq = 3) WHERE seq = 4",
    )
    .await;
    let problem = verify_with(&app, &witness).await.expect("rewrite caught");
    assert!(problem.starts_with("event 3"), "{problem}");
    superuser(
        &app,
        &format!("UPDATE audit_events SET actor = '{actor}', hash = '{hash}' WHERE seq = 3"),
    )
    .await;
    superuser(
        &app,
        &format!("UPDATE audit_events SET prev_hash = '{hash}' WHERE seq = 4"),
    )
    .await;
    assert_eq!(verify_with(&app, &witness).await, None, "restored");

    // 3. The newest events deleted: the chain alone still links, the witness does not.
    superuser(
        &app,
        &format!("DELETE FROM audit_events WHERE seq > {}", head - 5),
    )
    .await;
    let chain = app
        .state
        .store
        .verify_audit_chain(&[app.state.keys.audit_mac().clone()])
        .await
        .unwrap();
    assert_eq!(chain.broken_at, None, "a cut tail still chains");
    let problem = verify_with(&app, &witness).await.expect("cut tail caught");
    assert!(problem.contains("the log was cut"), "{problem}");
    // ... and grown back past the witnessed head with freshly keyed events.
    for _ in 0..6 {
        app.state
            .store
            .append_audit_now(&portcullis_store::NewAuditEvent {
                actor: "system".into(),
                action: portcullis_core::AuditAction::PolicyReloaded,
                promotion_id: None,
                digest: None,
                details: json!({}),
                request_id: None,
            })
            .await
            .unwrap();
    }
    let problem = verify_with(&app, &witness)
        .await
        .expect("regrown tail caught");
    assert!(problem.contains("the log was rewritten"), "{problem}");

    // 4. Every event deleted.
    superuser(&app, "DELETE FROM audit_events").await;
    let problem = verify_with(&app, &witness)
        .await
        .expect("emptied log caught");
    assert!(problem.contains("empty"), "{problem}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_gate_stops_promoting_when_the_log_falls_behind_its_witness() {
    let app = TestApp::spawn().await;
    promoted_once(&app, "halt").await;
    let head = wait_witnessed(&app).await;
    superuser(&app, "ALTER TABLE audit_events DISABLE TRIGGER USER").await;
    superuser(
        &app,
        &format!("DELETE FROM audit_events WHERE seq > {}", head - 3),
    )
    .await;
    wait_count(
        &app,
        "SELECT count(*) FROM audit_events WHERE action = 'integrity_violation'",
        1,
    )
    .await;
    assert!(app.state.integrity.is_halted());
    // A fully approved promotion is not copied while halted.
    let digest = app.push_signed("team/other", "after-halt").await;
    let (status, p) = app
        .request(&app.source("team/other", &digest), trivy(&[]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    app.approve_twice(&id).await;
    assert_eq!(app.run_copies().await, 0, "no copy runs while halted");
    let (_, now) = app
        .get(&format!("/v1/promotions/{id}"), &app.tokens.auditor)
        .await;
    assert_eq!(now["state"], "promoting", "{now}");
    assert_eq!(app.prod_digest("team/other", &digest).await, None);
}
