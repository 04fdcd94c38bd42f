#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_testkit::jwt::JwtIssuer;
use serde_json::{Value, json};

use super::*;

const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims() -> Value {
    json!({
        "iss": ISSUER, "aud": "portcullis", "sub": "repo:acme/app:ref:refs/heads/main",
        "exp": now() + 300, "nbf": now() - 10, "repository": "acme/app",
        "groups": ["release-approvers", "not a group!"],
    })
}

async fn oidc(key: &JwtIssuer, refresh: u64) -> (Oidc, PathBuf) {
    let file = std::env::temp_dir().join(format!("jwks-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, key.jwks().unwrap().to_string()).unwrap();
    let cfg = OidcIssuer {
        issuer: ISSUER.into(),
        audience: "portcullis".into(),
        jwks_file: Some(file.clone()),
        jwks_url: None,
        ca_file: None,
        algorithms: vec![Algorithm::ES256],
        subject_claim: "sub".into(),
        groups_claim: Some("groups".into()),
        roles: vec![RoleMapping {
            claim: "repository".into(),
            equals: "acme/app".into(),
            role: Role::Ci,
            routes: None,
        }],
        jwks_refresh_seconds: refresh,
        leeway_seconds: 0,
    };
    (Oidc::load(&[cfg]).await.unwrap(), file)
}

#[tokio::test]
async fn a_valid_token_maps_subject_groups_and_roles() {
    let key = JwtIssuer::new("k1").unwrap();
    let (oidc, _) = oidc(&key, 60).await;
    let id = oidc
        .authenticate(&key.token(&claims()).unwrap())
        .await
        .unwrap();
    assert_eq!(id.issuer, ISSUER);
    assert_eq!(id.subject, "repo:acme/app:ref:refs/heads/main");
    assert_eq!(id.roles, [Role::Ci]);
    assert_eq!(id.groups.len(), 1, "the invalid group name is skipped");
    // Another repository gets no role (the caller is then forbidden, not unauthenticated).
    let mut other = claims();
    other["repository"] = json!("evil/app");
    let id = oidc
        .authenticate(&key.token(&other).unwrap())
        .await
        .unwrap();
    assert!(id.roles.is_empty());
}

#[tokio::test]
async fn every_bad_token_is_refused_for_its_reason() {
    let key = JwtIssuer::new("k1").unwrap();
    let (oidc, _) = oidc(&key, 60).await;
    let refused = |claims: Value| {
        let token = key.token(&claims).unwrap();
        let oidc = &oidc;
        async move { oidc.authenticate(&token).await.unwrap_err() }
    };
    let mut c = claims();
    c["exp"] = json!(now() - 5);
    assert!(refused(c).await.contains("expired"));
    let mut c = claims();
    c["nbf"] = json!(now() + 600);
    assert!(refused(c).await.contains("not valid yet"));
    let mut c = claims();
    c["aud"] = json!(["someone-else"]);
    assert!(refused(c).await.contains("audience"));
    let mut c = claims();
    c["iss"] = json!("https://evil.example");
    assert!(refused(c).await.contains("not trusted"));
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert!(refused(c).await.contains("exp"));

    // alg none and HMAC are refused before any key is looked at.
    let none = key
        .token_with_header(&json!({"alg": "none", "kid": "k1"}), &claims())
        .unwrap();
    assert!(oidc.authenticate(&none).await.unwrap_err().contains("none"));
    let hs = key
        .token_with_header(&json!({"alg": "HS256", "kid": "k1"}), &claims())
        .unwrap();
    assert!(oidc.authenticate(&hs).await.unwrap_err().contains("HMAC"));

    // Another key under the same kid, and claims changed after signing.
    let forger = JwtIssuer::new("k1").unwrap();
    let forged = forger.token(&claims()).unwrap();
    assert!(
        oidc.authenticate(&forged)
            .await
            .unwrap_err()
            .contains("does not verify")
    );
    let good = key.token(&claims()).unwrap();
    let mut parts: Vec<&str> = good.split('.').collect();
    let mut c = claims();
    c["repository"] = json!("other/app");
    use base64::Engine as _;
    let swapped = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c.to_string());
    parts[1] = &swapped;
    assert!(
        oidc.authenticate(&parts.join("."))
            .await
            .unwrap_err()
            .contains("does not verify")
    );
    assert!(oidc.authenticate("a.b").await.is_err());
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_key_set_at_most_once_per_interval() {
    let old = JwtIssuer::new("old").unwrap();
    let new = JwtIssuer::new("new").unwrap();
    // Rate limited: the rotated set is not read within the interval.
    let (oidc_slow, file) = oidc(&old, 3600).await;
    std::fs::write(&file, new.jwks().unwrap().to_string()).unwrap();
    let token = new.token(&claims()).unwrap();
    assert!(
        oidc_slow
            .authenticate(&token)
            .await
            .unwrap_err()
            .contains("no key")
    );
    // Without the limit, the rotation is picked up on the unknown kid.
    let (oidc_fast, file) = oidc(&old, 0).await;
    std::fs::write(&file, new.jwks().unwrap().to_string()).unwrap();
    assert!(oidc_fast.authenticate(&token).await.is_ok());
}

#[test]
fn jwks_keys_are_checked_by_type() {
    assert!(
        parse_set(br#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}"#)
            .unwrap_err()
            .contains("fewer than 2048")
    );
    assert!(
        parse_set(br#"{"keys":[{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}]}"#)
            .unwrap_err()
            .contains("not supported")
    );
    // Symmetric keys are never usable: skipped.
    assert!(
        parse_set(br#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#)
            .unwrap()
            .is_empty()
    );
    assert!(parse_set(b"[]").is_err());
}

/// Serves `jwks` (swappable) on a loopback port; returns the URL and the swap handle.
async fn serve_jwks(jwks: Value) -> (String, std::sync::Arc<std::sync::Mutex<Value>>) {
    let current = std::sync::Arc::new(std::sync::Mutex::new(jwks));
    let shared = current.clone();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let shared = shared.clone();
            async move { axum::Json(shared.lock().unwrap().clone()) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/jwks"), current)
}

#[tokio::test]
async fn a_jwks_url_is_fetched_and_refetched_when_the_issuer_rotates_its_key() {
    let old = JwtIssuer::new("old").unwrap();
    let new = JwtIssuer::new("new").unwrap();
    let (url, current) = serve_jwks(old.jwks().unwrap()).await;
    let cfg = OidcIssuer {
        issuer: ISSUER.into(),
        audience: "portcullis".into(),
        jwks_file: None,
        jwks_url: Some(url),
        ca_file: None,
        algorithms: vec![Algorithm::ES256],
        subject_claim: "sub".into(),
        groups_claim: None,
        roles: Vec::new(),
        jwks_refresh_seconds: 0,
        leeway_seconds: 0,
    };
    let oidc = Oidc::load(std::slice::from_ref(&cfg)).await.unwrap();
    assert!(
        oidc.authenticate(&old.token(&claims()).unwrap())
            .await
            .is_ok()
    );
    *current.lock().unwrap() = new.jwks().unwrap();
    assert!(
        oidc.authenticate(&new.token(&claims()).unwrap())
            .await
            .is_ok()
    );
    // The old key is gone from the set now.
    assert!(
        oidc.authenticate(&old.token(&claims()).unwrap())
            .await
            .is_err()
    );
    // Plain http to anything but loopback is refused at load.
    let remote = OidcIssuer {
        jwks_url: Some("http://idp.example/jwks".into()),
        ..cfg
    };
    assert!(Oidc::load(&[remote]).await.unwrap_err().contains("https"));
}

fn mapping(claim: &str, role: Role, routes: Option<&[&str]>) -> RoleMapping {
    RoleMapping {
        claim: claim.into(),
        equals: "x".into(),
        role,
        routes: routes.map(|r| r.iter().map(|s| (*s).to_owned()).collect()),
    }
}

#[test]
fn route_scoped_grants_union_and_an_unscoped_grant_wins() {
    let maps = [
        mapping("a", Role::Ci, Some(&["staging-to-prod"])),
        mapping("b", Role::Ci, Some(&["staging-to-eu", "staging-to-prod"])),
        mapping("c", Role::Approver, Some(&["staging-to-prod"])),
        mapping("d", Role::Approver, None),
        mapping("e", Role::Auditor, None),
    ];
    let (roles, scoped) = grants(maps.iter());
    assert_eq!(roles, [Role::Ci, Role::Approver, Role::Auditor]);
    assert_eq!(
        scoped,
        [(
            Role::Ci,
            vec!["staging-to-prod".to_owned(), "staging-to-eu".to_owned()]
        )]
    );
    let (_, scoped) = grants(maps[..1].iter());
    assert_eq!(scoped, [(Role::Ci, vec!["staging-to-prod".to_owned()])]);
}

/// An https `jwks_url` is trusted through `ca_file`: with the issuer's CA the key set loads
/// and tokens verify; without it (the platform's roots only) the TLS handshake fails and the
/// issuer is refused at load.
#[tokio::test]
async fn an_https_jwks_url_is_verified_against_ca_file() {
    let key = JwtIssuer::new("tls-1").unwrap();
    let server = portcullis_testkit::https::HttpsDocument::serve(
        "/.well-known/jwks.json",
        key.jwks().unwrap().to_string().into_bytes(),
    )
    .await
    .unwrap();
    let ca = std::env::temp_dir().join(format!("jwks-ca-{}.pem", uuid::Uuid::new_v4()));
    std::fs::write(&ca, &server.ca_pem).unwrap();
    let cfg = OidcIssuer {
        issuer: ISSUER.into(),
        audience: "portcullis".into(),
        jwks_file: None,
        jwks_url: Some(server.url.clone()),
        ca_file: Some(ca.clone()),
        algorithms: vec![Algorithm::ES256],
        subject_claim: "sub".into(),
        groups_claim: None,
        roles: Vec::new(),
        jwks_refresh_seconds: 60,
        leeway_seconds: 0,
    };
    let oidc = Oidc::load(std::slice::from_ref(&cfg)).await.unwrap();
    let id = oidc
        .authenticate(&key.token(&claims()).unwrap())
        .await
        .unwrap();
    assert_eq!(id.issuer, ISSUER);

    let untrusted = OidcIssuer {
        ca_file: None,
        ..cfg
    };
    let err = match Oidc::load(&[untrusted]).await {
        Ok(_) => panic!("a JWKS behind an unknown CA must not load"),
        Err(e) => e,
    };
    assert!(err.contains(&server.url), "{err}");
    std::fs::remove_file(ca).unwrap();
}
