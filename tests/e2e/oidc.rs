//! OIDC/JWT bearer tokens through the server: a CI job's token maps to role `ci`, a person's
//! IdP groups to approver groups, and expired, forged or role-less tokens are refused.

use portcullis_server::oidc::{Algorithm, OidcIssuer, RoleMapping};
use portcullis_testkit::jwt::JwtIssuer;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::evidence_docs::body;
use crate::support::{TestApp, trivy};

const GITHUB: &str = "https://token.actions.githubusercontent.com";
const IDP: &str = "https://idp.example";

fn issuer(iss: &str, jwks: &std::path::Path, roles: Vec<RoleMapping>) -> OidcIssuer {
    OidcIssuer {
        issuer: iss.into(),
        audience: "portcullis".into(),
        jwks_file: Some(jwks.to_owned()),
        jwks_url: None,
        ca_file: None,
        algorithms: vec![Algorithm::ES256],
        subject_claim: "sub".into(),
        groups_claim: Some("groups".into()),
        roles,
        jwks_refresh_seconds: 60,
        leeway_seconds: 0,
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn ci_claims(repository: &str) -> Value {
    json!({"iss": GITHUB, "aud": "portcullis", "sub": format!("repo:{repository}:ref:refs/heads/main"),
           "repository": repository, "exp": now() + 300})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwts_from_trusted_issuers_authenticate_ci_and_approvers() {
    let github = JwtIssuer::new("gh-1").unwrap();
    let idp = JwtIssuer::new("idp-1").unwrap();
    let dir = std::env::temp_dir().join(format!("portcullis-oidc-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("github.json"), github.jwks().unwrap().to_string()).unwrap();
    std::fs::write(dir.join("idp.json"), idp.jwks().unwrap().to_string()).unwrap();
    let jwks = dir.clone();
    let app = TestApp::spawn_with(move |c| {
        c.auth.oidc = vec![
            issuer(
                GITHUB,
                &jwks.join("github.json"),
                vec![RoleMapping {
                    claim: "repository".into(),
                    equals: "team/app".into(),
                    role: portcullis_core::Role::Ci,
                    routes: None,
                }],
            ),
            issuer(
                IDP,
                &jwks.join("idp.json"),
                vec![RoleMapping {
                    claim: "groups".into(),
                    equals: "release-approvers".into(),
                    role: portcullis_core::Role::Approver,
                    routes: None,
                }],
            ),
        ];
    })
    .await;
    let digest = app.push_signed("team/app", "one").await;
    let source = app.source("team/app", &digest);
    let request = body(&source, vec![("trivy-json", trivy(&[]))], false);

    // CI from the trusted repository requests a promotion with its job's token.
    let ci = github.token(&ci_claims("team/app")).unwrap();
    let (status, p) = app.post("/v1/promotions", &ci, &request).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(
        p["requested_by"],
        format!("{GITHUB}#repo:team/app:ref:refs/heads/main")
    );
    let id = p["id"].as_str().unwrap().to_owned();

    // A person from the IdP in release-approvers approves; a static approver completes it.
    let alice = idp
        .token(
            &json!({"iss": IDP, "aud": "portcullis", "sub": "alice", "exp": now() + 300,
                        "groups": ["release-approvers"]}),
        )
        .unwrap();
    let (status, v) = app.vote(&id, &alice, "approve").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = app.vote(&id, &app.tokens.approver1, "approve").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(app.wait_settled(&id).await["state"], "promoted");

    // A job of another repository holds no role: 403, not 401.
    let stranger = github.token(&ci_claims("evil/app")).unwrap();
    let (status, e) = app.post("/v1/promotions", &stranger, &request).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");

    // Expired, forged (another key, same kid), wrong audience, alg none: 401.
    let mut expired = ci_claims("team/app");
    expired["exp"] = json!(now() - 60);
    let forger = JwtIssuer::new("gh-1").unwrap();
    let mut other_aud = ci_claims("team/app");
    other_aud["aud"] = json!("someone-else");
    let none = github
        .token_with_header(
            &json!({"alg": "none", "kid": "gh-1"}),
            &ci_claims("team/app"),
        )
        .unwrap();
    for (what, token) in [
        ("expired", github.token(&expired).unwrap()),
        ("forged", forger.token(&ci_claims("team/app")).unwrap()),
        ("audience", github.token(&other_aud).unwrap()),
        ("none", none),
    ] {
        let (status, e) = app.post("/v1/promotions", &token, &request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {e}");
        assert_eq!(e["status"], 401, "{what}: {e}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// A role mapping with `routes` grants the role on those routes only: a CI job may request
/// promotions on its route and gets 403 `route_not_allowed` on another; an approver scoped to
/// one route cannot vote on, nor sees as awaiting, a promotion of another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_scoped_roles_hold_on_their_routes_only() {
    let github = JwtIssuer::new("gh-1").unwrap();
    let idp = JwtIssuer::new("idp-1").unwrap();
    let dir = std::env::temp_dir().join(format!("portcullis-oidc-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("github.json"), github.jwks().unwrap().to_string()).unwrap();
    std::fs::write(dir.join("idp.json"), idp.jwks().unwrap().to_string()).unwrap();
    let jwks = dir.clone();
    let app = TestApp::spawn_with(move |c| {
        let mut eu = c.routes[0].clone();
        eu.name = "staging-to-eu".into();
        c.routes.push(eu);
        let scoped = |claim: &str, equals: &str, role, route: &str| RoleMapping {
            claim: claim.into(),
            equals: equals.into(),
            role,
            routes: Some(vec![route.to_owned()]),
        };
        c.auth.oidc = vec![
            issuer(
                GITHUB,
                &jwks.join("github.json"),
                vec![scoped(
                    "repository",
                    "team/app",
                    portcullis_core::Role::Ci,
                    "staging-to-eu",
                )],
            ),
            issuer(
                IDP,
                &jwks.join("idp.json"),
                vec![scoped(
                    "groups",
                    "release-approvers",
                    portcullis_core::Role::Approver,
                    crate::support::ROUTE,
                )],
            ),
        ];
    })
    .await;
    let digest = app.push_signed("team/app", "scoped").await;
    let source = app.source("team/app", &digest);
    let ci = github.token(&ci_claims("team/app")).unwrap();

    let mut request = body(&source, vec![("trivy-json", trivy(&[]))], false);
    let (status, e) = app.post("/v1/promotions", &ci, &request).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["code"], "route_not_allowed", "{e}");
    assert_eq!(app.count("SELECT count(*) FROM promotions").await, 0);

    request["route"] = json!("staging-to-eu");
    let (status, p) = app.post("/v1/promotions", &ci, &request).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();

    // Alice approves on the default route only.
    let alice = idp
        .token(
            &json!({"iss": IDP, "aud": "portcullis", "sub": "alice", "exp": now() + 300,
                        "groups": ["release-approvers"]}),
        )
        .unwrap();
    let (status, e) = app.vote(&id, &alice, "approve").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["code"], "route_not_allowed", "{e}");
    let (status, listed) = app.get("/v1/promotions?awaiting=me", &alice).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(
        listed["promotions"].as_array().unwrap().len(),
        0,
        "{listed}"
    );
    // A static approver (every route) still may.
    let (status, v) = app.vote(&id, &app.tokens.approver1, "approve").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    std::fs::remove_dir_all(dir).unwrap();
}
