//! End-to-end tests of the Docker token flow against a real Distribution registry configured
//! with `auth: token` (`TestRegistry::start_with_token_auth`): the registry challenges with
//! `WWW-Authenticate: Bearer realm=…,service=…,scope=…`, our client fetches a JWT from the
//! test `TokenServer` with basic credentials and retries with `Authorization: Bearer`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use portcullis_core::{ImageRef, Reference};
use portcullis_registry::testing::{TOKEN_SERVICE, TestRegistry, TokenServer};
use portcullis_registry::{Error, RegistryAuthConfig, RegistryClient, Role, copy_image};
use support::{push_image, repo, tag, to_prod_v1};

const USER: &str = "ci-robot";
const PASSWORD: &str = "t0ken-s3cret-pw";

/// A client for `dst` only, with the given credentials (and its token server trusted).
fn client_with(
    dst: &TestRegistry,
    username: Option<&str>,
    password: Option<&str>,
) -> RegistryClient {
    RegistryClient::new(
        [(
            dst.host.clone(),
            RegistryAuthConfig {
                username: username.map(str::to_owned),
                password: password.map(str::to_owned),
                ..dst.auth_config()
            },
        )]
        .into(),
    )
    .unwrap()
}

/// An anonymous source registry with one image, and a token-auth destination it was copied
/// to as `prod/app:v1` with the right credentials.
async fn copied_image() -> (TestRegistry, TestRegistry, TokenServer, support::Pushed) {
    let src = TestRegistry::start().await.unwrap();
    let (dst, tokens) = TestRegistry::start_with_token_auth(USER, PASSWORD)
        .await
        .unwrap();
    let client = TestRegistry::client_for(&[&src, &dst]).unwrap();
    let image = push_image(&client, &src.host, &repo("team/app"), 2, "amd64").await;
    assert!(
        tokens.requests().is_empty(),
        "the anonymous source needs no token"
    );
    let report = copy_image(&client, &to_prod_v1(&src, &image.manifest.digest, &dst))
        .await
        .unwrap();
    assert_eq!(report.digest, image.manifest.digest);
    assert_eq!(report.blobs_copied, 3);
    assert_eq!(report.manifests_copied, 1);
    (src, dst, tokens, image)
}

#[tokio::test]
async fn token_auth_copy_pushes_and_pulls_with_the_right_credentials() {
    let (_src, dst, tokens, image) = copied_image().await;

    // Pull back with a fresh client (no cached tokens): a pull-scoped token suffices.
    let puller = client_with(&dst, Some(USER), Some(PASSWORD));
    let tagged = ImageRef {
        registry: dst.host.clone(),
        repository: repo("prod/app"),
        reference: Reference::Tag(tag("v1")),
    };
    assert_eq!(
        puller.resolve(&tagged).await.unwrap(),
        image.manifest.digest
    );
    let pulled = puller
        .get_manifest(
            &dst.host,
            &repo("prod/app"),
            &Reference::Digest(image.manifest.digest.clone()),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pulled, image.manifest, "raw bytes preserved");
    for (digest, bytes) in &image.blobs {
        let got = puller
            .get_blob_bytes(&dst.host, &repo("prod/app"), digest, 1 << 20)
            .await
            .unwrap();
        assert_eq!(&got, bytes);
    }

    // Every token request came from our user, for the registry's service, and was granted.
    let requests = tokens.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(r.username.as_deref(), Some(USER), "{r:?}");
        assert_eq!(r.service.as_deref(), Some(TOKEN_SERVICE), "{r:?}");
        assert!(r.issued && r.granted, "{r:?}");
    }
    // Push (and pull) for the destination repository; the source repository lives on
    // another, anonymous registry and never reaches this token server.
    let scopes = tokens.granted_scopes();
    // A token request may carry several space-separated scopes, and the registry's
    // challenge lists actions in no fixed order (`pull,push` or `push,pull`).
    let normalised = |scope: &str| {
        let (resource, actions) = scope.rsplit_once(':').unwrap_or((scope, ""));
        let mut actions: Vec<&str> = actions.split(',').collect();
        actions.sort_unstable();
        format!("{resource}:{}", actions.join(","))
    };
    assert!(
        scopes
            .iter()
            .flat_map(|s| s.split(' '))
            .any(|one| normalised(one) == "repository:prod/app:pull,push"),
        "{scopes:?}"
    );
    assert!(
        scopes.contains(&"repository:prod/app:pull".to_owned()),
        "the fresh puller asks for pull only: {scopes:?}"
    );
    assert!(
        scopes
            .iter()
            .flat_map(|s| s.split(' '))
            .all(|one| one.starts_with("repository:prod/app:")),
        "{scopes:?}"
    );
}

