//! Decision replay: every judgement is a decision that stores its exact input and the
//! bundle that judged it; `POST /v1/decisions/{id}/replay` (and `portcullis decision replay`)
//! judge it again with the stored bundle, at the decision's time, after checking both
//! against the gate's signed record: an edited input, bundle, clock, verdict or record is
//! reported as `tampered`, naming the part.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::policy::copy_bundle;
use crate::support::{TestApp, trivy};

/// An app serving its own copy of the default bundle, which the test may edit.
async fn spawn_with_bundle(edit: impl FnOnce(&Path)) -> (TestApp, PathBuf) {
    let bundle = std::env::temp_dir().join(format!("portcullis-replay-{}", uuid::Uuid::new_v4()));
    copy_bundle(&bundle);
    edit(&bundle);
    let dir = bundle.clone();
    (
        TestApp::spawn_with(move |c| c.policy_dir = dir).await,
        bundle,
    )
}

/// Requests a promotion of a fresh signed image with `findings`; returns the promotion.
async fn promote(app: &TestApp, tag: &str, findings: &[(&str, &str)]) -> Value {
    let digest = app.push_signed("team/app", tag).await;
    let (status, p) = app
        .request(&app.source("team/app", &digest), trivy(findings))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    p
}

pub async fn replay(app: &TestApp, id: &str, token: &str) -> (StatusCode, Value) {
    app.post(&format!("/v1/decisions/{id}/replay"), token, &json!({}))
        .await
}

