//! `GET /openapi.json` against the server that serves it: every documented operation is
//! served (and `app.rs` registers no route without its path item, see
//! `portcullis_server::openapi`), answers only the statuses it documents with bodies that
//! match their schemas, refuses exactly the roles it does not list, and answers each request
//! example as documented.

use std::collections::BTreeMap;

use portcullis_core::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::openapi::{check, operations};
use crate::support::{ROUTE, TestApp, trivy};

/// Each role a test token can hold, with its token.
async fn role_tokens(app: &TestApp) -> Vec<(&'static str, String)> {
    vec![
        ("ci", app.tokens.ci.clone()),
        ("approver", app.tokens.approver1.clone()),
        ("auditor", app.tokens.auditor.clone()),
        ("admin", app.tokens.admin.clone()),
        (
            "break-glass",
            app.token("brenda", Role::BreakGlass, &[], None).await,
        ),
        (
            "admission",
            app.token("cluster-prod", Role::Admission, &[], None).await,
        ),
    ]
}

/// Sends `method path` (ids filled in) with `token` and `body` (none: an empty body); checks
/// the answer's status and content type are documented and a JSON body matches its schema.
async fn probe(
    app: &TestApp,
    doc: &Value,
    (path, method, op): &(String, String, Value),
    ids: &BTreeMap<&str, String>,
    token: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let prefix = path.split("/{").next().unwrap();
    let id = ids
        .get(prefix)
        .cloned()
        .unwrap_or_else(|| uuid::Uuid::nil().to_string());
    let url = format!("{}{}", app.base, path.replace("{id}", &id));
    let mut req = app.http.request(
        Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
        &url,
    );
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    assert!(
        resp.headers().contains_key("x-request-id"),
        "{method} {path}: no x-request-id"
    );
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    let what = format!(
        "{method} {path} as {}",
        token.map_or("anonymous", |_| "a role")
    );
    assert!(
        !(status == 404 && text.contains("no such endpoint")) && status != 405,
        "{what}: documented but not served ({status})"
    );
    let documented = &op["responses"][status.as_str()];
    assert!(
        documented.is_object(),
        "{what}: answered {status}, which is not documented: {text}"
    );
    let media = documented["content"]
        .as_object()
        .and_then(|c| {
            c.keys()
                .find(|m| ctype.starts_with(m.split(';').next().unwrap()))
                .cloned()
        })
        .unwrap_or_else(|| panic!("{what}: {status} as {ctype:?} is not documented"));
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    if media.ends_with("json") && media != "application/x-ndjson" {
        check(doc, &documented["content"][&media]["schema"], &body).unwrap_or_else(|e| {
            panic!("{what}: {status} body does not match its schema: {e}\n{text}")
        });
    }
    (status, body)
}

#[tokio::test]
async fn openapi_json_is_served_and_every_documented_route_answers_as_documented() {
    let app = TestApp::spawn_with(|c| c.auth_failures.max_per_minute = 100_000).await;
    // Real data for the probes: a promotion waiting for approvals, and its decision.
    let digest = app.push_signed("team/app", "v1").await;
    let (status, created) = app
        .request(&app.source("team/app", &digest), trivy(&[("CVE-1", "LOW")]))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let promotion = created["id"].as_str().unwrap().to_owned();
    let (_, shown) = app
        .get(&format!("/v1/promotions/{promotion}"), &app.tokens.auditor)
        .await;
    let decision = shown["decision_ids"][0].as_str().unwrap().to_owned();

    let resp = app
        .http
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(
        doc,
        portcullis_server::openapi::document(&app.config.metrics)
    );
    assert_eq!(doc["info"]["version"], portcullis_server::openapi::VERSION);
    let create = &doc["paths"]["/v1/promotions"]["post"]["responses"]["201"]["content"]["application/json"]
        ["schema"];
    check(&doc, create, &created).unwrap_or_else(|e| panic!("201 body: {e}"));

    let ids = BTreeMap::from([
        ("/v1/promotions", promotion.clone()),
        ("/v1/decisions", decision),
    ]);
    let roles = role_tokens(&app).await;
    for operation in operations(&doc) {
        let (path, method, op) = &operation;
        let allowed: Vec<&str> = op["security"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["bearer"].as_array())
            .flatten()
            .map(|r| r.as_str().unwrap())
            .collect();
        let (status, body) = probe(&app, &doc, &operation, &ids, None, None).await;
        if allowed.is_empty() {
            assert!(
                status.is_success(),
                "{method} {path} is public: {status} {body}"
            );
            continue;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        for (role, token) in &roles {
            let (status, body) = probe(&app, &doc, &operation, &ids, Some(token), None).await;
            let refused = status == StatusCode::FORBIDDEN && body["code"] == "forbidden";
            assert_eq!(
                refused,
                !allowed.contains(role),
                "{method} {path} as {role}: documented roles {allowed:?}, answered {status} {body}"
            );
        }
    }
    // The probes voted nothing and moved nothing: the promotion still waits.
    let (_, after) = app
        .get(&format!("/v1/promotions/{promotion}"), &app.tokens.auditor)
        .await;
    assert_eq!(after["state"], "pending_approval", "{after}");
    assert_eq!(after["route"], ROUTE);

    // Each request body example, sent as it is documented, is answered as documented; those
    // that name nothing of this test's world are accepted. (The break-glass goes last: it
    // promotes.)
    let accepted = [
        "createWaiver",
        "mintToken",
        "reportRuntime",
        "admissionReview",
        "breakGlass",
    ];
    let mut sent = Vec::new();
    let mut operations = operations(&doc);
    operations.sort_by_key(|(_, _, op)| op["operationId"] == "breakGlass");
    for operation in &operations {
        let op = &operation.2;
        let Some(example) = op["requestBody"]["content"]["application/json"].get("example") else {
            continue;
        };
        let mut example = example.clone();
        if op["operationId"] == "createWaiver" {
            // Documented with a fixed date; it must lie ahead, within waivers.max_days.
            example["expires_at"] =
                json!((chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339());
        }
        let role = op["security"][0]["bearer"][0].as_str().unwrap();
        let token = &roles.iter().find(|(r, _)| *r == role).unwrap().1;
        let (status, body) = probe(&app, &doc, operation, &ids, Some(token), Some(&example)).await;
        let id = op["operationId"].as_str().unwrap();
        if accepted.contains(&id) {
            assert!(
                status.is_success(),
                "{id}: its example was refused: {status} {body}"
            );
        }
        sent.push(id.to_owned());
    }
    assert!(sent.len() >= 11, "request examples sent: {sent:?}");
    let (_, after) = app
        .get(&format!("/v1/promotions/{promotion}"), &app.tokens.auditor)
        .await;
    assert_eq!(after["state"], "promoting", "{after}");
}
