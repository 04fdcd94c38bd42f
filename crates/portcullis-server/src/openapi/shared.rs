//! The problem+json answers that come from in front of the handlers (authentication, the
//! auth-failure limiter, the body and query extractors, the request deadline, the database)
//! added to each operation they can reach, and the problem+json content of every error
//! response: a schema whose `code` is the enum of the codes its description names, and an
//! example of the first.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::PROBLEM_JSON;

/// The path item keys that are operations.
pub const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Routes that never answer `database_unavailable`: they answer without the database, or
/// (`/readyz`) say `not_ready` instead.
const NO_DATABASE: [&str; 4] = ["/healthz", "/readyz", "/openapi.json", "/v1/gate/keys"];
/// Routes outside the request deadline (`http.request_timeout_seconds`).
const NO_DEADLINE: [&str; 4] = ["/healthz", "/readyz", "/openapi.json", "/metrics"];
/// Routes whose body problems are answered inside their own 200 answer.
const IN_BAND_BODY: [&str; 1] = ["/v1/admission"];

/// How an operation takes its body.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    None,
    Json,
    Raw,
}

/// What decides which shared answers apply.
struct Operation<'a> {
    path: &'a str,
    secured: bool,
    body: Body,
    query: bool,
}

/// One shared answer and where it applies.
struct Shared {
    status: u16,
    code: &'static str,
    why: &'static str,
    applies: fn(&Operation) -> bool,
}

const SHARED: &[Shared] = &[
    Shared {
        status: 400,
        code: "malformed_json",
        why: "the body is not JSON",
        applies: |o| o.body == Body::Json,
    },
    Shared {
        status: 400,
        code: "bad_request",
        why: "the body could not be read",
        applies: |o| o.body != Body::None,
    },
    Shared {
        status: 400,
        code: "invalid_query",
        why: "the query string does not parse (an unknown parameter, a wrong type)",
        applies: |o| o.query,
    },
    Shared {
        status: 401,
        code: "unauthorized",
        why: "no bearer token, or one that is not valid",
        applies: |o| o.secured,
    },
    Shared {
        status: 403,
        code: "forbidden",
        why: "the token's roles may not call this operation",
        applies: |o| o.secured,
    },
    Shared {
        status: 408,
        code: "body_timeout",
        why: "the body did not arrive within http.body_read_timeout_seconds",
        applies: |o| o.body != Body::None,
    },
    Shared {
        status: 413,
        code: "payload_too_large",
        why: "the body is larger than max_body_bytes",
        applies: |o| o.body == Body::Json,
    },
    Shared {
        status: 415,
        code: "unsupported_media_type",
        why: "the body is not sent as application/json",
        applies: |o| o.body == Body::Json,
    },
    Shared {
        status: 422,
        code: "invalid_body",
        why: "the body does not match its schema",
        applies: |o| o.body == Body::Json,
    },
    Shared {
        status: 429,
        code: "rate_limited",
        why: "too many refused requests from this client (see Retry-After)",
        applies: |o| o.path.starts_with("/v1/"),
    },
    Shared {
        status: 500,
        code: "internal",
        why: "a bug or an unexpected failure; the server log has the cause",
        applies: |_| true,
    },
    Shared {
        status: 503,
        code: "database_unavailable",
        why: "the database is out of reach (see Retry-After)",
        applies: |o| !NO_DATABASE.contains(&o.path),
    },
    Shared {
        status: 503,
        code: "deadline_exceeded",
        why: "the request did not complete within http.request_timeout_seconds",
        applies: |o| !NO_DEADLINE.contains(&o.path),
    },
];

