//! The OpenAPI 3.1 document served at `GET /openapi.json`, generated from the code: the
//! handlers' `#[utoipa::path]` annotations and the types' `ToSchema` derives, collected as
//! `app::documented_routes` registers each route (`utoipa_axum::OpenApiRouter`, so a route
//! cannot be served without its path item). `finish` then adds, once, what the handlers
//! do not say themselves: the bearer scheme with the roles each operation needs, and the
//! problem+json answers of the middleware and extractors in front of every handler
//! (`shared`), each with its machine codes and an example.
//!
//! Convention: a problem response's description names its codes in backticks
//! (`` `not_found`: no such promotion ``); `finish` turns them into the schema's `code` enum.

pub mod examples;
pub mod schemas;
mod shared;

use axum::body::Bytes;
use serde_json::{Value, json};
use utoipa::OpenApi as _;

use crate::config::MetricsSettings;
use crate::error::Problem;

/// The server's version, the document's `info.version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// What the routes do not say: the API's title, version, tags and shared components.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Portcullis",
        description = "Policy-as-code promotion gate for container images. Every error is \
            RFC 9457 `application/problem+json` with a stable machine `code`. Authenticate with \
            `Authorization: Bearer <token>` (a static token or an OIDC JWT); each operation's \
            description names the roles that may call it.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    components(schemas(Problem)),
    tags(
        (name = "promotions", description = "Request, follow, retry and withdraw promotions"),
        (name = "approvals", description = "Approvers vote on pending promotions"),
        (name = "break-glass", description = "Emergency promotions and their review"),
        (name = "waivers", description = "Governed, expiring exceptions to the policy"),
        (name = "tokens", description = "Just-in-time tokens minted by admins"),
        (name = "audit", description = "The hash-chained audit log and its checkpoints"),
        (name = "decisions", description = "Replaying decisions and simulating policies"),
        (name = "admission", description = "The Kubernetes admission webhook and runtime reports"),
        (name = "webhooks", description = "Webhook delivery status"),
        (name = "gate", description = "The gate's public keys"),
        (name = "admin", description = "Operator actions"),
        (name = "operations", description = "Health, readiness, metrics and this document")
    )
)]
struct Base;

/// The base document the routes are added to.
pub fn base() -> utoipa::openapi::OpenApi {
    Base::openapi()
}

/// The finished document of the routes `metrics` selects, as `GET /openapi.json` serves it.
pub fn document(metrics: &MetricsSettings) -> Value {
    let routes = crate::app::documented_routes(metrics, std::time::Duration::from_secs(30));
    finish(&routes.into_openapi())
}

/// Adds the bearer scheme, each operation's roles and the shared problem answers to `doc`.
pub fn finish(doc: &utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(doc).unwrap_or_else(|e| {
        tracing::error!(error = %e, "the OpenAPI document does not serialize");
        json!({})
    });
    // The server's own version, whatever the derive picked up.
    doc["info"]["version"] = json!(VERSION);
    if let Some(components) = doc.get_mut("components").and_then(Value::as_object_mut) {
        components.insert(
            "securitySchemes".into(),
            json!({"bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "A static token (`portcullis token create`, `POST /v1/tokens`) \
                    or an OIDC JWT from a configured issuer. The scopes of a requirement are the \
                    roles that may call the operation (OpenAPI 3.1 role names)."
            }}),
        );
        for (kind, entries) in shared::header_components() {
            components.insert(kind.into(), entries);
        }
    }
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                if shared::METHODS.contains(&method.as_str()) {
                    describe_roles(op);
                    shared::add(path, op);
                    shared::problem_contents(op);
                    shared::headers(op);
                }
            }
        }
    }
    doc
}

/// Appends the roles of the operation's bearer requirement to its description, or says it
/// is public (and makes that explicit with an empty `security`).
fn describe_roles(op: &mut Value) {
    let roles: Option<Vec<String>> = op["security"].as_array().map(|reqs| {
        reqs.iter()
            .filter_map(|r| r["bearer"].as_array())
            .flatten()
            .filter_map(Value::as_str)
            .map(|r| format!("`{r}`"))
            .collect()
    });
    let note = match roles {
        Some(roles) if !roles.is_empty() => {
            format!("Roles: {} (bearer token).", roles.join(", "))
        }
        _ => {
            op["security"] = json!([]);
            "Public: no token needed.".to_owned()
        }
    };
    let description = match op["description"].as_str() {
        Some(d) if !d.is_empty() => format!("{d}\n\n{note}"),
        _ => note,
    };
    op["description"] = Value::String(description);
}

/// `GET /openapi.json`'s body: the finished document, serialized once at start-up.
#[derive(Debug, Clone)]
pub struct Document(pub Bytes);

impl Document {
    /// Serializes `doc`.
    pub fn new(doc: &Value) -> Self {
        Self(Bytes::from(serde_json::to_vec(doc).unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    /// The structural half of "every served route is documented": `app.rs` registers
    /// routes only through `routes!`, which carries each handler's path item. (The other
    /// half, every documented operation is served, is the e2e test `openapi`.)
    #[test]
    fn app_registers_no_route_without_its_path_item() {
        let app = include_str!("../app.rs");
        for bare in [
            ".route(",
            ".route_service(",
            ".nest_service(",
            "axum::routing::",
        ] {
            assert!(
                !app.contains(bare),
                "app.rs uses `{bare}`: register routes with `.routes(routes!(handler))` and a \
                 `#[utoipa::path]` on the handler, so /openapi.json describes them"
            );
        }
    }
}
