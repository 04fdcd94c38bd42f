//! Timeouts against registries that accept connections and then go quiet (a
//! `testing::FaultProxy` that never answers, or whose blob bodies stall part-way): every
//! request gives up with `Error::Timeout` naming the registry and the operation, instead of
//! holding its caller. The outer `tokio::time::timeout` only turns a hang into a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use portcullis_core::{ImageRef, Reference, RegistryHost};
use portcullis_registry::testing::{FaultPlan, FaultProxy, TestRegistry};
use portcullis_registry::{
    Error, RegistryAuthConfig, RegistryClient, RetryPolicy, Role, Timeouts, copy_image,
};
use support::{push_image, repo, tag};

/// Short timeouts, so a hung registry is noticed quickly.
fn quick() -> RegistryAuthConfig {
    RegistryAuthConfig {
        insecure: true,
        timeouts: Timeouts {
            response_header: Duration::from_secs(1),
            idle_read: Duration::from_secs(1),
        },
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            max_elapsed: Duration::from_secs(60),
        },
        ..Default::default()
    }
}

fn client(hosts: &[&RegistryHost]) -> RegistryClient {
    RegistryClient::new(
        hosts
            .iter()
            .map(|h| ((*h).clone(), quick()))
            .collect::<HashMap<_, _>>(),
    )
    .unwrap()
}

/// Fails the test instead of hanging it when the client never gives up.
async fn settles<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("the client never gave up on a hung registry")
}

fn assert_timeout(err: &Error, registry: &RegistryHost, operation: &str, waited_for: &str) {
    match err.inner() {
        Error::Timeout {
            registry: r,
            operation: o,
            waited_for: w,
        } => {
            assert_eq!(r, registry.as_str(), "{err}");
            assert_eq!(*o, operation, "{err}");
            assert_eq!(*w, waited_for, "{err}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn a_registry_that_never_answers_fails_with_a_timeout_naming_it() {
    let registry = TestRegistry::start().await.unwrap();
    let hung = FaultProxy::start(&registry.host, FaultPlan::hang())
        .await
        .unwrap();
    let client = client(&[&hung.host]);
    let image = ImageRef {
        registry: hung.host.clone(),
        repository: repo("team/app"),
        reference: Reference::Tag(tag("v1")),
    };
    let err = settles(client.resolve(&image)).await.unwrap_err();
    assert_timeout(&err, &hung.host, "resolve manifest", "response headers");
    assert!(err.to_string().contains("did not answer"), "{err}");
    assert_eq!(
        hung.requests(),
        1,
        "a timeout is not retried by the request itself"
    );
    assert!(err.is_transient(), "but a whole copy job may try again");
}

#[tokio::test]
async fn a_blob_body_that_stalls_midway_fails_with_an_idle_read_timeout() {
    let (src, dst, seed) = support::two_registries().await;
    let image = push_image(&seed, &src.host, &repo("team/app"), 1, "amd64").await;
    let stalling = FaultProxy::start(
        &src.host,
        FaultPlan::stall_body_after(4096).only("GET", "/blobs/"),
    )
    .await
    .unwrap();
    let client = client(&[&stalling.host, &dst.host]);
    let (layer, _) = &image.blobs[1];
    let err = settles(client.get_blob_bytes(&stalling.host, &repo("team/app"), layer, 1 << 20))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Timeout { waited_for: "response body", registry, .. } if registry == stalling.host.as_str()),
        "{err:?}"
    );

    // Streamed into a copy, the stall is blamed on the source, not the destination.
    let mut plan = support::to_prod_v1(&src, &image.manifest.digest, &dst);
    plan.source.registry = stalling.host.clone();
    let err = settles(copy_image(&client, &plan)).await.unwrap_err();
    assert_timeout(&err, &stalling.host, "copy blob", "response body");
    assert_eq!(
        err.role(),
        Some(Role::Source),
        "the stalled end is named: {err}"
    );
}
