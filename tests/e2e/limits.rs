//! Bounded work: evidence past `limits.*` is refused naming the limit and writes nothing,
//! what signed attestations add counts too, a digest with more referrers than
//! `limits.max_referrers` is denied without reading them, and an API request that outlives
//! `http.request_timeout_seconds` is answered 503 `deadline_exceeded`.

use portcullis_server::config::{LimitSettings, RegistrySettings, Route};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{ROUTE, TestApp, trivy};

const OPENVEX: &str = "https://openvex.dev/ns/v0.2.0";

/// Small limits, so that a handful of items breaks them.
fn small_limits(c: &mut portcullis_server::config::Config) {
    c.limits = LimitSettings {
        max_findings: 3,
        max_components: 2,
        max_vex_statements: 2,
        max_referrers: 2,
    };
}

fn body(source: &str, evidence: Vec<(&str, Value)>, dry_run: bool) -> Value {
    let evidence: Vec<Value> = evidence
        .into_iter()
        .map(|(format, document)| json!({"format": format, "document": document}))
        .collect();
    json!({"source": source, "route": ROUTE, "tag": "v1", "evidence": evidence, "dry_run": dry_run})
}

fn sbom(names: &[&str]) -> Value {
    let components: Vec<Value> = names
        .iter()
        .map(|n| json!({"type": "library", "name": n, "version": "1.0"}))
        .collect();
    json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": components})
}

fn vex(digest: &str, cves: &[&str]) -> Value {
    let statements: Vec<Value> = cves
        .iter()
        .map(|cve| {
            json!({
                "vulnerability": {"name": cve},
                "products": [{"@id": format!("pkg:oci/app@{}", digest.replace(':', "%3A"))}],
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path"
            })
        })
        .collect();
    json!({"@context": OPENVEX, "@id": "https://vex.example/1", "author": "sec@example.com",
        "timestamp": "2026-11-01T00:00:00Z", "version": 1, "statements": statements})
}

