//! What the binary tests (`cli.rs`, `durability.rs`, `gate_cli.rs`) share: running the
//! `portcullis` binary, a database dropped with the test, a `serve` process that is ready
//! when started and killed when dropped, and plain HTTP/1.0 and `psql` calls.

// Each test binary uses its own part of this module.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_portcullis");
/// The test Postgres server.
pub const PG: &str = "postgres://postgres@127.0.0.1:5432";

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The project's policy bundle.
pub fn policies() -> PathBuf {
    workspace().join("policies")
}

/// Runs `portcullis [--config CONFIG] ARGS` to completion, logging only warnings.
pub fn run(config: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    cmd.args(args).env("RUST_LOG", "warn").output().unwrap()
}

/// Bytes as (lossy) text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh temp directory `portcullis-<name>-<uuid>`.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A port nothing listens on (never 5000–5003).
pub fn free_port() -> u16 {
    portcullis_testkit::free_port()
}

/// A database name `portcullis_<name>_<uuid>`, dropped (with its connections) on drop.
/// The server creates the database itself when it first connects.
pub struct Database {
    /// Its name.
    pub name: String,
}

impl Database {
    /// A new, unique name.
    pub fn new(name: &str) -> Self {
        Self {
            name: format!("portcullis_{name}_{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("{PG}/{}", self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-qc"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

/// One `psql` statement against `db`; its unaligned output.
pub fn psql(db: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", db, "-tAc", sql])
        .output()
        .unwrap();
    assert!(out.status.success(), "{sql}: {out:?}");
    text(&out.stdout).trim().to_owned()
}

/// How many audit events of `action` the log of `db` holds.
pub fn audit_count(db: &str, action: &str) -> i64 {
    psql(
        db,
        &format!("SELECT count(*) FROM audit_events WHERE action = '{action}'"),
    )
    .parse()
    .unwrap()
}

/// One HTTP/1.0 exchange (no chunking, the server closes): status and JSON body (a string
/// when it is not JSON); `None` when nothing answers on `port`.
pub fn try_http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Option<(u16, Value)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n{auth}Accept: application/json, application/vnd.oci.image.manifest.v1+json\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()));
    Some((status, json))
}

/// `try_http` to a server that must answer.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    try_http(port, method, path, token, body)
        .unwrap_or_else(|| panic!("nothing answers {method} {path} on port {port}"))
}

/// Polls `f` every 100 ms until it holds; fails the test after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `wait_for` inside an async test, without blocking its runtime.
pub async fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `portcullis serve` process, ready when returned, SIGKILLed on drop; its log goes to
/// `log`.
pub struct Server {
    /// The process.
    pub child: Child,
    /// Its stderr.
    pub log: PathBuf,
}

impl Server {
    /// Starts `serve` with `config` (listening on `port`) and waits until `/readyz` is 200;
    /// fails the test with the log if the process exits first.
    pub fn start(config: &Path, port: u16, extra: &[&str]) -> Self {
        let log = config.with_extension(format!("{}.log", uuid::Uuid::new_v4().simple()));
        let child = Command::new(BIN)
            .arg("--config")
            .arg(config)
            .arg("serve")
            .args(extra)
            .env("RUST_LOG", "info,sqlx=warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut server = Self { child, log };
        wait_for("the server to be ready", Duration::from_secs(60), || {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("server exited {status}: {}", server.log_text());
            }
            try_http(port, "GET", "/readyz", None, None).is_some_and(|(s, _)| s == 200)
        });
        server
    }

    /// What the process logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no shutdown hook, no lease release, no outcome written.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGHUP (reload the policy bundle).
    pub fn sighup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
