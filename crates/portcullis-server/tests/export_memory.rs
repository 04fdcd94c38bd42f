//! `GET /v1/audit/export` streams: 100,000 events leave a real `portcullis serve` process
//! while its peak RSS (VmHWM, reset just before) stays within a bound far below the size of
//! the export. Its own test binary, so no other test shares the process measured.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use support::{BIN, Database, Server, free_port, policies, psql, temp_dir, text};

const EVENTS: i64 = 100_000;
/// The peak RSS may grow by at most this while the export streams (it is about 40 MiB).
const BOUND_KIB: u64 = 24 * 1024;

fn status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

#[test]
fn a_100k_event_export_streams_within_a_bounded_rss() {
    let db = Database::new("export");
    let dir = temp_dir("export");
    let out = Command::new(BIN)
        .args(["keys", "generate", "--out"])
        .arg(dir.join("gate.key"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let port = free_port();
    let config = dir.join("portcullis.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:{port}\ndatabase_url: {}\npolicy_dir: {}\ngate:\n  signing_key_file: gate.key\naudit:\n  checkpoint_dir: witness\n",
            db.url(),
            policies().display()
        ),
    )
    .unwrap();
    let server = Server::start(&config, port, &[]);
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args([
            "token",
            "create",
            "--subject",
            "audrey",
            "--role",
            "auditor",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    // 100,000 events of ~300 bytes each, appended after whatever the server wrote.
    psql(
        &db.name,
        &format!(
            "INSERT INTO audit_events (seq, at, actor, action, digest, details, prev_hash, hash) \
             SELECT m + s, now(), 'load', 'requested', 'sha256:' || md5(s::text) || md5(s::text), \
               jsonb_build_object('n', s, 'pad', repeat('x', 160)), 'sha256:' || md5(s::text), \
               'sha256:' || md5((s + 1)::text) \
             FROM generate_series(1, {EVENTS}) s, (SELECT coalesce(max(seq), 0) AS m FROM audit_events) b"
        ),
    );
    let pid = server.child.id();
    // Peak RSS from now on (Linux: writing 5 to clear_refs resets VmHWM).
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    let before = status_kib(pid, "VmRSS:");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET /v1/audit/export?format=jsonl HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    // Read as it comes, keeping nothing but counts.
    let (mut bytes, mut newlines, mut buf) = (0u64, 0u64, vec![0u8; 64 * 1024]);
    let mut head = Vec::new();
    loop {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        if head.len() < 12 {
            head.extend_from_slice(&buf[..n.min(12)]);
        }
        bytes += n as u64;
        newlines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
    }
    assert!(
        text(&head).starts_with("HTTP/1.0 200") || text(&head).starts_with("HTTP/1.1 200"),
        "{}",
        text(&head)
    );
    assert!(newlines > EVENTS as u64, "{newlines} lines");
    assert!(bytes > 30 * 1024 * 1024, "{bytes} bytes");
    let peak = status_kib(pid, "VmHWM:");
    let grew = peak.saturating_sub(before);
    eprintln!(
        "export: {newlines} lines, {bytes} bytes; server RSS before {before} KiB, peak grew {grew} KiB"
    );
    assert!(
        grew < BOUND_KIB,
        "the server's peak RSS grew {grew} KiB while streaming {bytes} bytes (bound {BOUND_KIB} KiB)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
