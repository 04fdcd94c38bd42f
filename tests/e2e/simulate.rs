//! Policy impact before a reload: `POST /v1/policy/simulate` (a candidate bundle as a tar
//! archive) and `portcullis policy simulate --dir` judge the stored inputs of recent
//! decisions with the candidate and list every verdict that would flip, with rule ids. The
//! upload is bounded (4 MiB, regular files only, no `..`), a bundle that does not compile is
//! 422, and the simulation has a time limit.

use std::path::Path;
use std::process::ExitCode;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::policy::copy_bundle;
use crate::support::{TestApp, decode, trivy};

/// A plain tar of `files` under `policies/` (as `tar cf b.tar policies/` makes it).
fn tarball(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, content) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, format!("policies/{name}"), *content)
            .unwrap();
    }
    b.into_inner().unwrap()
}

/// A tar of the bundle in `dir`.
fn tar_dir(dir: &Path) -> Vec<u8> {
    let files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, c)| (n.as_str(), c.as_slice()))
        .collect();
    tarball(&refs)
}

/// A tar holding one entry of `kind` at the raw path `path` (no checks by the builder).
fn raw_entry(path: &str, kind: tar::EntryType, content: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(kind);
    if kind == tar::EntryType::Symlink {
        h.set_link_name("/etc/passwd").unwrap();
    }
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

async fn simulate(app: &TestApp, query: &str, token: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let resp = app
        .http
        .post(format!("{}/v1/policy/simulate{query}", app.base))
        .bearer_auth(token)
        .header("content-type", "application/x-tar")
        .body(body)
        .send()
        .await
        .unwrap();
    decode(resp).await
}

/// Requests a promotion of a fresh signed image; returns (promotion id, decision id).
async fn decided(app: &TestApp, tag: &str, findings: &[(&str, &str)]) -> (String, String) {
    let digest = app.push_signed("team/app", tag).await;
    let (status, p) = app
        .request(&app.source("team/app", &digest), trivy(findings))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let id = p["decision_ids"][0].as_str().unwrap().to_owned();
    (p["id"].as_str().unwrap().to_owned(), id)
}

fn candidate(max_high: u64, approvals: Value) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-candidate-{}", uuid::Uuid::new_v4()));
    copy_bundle(&dir);
    let path = dir.join("data.json");
    let mut data: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    data["portcullis"]["config"]["max_high"] = json!(max_high);
    data["portcullis"]["config"]["approvals"] = approvals;
    std::fs::write(path, data.to_string()).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_lists_every_verdict_that_would_flip_with_its_rule_ids() {
    let app = TestApp::spawn().await;
    let (clean_p, clean) = decided(&app, "s1", &[]).await;
    let (_, high) = decided(&app, "s2", &[("CVE-2026-9", "HIGH")]).await;
    let (_, critical) = decided(&app, "s3", &[("CVE-2026-7", "CRITICAL")]).await;
    // A decision made before inputs were recorded is skipped.
    sqlx::query(
        "INSERT INTO decisions (id, promotion_id, at, policy_digest, decision) \
         SELECT gen_random_uuid(), promotion_id, at - interval '1 hour', policy_digest, decision \
         FROM decisions LIMIT 1",
    )
    .execute(&app.db)
    .await
    .unwrap();

    // Stricter on HIGH findings, and one approval from qa instead of two release approvers.
    let dir = candidate(0, json!({"count": 1, "group": "qa"}));
    let (status, r) = simulate(&app, "", &app.tokens.admin, tar_dir(&dir)).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["judged"], 3, "{r}");
    assert_eq!(r["unchanged"], 1, "the denied one stays denied: {r}");
    assert_eq!(r["skipped"], 1, "{r}");
    assert_eq!(r["errors"], json!([]), "{r}");
    let flips = r["flips"].as_array().unwrap();
    assert_eq!(flips.len(), 2, "{r}");
    let flip = |id: &str| {
        flips
            .iter()
            .find(|f| f["decision_id"] == id)
            .unwrap()
            .clone()
    };
    let f = flip(&high);
    assert_eq!(f["kind"], "allow_to_deny", "{f}");
    assert_eq!(f["before"]["allow"], true);
    assert_eq!(f["before"]["rule_ids"], json!([]));
    assert_eq!(f["after"]["allow"], false);
    assert_eq!(f["after"]["rule_ids"], json!(["vulnerability.max_high"]));
    let f = flip(&clean);
    assert_eq!(f["kind"], "requirement_changed", "{f}");
    assert_eq!(f["promotion_id"], clean_p.as_str());
    assert_eq!(
        f["before"]["required_approvals"],
        json!({"count": 2, "group": "release-approvers"})
    );
    assert_eq!(
        f["after"]["required_approvals"],
        json!({"count": 1, "group": "qa"})
    );
    assert!(flips.iter().all(|f| f["decision_id"] != critical.as_str()));
    assert!(f["digest"].as_str().unwrap().starts_with("sha256:"));
    let candidate_digest = r["candidate_digest"].as_str().unwrap().to_owned();
    assert_ne!(candidate_digest, app.state.gate.policy.digest().to_string());

    // The newest decision only.
    let (status, r) = simulate(&app, "?last=1", &app.tokens.admin, tar_dir(&dir)).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["judged"], 1, "{r}");
    assert_eq!(
        (&r["unchanged"], &r["flips"]),
        (&json!(1), &json!([])),
        "{r}"
    );
    for bad in ["?last=0", "?last=10001"] {
        let (status, r) = simulate(&app, bad, &app.tokens.admin, tar_dir(&dir)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
        assert_eq!(r["code"], "invalid_last");
    }
    // Admins only; nothing was written.
    for token in [&app.tokens.auditor, &app.tokens.ci] {
        let (status, r) = simulate(&app, "", token, tar_dir(&dir)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{r}");
    }
    assert_eq!(app.count("SELECT count(*) FROM policy_bundles").await, 1);

    // The offline verb judges the same with the directory (exit 1: verdicts would flip).
    let code = portcullis_server::cli_decisions::policy_simulate(&app.config, &dir, None)
        .await
        .unwrap();
    assert_eq!(code, ExitCode::FAILURE);
    let same = app.config.policy_dir.clone();
    let code = portcullis_server::cli_decisions::policy_simulate(&app.config, &same, None)
        .await
        .unwrap();
    assert_eq!(code, ExitCode::SUCCESS, "the serving bundle flips nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_refuses_oversized_unsafe_and_broken_bundles_and_stops_at_its_time_limit() {
    let app = TestApp::spawn_with(|c| c.simulation.timeout_ms = 300).await;
    decided(&app, "e1", &[]).await;
    let admin = app.tokens.admin.clone();
    let expect = |status: StatusCode, code: &'static str| {
        move |(s, r): (StatusCode, Value)| {
            assert_eq!(s, status, "{r}");
            assert_eq!(r["code"], code, "{r}");
        }
    };

    // Over 4 MiB: refused before it is read whole.
    let big = vec![b'a'; 4 * 1024 * 1024 + 1];
    expect(StatusCode::PAYLOAD_TOO_LARGE, "bundle_too_large")(
        simulate(&app, "", &admin, big).await,
    );
    // A file declared larger than 4 MiB (a small upload that would unpack big) too.
    let mut declared = raw_entry("policies/big.rego", tar::EntryType::Regular, b"");
    let mut h = tar::Header::from_byte_slice(&declared[..512]).clone();
    h.set_size(5 * 1024 * 1024);
    h.set_cksum();
    declared[..512].copy_from_slice(h.as_bytes());
    expect(StatusCode::PAYLOAD_TOO_LARGE, "bundle_too_large")(
        simulate(&app, "", &admin, declared).await,
    );

    // Links, devices and paths out of the archive are refused.
    for (path, kind) in [
        ("policies/link.rego", tar::EntryType::Symlink),
        ("policies/hard.rego", tar::EntryType::Link),
        ("policies/dev", tar::EntryType::Char),
        ("policies/fifo", tar::EntryType::Fifo),
        ("../evil.rego", tar::EntryType::Regular),
        ("policies/../../evil.rego", tar::EntryType::Regular),
        ("/etc/evil.rego", tar::EntryType::Regular),
    ] {
        let body = raw_entry(path, kind, b"");
        let (status, r) = simulate(&app, "", &admin, body).await;
        assert_eq!(
            (status, r["code"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("bundle_entry_refused")
            ),
            "{path}: {r}"
        );
        assert!(r["detail"].as_str().unwrap().contains(path), "{r}");
    }
    expect(StatusCode::UNPROCESSABLE_ENTITY, "bundle_archive_invalid")(
        simulate(&app, "", &admin, vec![0x1f, 0x8b, 8, 0]).await,
    );

    // A bundle that does not compile, and one with no policy.
    let broken = tarball(&[(
        "promotion.rego",
        b"package portcullis.promotion\n\nthis is not rego\n",
    )]);
    let (status, r) = simulate(&app, "", &admin, broken).await;
    assert_eq!(
        (status, r["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("bundle_invalid")),
        "{r}"
    );
    assert!(
        r["detail"].as_str().unwrap().contains("promotion.rego"),
        "{r}"
    );
    let empty = tarball(&[("README.md", b"nothing here")]);
    expect(StatusCode::UNPROCESSABLE_ENTITY, "bundle_invalid")(
        simulate(&app, "", &admin, empty).await,
    );

    // A candidate that would run for hours is stopped at simulation.timeout_ms.
    let slow = br#"package portcullis.promotion

import rego.v1

# Loading the bundle evaluates it once without input: that stays quick.
slow if {
	input.request
	some i in numbers.range(1, 100000)
	some j in numbers.range(1, 100000)
	i * j == -1
}

default fast := false

fast if not slow

decision := {"allow": fast, "violations": [], "required_approvals": {"count": 1, "group": "qa"}}
"#;
    let (status, r) = simulate(&app, "", &admin, tarball(&[("promotion.rego", slow)])).await;
    assert_eq!(
        (status, r["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("simulation_timeout")),
        "{r}"
    );
    assert!(r["detail"].as_str().unwrap().contains("300 ms"), "{r}");
    // One that loops without input is stopped while it loads.
    let at_load = String::from_utf8(slow.to_vec())
        .unwrap()
        .replace("\tinput.request\n", "");
    let (status, r) = simulate(
        &app,
        "",
        &admin,
        tarball(&[("promotion.rego", at_load.as_bytes())]),
    )
    .await;
    assert_eq!(
        (status, r["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("bundle_invalid")),
        "{r}"
    );
}
