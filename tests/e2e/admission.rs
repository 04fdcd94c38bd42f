//! Kubernetes admission (`POST /v1/admission`) against the real AdmissionReview shapes in
//! ../shared/realworld/admission (read where they lie; kubewarden's files are the `.request`
//! member and are wrapped, kube-rs's is a whole review): every workload kind is allowed only
//! with a digest this gate promoted to production, and everything else (a tag, an unknown
//! registry, a digest never promoted, a malformed review) is refused with a reason.

use std::path::PathBuf;

use portcullis_core::Role;
use portcullis_server::config::AdmissionMode;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::rollback::{REPO, promote};
use crate::support::{ROUTE, TestApp};

/// Every real review: (file, kind).
pub(crate) const REVIEWS: [(&str, &str); 11] = [
    ("kube-rs-admissionreview-v1-pod-create.json", "Pod"),
    ("kubewarden-request-pod_creation_signed.json", "Pod"),
    ("kubewarden-request-pod_creation_with_digest.json", "Pod"),
    (
        "kubewarden-request-pod_creation_with_init_container.json",
        "Pod",
    ),
    (
        "kubewarden-request-deployment_creation_signed.json",
        "Deployment",
    ),
    (
        "kubewarden-request-statefulset_creation_signed.json",
        "StatefulSet",
    ),
    (
        "kubewarden-request-daemonset_creation_signed.json",
        "DaemonSet",
    ),
    (
        "kubewarden-request-replicaset_creation_signed.json",
        "ReplicaSet",
    ),
    (
        "kubewarden-request-replicationcontroller_creation_signed.json",
        "ReplicationController",
    ),
    ("kubewarden-request-job_creation_signed.json", "Job"),
    ("kubewarden-request-cronjob_creation_signed.json", "CronJob"),
];

fn shared(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/realworld/admission")
        .join(name)
}

/// The review in `file`, as a whole AdmissionReview.
pub(crate) fn review(file: &str) -> Value {
    let v: Value = serde_json::from_slice(&std::fs::read(shared(file)).unwrap()).unwrap();
    if v.get("request").is_some() {
        v
    } else {
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": v})
    }
}

/// The pod spec of a review's object.
fn pod_spec(review: &mut Value) -> &mut Value {
    let kind = review["request"]["kind"]["kind"]
        .as_str()
        .unwrap()
        .to_owned();
    let object = &mut review["request"]["object"];
    match kind.as_str() {
        "Pod" => &mut object["spec"],
        "CronJob" => &mut object["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => &mut object["spec"]["template"]["spec"],
    }
}

/// `review` with every container image replaced by `image`; returns how many there were.
pub(crate) fn with_image(mut review: Value, image: &str) -> (Value, usize) {
    let mut n = 0;
    let spec = pod_spec(&mut review);
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(items) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in items {
                c["image"] = json!(image);
                n += 1;
            }
        }
    }
    (review, n)
}

