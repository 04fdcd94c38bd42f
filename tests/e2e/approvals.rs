//! Voting rules: separation of duties, group membership, one vote each, reject as veto.

use reqwest::StatusCode;

use crate::support::{TestApp, trivy};

async fn pending(app: &TestApp, tag: &str) -> String {
    let digest = app.push_signed("team/app", tag).await;
    let (status, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "pending_approval");
    p["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requester_cannot_approve_own_promotion() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "self").await;
    let body = serde_json::json!({
        "source": app.source("team/app", &digest), "route": crate::support::ROUTE,
        "evidence": [{"format": "trivy-json", "document": trivy(&[])}],
    });
    // The admin holds the approver group, but requested this one.
    let (_, p) = app.post("/v1/promotions", &app.tokens.admin, &body).await;
    let (status, err) = app
        .vote(p["id"].as_str().unwrap(), &app.tokens.admin, "approve")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(err["code"], "self_approval");
    assert_eq!(app.count("SELECT count(*) FROM approvals").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approver_outside_the_required_group_is_forbidden() {
    let app = TestApp::spawn().await;
    let id = pending(&app, "group").await;
    let (status, err) = app.vote(&id, &app.tokens.outsider, "approve").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(err["code"], "missing_group");
    assert!(
        err["detail"]
            .as_str()
            .unwrap()
            .contains("release-approvers")
    );
    assert_eq!(app.count("SELECT count(*) FROM approvals").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_vote_by_the_same_person_conflicts() {
    let app = TestApp::spawn().await;
    let id = pending(&app, "double").await;
    let (s1, _) = app.vote(&id, &app.tokens.approver1, "approve").await;
    assert_eq!(s1, StatusCode::OK);
    let (s2, err) = app.vote(&id, &app.tokens.approver1, "approve").await;
    assert_eq!(s2, StatusCode::CONFLICT);
    assert_eq!(err["code"], "already_voted");
    let (_, p) = app
        .get(&format!("/v1/promotions/{id}"), &app.tokens.auditor)
        .await;
    assert_eq!(p["state"], "pending_approval", "one person counts once");
    assert_eq!(p["approvals"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reject_vetoes_and_nothing_is_copied() {
    let app = TestApp::spawn().await;
    let id = pending(&app, "veto").await;
    let (status, p) = app.vote(&id, &app.tokens.approver1, "reject").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(p["state"], "rejected");
    // Two approvals would otherwise reach the count and start the copy.
    for token in [&app.tokens.approver2, &app.tokens.admin] {
        let (status, err) = app.vote(&id, token, "approve").await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "a terminal promotion takes no votes"
        );
        assert_eq!(err["code"], "promotion_not_pending");
    }
    assert_eq!(
        app.run_copies().await,
        0,
        "a rejected promotion is no copy job"
    );
    assert_eq!(app.prod_digest("team/app", "v1").await, None);
    let (_, p) = app
        .get(&format!("/v1/promotions/{id}"), &app.tokens.auditor)
        .await;
    assert_eq!(p["state"], "rejected");
    assert_eq!(p["approvals"].as_array().unwrap().len(), 1);
    let rejected = app
        .count("SELECT count(*) FROM audit_events WHERE action = 'rejected'")
        .await;
    assert_eq!(rejected, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'copy_started'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_final_votes_start_exactly_one_copy() {
    let app = TestApp::spawn().await;
    let id = pending(&app, "race").await;
    let (a, b, c) = tokio::join!(
        app.vote(&id, &app.tokens.approver1, "approve"),
        app.vote(&id, &app.tokens.approver2, "approve"),
        app.vote(&id, &app.tokens.admin, "approve"),
    );
    let mut statuses = vec![a.0, b.0, c.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::OK, StatusCode::CONFLICT],
        "{a:?} {b:?} {c:?}"
    );
    let done = app.wait_settled(&id).await;
    assert_eq!(done["state"], "promoted", "{done}");
    assert_eq!(done["approvals"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'copy_started'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'promoted'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_with_nul_ansi_escapes_or_bidi_overrides_are_refused() {
    let app = TestApp::spawn().await;
    let id = pending(&app, "nul").await;
    let hash = app.evidence_hash(&id).await;
    let audited = app.count("SELECT count(*) FROM audit_events").await;
    for comment in [
        "fine\u{0}",
        "\u{1b}[31mLGTM\u{1b}[0m",
        "\u{1b}]8;;https://evil.example\u{7}click\u{1b}]8;;\u{7}",
        "approved\u{202e}txt.exe",
        "a\u{2066}isolated\u{2069}",
        "\u{feff}bom",
        "c1\u{9b}31m",
        "del\u{7f}",
        "carriage\rreturn",
    ] {
        let body =
            serde_json::json!({"verdict": "approve", "comment": comment, "evidence_hash": hash});
        let (status, err) = app
            .post(
                &format!("/v1/promotions/{id}/approvals"),
                &app.tokens.approver1,
                &body,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{comment:?}");
        assert_eq!(err["code"], "invalid_comment", "{comment:?}: {err}");
    }
    assert_eq!(app.count("SELECT count(*) FROM approvals").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events").await,
        audited,
        "a refused vote writes nothing"
    );
    // Ordinary Unicode prose with newlines and tabs is fine.
    let body = serde_json::json!({"verdict": "approve", "comment": "Looks good 👍\n\t— café, 日本語", "evidence_hash": hash});
    let (status, vote) = app
        .post(
            &format!("/v1/promotions/{id}/approvals"),
            &app.tokens.approver1,
            &body,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{vote}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voting_on_an_unknown_promotion_is_not_found() {
    let app = TestApp::spawn().await;
    let (status, err) = app
        .vote(
            &uuid::Uuid::new_v4().to_string(),
            &app.tokens.approver1,
            "approve",
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["code"], "not_found");
    let (status, _) = app
        .vote("not-a-uuid", &app.tokens.approver1, "approve")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, err) = app
        .post(
            &format!("/v1/promotions/{}/approvals", uuid::Uuid::new_v4()),
            &app.tokens.approver1,
            &serde_json::json!({"verdict": "maybe"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_may_be_barred_from_approving() {
    let app = TestApp::spawn_with(|c| c.approvals.bar_admins = true).await;
    let id = pending(&app, "barred").await;
    let (status, err) = app.vote(&id, &app.tokens.admin, "approve").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    assert_eq!(err["code"], "admin_barred");
    assert_eq!(app.count("SELECT count(*) FROM approvals").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'vote_refused'")
            .await,
        1
    );
    // Approvers still approve.
    app.approve_twice(&id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awaiting_me_lists_what_the_caller_may_still_approve() {
    let app = TestApp::spawn().await;
    let first = pending(&app, "one").await;
    let second = pending(&app, "two").await;
    let ids = |body: &serde_json::Value| -> Vec<String> {
        body["promotions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, mine) = app
        .get("/v1/promotions?awaiting=me", &app.tokens.approver1)
        .await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(ids(&mine), [second.clone(), first.clone()]);
    // After voting on one, only the other awaits them; the other approver still sees both.
    let (status, _) = app.vote(&first, &app.tokens.approver1, "approve").await;
    assert_eq!(status, StatusCode::OK);
    let (_, mine) = app
        .get("/v1/promotions?awaiting=me", &app.tokens.approver1)
        .await;
    assert_eq!(ids(&mine), std::slice::from_ref(&second));
    let (_, theirs) = app
        .get("/v1/promotions?awaiting=me", &app.tokens.approver2)
        .await;
    assert_eq!(ids(&theirs), [second, first]);
    // The requester and those outside the group await nothing.
    for token in [&app.tokens.ci, &app.tokens.outsider] {
        let (_, none) = app.get("/v1/promotions?awaiting=me", token).await;
        assert_eq!(ids(&none), Vec::<String>::new());
    }
    let (status, err) = app
        .get("/v1/promotions?awaiting=you", &app.tokens.approver1)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["code"], "invalid_query");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_promotions_expire_by_sweep_and_on_a_late_vote() {
    let app = TestApp::spawn_with(|c| c.approvals.pending_expiry_hours = 1).await;
    let swept = pending(&app, "swept").await;
    let voted = pending(&app, "voted").await;
    let fresh = pending(&app, "fresh").await;
    for id in [&swept, &voted] {
        sqlx::query("UPDATE promotions SET created_at = now() - interval '2 hours' WHERE id = $1")
            .bind(uuid::Uuid::parse_str(id).unwrap())
            .execute(&app.db)
            .await
            .unwrap();
    }
    // A late vote finds its promotion expired, and expires it.
    let (status, err) = app.vote(&voted, &app.tokens.approver1, "approve").await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert!(err["detail"].as_str().unwrap().contains("expired"), "{err}");
    assert_eq!(app.count("SELECT count(*) FROM approvals").await, 0);
    // The sweep takes the other overdue one and leaves the fresh one.
    let n = portcullis_server::services::expiry::sweep(&app.state)
        .await
        .unwrap();
    assert_eq!(n, 1);
    for (id, state) in [
        (&swept, "expired"),
        (&voted, "expired"),
        (&fresh, "pending_approval"),
    ] {
        let (_, p) = app
            .get(&format!("/v1/promotions/{id}"), &app.tokens.auditor)
            .await;
        assert_eq!(p["state"], state, "{p}");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'expired'")
            .await,
        2
    );
    // An expired promotion does not block a new request for the same digest and route.
    let (_, listed) = app
        .get("/v1/promotions?state=expired", &app.tokens.auditor)
        .await;
    assert_eq!(listed["promotions"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vote_counts_only_for_the_evidence_the_approver_was_shown() {
    let app = TestApp::spawn().await;
    let id = pending(&app, "shown").await;
    let hash = app.evidence_hash(&id).await;
    assert!(hash.starts_with("sha256:"), "{hash}");
    let path = format!("/v1/promotions/{id}/approvals");
    // Another hash: 409 evidence_changed, nothing counted, audited as a refused vote.
    let stale = format!("sha256:{}", "1".repeat(64));
    let (status, err) = app
        .post(
            &path,
            &app.tokens.approver1,
            &serde_json::json!({"verdict": "approve", "comment": "", "evidence_hash": stale}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["code"], "evidence_changed");
    assert_eq!(app.count("SELECT count(*) FROM approvals").await, 0);
    // Missing or malformed: 422; every field is required.
    for body in [
        serde_json::json!({"verdict": "approve", "comment": ""}),
        serde_json::json!({"verdict": "approve", "evidence_hash": hash}),
        serde_json::json!({"verdict": "approve", "comment": "", "evidence_hash": "abc"}),
    ] {
        let (status, err) = app.post(&path, &app.tokens.approver1, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
    }
    // The shown hash counts.
    let (status, p) = app
        .post(
            &path,
            &app.tokens.approver1,
            &serde_json::json!({"verdict": "approve", "comment": "", "evidence_hash": hash}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
}
