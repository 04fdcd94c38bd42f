//! `GET /openapi.json`: the document is OpenAPI 3.1 whose every `$ref` resolves and whose
//! every example validates against its schema; every documented operation is served (and
//! `app.rs` registers no route without its path item, see `portcullis_server::openapi`),
//! each answers only the statuses it documents with bodies that match their schemas, and
//! its documented roles are exactly the roles the server lets through.

use std::collections::{BTreeMap, HashSet};

use portcullis_core::Role;
use portcullis_server::config::MetricsSettings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{ROUTE, TestApp, trivy};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every operation of `doc`: (path, method, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                ops.push((path.clone(), method.clone(), op.clone()));
            }
        }
    }
    ops
}

/// Validates `instance` against `schema`, whose `$ref`s point into `doc`'s components.
fn check(doc: &Value, schema: &Value, instance: &Value) -> Result<(), String> {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        "allOf": [schema],
    });
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .map_err(|e| format!("schema does not build: {e}"))?;
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Every `(where, value)` under `node` whose key is `key`.
fn find<'a>(node: &'a Value, key: &str, at: String, out: &mut Vec<(String, &'a Value)>) {
    match node {
        Value::Object(map) => {
            for (k, v) in map {
                if k == key {
                    out.push((at.clone(), v));
                }
                find(v, key, format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                find(v, key, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn both_documents() -> [Value; 2] {
    let public = MetricsSettings {
        enabled: true,
        public: true,
    };
    [
        portcullis_server::openapi::document(&MetricsSettings::default()),
        portcullis_server::openapi::document(&public),
    ]
}

#[test]
fn document_is_openapi_3_1_with_unique_operation_ids_and_resolving_refs() {
    for doc in both_documents() {
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1."),
            "{}",
            doc["openapi"]
        );
        assert!(!doc["info"]["version"].as_str().unwrap().is_empty());
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        let mut refs = Vec::new();
        find(&doc, "$ref", String::new(), &mut refs);
        assert!(refs.len() > 20, "{} refs", refs.len());
        for (at, target) in refs {
            let target = target.as_str().unwrap();
            let pointer = target
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{at}: {target}"));
            assert!(
                doc.pointer(pointer).is_some(),
                "{at}: {target} does not resolve"
            );
        }
        let mut ids = HashSet::new();
        for (path, method, op) in operations(&doc) {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}"));
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            assert!(op["summary"].is_string(), "{method} {path}: no summary");
            assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{id}");
            let responses = op["responses"].as_object().unwrap();
            let secured = op["security"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["bearer"].is_array());
            if secured {
                assert!(
                    responses.contains_key("401") && responses.contains_key("403"),
                    "{id}"
                );
            }
            for (status, response) in responses {
                if status.parse::<u16>().unwrap() >= 400 {
                    let problem = &response["content"]["application/problem+json"];
                    let codes = problem["schema"]["allOf"][1]["properties"]["code"]["enum"]
                        .as_array()
                        .unwrap_or_else(|| panic!("{id} {status}: no problem codes"));
                    assert!(!codes.is_empty(), "{id} {status}");
                }
            }
            for p in path
                .split('{')
                .skip(1)
                .map(|s| s.split('}').next().unwrap())
            {
                let declared = op["parameters"].as_array().is_some_and(|ps| {
                    ps.iter()
                        .any(|x| x["name"] == p && x["in"] == "path" && x["required"] == true)
                });
                assert!(declared, "{id}: path parameter {p} not declared");
            }
        }
        assert!(ids.len() >= 33, "{} operations", ids.len());
        if let Ok(out) = std::env::var("OPENAPI_DUMP") {
            std::fs::write(out, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
        }
    }
}

#[test]
fn every_example_validates_against_its_schema() {
    for doc in both_documents() {
        let mut checked = 0;
        // Media types: request bodies and responses.
        let mut contents = Vec::new();
        find(&doc["paths"], "content", "#/paths".into(), &mut contents);
        for (at, content) in contents {
            for (media, item) in content.as_object().unwrap() {
                let Some(example) = item.get("example") else {
                    continue;
                };
                check(&doc, &item["schema"], example)
                    .unwrap_or_else(|e| panic!("{at}/{media}: example: {e}"));
                checked += 1;
            }
        }
        // Schemas and parameters: `example`, and JSON Schema `examples`.
        let mut schema_examples = Vec::new();
        find(
            &doc["components"]["schemas"],
            "example",
            "#/components/schemas".into(),
            &mut schema_examples,
        );
        for (at, example) in schema_examples {
            let schema = doc.pointer(at.trim_start_matches('#')).unwrap();
            check(&doc, schema, example).unwrap_or_else(|e| panic!("{at}: example: {e}"));
            checked += 1;
        }
        let mut schema_examples = Vec::new();
        find(
            &doc["components"]["schemas"],
            "examples",
            "#/components/schemas".into(),
            &mut schema_examples,
        );
        for (at, examples) in schema_examples {
            let schema = doc.pointer(at.trim_start_matches('#')).unwrap();
            for example in examples.as_array().into_iter().flatten() {
                check(&doc, schema, example).unwrap_or_else(|e| panic!("{at}: examples: {e}"));
                checked += 1;
            }
        }
        for (path, method, op) in operations(&doc) {
            for param in op["parameters"].as_array().into_iter().flatten() {
                if let Some(example) = param.get("example") {
                    check(&doc, &param["schema"], example)
                        .unwrap_or_else(|e| panic!("{method} {path} {}: {e}", param["name"]));
                    checked += 1;
                }
            }
        }
        assert!(checked >= 40, "only {checked} examples checked");
        // Not vacuous: a wrong value is refused, through a `$ref`.
        let view = json!({"$ref": "#/components/schemas/PromotionView"});
        let mut wrong = doc["paths"]["/v1/promotions/{id}"]["get"]["responses"]["200"]["content"]
            ["application/json"]["example"]
            .clone();
        assert!(check(&doc, &view, &wrong).is_ok());
        wrong["decision"]["allow"] = json!("yes");
        assert!(
            check(&doc, &view, &wrong).is_err(),
            "a bad verdict validates"
        );
        wrong = doc["paths"]["/v1/promotions/{id}"]["get"]["responses"]["200"]["content"]
            ["application/json"]["example"]
            .clone();
        wrong["digest"] = json!("sha256:not-hex");
        assert!(
            check(&doc, &view, &wrong).is_err(),
            "a bad digest validates"
        );
    }
}

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
