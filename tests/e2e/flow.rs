//! The promotion flow: policy verdicts on real signatures and reports, the copy to
//! production, idempotent requests, and the audit trail.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{ROUTE, TestApp, trivy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_clean_image_is_promoted_with_the_same_digest_and_signature() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "build-1").await;
    let (status, p) = app
        .request(&app.source("team/app", &digest), trivy(&[("CVE-1", "LOW")]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "pending_approval");
    assert_eq!(p["digest"], digest);
    assert_eq!(
        p["destination"],
        format!("{}/team/app", app.prod.host.as_str())
    );
    assert_eq!(p["tag"], "v1");
    assert_eq!(p["requested_by"], "ci-pipeline");
    assert_eq!(p["decision"]["allow"], true);
    assert_eq!(p["decision"]["violations"], json!([]));
    assert_eq!(
        p["decision"]["required_approvals"],
        json!({"count": 2, "group": "release-approvers"})
    );
    assert!(p["policy_digest"].as_str().unwrap().starts_with("sha256:"));
    let id = p["id"].as_str().unwrap().to_owned();

    let (status, after_one) = app.vote(&id, &app.tokens.approver1, "approve").await;
    assert_eq!(status, StatusCode::OK, "{after_one}");
    assert_eq!(
        after_one["state"], "pending_approval",
        "one approval of two is not enough"
    );
    assert_eq!(
        app.prod_digest("team/app", "v1").await,
        None,
        "nothing copied before approval"
    );

    let (status, after_two) = app.vote(&id, &app.tokens.approver2, "approve").await;
    assert_eq!(status, StatusCode::OK, "{after_two}");
    assert_eq!(after_two["approvals"].as_array().unwrap().len(), 2);
    let done = app.wait_settled(&id).await;
    assert_eq!(done["state"], "promoted", "{done}");
    assert_eq!(done["copy"]["signature_copied"], true);
    assert_eq!(done["copy"]["in_progress"], false);
    assert_eq!(done["copy"]["digest"], digest);

    assert_eq!(
        app.prod_digest("team/app", "v1").await.as_deref(),
        Some(digest.as_str())
    );
    assert_eq!(
        app.prod_digest("team/app", &digest).await.as_deref(),
        Some(digest.as_str())
    );
    let sig_tag = portcullis_testkit::signature_tag(&digest);
    assert!(
        app.prod_digest("team/app", &sig_tag).await.is_some(),
        "signature copied to production"
    );

    let (status, audit) = app
        .get(&format!("/v1/audit?digest={digest}"), &app.tokens.auditor)
        .await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .rev()
        .collect();
    assert_eq!(
        actions,
        [
            "requested",
            "evaluated",
            "approved",
            "approved",
            "copy_started",
            "promoted"
        ]
    );
    let events = audit["events"].as_array().unwrap();
    for pair in events.windows(2) {
        assert_eq!(
            pair[0]["prev_hash"], pair[1]["hash"],
            "events chain newest to oldest"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_image_is_denied() {
    let app = TestApp::spawn().await;
    let digest = app.push_image("team/app", "unsigned").await;
    let (status, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["state"], "denied");
    assert_eq!(p["decision"]["allow"], false);
    let rules: Vec<&str> = p["decision"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["signature.required"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_signed_with_an_untrusted_key_is_denied() {
    let app = TestApp::spawn().await;
    let digest = app.push_image("team/app", "rogue").await;
    app.sign("team/app", &digest, &app.rogue_key).await;
    let (_, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    assert_eq!(p["state"], "denied");
    let v = &p["decision"]["violations"][0];
    assert_eq!(v["rule"], "signature.trusted_key");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("1 signature(s) found, 0 trusted signer(s) verified"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_signature_artifact_denies_as_fetch_failure() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "x").await;
    // Replace the .sig tag with an index: it exists but cannot be read as a signature.
    let sig_tag = portcullis_testkit::signature_tag(&digest);
    portcullis_testkit::push_index(
        app.staging.host.as_str(),
        "team/app",
        &sig_tag,
        &[("linux", "amd64")],
    )
    .await
    .unwrap();
    let (_, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    assert_eq!(p["state"], "denied");
    assert_eq!(
        p["decision"]["violations"][0]["rule"], "signature.fetch_failed",
        "{p}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critical_vulnerability_is_denied_with_the_rule_named() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "vuln").await;
    let (_, p) = app
        .request(
            &app.source("team/app", &digest),
            trivy(&[("CVE-2024-0001", "CRITICAL")]),
        )
        .await;
    assert_eq!(p["state"], "denied");
    let v = &p["decision"]["violations"][0];
    assert_eq!(v["rule"], "vulnerability.no_critical");
    assert!(
        v["message"].as_str().unwrap().contains("CVE-2024-0001"),
        "{v}"
    );
    let (status, _) = app
        .vote(p["id"].as_str().unwrap(), &app.tokens.approver1, "approve")
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a denied promotion takes no votes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_vulnerability_report_is_denied() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "noreport").await;
    let body = json!({"source": app.source("team/app", &digest), "route": ROUTE});
    let (_, p) = app.post("/v1/promotions", &app.tokens.ci, &body).await;
    assert_eq!(p["state"], "denied");
    assert_eq!(
        p["decision"]["violations"][0]["rule"],
        "vulnerability.report_required"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_identical_request_returns_the_open_promotion() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "dup").await;
    let source = app.source("team/app", &digest);
    let (s1, first) = app.request(&source, trivy(&[])).await;
    assert_eq!(s1, StatusCode::CREATED);
    // By tag this time: it resolves to the same digest.
    let by_tag = format!("{}/team/app:dup", app.staging.host.as_str());
    let (s2, second) = app.request(&by_tag, trivy(&[])).await;
    assert_eq!(s2, StatusCode::OK, "{second}");
    assert_eq!(first["id"], second["id"]);
    assert_eq!(app.count("SELECT count(*) FROM promotions").await, 1);
    // The same digest and route to another tag while this one is open is a conflict.
    let other_tag = json!({"source": source, "route": ROUTE, "tag": "v2",
        "evidence": [{"format": "trivy-json", "document": trivy(&[])}]});
    let (status, err) = app.post("/v1/promotions", &app.tokens.ci, &other_tag).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["code"], "conflicting_open_promotion");
    assert_eq!(app.count("SELECT count(*) FROM promotions").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_requests_create_one_promotion() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "burst").await;
    let source = app.source("team/app", &digest);
    let results =
        futures_util::future::join_all((0..4).map(|_| app.request(&source, trivy(&[])))).await;
    let created = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|(s, p)| s.is_success() && p["id"] == results[0].1["id"]),
        "{results:?}"
    );
    assert_eq!(app.count("SELECT count(*) FROM promotions").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_events WHERE action = 'requested'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_chain_verification_detects_altered_and_deleted_events() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "chain").await;
    let (_, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    app.approve_twice(&id).await;
    app.wait_settled(&id).await;
    let store = app.state.store.clone();
    let keys = [app.state.keys.audit_mac().clone()];
    let intact = store.verify_audit_chain(&keys).await.unwrap();
    assert_eq!(intact.events, 6);
    assert_eq!(intact.broken_at, None);
    // A superuser with the trigger disabled rewrites history: the chain notices.
    sqlx::query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET details = jsonb_set(details, '{comment}', '\"edited\"') WHERE seq = 3")
        .execute(&app.db)
        .await
        .unwrap();
    let altered = store.verify_audit_chain(&keys).await.unwrap();
    assert_eq!(
        altered.broken_at.as_ref().map(|b| b.0),
        Some(3),
        "{altered:?}"
    );
    assert_eq!(altered.events, 2);
    sqlx::query("DELETE FROM audit_events WHERE seq = 3")
        .execute(&app.db)
        .await
        .unwrap();
    let deleted = store.verify_audit_chain(&keys).await.unwrap();
    let (seq, why) = deleted.broken_at.unwrap();
    assert_eq!(seq, 4);
    assert!(why.contains("event 3 is missing"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_returns_the_decision_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let digest = app.push_signed("team/app", "dry").await;
    let body = json!({
        "source": app.source("team/app", &digest), "route": ROUTE, "dry_run": true,
        "evidence": [{"format": "trivy-json", "document": trivy(&[("CVE-2", "CRITICAL")])}],
    });
    let (status, d) = app.post("/v1/promotions", &app.tokens.ci, &body).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["dry_run"], true);
    assert_eq!(d["decision"]["allow"], false);
    assert_eq!(
        d["evidence"]["signatures"]["verified_key_ids"],
        json!(["release-key"])
    );
    assert_eq!(app.count("SELECT count(*) FROM promotions").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM audit_events").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_platform_index_is_copied_whole_with_the_same_digest() {
    let app = TestApp::spawn().await;
    let (digest, p) = app.request_signed_index("team/multi").await;
    assert_eq!(
        p["digest"], digest,
        "the tag was resolved to the index digest"
    );
    let id = p["id"].as_str().unwrap();
    app.vote(id, &app.tokens.approver1, "approve").await;
    app.vote(id, &app.tokens.admin, "approve").await;
    let done = app.wait_settled(id).await;
    assert_eq!(done["state"], "promoted", "{done}");
    // The index, its two platform manifests and the signature manifest.
    assert_eq!(done["copy"]["manifests_copied"], 4, "{done}");
    assert_eq!(
        app.prod_digest("team/multi", "v1").await.as_deref(),
        Some(digest.as_str())
    );
    // Every platform's manifest is present in production by digest.
    let index: serde_json::Value = app
        .http
        .get(format!(
            "http://{}/v2/team/multi/manifests/{digest}",
            app.prod.host.as_str()
        ))
        .header("accept", "application/vnd.oci.image.index.v1+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for m in index["manifests"].as_array().unwrap() {
        let child = m["digest"].as_str().unwrap();
        assert_eq!(
            app.prod_digest("team/multi", child).await.as_deref(),
            Some(child)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_failure_is_recorded_as_failed_with_the_reason() {
    // The copy job retries an unreachable registry for retry.max_elapsed_seconds: keep it short.
    let mut app = TestApp::spawn_with(|c| {
        for reg in c.registries.values_mut() {
            reg.retry = Some(portcullis_server::config::RetrySettings {
                max_attempts: Some(2),
                initial_backoff_ms: Some(10),
                max_elapsed_seconds: Some(1),
                ..Default::default()
            });
        }
    })
    .await;
    let digest = app.push_signed("team/app", "gone").await;
    let (_, p) = app
        .request(&app.source("team/app", &digest), trivy(&[]))
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    let id = id.as_str();
    // Production goes away before the approvals complete.
    let prod_host = app.prod.host.clone();
    app.vote(id, &app.tokens.approver1, "approve").await;
    app.prod.stop().await.unwrap();
    app.vote(id, &app.tokens.approver2, "approve").await;
    let done = app.wait_settled(id).await;
    assert_eq!(done["state"], "failed", "{done}");
    let reason = done["error"].as_str().unwrap();
    assert!(
        reason.contains(prod_host.as_str()),
        "the reason names the registry: {reason}"
    );
    let (_, audit) = app
        .get(
            &format!("/v1/audit?digest={digest}&action=failed"),
            &app.tokens.auditor,
        )
        .await;
    assert_eq!(audit["events"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_made_for_another_digest_does_not_count() {
    let app = TestApp::spawn().await;
    let signed = app.push_signed("team/app", "a").await;
    let victim = app.push_image("team/app", "b").await;
    // Graft the trusted signature of `signed` onto `victim`'s signature tag.
    let client = portcullis_registry::testing::TestRegistry::client_for(&[&app.staging]).unwrap();
    let repo: portcullis_core::RepoPath = "team/app".parse().unwrap();
    let tag = |d: &str| {
        portcullis_core::Reference::Tag(portcullis_testkit::signature_tag(d).parse().unwrap())
    };
    let sig = client
        .get_manifest(&app.staging.host, &repo, &tag(&signed))
        .await
        .unwrap()
        .unwrap();
    client
        .put_manifest(&app.staging.host, &repo, &tag(&victim), &sig)
        .await
        .unwrap();
    let (_, p) = app
        .request(&app.source("team/app", &victim), trivy(&[]))
        .await;
    assert_eq!(p["state"], "denied", "{p}");
    assert_eq!(
        p["decision"]["violations"][0]["rule"],
        "signature.trusted_key"
    );
    // The genuine one still verifies.
    let (_, ok) = app
        .request(&app.source("team/app", &signed), trivy(&[]))
        .await;
    assert_eq!(ok["state"], "pending_approval", "{ok}");
}
