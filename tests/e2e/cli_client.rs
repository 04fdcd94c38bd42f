//! The `portcullis` binary as a client of a running gate, the way a CI job and an approver
//! use it: `promote --wait` follows a promotion to `promoted` while `approve` votes from
//! another process; every end has its exit code (0 promoted or allowed, 1 denied, 2 usage or
//! connection error, 3 rejected, 5 timed out).

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::support::{ROUTE, TestApp, trivy};

/// The `portcullis` binary `cargo test --workspace` built beside this test executable.
fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = dir.join("portcullis");
    assert!(
        bin.exists(),
        "{} is missing: build it (cargo build --bin portcullis, or cargo test --workspace)",
        bin.display()
    );
    bin
}

/// A command of the client with the gate's URL and `token` in its environment.
fn client(app: &TestApp, token: &str, args: &[&str]) -> Command {
    let mut c = Command::new(binary());
    c.args(args)
        .env("PORTCULLIS_URL", &app.base)
        .env("PORTCULLIS_TOKEN", token)
        .env_remove("PORTCULLIS_CONFIG")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    c
}

/// Runs it to its end: (exit code, stdout, stderr).
async fn run(mut c: Command) -> (i32, String, String) {
    let out = c.output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn evidence_file(app_dir: &std::path::Path, findings: &[(&str, &str)]) -> String {
    let path = app_dir.join(format!("trivy-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, serde_json::to_vec(&trivy(findings)).unwrap()).unwrap();
    format!("trivy-json={}", path.display())
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cli-client-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_wait_follows_a_promotion_to_promoted_while_approvers_vote() {
    let app = TestApp::spawn_with_worker(|_| {}).await;
    let dir = scratch();
    let digest = app.push_signed("team/app", "build-1").await;
    let source = app.source("team/app", &digest);
    let evidence = evidence_file(&dir, &[("CVE-1", "LOW")]);

    // A dry run first: allowed, nothing stored.
    let (code, out, err) = run(client(
        &app,
        &app.tokens.ci,
        &[
            "promote",
            &source,
            "--route",
            ROUTE,
            "--evidence",
            &evidence,
            "--dry-run",
        ],
    ))
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verdict: allowed"), "{out}");
    assert_eq!(app.count("SELECT count(*) FROM promotions").await, 0);

    let mut promote = client(
        &app,
        &app.tokens.ci,
        &[
            "promote",
            &source,
            "--route",
            ROUTE,
            "--tag",
            "v1",
            "--evidence",
            &evidence,
            "--wait",
            "--timeout",
            "2m",
        ],
    );
    let mut child = promote
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Its first line names the promotion.
    let head = lines.next_line().await.unwrap().expect("a headline");
    assert!(head.contains("[pending_approval]"), "{head}");
    let id = head.split_whitespace().nth(1).unwrap().to_owned();

    // An approver sees it pending and approves from the command line; so does a second.
    let (code, out, err) = run(client(&app, &app.tokens.approver1, &["pending"])).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&id) && out.contains("needs 2 of release-approvers"),
        "{out}"
    );
    for token in [&app.tokens.approver1, &app.tokens.approver2] {
        let (code, out, err) = run(client(
            &app,
            token,
            &["approve", &id, "--comment", "looks good"],
        ))
        .await;
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.contains("approve recorded on the evidence sha256:"),
            "{out}"
        );
    }

    let mut rest = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        rest.push(line);
    }
    let status = child.wait().await.unwrap();
    let rest = rest.join("\n");
    assert_eq!(status.code(), Some(0), "{rest}");
    assert!(rest.contains("waiting for approvals"), "{rest}");
    assert!(
        rest.contains(&format!("promotion {id} [promoted]")),
        "{rest}"
    );
    assert!(
        rest.contains("approve by alice") && rest.contains("approve by bob"),
        "{rest}"
    );
    assert!(rest.contains("copied: "), "{rest}");
    assert_eq!(
        app.prod_digest("team/app", "v1").await.as_deref(),
        Some(digest.as_str())
    );

    // show exits with the state's code; audit log lists the digest's events.
    let (code, out, _) = run(client(&app, &app.tokens.auditor, &["show", &id])).await;
    assert_eq!(code, 0);
    assert!(out.contains("[promoted]"), "{out}");
    let (code, out, err) = run(client(
        &app,
        &app.tokens.auditor,
        &["audit", "log", "--digest", &digest],
    ))
    .await;
    assert_eq!(code, 0, "{err}");
    for action in ["requested", "approved", "promoted"] {
        assert!(out.contains(action), "{action} missing from:\n{out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_end_has_its_exit_code() {
    let app = TestApp::spawn_with_worker(|_| {}).await;
    let dir = scratch();
    let clean = evidence_file(&dir, &[]);

    // Denied (unsigned): 1, with each violation and its remediation.
    let unsigned = app.push_image("team/app", "unsigned").await;
    let (code, out, _) = run(client(
        &app,
        &app.tokens.ci,
        &[
            "promote",
            &app.source("team/app", &unsigned),
            "--route",
            ROUTE,
            "--evidence",
            &clean,
            "--wait",
        ],
    ))
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("verdict: denied") && out.contains("fix: "),
        "{out}"
    );

    // Timed out waiting for approvals: 5.
    let signed = app.push_signed("team/app", "signed").await;
    let source = app.source("team/app", &signed);
    let (code, out, _) = run(client(
        &app,
        &app.tokens.ci,
        &[
            "promote",
            &source,
            "--route",
            ROUTE,
            "--evidence",
            &clean,
            "--wait",
            "--timeout",
            "2s",
        ],
    ))
    .await;
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("timed out after 2s"), "{out}");
    let id = out
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .to_owned();

    // Rejected: the reject verb counts (0) and show then exits 3.
    let (code, out, err) = run(client(
        &app,
        &app.tokens.approver1,
        &["reject", &id, "--comment", "no"],
    ))
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = run(client(&app, &app.tokens.auditor, &["show", &id])).await;
    assert_eq!(code, 3, "{out}");

    // Usage and connection errors: 2, with the reason.
    let mut no_url = client(&app, &app.tokens.ci, &["pending"]);
    no_url.env_remove("PORTCULLIS_URL");
    let (code, _, err) = run(no_url).await;
    assert_eq!((code, err.trim()), (2, "error: PORTCULLIS_URL is not set"));
    let (code, _, err) = run(client(&app, "not-a-token", &["pending"])).await;
    assert_eq!(code, 2);
    assert!(err.contains("401"), "{err}");
    let (code, _, err) = run(client(
        &app,
        &app.tokens.ci,
        &[
            "promote",
            &source,
            "--route",
            ROUTE,
            "--evidence",
            "trivy-json=/nonexistent.json",
        ],
    ))
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("--evidence /nonexistent.json"), "{err}");
    let (code, _, err) = run(client(
        &app,
        &app.tokens.ci,
        &[
            "promote",
            &source,
            "--route",
            ROUTE,
            "--wait",
            "--timeout",
            "soon",
        ],
    ))
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("--timeout \"soon\""), "{err}");
    let mut down = client(&app, &app.tokens.auditor, &["show", &id]);
    down.env(
        "PORTCULLIS_URL",
        format!("http://127.0.0.1:{}", portcullis_testkit::free_port()),
    );
    let (code, _, err) = run(down).await;
    assert_eq!(code, 2);
    assert!(err.contains("cannot reach"), "{err}");
    // An API refusal names its code: a CI token may not vote.
    let (code, _, err) = run(client(&app, &app.tokens.ci, &["approve", &id])).await;
    assert_eq!(code, 2);
    assert!(err.contains("403"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
