//! The `portcullis` binary as an operator and a policy author run it: `policy eval`,
//! `policy test`, and a SIGHUP reload of a running server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn portcullis(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn copy_bundle(to: &Path) {
    for entry in std::fs::read_dir(workspace().join("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn policy_eval_prints_the_verdict_and_exits_by_it() {
    let policies = workspace().join("policies");
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
    let out = portcullis(&[
        "policy",
        "test",
        workspace().join("policies").to_str().unwrap(),
    ]);
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

/// A `serve` process, killed and its database dropped on drop.
struct Server {
    child: std::process::Child,
    db: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-qc"])
            .arg(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db))
            .output();
    }
}

fn free_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !(5000..=5003).contains(&port) {
            return port;
        }
    }
}

fn ready_digest(port: u16) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    use std::io::{Read, Write};
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let body = text.split("\r\n\r\n").nth(1)?;
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    Some(v["policy_digest"].as_str()?.to_owned())
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

fn audit_count(db: &str, action: &str) -> i64 {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", db, "-tAc"])
        .arg(format!(
            "SELECT count(*) FROM audit_events WHERE action = '{action}'"
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(-1)
}

fn sighup(server: &Server) {
    let status = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sighup_reloads_a_good_bundle_and_keeps_serving_on_a_bad_one() {
    let dir = temp_dir("sighup");
    let bundle = dir.join("policies");
    std::fs::create_dir_all(&bundle).unwrap();
    copy_bundle(&bundle);
    let port = free_port();
    let db = format!("portcullis_sighup_{}", uuid::Uuid::new_v4().simple());
    std::fs::write(
        dir.join("portcullis.yaml"),
        format!(
            "listen: 127.0.0.1:{port}\ndatabase_url: postgres://postgres@127.0.0.1:5432/{db}\npolicy_dir: policies\n"
        ),
    )
    .unwrap();
    let child = Command::new(BIN)
        .args([
            "--config",
            dir.join("portcullis.yaml").to_str().unwrap(),
            "serve",
            "--dev-ephemeral-key",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server { child, db };
    let mut first = None;
    wait_for("the server to be ready", || {
        first = ready_digest(port);
        first.is_some()
    });
    let first = first.unwrap();

    // A changed, valid bundle is picked up on SIGHUP.
    let data = bundle.join("data.json");
    let text = std::fs::read_to_string(&data).unwrap();
    std::fs::write(&data, text.replace("\"max_high\": 10", "\"max_high\": 3")).unwrap();
    sighup(&server);
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
    sighup(&server);
    wait_for("the refused reload to be audited", || {
        audit_count(&server.db, "policy_reload_failed") == 1
    });
    assert_eq!(ready_digest(port).as_deref(), Some(second.as_str()));
    assert_eq!(audit_count(&server.db, "policy_reloaded"), 1);
    drop(server);
    std::fs::remove_dir_all(dir).unwrap();
}
