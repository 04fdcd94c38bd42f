//! Blob downloads that a registry redirects to storage on another origin: the client follows
//! the redirect and gets the blob, but the registry's `Authorization` never reaches the
//! storage host. A small in-process "registry" and "storage" record what they receive.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::{Digest, RegistryHost, RepoPath};
use portcullis_registry::{RegistryAuthConfig, RegistryClient};

/// The `Authorization` header of every request a server received (`None` when absent).
type Seen = Arc<Mutex<Vec<Option<String>>>>;

struct Front {
    seen: Seen,
    storage: String,
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn authorization(req: &Request) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Redirects every blob GET to the storage host, keeping the path.
async fn front(State(front): State<Arc<Front>>, req: Request) -> Response {
    front.seen.lock().unwrap().push(authorization(&req));
    let location = format!("{}{}?signature=abc", front.storage, req.uri().path());
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, location)],
    )
        .into_response()
}

#[tokio::test]
async fn a_cross_origin_blob_redirect_is_followed_without_the_registry_credentials() {
    let blob = b"layer bytes served by object storage".to_vec();
    let digest = Digest::sha256_of(&blob);
    let storage_seen: Seen = Arc::default();
    let served = blob.clone();
    let seen = storage_seen.clone();
    let storage = serve(axum::Router::new().fallback(move |req: Request| {
        seen.lock().unwrap().push(authorization(&req));
        let body = served.clone();
        async move { body }
    }))
    .await;
    let front_seen: Seen = Arc::default();
    let registry = serve(
        axum::Router::new()
            .fallback(front)
            .with_state(Arc::new(Front {
                seen: front_seen.clone(),
                storage: format!("http://{storage}"),
            })),
    )
    .await;

    let host: RegistryHost = registry.parse().unwrap();
    let config = RegistryAuthConfig {
        insecure: true,
        username: Some("ci".into()),
        password: Some("registry-secret".into()),
        ..Default::default()
    };
    let client = RegistryClient::new(HashMap::from([(host.clone(), config)])).unwrap();
    let repo: RepoPath = "team/app".parse().unwrap();
    let got = client
        .get_blob_bytes(&host, &repo, &digest, 1 << 20)
        .await
        .unwrap();
    assert_eq!(got, blob, "the redirect was followed");

    let at_front = front_seen.lock().unwrap().clone();
    assert_eq!(at_front.len(), 1);
    assert!(
        at_front[0]
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic ")),
        "the registry itself gets the credentials: {at_front:?}"
    );
    let at_storage = storage_seen.lock().unwrap().clone();
    assert_eq!(at_storage, [None], "no credentials on the cross-origin hop");
}