async fn assert_nothing_written(app: &TestApp) {
    assert_eq!(app.count("SELECT count(*) FROM promotions").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM audit_events").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_past_a_limit_is_refused_naming_it_and_writes_nothing() {
    let app = TestApp::spawn_with(small_limits).await;
    let digest = app.push_signed("team/app", "v1").await;
    let source = app.source("team/app", &digest);
    let two = || trivy(&[("CVE-2026-1", "LOW"), ("CVE-2026-2", "LOW")]);
    let cases = [
        (
            vec![("trivy-json", two()), ("trivy-json", two())],
            "evidence[1]: 4 findings exceed limits.max_findings = 3",
        ),
        (
            vec![("cyclonedx-json", sbom(&["a", "b", "c"]))],
            "evidence[0]: 3 components exceed limits.max_components = 2",
        ),
        (
            vec![
                ("trivy-json", two()),
                ("openvex", vex(&digest, &["CVE-2026-1"])),
                ("openvex", vex(&digest, &["CVE-2026-2", "CVE-2026-3"])),
            ],
            "evidence[2]: 3 VEX statements exceed limits.max_vex_statements = 2",
        ),
    ];
    for (evidence, detail) in cases {
        for dry_run in [false, true] {
            let (status, p) = app
                .post(
                    "/v1/promotions",
                    &app.tokens.ci,
                    &body(&source, evidence.clone(), dry_run),
                )
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
            assert_eq!(p["code"], "evidence_too_large", "{p}");
            assert_eq!(p["detail"], detail, "{p}");
        }
    }
    assert_nothing_written(&app).await;

    // At the limits exactly, the request goes through.
    let evidence = vec![
        (
            "trivy-json",
            trivy(&[
                ("CVE-2026-1", "LOW"),
                ("CVE-2026-2", "LOW"),
                ("CVE-2026-3", "LOW"),
            ]),
        ),
        ("cyclonedx-json", sbom(&["a", "b"])),
        ("openvex", vex(&digest, &["CVE-2026-1", "CVE-2026-2"])),
    ];
    let (status, p) = app
        .post(
            "/v1/promotions",
            &app.tokens.ci,
            &body(&source, evidence.clone(), true),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["evidence"]["suppressed_index"], json!([0, 1]), "{p}");
    let (status, p) = app
        .post(
            "/v1/promotions",
            &app.tokens.ci,
            &body(&source, evidence, false),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_signed_attestations_add_counts_against_the_limits() {
    use portcullis_testkit::{Placement, attest};

    let app = TestApp::spawn_with(small_limits).await;
    let registry = app.staging.host.as_str().to_owned();
    let digest = app.push_signed("team/app", "v1").await;
    attest(
        &registry,
        "team/app",
        &digest,
        OPENVEX,
        &vex(&digest, &["CVE-2026-1", "CVE-2026-2"]),
        &[&app.key],
        Placement::Cosign,
    )
    .await
    .unwrap();
    let source = app.source("team/app", &digest);
    // Two signed statements alone are within the limit.
    let (status, p) = app
        .post(
            "/v1/promotions",
            &app.tokens.ci,
            &body(&source, vec![], true),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["evidence"]["vex"].as_array().unwrap().len(), 2);
    // One more from CI is one too many.
    let evidence = vec![("openvex", vex(&digest, &["CVE-2026-3"]))];
    let (status, p) = app
        .post(
            "/v1/promotions",
            &app.tokens.ci,
            &body(&source, evidence, false),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["code"], "evidence_too_large");
    assert_eq!(
        p["detail"],
        format!(
            "with what the signed attestations of {digest} add (0 findings, 0 components, 2 VEX statements): 3 VEX statements exceed limits.max_vex_statements = 2"
        ),
        "{p}"
    );
    assert_nothing_written(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_referrers_than_allowed_are_denied_without_reading_them() {
    use portcullis_testkit::{Placement, attest};

    let app = TestApp::spawn_with(small_limits).await;
    let registry = app.staging.host.as_str().to_owned();
    let digest = app.push_signed("team/app", "v1").await;
    for cve in ["CVE-2026-1", "CVE-2026-2", "CVE-2026-3"] {
        attest(
            &registry,
            "team/app",
            &digest,
            OPENVEX,
            &vex(&digest, &[cve]),
            &[&app.key],
            Placement::Referrer,
        )
        .await
        .unwrap();
    }
    let source = app.source("team/app", &digest);
    let (status, p) = app
        .post(
            "/v1/promotions",
            &app.tokens.ci,
            &body(&source, vec![], true),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let attestations = &p["evidence"]["attestations"];
    assert_eq!(
        attestations["error"],
        format!(
            "{digest} has 3 attestation referrers, more than limits.max_referrers = 2; none were read"
        ),
        "{attestations}"
    );
    assert_eq!(attestations["found"], 0, "{attestations}");
    assert_eq!(attestations["verified"], 0, "{attestations}");
    assert!(p["evidence"]["vex"].as_array().unwrap().is_empty());
    assert_eq!(p["decision"]["allow"], false, "{}", p["decision"]);
    let rules: Vec<&str> = p["decision"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"attestation.fetch_failed"), "{rules:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_deadline_is_answered_503_and_health_is_not() {
    // A "registry" that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_host = format!("127.0.0.1:{}", silent.local_addr().unwrap().port());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let host = silent_host.clone();
    let app = TestApp::spawn_with(move |c| {
        c.http.request_timeout_seconds = 1;
        c.registries.insert(
            host.clone(),
            RegistrySettings {
                insecure: true,
                ..RegistrySettings::default()
            },
        );
        let prod = c.routes[0].to.clone();
        c.routes.push(Route {
            name: "silent-to-prod".into(),
            from: format!("{host}/"),
            to: prod,
            allow_tag_overwrite: false,
            platforms: None,
            channel_tags: Vec::new(),
        });
    })
    .await;
    let request =
        json!({"source": format!("{silent_host}/team/app:v1"), "route": "silent-to-prod"});
    // Only so that the old code fails instead of hanging: the deadline answers in 1 s.
    let answered = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        app.post("/v1/promotions", &app.tokens.ci, &request),
    )
    .await;
    let (status, p) = answered.expect("the request is answered, not left hanging");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{p}");
    assert_eq!(p["code"], "deadline_exceeded", "{p}");
    assert_eq!(p["type"], "urn:portcullis:problem:deadline_exceeded");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("http.request_timeout_seconds = 1"),
        "{p}"
    );
    assert_nothing_written(&app).await;
    let (status, _) = app.get("/healthz", "").await;
    assert_eq!(status, StatusCode::OK);
    held.abort();
}
