//! The OCI 1.1 referrers API path. Distribution 2.8 has no referrers endpoint, so this
//! puts a thin front in front of a real `docker-registry`: it answers
//! `GET /v2/<repo>/referrers/<digest>` from what the registry holds, hides the
//! `sha256-<hex>` fallback tag (so only the API can find the referrers), and passes every
//! other request through unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_core::{Digest, ImageRef, RegistryHost};
use portcullis_evidence::{AttestationVerifier, SLSA_PROVENANCE_V1, TrustedKey};
use portcullis_registry::testing::TestRegistry;
use portcullis_registry::{RegistryAuthConfig, RegistryClient};
use portcullis_testkit::{Placement, TestKey, attest, push_random_image};
use serde_json::json;

const INDEX: &str = "application/vnd.oci.image.index.v1+json";

#[derive(Clone)]
struct Front {
    upstream: String,
    http: reqwest::Client,
    api_calls: Arc<AtomicUsize>,
    fallback_reads: Arc<AtomicUsize>,
}

async fn handle(State(front): State<Front>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if let Some((repo, digest)) = path
        .strip_prefix("/v2/")
        .and_then(|p| p.split_once("/referrers/"))
    {
        front.api_calls.fetch_add(1, Ordering::SeqCst);
        // Build the answer from the registry's own referrers index (the tag schema).
        let tag = digest.replace(':', "-");
        let upstream = front
            .http
            .get(format!(
                "http://{}/v2/{repo}/manifests/{tag}",
                front.upstream
            ))
            .header("accept", INDEX)
            .send()
            .await
            .unwrap();
        let manifests = if upstream.status().is_success() {
            let index: serde_json::Value = upstream.json().await.unwrap();
            index["manifests"].clone()
        } else {
            json!([])
        };
        let body = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests});
        return Response::builder()
            .status(StatusCode::OK)
            .header("content-type", INDEX)
            .body(Body::from(body.to_string()))
            .unwrap();
    }
    // The fallback tag is `sha256-<hex>` itself; `sha256-<hex>.sig`/`.att` pass through.
    if path
        .rsplit_once("/manifests/")
        .is_some_and(|(_, tag)| tag.starts_with("sha256-") && !tag.contains('.'))
    {
        front.fallback_reads.fetch_add(1, Ordering::SeqCst);
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from(r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#))
            .unwrap();
    }
    let method = req.method().clone();
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    for name in ["accept", "content-type", "range"] {
        if let Some(v) = req.headers().get(name) {
            headers.insert(name, v.clone());
        }
    }
    let body = axum::body::to_bytes(req.into_body(), 64 << 20)
        .await
        .unwrap();
    let upstream = front
        .http
        .request(method, format!("http://{}{path}{query}", front.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let mut resp = Response::builder().status(upstream.status());
    for (name, value) in upstream.headers() {
        if name != "transfer-encoding" && name != "content-length" {
            resp = resp.header(name, value);
        }
    }
    resp.body(Body::from(upstream.bytes().await.unwrap()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_are_found_through_the_referrers_api() {
    let registry = TestRegistry::start().await.unwrap();
    let upstream = registry.host.as_str().to_owned();
    let digest = push_random_image(&upstream, "team/app", "v1", 1, 256)
        .await
        .unwrap();
    let key = TestKey::generate().unwrap();
    let predicate = json!({
        "buildDefinition": {"buildType": "https://example.com/build/v1", "externalParameters": {"source": {"uri": "git+https://github.com/org/app", "digest": {"sha1": "0123456789abcdef0123456789abcdef01234567"}}}},
        "runDetails": {"builder": {"id": "https://builder.example/v1"}}
    });
    attest(
        &upstream,
        "team/app",
        &digest,
        SLSA_PROVENANCE_V1,
        &predicate,
        &[&key],
        Placement::Referrer,
    )
    .await
    .unwrap();

    let front = Front {
        upstream: upstream.clone(),
        http: reqwest::Client::new(),
        api_calls: Arc::default(),
        fallback_reads: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(front.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let host: RegistryHost = format!("127.0.0.1:{port}").parse().unwrap();
    let client = RegistryClient::new(HashMap::from([(
        host.clone(),
        RegistryAuthConfig {
            insecure: true,
            username: None,
            password: None,
            ..Default::default()
        },
    )]))
    .unwrap();
    let keys: Vec<TrustedKey> =
        vec![TrustedKey::from_pem("ci", key.public_pem.as_bytes()).unwrap()];
    let verifier = AttestationVerifier::new(Arc::from(keys), client);
    let image: ImageRef = format!("{}/team/app@{digest}", host.as_str())
        .parse()
        .unwrap();
    let digest: Digest = digest.parse().unwrap();
    let (evidence, items) = verifier.collect(&image, &digest).await;

    assert_eq!(evidence.error, None, "{evidence:?}");
    assert_eq!((evidence.found, evidence.verified), (1, 1), "{evidence:?}");
    assert_eq!(items.provenance.len(), 1);
    assert_eq!(items.provenance[0].builder_id, "https://builder.example/v1");
    assert!(
        front.api_calls.load(Ordering::SeqCst) >= 1,
        "the API was asked"
    );
    // The client asks for the fallback tag alongside the API (one round trip either way);
    // the front hides it, so the referrer found can only have come from the API's answer.
    assert!(front.fallback_reads.load(Ordering::SeqCst) <= front.api_calls.load(Ordering::SeqCst));
    server.abort();
}
