//! Transient-failure handling against real registries behind a `testing::FaultProxy`:
//! copies survive throttling and unavailable destinations, give up with a clear error when
//! the faults never stop, never retry what is not transient, and keep to the per-registry
//! limit on requests in flight.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::collections::HashMap;
use std::time::Duration;

use portcullis_core::{Digest, ImageRef, Reference};
use portcullis_registry::testing::{FaultPlan, FaultProxy, TestRegistry};
use portcullis_registry::{
    CopyPlan, Error, RegistryAuthConfig, RegistryClient, RetryPolicy, Role, copy_image,
};
use support::{push_image, repo};

/// Retries quick enough for tests; `Retry-After` still decides when a registry sends it.
fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_elapsed: Duration::from_secs(60),
    }
}

/// A client reaching `src` directly and the destination through `proxy`.
fn client_via(
    src: &TestRegistry,
    proxy: &FaultProxy,
    retry: RetryPolicy,
    max_concurrent_requests: usize,
) -> RegistryClient {
    let proxied = RegistryAuthConfig {
        insecure: true,
        retry,
        max_concurrent_requests,
        ..Default::default()
    };
    RegistryClient::new(HashMap::from([
        (src.host.clone(), src.auth_config()),
        (proxy.host.clone(), proxied),
    ]))
    .unwrap()
}

fn plan_to(src: &TestRegistry, digest: &Digest, proxy: &FaultProxy) -> CopyPlan {
    CopyPlan {
        source: ImageRef {
            registry: src.host.clone(),
            repository: repo("team/app"),
            reference: Reference::Digest(digest.clone()),
        },
        dest_registry: proxy.host.clone(),
        dest_repo: repo("prod/app"),
        dest_tag: Some(support::tag("v1")),
        options: Default::default(),
    }
}

/// The destination's tag resolves (read directly, not through the proxy) to `digest`.
async fn assert_landed(client: &RegistryClient, dst: &TestRegistry, digest: &Digest) {
    let direct = TestRegistry::client_for(&[dst]).unwrap();
    let tagged = ImageRef {
        registry: dst.host.clone(),
        repository: repo("prod/app"),
        reference: Reference::Tag(support::tag("v1")),
    };
    assert_eq!(direct.resolve(&tagged).await.unwrap(), *digest);
    let _ = client;
}

#[tokio::test]
async fn copy_succeeds_when_destination_throttles_with_retry_after() {
    let (src, dst, seed) = support::two_registries().await;
    let image = push_image(&seed, &src.host, &repo("team/app"), 2, "amd64").await;
    let digest = image.manifest.digest.clone();
    let proxy = FaultProxy::start(&dst.host, FaultPlan::first(3, 429).with_retry_after("1"))
        .await
        .unwrap();
    let client = client_via(&src, &proxy, fast_retry(6), 8);

    let report = copy_image(&client, &plan_to(&src, &digest, &proxy))
        .await
        .unwrap();

    assert_eq!(report.digest, digest);
    assert_eq!(report.blobs_copied, 3);
    assert_eq!(report.bytes_copied, image.bytes_total());
    assert_eq!(proxy.faulted(), 3);
    assert!(proxy.requests() > proxy.faulted());
    assert_landed(&client, &dst, &digest).await;
}

#[tokio::test]
async fn copy_restarts_whole_blob_uploads_the_destination_answers_503() {
    let (src, dst, seed) = support::two_registries().await;
    let image = push_image(&seed, &src.host, &repo("team/app"), 3, "amd64").await;
    let digest = image.manifest.digest.clone();
    // Only the streamed PUTs fail: each one's source body is gone, so the whole transfer
    // (source GET, new upload session, PUT) must start over.
    let plan = FaultPlan::first(3, 503).only("PUT", "/blobs/uploads/");
    let proxy = FaultProxy::start(&dst.host, plan).await.unwrap();
    let client = client_via(&src, &proxy, fast_retry(6), 8);

    let report = copy_image(&client, &plan_to(&src, &digest, &proxy))
        .await
        .unwrap();

    assert_eq!(proxy.faulted(), 3);
    assert_eq!(report.blobs_copied, 4);
    assert_eq!(report.bytes_copied, image.bytes_total());
    assert_landed(&client, &dst, &digest).await;
    for (blob, bytes) in &image.blobs {
        let direct = TestRegistry::client_for(&[&dst]).unwrap();
        let got = direct
            .get_blob_bytes(&dst.host, &repo("prod/app"), blob, 10_000_000)
            .await
            .unwrap();
        assert_eq!(&got, bytes);
    }
}

