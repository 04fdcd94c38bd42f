//! Loading and checking configurations, the repo's example configs included.

use std::path::{Path, PathBuf};

use portcullis_core::ImageRef;

use super::*;

const YAML: &str = r#"
listen: 127.0.0.1:8080
database_url: postgres://postgres@127.0.0.1:5432/portcullis
policy_dir: policies
registries:
  "127.0.0.1:5001": { insecure: true }
  "registry.example.com": { username: bot, password_env: REG_PW }
routes:
  - { name: prod, from: "127.0.0.1:5001/", to: "127.0.0.1:5002/mirror/" }
trust:
  keys: [{ id: release, public_key_file: keys/cosign.pub }]
"#;

#[test]
fn loads_overrides_and_resolves_paths() {
    let env = |k: &str| match k {
        "REG_PW" => Some("s3cret".to_owned()),
        "PORTCULLIS_DATABASE_URL" => Some("postgres://other/db".to_owned()),
        _ => None,
    };
    let cfg = Config::from_yaml(YAML, Path::new("/etc/p"), &env).unwrap();
    assert_eq!(cfg.database_url.expose(), "postgres://other/db");
    assert_eq!(cfg.policy_dir, PathBuf::from("/etc/p/policies"));
    assert_eq!(
        cfg.trust.keys[0].public_key_file,
        PathBuf::from("/etc/p/keys/cosign.pub")
    );
    let reg = &cfg.registries["registry.example.com"];
    assert_eq!(reg.password.as_ref().map(Secret::expose), Some("s3cret"));
    assert!(
        !format!("{cfg:?}").contains("s3cret"),
        "secrets must not print"
    );
    let src: ImageRef = format!("127.0.0.1:5001/team/app@sha256:{}", "a".repeat(64))
        .parse()
        .unwrap();
    let (host, repo) = cfg.routes[0].destination(&src).unwrap();
    assert_eq!(
        (host.as_str(), repo.as_str()),
        ("127.0.0.1:5002", "mirror/team/app")
    );
    let other: ImageRef = "127.0.0.1:5009/team/app:v1".parse().unwrap();
    assert!(cfg.routes[0].destination(&other).is_none());
}

#[test]
fn the_example_configs_in_the_repo_parse() {
    let none = |_: &str| None;
    for text in [
        include_str!("../../../../config/portcullis.example.yaml"),
        include_str!("../../../../config/compose.yaml"),
    ] {
        let cfg = Config::from_yaml(text, Path::new("/etc/portcullis"), &none).unwrap();
        assert_eq!(cfg.routes[0].name, "staging-to-prod");
        assert_eq!(cfg.trust.keys[0].id, "release-key");
    }
}

#[test]
fn keyless_and_cache_settings_parse_with_paths_resolved() {
    let none = |k: &str| (k == "REG_PW").then(|| "pw".to_owned());
    let yaml = YAML.replace(
        "trust:\n",
        "trust:\n  cache: { ttl_seconds: 0 }\n  keyless:\n    trust_root: keys/fulcio.pem\n    rekor_public_key: /etc/rekor.pub\n    identities: [{ id: wf, issuer: https://issuer.example, subject: ci@example.com }]\n",
    );
    let cfg = Config::from_yaml(&yaml, Path::new("/etc/portcullis"), &none).unwrap();
    assert_eq!(cfg.trust.cache.ttl_seconds, 0);
    assert_eq!(
        cfg.trust.cache.negative_ttl_seconds, 30,
        "defaults fill the rest"
    );
    let keyless = cfg.trust.keyless.unwrap();
    assert_eq!(
        keyless.trust_root.as_deref(),
        Some(Path::new("/etc/portcullis/keys/fulcio.pem"))
    );
    assert_eq!(
        keyless.rekor_public_key.as_deref(),
        Some(Path::new("/etc/rekor.pub"))
    );
    assert_eq!(keyless.identities[0].id, "wf");
    // The standard trust root, resolved the same way.
    let yaml = YAML.replace(
        "trust:\n",
        "trust:\n  keyless:\n    trusted_root: sigstore/trusted_root.json\n    require_sct: false\n    identities: [{ id: wf, issuer: https://issuer.example, subject: ci@example.com }]\n",
    );
    let cfg = Config::from_yaml(&yaml, Path::new("/etc/portcullis"), &none).unwrap();
    let keyless = cfg.trust.keyless.unwrap();
    assert_eq!(
        keyless.trusted_root.as_deref(),
        Some(Path::new("/etc/portcullis/sigstore/trusted_root.json"))
    );
    assert_eq!(keyless.require_sct, Some(false));
    let typo = YAML.replace(
        "trust:\n",
        "trust:\n  keyless: { trust_root: a, rekor_key: b, identities: [] }\n",
    );
    let err = Config::from_yaml(&typo, Path::new("."), &none)
        .unwrap_err()
        .to_string();
    assert!(err.contains("rekor_key"), "{err}");
}