fn decision_ids(p: &Value) -> Vec<String> {
    p["decision_ids"]
        .as_array()
        .unwrap_or_else(|| panic!("no decision_ids: {p}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn assert_identical(r: &Value) {
    assert_eq!(r["identical"], true, "{r}");
    assert_eq!(r["tampered"], false, "{r}");
    assert_eq!(r["tamper"], json!([]), "{r}");
    assert_eq!(r["diff"], json!([]), "{r}");
    assert_eq!(r["replayed"], r["verdict"], "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_is_identical_after_a_policy_reload_the_stored_bundle_is_used() {
    let (app, bundle) = spawn_with_bundle(|_| {}).await;
    let p = promote(&app, "r1", &[("CVE-2026-1", "HIGH")]).await;
    assert_eq!(p["decision"]["allow"], true, "{p}");
    let ids = decision_ids(&p);
    assert_eq!(ids.len(), 1);
    let (first, pid) = (ids[0].clone(), p["id"].as_str().unwrap().to_owned());
    let (_, readyz) = app.get("/readyz", "").await;
    let d0 = readyz["policy_digest"].as_str().unwrap().to_owned();

    let (status, r) = replay(&app, &first, &app.tokens.auditor).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_identical(&r);
    assert_eq!(r["decision_id"], first.as_str());
    assert_eq!(r["promotion_id"], pid.as_str());
    assert_eq!(r["policy_digest"], d0.as_str());
    assert_eq!(r["verdict"], p["decision"]);

    // A stricter bundle denies the same input: the pending promotion is judged again (a
    // second decision); the first still replays identically, with the bundle it was made by.
    let data = bundle.join("data.json");
    let mut cfg: Value = serde_json::from_str(&std::fs::read_to_string(&data).unwrap()).unwrap();
    cfg["portcullis"]["config"]["max_high"] = json!(0);
    std::fs::write(&data, cfg.to_string()).unwrap();
    let (status, body) = app
        .post("/v1/admin/policy/reload", &app.tokens.admin, &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rejudged"], 1, "{body}");
    let d1 = body["policy_digest"].as_str().unwrap().to_owned();
    let (_, p) = app
        .get(&format!("/v1/promotions/{pid}"), &app.tokens.auditor)
        .await;
    assert_eq!(p["state"], "denied", "{p}");
    let ids = decision_ids(&p);
    assert_eq!(ids.len(), 2, "{p}");
    assert_eq!(ids[0], first);

    let (status, r) = replay(&app, &first, &app.tokens.admin).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_identical(&r);
    assert_eq!(r["verdict"]["allow"], true, "{r}");
    assert_eq!(r["policy_digest"], d0.as_str());
    let (status, r) = replay(&app, &ids[1], &app.tokens.auditor).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_identical(&r);
    assert_eq!(r["verdict"]["allow"], false, "{r}");
    assert_eq!(
        r["verdict"]["violations"][0]["rule"],
        "vulnerability.max_high"
    );
    assert_eq!(r["policy_digest"], d1.as_str());
    // Each bundle is stored once, by digest.
    assert_eq!(app.count("SELECT count(*) FROM policy_bundles").await, 2);

    // The offline verb agrees (exit 0: identical).
    let id = uuid::Uuid::parse_str(&first).unwrap();
    let code = portcullis_server::cli_decisions::decision_replay(&app.config, id)
        .await
        .unwrap();
    assert_eq!(code, ExitCode::SUCCESS);

    // Auditors and admins only; unknown ids are 404.
    let (status, r) = replay(&app, &first, &app.tokens.ci).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{r}");
    let (status, r) = replay(&app, &first, &app.tokens.approver1).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{r}");
    let (status, r) = replay(&app, &uuid::Uuid::new_v4().to_string(), &app.tokens.auditor).await;
    assert_eq!(
        (status, r["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, r) = replay(&app, "not-a-uuid", &app.tokens.auditor).await;
    assert_eq!(
        (status, r["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );

    // A decision recorded before decisions stored their input cannot be replayed.
    let old: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO decisions (id, promotion_id, policy_digest, decision) \
         SELECT gen_random_uuid(), promotion_id, policy_digest, decision FROM decisions LIMIT 1 RETURNING id",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let (status, r) = replay(&app, &old.to_string(), &app.tokens.auditor).await;
    assert_eq!(status, StatusCode::CONFLICT, "{r}");
    assert_eq!(r["code"], "decision_not_replayable");
}

async fn exec(app: &TestApp, sql: &str, id: &str) {
    let id = uuid::Uuid::parse_str(id).unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
}

/// Replays `id`, expecting it tampered in exactly `part`; returns the tamper entry.
async fn tampered(app: &TestApp, id: &str, part: &str) -> Value {
    let (status, r) = replay(app, id, &app.tokens.auditor).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["tampered"], true, "{r}");
    assert_eq!(r["identical"], false, "{r}");
    assert_eq!(
        r["replayed"],
        Value::Null,
        "nothing judged on tampered parts: {r}"
    );
    let parts: Vec<&str> = r["tamper"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["part"].as_str().unwrap())
        .collect();
    assert_eq!(parts, vec![part], "{r}");
    let t = r["tamper"][0].clone();
    assert_ne!(t["signed"], t["stored"], "{r}");
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_reports_a_superuser_edit_of_the_stored_input_bundle_clock_or_verdict() {
    let app = TestApp::spawn().await;
    let p = promote(&app, "t1", &[]).await;
    let id = decision_ids(&p)[0].clone();
    let (status, r) = replay(&app, &id, &app.tokens.auditor).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_identical(&r);
    // The input hash the audit trail recorded is the signed one.
    let audited: String = sqlx::query_scalar(
        "SELECT details->>'input_hash' FROM audit_events WHERE action = 'evaluated' AND details->>'decision_id' = $1",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();

    // The input: one more space is still the same JSON, but not the text that was hashed.
    exec(
        &app,
        "UPDATE decisions SET input = input || ' ' WHERE id = $1",
        &id,
    )
    .await;
    let t = tampered(&app, &id, "input").await;
    assert_eq!(t["signed"], audited.as_str());
    exec(
        &app,
        "UPDATE decisions SET input = rtrim(input) WHERE id = $1",
        &id,
    )
    .await;
    let (_, r) = replay(&app, &id, &app.tokens.auditor).await;
    assert_identical(&r);

    // The bundle: one file edited under the same digest.
    let edit = "UPDATE policy_bundles SET files = jsonb_set(files, '{data.json}', \
                to_jsonb(replace(files->>'data.json', '\"max_high\": 10', '\"max_high\": 99'))) \
                WHERE digest = (SELECT policy_digest FROM decisions WHERE id = $1)";
    exec(&app, edit, &id).await;
    let t = tampered(&app, &id, "bundle").await;
    assert_eq!(t["signed"], r["policy_digest"]);
    let restore = edit
        .replace("99", "TMP")
        .replace("10", "99")
        .replace("TMP", "10");
    exec(&app, &restore, &id).await;
    let (_, r) = replay(&app, &id, &app.tokens.auditor).await;
    assert_identical(&r);

    // The clock, the verdict, and the signed record itself.
    exec(
        &app,
        "UPDATE decisions SET now_ns = now_ns + 1 WHERE id = $1",
        &id,
    )
    .await;
    tampered(&app, &id, "time").await;
    exec(
        &app,
        "UPDATE decisions SET now_ns = now_ns - 1 WHERE id = $1",
        &id,
    )
    .await;
    exec(
        &app,
        "UPDATE decisions SET decision = jsonb_set(decision, '{allow}', 'false') WHERE id = $1",
        &id,
    )
    .await;
    tampered(&app, &id, "verdict").await;
    exec(
        &app,
        "UPDATE decisions SET decision = jsonb_set(decision, '{allow}', 'true') WHERE id = $1",
        &id,
    )
    .await;
    exec(&app, "UPDATE decisions SET envelope = jsonb_set(envelope, '{payload}', '\"e30=\"') WHERE id = $1", &id).await;
    tampered(&app, &id, "signature").await;
    let code = portcullis_server::cli_decisions::decision_replay(
        &app.config,
        uuid::Uuid::parse_str(&id).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(code, ExitCode::FAILURE, "tampered is exit 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_fixes_time_now_ns_at_the_decisions_time() {
    // The bundle says when it judged: a replay at another time would differ.
    let (app, _bundle) = spawn_with_bundle(|dir| {
        let path = dir.join("promotion.rego");
        let mut rego = std::fs::read_to_string(&path).unwrap();
        rego.push_str("\nwarnings contains sprintf(\"judged at %d\", [time.now_ns()])\n");
        std::fs::write(path, rego).unwrap();
    })
    .await;
    let p = promote(&app, "c1", &[]).await;
    let judged_at = p["decision"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|w| w.as_str()?.strip_prefix("judged at "))
        .unwrap_or_else(|| panic!("no time in {p}"))
        .to_owned();
    let id = decision_ids(&p)[0].clone();
    let (status, r) = replay(&app, &id, &app.tokens.auditor).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_identical(&r);
    assert_eq!(r["now_ns"], judged_at.as_str(), "{r}");
}