#[tokio::test]
async fn copy_gives_up_naming_status_and_attempts_when_faults_never_stop() {
    let (src, dst, seed) = support::two_registries().await;
    // Config blob only: one blob, so exactly one request is retried at a time.
    let image = push_image(&seed, &src.host, &repo("team/app"), 0, "amd64").await;
    let proxy = FaultProxy::start(&dst.host, FaultPlan::always(503))
        .await
        .unwrap();
    let client = client_via(&src, &proxy, fast_retry(3), 8);

    let err = copy_image(&client, &plan_to(&src, &image.manifest.digest, &proxy))
        .await
        .unwrap_err();

    assert_eq!(err.role(), Some(Role::Destination), "{err}");
    match err.inner() {
        Error::RetriesExhausted {
            registry,
            status,
            attempts,
            operation,
        } => {
            assert_eq!(registry, proxy.host.as_str());
            assert_eq!(*status, 503);
            assert_eq!(*attempts, 3);
            // The first request the copy sends to the destination.
            assert!(
                ["check blob", "resolve manifest"].contains(operation),
                "{operation}"
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "destination: registry {} answered 503 to {operation} 3 times; giving up",
                    proxy.host.as_str()
                )
            );
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
    // The copy's first destination look-up (the tag; the root only once the tag does not
    // name it, and artifacts only once the source is read) gives up after its 3 attempts,
    // and nothing else is sent to the failing destination.
    assert_eq!(proxy.requests(), 3);
    assert_eq!(proxy.faulted(), 3);
}

#[tokio::test]
async fn upload_put_failures_give_up_after_the_budget_too() {
    let (src, dst, seed) = support::two_registries().await;
    let image = push_image(&seed, &src.host, &repo("team/app"), 0, "amd64").await;
    let plan = FaultPlan::always(502).only("PUT", "/blobs/uploads/");
    let proxy = FaultProxy::start(&dst.host, plan).await.unwrap();
    let client = client_via(&src, &proxy, fast_retry(4), 8);

    let err = copy_image(&client, &plan_to(&src, &image.manifest.digest, &proxy))
        .await
        .unwrap_err();

    assert!(
        matches!(
            err.inner(),
            Error::RetriesExhausted {
                status: 502,
                attempts: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("502 to copy blob 4 times"),
        "{err}"
    );
    assert_eq!(proxy.faulted(), 4);
}

#[tokio::test]
async fn not_found_and_bad_request_are_not_retried() {
    let dst = TestRegistry::start().await.unwrap();
    let proxy = FaultProxy::start(&dst.host, FaultPlan::none())
        .await
        .unwrap();
    let src = TestRegistry::start().await.unwrap();
    let client = client_via(&src, &proxy, fast_retry(6), 8);
    let missing = client
        .get_manifest(
            &proxy.host,
            &repo("prod/app"),
            &Reference::Tag(support::tag("nope")),
        )
        .await
        .unwrap();
    assert!(missing.is_none());
    assert_eq!(proxy.requests(), 1);

    let proxy = FaultProxy::start(&dst.host, FaultPlan::always(400))
        .await
        .unwrap();
    let client = client_via(&src, &proxy, fast_retry(6), 8);
    let err = client
        .push_blob_bytes(&proxy.host, &repo("prod/app"), b"x".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Http { status: 400, .. }), "{err:?}");
    assert_eq!(proxy.requests(), 1);

    // An injected 404 on a blob check is an answer ("absent"), not a failure.
    let proxy = FaultProxy::start(&dst.host, FaultPlan::always(404))
        .await
        .unwrap();
    let client = client_via(&src, &proxy, fast_retry(6), 8);
    let exists = client
        .blob_exists(&proxy.host, &repo("prod/app"), &Digest::sha256_of(b"x"))
        .await
        .unwrap();
    assert!(!exists);
    assert_eq!(proxy.requests(), 1);
}

#[tokio::test]
async fn per_registry_limit_bounds_requests_in_flight_during_a_copy() {
    let (src, dst, seed) = support::two_registries().await;
    let image = push_image(&seed, &src.host, &repo("team/app"), 12, "amd64").await;
    let digest = image.manifest.digest.clone();
    let proxy = FaultProxy::start(&dst.host, FaultPlan::none())
        .await
        .unwrap();
    let client = client_via(&src, &proxy, fast_retry(6), 2);

    let report = copy_image(&client, &plan_to(&src, &digest, &proxy))
        .await
        .unwrap();

    assert_eq!(report.blobs_copied, 13);
    assert!(proxy.requests() >= 13 * 3);
    assert!(
        (1..=2).contains(&proxy.max_in_flight()),
        "{} requests in flight at once",
        proxy.max_in_flight()
    );
    assert_landed(&client, &dst, &digest).await;
}