/// Posts a review with `token`; the answer is always 200 with an AdmissionReview.
pub(crate) async fn admit(app: &TestApp, token: &str, body: &[u8]) -> Value {
    let resp = app
        .http
        .post(format!("{}/v1/admission", app.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1", "{v}");
    assert_eq!(v["kind"], "AdmissionReview", "{v}");
    v["response"].clone()
}

/// A promoted image: `(admission token, pinned production reference, digest)`.
pub(crate) async fn promoted(app: &TestApp) -> (String, String, String) {
    let digest = app.push_signed(REPO, "a").await;
    promote(app, ROUTE, &digest, "v1").await;
    let token = app
        .token("kube-apiserver", Role::Admission, &[], None)
        .await;
    let image = format!("{}/{REPO}@{digest}", app.prod.host.as_str());
    (token, image, digest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_kind_is_allowed_only_with_a_promoted_digest() {
    let app = TestApp::spawn().await;
    let (token, image, digest) = promoted(&app).await;
    let prod = app.prod.host.as_str();
    let unpromoted = format!("sha256:{}", "e".repeat(64));
    for (file, kind) in REVIEWS {
        let original = review(file);
        assert_eq!(original["request"]["kind"]["kind"], kind);
        let uid = original["request"]["uid"].clone();
        // As captured: images from Docker Hub and ghcr.io, which this gate never promoted.
        let r = admit(&app, &token, &serde_json::to_vec(&original).unwrap()).await;
        assert_eq!(
            (r["uid"].clone(), r["allowed"].clone()),
            (uid.clone(), json!(false)),
            "{file}: {r}"
        );
        assert_eq!(r["status"]["code"], 403, "{file}: {r}");
        let (allowed, n) = with_image(original.clone(), &image);
        let r = admit(&app, &token, &serde_json::to_vec(&allowed).unwrap()).await;
        assert_eq!(r, json!({"uid": uid, "allowed": true}), "{file}");
        let cases = [
            (
                format!("{prod}/{REPO}:v1"),
                "not pinned by digest".to_owned(),
            ),
            (
                format!("ghcr.io/kubewarden/app@{digest}"),
                "registry ghcr.io is not a production registry of this gate".to_owned(),
            ),
            (
                format!("{prod}/{REPO}@{unpromoted}"),
                format!("digest {unpromoted} was never promoted to {prod}/{REPO} by this gate"),
            ),
        ];
        for (bad, reason) in cases {
            let (denied, _) = with_image(original.clone(), &bad);
            let r = admit(&app, &token, &serde_json::to_vec(&denied).unwrap()).await;
            assert_eq!(r["allowed"], false, "{file} {bad}: {r}");
            assert_eq!(r["uid"], uid);
            let message = r["status"]["message"].as_str().unwrap();
            // One reason per container.
            assert_eq!(message.matches(&reason).count(), n, "{file}: {message}");
            assert!(message.contains(&format!("({bad})")), "{message}");
        }
    }
    // The init container is judged as well: a tag there refuses the pod.
    let (mut mixed, n) = with_image(review(REVIEWS[3].0), &image);
    assert_eq!(n, 2);
    pod_spec(&mut mixed)["initContainers"][0]["image"] = json!("init");
    let r = admit(&app, &token, &serde_json::to_vec(&mixed).unwrap()).await;
    assert_eq!(r["allowed"], false);
    assert_eq!(
        r["status"]["message"],
        "portcullis: spec.initContainers[0] \"init\" (init): not pinned by digest"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warn_namespaces_allow_with_a_warning_per_container_and_off_ones_do_not_look() {
    let app = TestApp::spawn_with(|c| {
        c.admission
            .namespaces
            .insert("colin-coder".into(), AdmissionMode::Warn);
        c.admission
            .namespaces
            .insert("legacy".into(), AdmissionMode::Off);
    })
    .await;
    let token = app
        .token("kube-apiserver", Role::Admission, &[], None)
        .await;
    let original = review(REVIEWS[0].0);
    let uid = original["request"]["uid"].clone();
    let r = admit(&app, &token, &serde_json::to_vec(&original).unwrap()).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(r["status"], Value::Null);
    assert_eq!(
        r["warnings"],
        json!(["spec.containers[0] \"echo-server\" (jmalloc/echo-server): not pinned by digest"])
    );
    let mut off = original.clone();
    off["request"]["namespace"] = json!("legacy");
    let r = admit(&app, &token, &serde_json::to_vec(&off).unwrap()).await;
    assert_eq!(r, json!({"uid": uid, "allowed": true}));
    // Every other namespace is enforced (the default mode).
    let mut other = original;
    other["request"]["namespace"] = json!("payments");
    let r = admit(&app, &token, &serde_json::to_vec(&other).unwrap()).await;
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_reviews_are_answered_with_an_admission_review_error() {
    let app = TestApp::spawn().await;
    let token = app
        .token("kube-apiserver", Role::Admission, &[], None)
        .await;
    let good = review(REVIEWS[1].0);
    let uid = good["request"]["uid"].as_str().unwrap().to_owned();
    let mut wrong_version = good.clone();
    wrong_version["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let mut no_uid = good.clone();
    no_uid["request"].as_object_mut().unwrap().remove("uid");
    let mut config_map = good.clone();
    config_map["request"]["kind"]["kind"] = json!("ConfigMap");
    let mut not_a_list = good.clone();
    not_a_list["request"]["object"]["spec"]["containers"] = json!({"image": "x"});
    let mut no_image = good.clone();
    no_image["request"]["object"]["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("image");
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (b"{not json".to_vec(), "", "the body is not JSON"),
        (b"[]".to_vec(), "", "apiVersion must be admission.k8s.io/v1"),
        (
            serde_json::to_vec(&wrong_version).unwrap(),
            &uid,
            "apiVersion must be",
        ),
        (
            serde_json::to_vec(&no_uid).unwrap(),
            "",
            "request.uid is missing",
        ),
        (
            serde_json::to_vec(&config_map).unwrap(),
            &uid,
            "kind \"ConfigMap\" is not a workload kind",
        ),
        (
            serde_json::to_vec(&not_a_list).unwrap(),
            &uid,
            "object.spec.containers is not a list",
        ),
        (
            serde_json::to_vec(&no_image).unwrap(),
            &uid,
            "object.spec.containers[0] has no image",
        ),
    ];
    for (body, want_uid, message) in cases {
        let r = admit(&app, &token, &body).await;
        assert_eq!(r["uid"], want_uid, "{r}");
        assert_eq!(r["allowed"], false, "{r}");
        assert_eq!(r["status"]["code"], 400, "{r}");
        let got = r["status"]["message"].as_str().unwrap();
        assert!(got.contains(message), "{got} should say {message}");
    }
    // A body over the limit is refused inside an AdmissionReview too.
    let huge = vec![b' '; portcullis_server::handlers::admission::MAX_BODY_BYTES + 1];
    let r = admit(&app, &token, &huge).await;
    assert_eq!(
        (r["allowed"].clone(), r["status"]["code"].clone()),
        (json!(false), json!(413))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admission_role_may_review_and_report_and_nothing_else() {
    let app = TestApp::spawn().await;
    let token = app
        .token("kube-apiserver", Role::Admission, &[], None)
        .await;
    let body = serde_json::to_vec(&review(REVIEWS[1].0)).unwrap();
    assert_eq!(admit(&app, &token, &body).await["allowed"], false);
    assert_eq!(
        admit(&app, &app.tokens.admin, &body).await["allowed"],
        false
    );
    let report = json!({"cluster": "prod-1", "namespace": "web", "workload": "shop", "images": []});
    let (status, _) = app.post("/v1/runtime/reports", &token, &report).await;
    assert_eq!(status, StatusCode::OK);
    for (method, path) in [
        ("GET", "/v1/promotions"),
        ("POST", "/v1/promotions"),
        ("GET", "/v1/audit"),
        ("GET", "/v1/runtime/drift"),
        ("GET", "/v1/reviews"),
        ("GET", "/v1/waivers"),
        ("POST", "/v1/tokens"),
        ("POST", "/v1/rollbacks"),
        ("POST", "/v1/admin/policy/reload"),
    ] {
        let req = match method {
            "GET" => app.http.get(format!("{}{path}", app.base)),
            _ => app
                .http
                .post(format!("{}{path}", app.base))
                .json(&json!({})),
        };
        let resp = req.bearer_auth(&token).send().await.unwrap();
        let (status, problem) = crate::support::decode(resp).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {problem}");
        assert_eq!(problem["code"], "forbidden");
    }
    // Tokens of every other role are refused by the webhook endpoint (problem+json).
    for other in [&app.tokens.ci, &app.tokens.approver1, &app.tokens.auditor] {
        let resp = app
            .http
            .post(format!("{}/v1/admission", app.base))
            .bearer_auth(other)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let (status, problem) = crate::support::decode(resp).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
        assert_eq!(problem["code"], "forbidden");
    }
}