#[test]
fn passwords_come_from_a_file_and_routes_take_copy_options() {
    let dir = std::env::temp_dir().join(format!("portcullis-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("reg.pw"), "from-file\n").unwrap();
    let none = |_: &str| None;
    let yaml = YAML
        .replace("password_env: REG_PW", "password_file: reg.pw")
        .replace(
            r#"to: "127.0.0.1:5002/mirror/" }"#,
            r#"to: "127.0.0.1:5002/mirror/", allow_tag_overwrite: true, platforms: [linux/amd64, linux/arm64/v8] }"#,
        );
    let cfg = Config::from_yaml(&yaml, &dir, &none).unwrap();
    let reg = &cfg.registries["registry.example.com"];
    assert_eq!(reg.password.as_ref().unwrap().expose(), "from-file");
    assert!(
        !format!("{cfg:?}").contains("from-file"),
        "secrets never print"
    );
    assert!(cfg.routes[0].allow_tag_overwrite);
    assert_eq!(cfg.routes[0].platforms.as_ref().unwrap().len(), 2);

    let both = YAML.replace(
        "password_env: REG_PW",
        "password_env: REG_PW, password_file: reg.pw",
    );
    let env = |k: &str| (k == "REG_PW").then(|| "x".to_owned());
    let err = Config::from_yaml(&both, &dir, &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not both"), "{err}");
    let missing = YAML.replace("password_env: REG_PW", "password_file: nope.pw");
    let err = Config::from_yaml(&missing, &dir, &none)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("password_file") && err.contains("nope.pw"),
        "{err}"
    );
    let bad = YAML.replace(
        r#"to: "127.0.0.1:5002/mirror/" }"#,
        r#"to: "127.0.0.1:5002/mirror/", platforms: [linux] }"#,
    );
    let err = Config::from_yaml(&bad, &dir, &env).unwrap_err().to_string();
    assert!(err.contains("routes.prod.platforms"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn timeouts_token_realms_and_job_limits_are_read_and_checked() {
    let env = |k: &str| (k == "REG_PW").then(|| "x".to_owned());
    let yaml = YAML.replace(
        "password_env: REG_PW }",
        "password_env: REG_PW, timeouts: { response_header_seconds: 5 }, token_realms: [\"https://auth.example/token\"] }",
    );
    let yaml = format!("{yaml}copy: {{ max_concurrent_jobs: 2, job_deadline_seconds: 300 }}\n");
    let cfg = Config::from_yaml(&yaml, Path::new("."), &env).unwrap();
    let reg = &cfg.registries["registry.example.com"];
    let t = reg.timeouts.clone().unwrap_or_default().timeouts();
    assert_eq!(t.response_header, std::time::Duration::from_secs(5));
    assert_eq!(t.idle_read, std::time::Duration::from_secs(30));
    assert_eq!(reg.token_realms, ["https://auth.example/token"]);
    assert_eq!(cfg.copy.max_concurrent_jobs, 2);
    let defaults = Config::from_yaml(YAML, Path::new("."), &env).unwrap();
    assert_eq!(defaults.copy.max_concurrent_jobs, 4);
    assert_eq!(defaults.copy.job_deadline_seconds, 600);

    let short = format!("{YAML}copy: {{ job_deadline_seconds: 120 }}\n");
    let err = Config::from_yaml(&short, Path::new("."), &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("copy.job_deadline_seconds"), "{err}");
    let long_retry = YAML.replace(
        "password_env: REG_PW }",
        "password_env: REG_PW, retry: { max_elapsed_seconds: 900 } }",
    );
    let err = Config::from_yaml(&long_retry, Path::new("."), &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_elapsed_seconds (900)"), "{err}");
    for (bad, field) in [
        (
            "timeouts: { idle_read_seconds: 0 }",
            "timeouts.idle_read_seconds",
        ),
        ("token_realms: [\"ftp://x/t\"]", "token_realms"),
    ] {
        let yaml = YAML.replace(
            "password_env: REG_PW }",
            &format!("password_env: REG_PW, {bad} }}"),
        );
        let err = Config::from_yaml(&yaml, Path::new("."), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{err}");
    }
    let zero = format!("{YAML}copy: {{ max_concurrent_jobs: 0 }}\n");
    let err = Config::from_yaml(&zero, Path::new("."), &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("copy.max_concurrent_jobs"), "{err}");
}

#[test]
fn rejects_bad_config_with_the_field_named() {
    let none = |_: &str| None;
    let err = Config::from_yaml(YAML, Path::new("."), &none)
        .unwrap_err()
        .to_string();
    assert!(err.contains("REG_PW"), "{err}");
    let err = Config::from_yaml("listen: 1\n", Path::new("."), &none)
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid"), "{err}");
    let bad_route = YAML.replace("from: \"127.0.0.1:5001/\"", "from: \"nohost\"");
    let env = |k: &str| (k == "REG_PW").then(|| "x".to_owned());
    let err = Config::from_yaml(&bad_route, Path::new("."), &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("routes.prod.from"), "{err}");
    let no_slash = YAML.replace(
        "to: \"127.0.0.1:5002/mirror/\"",
        "to: \"127.0.0.1:5002/mirror\"",
    );
    let err = Config::from_yaml(&no_slash, Path::new("."), &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("routes.prod.to") && err.contains("ending in /"),
        "{err}"
    );
    let zero = format!("{YAML}\nlimits: {{ max_referrers: 0 }}\n");
    let err = Config::from_yaml(&zero, Path::new("."), &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("limits.max_referrers"), "{err}");
    let zero = format!("{YAML}\nhttp: {{ request_timeout_seconds: 0 }}\n");
    let err = Config::from_yaml(&zero, Path::new("."), &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("http.request_timeout_seconds"), "{err}");
    for days in [0, 3651] {
        let bad = format!("{YAML}\nwaivers: {{ max_days: {days} }}\n");
        let err = Config::from_yaml(&bad, Path::new("."), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("waivers.max_days"), "{err}");
    }
    let days = format!("{YAML}\nwaivers: {{ max_days: 30 }}\n");
    let config = Config::from_yaml(&days, Path::new("."), &env).unwrap();
    assert_eq!(config.waivers.max_days, 30);
    let defaults = Config::from_yaml(YAML, Path::new("."), &env).unwrap();
    assert_eq!(defaults.waivers.max_days, 90);
    let unknown = format!("{YAML}\nbogus: 1\n");
    let err = Config::from_yaml(&unknown, Path::new("."), &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("bogus"), "{err}");
}

#[test]
fn the_database_password_does_not_print_with_the_config() {
    let env = |k: &str| match k {
        "REG_PW" => Some("s3cret".to_owned()),
        "PORTCULLIS_DATABASE_URL" => {
            Some("postgres://portcullis:db-pa55word@db.internal:5432/gate".to_owned())
        }
        _ => None,
    };
    let cfg = Config::from_yaml(YAML, Path::new("/etc/p"), &env).unwrap();
    let shown = format!("{cfg:?}");
    assert!(!shown.contains("db-pa55word"), "{shown}");
    assert!(
        shown.contains("postgres://portcullis:****@db.internal:5432/gate"),
        "{shown}"
    );
    assert_eq!(
        cfg.database_url.expose(),
        "postgres://portcullis:db-pa55word@db.internal:5432/gate"
    );
}

#[test]
fn route_platforms_are_parsed_at_load() {
    let env = |k: &str| (k == "REG_PW").then(|| "pw".to_owned());
    let yaml = YAML.replace(
        r#"to: "127.0.0.1:5002/mirror/" }"#,
        r#"to: "127.0.0.1:5002/mirror/", platforms: [linux/arm64/v8, linux/amd64] }"#,
    );
    let cfg = Config::from_yaml(&yaml, Path::new("/etc/p"), &env).unwrap();
    let specs = cfg.routes[0].platforms.as_ref().unwrap();
    assert_eq!(
        (specs[0].os(), specs[0].arch(), specs[0].variant()),
        ("linux", "arm64", Some("v8"))
    );
    assert_eq!(
        cfg.routes[0].platform_strings(),
        Some(vec!["linux/arm64/v8".to_owned(), "linux/amd64".to_owned()])
    );
}

#[test]
fn the_pool_keeps_all_sixteen_connections_warm_unless_told() {
    let env = |k: &str| (k == "REG_PW").then(|| "x".to_owned());
    let defaults = Config::from_yaml(YAML, Path::new("."), &env).unwrap();
    assert_eq!(defaults.database.min_connections, 16);
    let none = format!("{YAML}database: {{ min_connections: 0 }}\n");
    let cfg = Config::from_yaml(&none, Path::new("."), &env).unwrap();
    assert_eq!(cfg.database.min_connections, 0);
    assert_eq!(cfg.database.acquire_timeout_ms, 3000);
    let many = format!("{YAML}database: {{ min_connections: 17 }}\n");
    let err = Config::from_yaml(&many, Path::new("."), &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("database.min_connections must be at most 16"),
        "{err}"
    );
}

#[test]
fn oidc_role_routes_must_name_configured_routes() {
    let env = |k: &str| (k == "REG_PW").then(|| "x".to_owned());
    let with = |routes: &str| {
        format!(
            "{YAML}auth:\n  oidc:\n    - issuer: https://idp.example\n      audience: portcullis\n      jwks_file: jwks.json\n      roles: [{{ claim: groups, equals: ops, role: approver{routes} }}]\n"
        )
    };
    let ok = Config::from_yaml(&with(", routes: [prod]"), Path::new("."), &env).unwrap();
    assert_eq!(
        ok.auth.oidc[0].roles[0].routes.as_deref(),
        Some(&["prod".to_owned()][..])
    );
    for (routes, says) in [
        (
            ", routes: [nowhere]",
            "\"nowhere\", which is not configured",
        ),
        (", routes: []", "empty routes list"),
    ] {
        let err = Config::from_yaml(&with(routes), Path::new("."), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{routes}: {err}");
    }
}