/// Adds the shared answers that apply to `op` (at `path`), appending to a status the
/// operation documents itself.
pub fn add(path: &str, op: &mut Value) {
    let body = match op["requestBody"]["content"].as_object() {
        None => Body::None,
        Some(_) if IN_BAND_BODY.contains(&path) => Body::None,
        Some(content) if content.contains_key("application/json") => Body::Json,
        Some(_) => Body::Raw,
    };
    let query = op["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
    let secured = op["security"]
        .as_array()
        .is_some_and(|reqs| !reqs.is_empty());
    let operation = Operation {
        path,
        secured,
        body,
        query,
    };
    let Some(responses) = op["responses"].as_object_mut() else {
        return;
    };
    for shared in SHARED.iter().filter(|s| (s.applies)(&operation)) {
        let segment = format!("`{}`: {}", shared.code, shared.why);
        let entry = responses
            .entry(shared.status.to_string())
            .or_insert_with(|| json!({"description": ""}));
        let description = entry["description"].as_str().unwrap_or_default();
        if description.contains(&format!("`{}`", shared.code)) {
            continue;
        }
        entry["description"] = Value::String(if description.is_empty() {
            segment
        } else {
            format!("{description}; {segment}")
        });
    }
}

/// The components the request-id and retry headers refer to.
pub fn header_components() -> [(&'static str, Value); 2] {
    let request_id = json!({
        "type": "string",
        "pattern": "^[A-Za-z0-9._-]{1,64}$",
        "example": "3f6c1e0a9b2d4c8e"
    });
    [
        (
            "parameters",
            json!({"RequestId": {
                "name": "x-request-id",
                "in": "header",
                "required": false,
                "description": "The client's id for this request (1–64 of `[A-Za-z0-9._-]`); \
                    another value is replaced by a new id. Echoed, logged, and stored on the \
                    audit events the request writes.",
                "schema": request_id
            }}),
        ),
        (
            "headers",
            json!({
                "RequestId": {
                    "description": "The request's id: the client's, or a new one. The \
                        problem+json `instance` names it too.",
                    "schema": request_id
                },
                "RetryAfter": {
                    "description": "Seconds to wait before trying again.",
                    "schema": {"type": "integer", "minimum": 0}
                }
            }),
        ),
    ]
}

/// Adds the `x-request-id` request parameter to `op`, the `x-request-id` header to each of
/// its responses, and `Retry-After` to its 429 and 503 responses.
pub fn headers(op: &mut Value) {
    if let Some(params) = op
        .as_object_mut()
        .map(|o| o.entry("parameters").or_insert_with(|| json!([])))
        && let Some(params) = params.as_array_mut()
    {
        params.push(json!({"$ref": "#/components/parameters/RequestId"}));
    }
    let Some(responses) = op["responses"].as_object_mut() else {
        return;
    };
    for (status, response) in responses.iter_mut() {
        let Some(response) = response.as_object_mut() else {
            continue;
        };
        let headers = response.entry("headers").or_insert_with(|| json!({}));
        headers["x-request-id"] = json!({"$ref": "#/components/headers/RequestId"});
        if status == "429" || status == "503" {
            headers["Retry-After"] = json!({"$ref": "#/components/headers/RetryAfter"});
        }
    }
}

/// The codes a problem response's description names, in order, each once: the backticked
/// words before the `: ` of each `; `-separated part (`` `a`, `b`: why; `c`: why ``).
pub fn codes(description: &str) -> Vec<&str> {
    let mut codes: Vec<&str> = Vec::new();
    for part in description.split("; ") {
        let Some((head, _)) = part.split_once(": ") else {
            continue;
        };
        for (i, word) in head.split('`').enumerate() {
            let is_code = i % 2 == 1
                && !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if is_code && !codes.contains(&word) {
                codes.push(word);
            }
        }
    }
    codes
}

/// Gives every 4xx/5xx response of `op` without content the problem+json content.
pub fn problem_contents(op: &mut Value) {
    let Some(responses) = op["responses"].as_object_mut() else {
        return;
    };
    for (status, response) in responses.iter_mut() {
        let Some(status) = status.parse::<u16>().ok().filter(|s| *s >= 400) else {
            continue;
        };
        if response.get("content").is_some() {
            continue;
        }
        let description = response["description"].as_str().unwrap_or_default();
        let codes = codes(description);
        let Some(first) = codes.first() else {
            continue;
        };
        let detail = description
            .split("; ")
            .next()
            .and_then(|s| s.split_once(": "))
            .map_or(description, |(_, why)| why);
        let title = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("error");
        let mut content = Map::new();
        content.insert(
            PROBLEM_JSON.into(),
            json!({
                "schema": {"allOf": [
                    {"$ref": "#/components/schemas/Problem"},
                    {"properties": {"status": {"const": status}, "code": {"enum": codes}}}
                ]},
                "example": {
                    "type": format!("urn:portcullis:problem:{first}"),
                    "title": title,
                    "status": status,
                    "detail": detail,
                    "code": first,
                    "instance": "urn:portcullis:request:3f6c1e0a9b2d4c8e"
                }
            }),
        );
        response["content"] = Value::Object(content);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_backticked_snake_case_words() {
        assert_eq!(
            codes("`not_found`: no such `state`; `a_b`, `c1`: x `d` `Not code`; `x-y`: z"),
            vec!["not_found", "a_b", "c1"]
        );
    }
}
