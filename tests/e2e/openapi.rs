//! The OpenAPI document (`portcullis_server::openapi`): OpenAPI 3.1, unique operation ids,
//! every `$ref` resolves, every example validates against its schema. What the server
//! answers is checked against it in `openapi_served`.

use std::collections::HashSet;

use portcullis_server::config::MetricsSettings;
use serde_json::{Value, json};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every operation of `doc`: (path, method, operation).
pub fn operations(doc: &Value) -> Vec<(String, String, Value)> {
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
pub fn check(doc: &Value, schema: &Value, instance: &Value) -> Result<(), String> {
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
        // For an external validator (the last one written is the `metrics.public` variant).
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