#[tokio::test]
async fn token_auth_refuses_anonymous_clients_with_401() {
    let (_src, dst, tokens, image) = copied_image().await;
    let before = tokens.requests().len();
    let anonymous = client_with(&dst, None, None);

    // The token server hands out an anonymous token without access; the registry refuses it.
    let err = anonymous
        .get_manifest(
            &dst.host,
            &repo("prod/app"),
            &Reference::Digest(image.manifest.digest.clone()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("refused access (401)"), "{err}");

    let err = anonymous
        .push_blob_bytes(&dst.host, &repo("prod/app"), b"anonymous".to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Unauthorized { status: 401, .. }),
        "{err:?}"
    );

    let anonymous_requests: Vec<_> = tokens.requests().into_iter().skip(before).collect();
    assert!(!anonymous_requests.is_empty());
    for r in &anonymous_requests {
        assert_eq!(r.username, None, "{r:?}");
        assert!(r.issued && !r.granted, "{r:?}");
    }
    // The push stops at its first request (a pull-scoped blob HEAD): refused, never retried
    // with broader scopes.
    assert!(
        anonymous_requests
            .iter()
            .all(|r| r.scopes == ["repository:prod/app:pull"]),
        "{anonymous_requests:?}"
    );
}

#[tokio::test]
async fn token_auth_refuses_a_wrong_password_without_showing_it() {
    let src = TestRegistry::start().await.unwrap();
    let (dst, tokens) = TestRegistry::start_with_token_auth(USER, PASSWORD)
        .await
        .unwrap();
    let wrong = "Wr0ng-pa55word-xyz";
    let source_client = TestRegistry::client_for(&[&src]).unwrap();
    let image = push_image(&source_client, &src.host, &repo("team/app"), 1, "amd64").await;

    let mut configs: std::collections::HashMap<_, _> =
        [(src.host.clone(), src.auth_config())].into();
    let mut dst_config = dst.auth_config();
    dst_config.password = Some(wrong.to_owned());
    configs.insert(dst.host.clone(), dst_config);
    let client = RegistryClient::new(configs).unwrap();

    let err = copy_image(&client, &to_prod_v1(&src, &image.manifest.digest, &dst))
        .await
        .unwrap_err();
    assert!(
        matches!(err.inner(), Error::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert_eq!(err.role(), Some(Role::Destination), "{err}");
    let shown = format!("{err} / {err:?}");
    assert!(shown.contains(dst.host.as_str()), "{shown}");
    assert!(!shown.contains(wrong), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");

    let err = client_with(&dst, Some(USER), Some(wrong))
        .get_blob_bytes(&dst.host, &repo("prod/app"), &image.blobs[0].0, 1 << 20)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    let shown = format!("{err} / {err:?}");
    assert!(!shown.contains(wrong), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");

    let requests = tokens.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(r.username.as_deref(), Some(USER), "{r:?}");
        assert!(!r.issued && !r.granted, "{r:?}");
    }
    assert!(tokens.granted_scopes().is_empty());
    assert!(!format!("{tokens:?}").contains(PASSWORD));
}

/// The registry really verifies the JWT: a token from the right token server opens it, one
/// with the same claims signed by another key (not in the root bundle) does not.
#[tokio::test]
async fn registry_accepts_only_tokens_signed_by_the_bundled_key() {
    let (dst, tokens) = TestRegistry::start_with_token_auth(USER, PASSWORD)
        .await
        .unwrap();
    let stranger = TokenServer::start(USER, PASSWORD).await.unwrap();
    let http = reqwest::Client::new();
    let token_from = |realm: &str| {
        let req = http
            .get(realm)
            .query(&[
                ("service", TOKEN_SERVICE),
                ("scope", "repository:prod/app:pull"),
            ])
            .basic_auth(USER, Some(PASSWORD));
        async move {
            let body: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
            body["token"].as_str().unwrap().to_owned()
        }
    };
    let tags = format!("http://{}/v2/prod/app/tags/list", dst.host.as_str());
    let status = |token: String| {
        let req = http.get(&tags).bearer_auth(token);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    // 404: authorised, the repository just does not exist yet.
    assert_eq!(status(token_from(&tokens.realm).await).await, 404);
    assert_eq!(status(token_from(&stranger.realm).await).await, 401);
    assert_eq!(http.get(&tags).send().await.unwrap().status().as_u16(), 401);
}

/// The token server runs on another port than the registry: unless it is listed in the
/// registry's `token_realms`, the registry's challenge naming it gets no credentials.
#[tokio::test]
async fn credentials_never_go_to_a_token_realm_on_another_port_unless_listed() {
    let (_src, dst, tokens, image) = copied_image().await;
    let before = tokens.requests().len();
    let mut config = dst.auth_config();
    assert_eq!(
        config.token_realms.len(),
        1,
        "the copy above trusted the realm"
    );
    config.token_realms.clear();
    let unlisted = RegistryClient::new([(dst.host.clone(), config)].into()).unwrap();
    let err = unlisted
        .get_manifest(
            &dst.host,
            &repo("prod/app"),
            &Reference::Digest(image.manifest.digest.clone()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Unauthorized { status: 401, .. }),
        "an anonymous token opens nothing: {err:?}"
    );
    let asked: Vec<_> = tokens.requests().into_iter().skip(before).collect();
    assert!(!asked.is_empty(), "the token server was asked, anonymously");
    for r in &asked {
        assert_eq!(r.username, None, "credentials leaked to the realm: {r:?}");
    }
}
