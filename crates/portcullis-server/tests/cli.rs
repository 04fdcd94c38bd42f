//! The `portcullis` binary as an operator and a policy author run it: `policy eval`,
//! `policy test`, and a SIGHUP reload of a running server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use support::{Database, Server, free_port, policies, run, temp_dir, text, try_http};

fn portcullis(args: &[&str]) -> Output {
    run(None, args)
}

fn stdout(o: &Output) -> String {
    text(&o.stdout)
}

fn copy_bundle(to: &Path) {
    for entry in std::fs::read_dir(policies()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn policy_eval_prints_the_verdict_and_exits_by_it() {
    let policies = policies();
    let dir = policies.to_str().unwrap();
    let eval = |input: &Path| {
        portcullis(&[
            "policy",
            "eval",
            "--dir",
            dir,
            "--input",
            input.to_str().unwrap(),
        ])
    };
    let out = eval(&policies.join("examples/allowed.json"));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let verdict: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(verdict["decision"]["allow"], true, "{verdict}");
    assert!(
        verdict["policy_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    // The example's critical is suppressed by its VEX statement, and the verdict says so.
    assert_eq!(
        verdict["decision"]["suppressions"][0]["vulnerability"],
        "CVE-2023-45853"
    );

    let out = eval(&policies.join("examples/denied.json"));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let verdict: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rules: Vec<&str> = verdict["decision"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "licence.denied",
            "signature.trusted_key",
            "vulnerability.no_critical"
        ]
    );

    // Errors are exit 2 with a message, never a verdict.
    let tmp = temp_dir("eval");
    std::fs::write(tmp.join("bad.json"), "{not json").unwrap();
    std::fs::write(tmp.join("list.json"), "[]").unwrap();
    for (file, says) in [
        ("bad.json", "is not JSON"),
        ("list.json", "must be a JSON object"),
        ("missing.json", "cannot read"),
    ] {
        let out = eval(&tmp.join(file));
        assert_eq!(out.status.code(), Some(2), "{file}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{file}: {out:?}"
        );
        assert!(out.stdout.is_empty());
    }
    // A document that is not shaped like Portcullis input is a deny, not an allow.
    std::fs::write(tmp.join("empty.json"), "{}").unwrap();
    let out = eval(&tmp.join("empty.json"));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stdout(&out).contains("policy.undefined"));
    std::fs::remove_dir_all(tmp).unwrap();
}

#[test]
fn policy_test_reports_each_test_and_fails_on_a_failing_one() {
    let out = portcullis(&["policy", "test", policies().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains("PASS portcullis.promotion_test.test_gpl3_component_is_denied_and_named")
    );
    assert!(
        text.lines().last().unwrap().ends_with(" passed, 0 failed"),
        "{text}"
    );

    let tmp = temp_dir("policy-test");
    copy_bundle(&tmp);
    std::fs::write(
        tmp.join("extra_test.rego"),
        "package portcullis.extra_test\n\nimport rego.v1\n\ntest_always_fails if {\n\tfalse\n}\n",
    )
    .unwrap();
    let out = portcullis(&["policy", "test", tmp.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains("FAIL portcullis.extra_test.test_always_fails"),
        "{text}"
    );
    assert!(
        text.lines().last().unwrap().ends_with(" passed, 1 failed"),
        "{text}"
    );
    std::fs::remove_dir_all(tmp).unwrap();
}

fn ready_digest(port: u16) -> Option<String> {
    let (_, ready) = try_http(port, "GET", "/readyz", None, None)?;
    Some(ready["policy_digest"].as_str()?.to_owned())
}

fn wait_for(what: &str, f: impl FnMut() -> bool) {
    support::wait_for(what, Duration::from_secs(30), f);
}

#[test]
fn sighup_reloads_a_good_bundle_and_keeps_serving_on_a_bad_one() {
    let dir = temp_dir("sighup");
    let bundle = dir.join("policies");
    std::fs::create_dir_all(&bundle).unwrap();
    copy_bundle(&bundle);
    let port = free_port();
    let db = Database::new("sighup");
    std::fs::write(
        dir.join("portcullis.yaml"),
        format!(
            "listen: 127.0.0.1:{port}\ndatabase_url: {}\npolicy_dir: policies\n",
            db.url()
        ),
    )
    .unwrap();
    let server = Server::start(&dir.join("portcullis.yaml"), port, &["--dev-ephemeral-key"]);
    let first = ready_digest(port).expect("a ready server names its policy");

    // A changed, valid bundle is picked up on SIGHUP.
    let data = bundle.join("data.json");
    let text = std::fs::read_to_string(&data).unwrap();
    std::fs::write(&data, text.replace("\"max_high\": 10", "\"max_high\": 3")).unwrap();
    server.sighup();
    let mut second = None;
    wait_for("the reloaded digest", || {
        second = ready_digest(port).filter(|d| *d != first);
        second.is_some()
    });
    let second = second.unwrap();

    // A broken bundle is refused: the server keeps serving the last good one.
    std::fs::write(
        bundle.join("broken.rego"),
        "package broken\n\nnot rego at all\n",
    )
    .unwrap();
    server.sighup();
    wait_for("the refused reload to be audited", || {
        support::audit_count(&db.name, "policy_reload_failed") == 1
    });
    assert_eq!(ready_digest(port).as_deref(), Some(second.as_str()));
    assert_eq!(support::audit_count(&db.name, "policy_reloaded"), 1);
    drop(server);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Writes a config naming `registry` (plain HTTP) and a keyless trust root; returns its path.
fn verify_config(
    dir: &Path,
    registry: &str,
    trusted_root: &Path,
    subject_regex: &str,
) -> std::path::PathBuf {
    let config = dir.join("portcullis.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\n\
             database_url: postgres://postgres@127.0.0.1:5432/unused\n\
             policy_dir: {policies}\n\
             registries:\n  \"{registry}\": {{ insecure: true }}\n\
             trust:\n  keys: []\n  keyless:\n    trusted_root: {root}\n    identities:\n      - {{ id: release, issuer: https://token.actions.githubusercontent.com, subject_regex: '{subject_regex}' }}\n",
            policies = policies().display(),
            root = trusted_root.display(),
        ),
    )
    .unwrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_lists_every_signature_and_exits_by_whether_one_is_trusted() {
    use portcullis_testkit::sigstore::{
        BUNDLE_V03_MEDIA_TYPE, PrivateSigstore, SignOptions, push_bundle_referrer,
    };
    use portcullis_testkit::{LeafSpec, SanSubject, push_random_image};
    const WORKFLOW: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1";

    let registry = portcullis_registry::testing::TestRegistry::start()
        .await
        .unwrap();
    let host = registry.host.as_str().to_owned();
    let digest = push_random_image(&host, "acme/app", "v1", 1, 256)
        .await
        .unwrap();
    let sigstore = PrivateSigstore::new().unwrap();
    let dir = temp_dir("verify");
    let root = dir.join("trusted_root.json");
    sigstore.write_trusted_root(&root).unwrap();
    let leaf = sigstore
        .issue(&LeafSpec::new(
            SanSubject::Uri(WORKFLOW.into()),
            "https://token.actions.githubusercontent.com",
        ))
        .unwrap();
    let bundle = sigstore
        .sign_image(&leaf, &digest, &SignOptions::default())
        .unwrap();
    for json in [
        bundle.to_vec().unwrap(),
        b"{\"not\": \"a bundle\"}".to_vec(),
    ] {
        push_bundle_referrer(
            &host,
            "acme/app",
            &digest,
            &json,
            BUNDLE_V03_MEDIA_TYPE,
            true,
        )
        .await
        .unwrap();
    }
    let image = format!("{host}/acme/app:v1");

    // Trusted: exit 0, one verified and one refused, each with where and why.
    let trusted = verify_config(&dir, &host, &root, "https://github.com/acme/.*");
    let out = run(Some(&trusted), &["verify", &image]);
    let shown = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}{}", text(&out.stderr));
    assert!(
        shown.contains(&format!("{host}/acme/app@{digest}")),
        "{shown}"
    );
    assert!(shown.contains("signatures: 2 found, 1 verified"), "{shown}");
    assert!(shown.contains("ok   referrer sha256:"), "{shown}");
    assert!(shown.contains(&format!("verified by release (issuer https://token.actions.githubusercontent.com, subject {WORKFLOW})")), "{shown}");
    assert!(shown.contains("FAIL referrer sha256:"), "{shown}");
    assert!(shown.contains("not a Sigstore bundle"), "{shown}");
    let json = run(Some(&trusted), &["verify", &image, "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["signatures"]["status"], "verified");

    // Another identity: exit 1, the reason shown.
    let other = verify_config(&dir, &host, &root, "https://github.com/evil/.*");
    let out = run(Some(&other), &["verify", &image]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("no identity accepts"),
        "{}",
        stdout(&out)
    );

    // An unknown image: exit 2 (could not answer), with the reason on stderr.
    let missing = format!("{host}/acme/app:nope");
    let out = run(Some(&trusted), &["verify", &missing]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        text(&out.stderr).contains("error:"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(dir).unwrap();
}
