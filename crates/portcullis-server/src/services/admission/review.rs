//! The `admission.k8s.io/v1` `AdmissionReview` wire shape: reading a request (its uid,
//! namespace, kind and every container image of the pod spec where that kind keeps it) and
//! writing the response. Anything unexpected is a `BadReview`, answered as an
//! AdmissionReview with status 400, never as an HTTP error.

use serde_json::{Value, json};

/// The AdmissionReview API version answered.
pub const API_VERSION: &str = "admission.k8s.io/v1";
/// Most containers one object may hold (all three lists together).
pub const MAX_CONTAINERS: usize = 1000;
/// Longest uid accepted.
const MAX_UID: usize = 256;

/// A review that cannot be judged: its uid when it had one, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadReview {
    /// The request's uid, or empty.
    pub uid: String,
    /// What is wrong.
    pub message: String,
}

/// One container of the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// Where it is: `spec.template.spec.initContainers[0]`.
    pub field: String,
    /// Its name.
    pub name: String,
    /// Its image, as written.
    pub image: String,
}

/// What admission needs of a review.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request uid, echoed in the response.
    pub uid: String,
    /// The namespace, if the object has one.
    pub namespace: Option<String>,
    /// The object's kind (`Pod`, `Deployment`, …).
    pub kind: String,
    /// Every container, init container and ephemeral container.
    pub containers: Vec<Container>,
}

/// Where each workload kind keeps its pod spec.
fn pod_spec_path(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Pod" => &["spec"],
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => &["spec", "template", "spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => return None,
    })
}

/// Reads a review from the request body.
pub fn parse(body: &[u8]) -> Result<Request, BadReview> {
    let bad = |uid: &str, message: String| BadReview {
        uid: uid.to_owned(),
        message,
    };
    let review: Value =
        serde_json::from_slice(body).map_err(|e| bad("", format!("the body is not JSON: {e}")))?;
    let request = review.get("request").filter(|r| r.is_object());
    let uid = request
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty() && u.len() <= MAX_UID && !u.chars().any(char::is_control))
        .unwrap_or_default();
    if review.get("apiVersion").and_then(Value::as_str) != Some(API_VERSION) {
        return Err(bad(uid, format!("apiVersion must be {API_VERSION}")));
    }
    if review.get("kind").and_then(Value::as_str) != Some("AdmissionReview") {
        return Err(bad(uid, "kind must be AdmissionReview".into()));
    }
    let Some(request) = request else {
        return Err(bad(uid, "the review has no request object".into()));
    };
    if uid.is_empty() {
        return Err(bad(uid, "request.uid is missing or invalid".into()));
    }
    let kind = request
        .get("kind")
        .and_then(|k| k.get("kind"))
        .and_then(Value::as_str)
        .ok_or_else(|| bad(uid, "request.kind.kind is missing".into()))?;
    let namespace = request
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let object = request.get("object").filter(|o| !o.is_null());
    let containers = match object {
        // DELETE and CONNECT carry no object: nothing will run.
        None => Vec::new(),
        Some(object) => {
            let path = pod_spec_path(kind).ok_or_else(|| {
                bad(
                    uid,
                    format!("kind {kind:?} is not a workload kind this webhook judges"),
                )
            })?;
            containers(object, path).map_err(|m| bad(uid, m))?
        }
    };
    Ok(Request {
        uid: uid.to_owned(),
        namespace,
        kind: kind.to_owned(),
        containers,
    })
}

/// Every container of the pod spec at `path` in `object`.
fn containers(object: &Value, path: &[&str]) -> Result<Vec<Container>, String> {
    let mut spec = object;
    for (i, key) in path.iter().enumerate() {
        spec = spec
            .get(key)
            .filter(|v| v.is_object())
            .ok_or_else(|| format!("object.{} is missing", path[..=i].join(".")))?;
    }
    let prefix = path.join(".");
    let mut out = Vec::new();
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        let items = match spec.get(list) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(items)) => items,
            Some(_) => return Err(format!("object.{prefix}.{list} is not a list")),
        };
        for (i, c) in items.iter().enumerate() {
            let field = format!("{prefix}.{list}[{i}]");
            let image = c
                .get("image")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("object.{field} has no image"))?;
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
            out.push(Container {
                field,
                name: name.to_owned(),
                image: image.to_owned(),
            });
            if out.len() > MAX_CONTAINERS {
                return Err(format!("more than {MAX_CONTAINERS} containers"));
            }
        }
    }
    if !spec.get("containers").is_some_and(Value::is_array) {
        return Err(format!("object.{prefix}.containers is missing"));
    }
    Ok(out)
}

/// The response to a review.
pub fn response(
    uid: &str,
    allowed: bool,
    denial: Option<(u16, String)>,
    warnings: &[String],
) -> Value {
    let mut response = json!({ "uid": uid, "allowed": allowed });
    if let Some((code, message)) = denial {
        response["status"] = json!({ "code": code, "message": message });
    }
    if !warnings.is_empty() {
        response["warnings"] = json!(warnings);
    }
    json!({
        "apiVersion": API_VERSION,
        "kind": "AdmissionReview",
        "response": response,
    })
}
